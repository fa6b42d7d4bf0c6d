"""RSS and Atom feeds parsed with feedparser into ``Post``s, refusing what no feed should contain.

``parse()`` is pure: bytes in, posts out. Hostile or broken input (a web page, an XML entity
bomb, a body that is no feed at all) raises ``FeedInvalid`` with a readable reason.
"""

from __future__ import annotations

import calendar
import hashlib
import html
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin

import defusedxml.ElementTree
import feedparser
from defusedxml import DefusedXmlException
from django.utils.html import strip_tags

MAX_GUID = 500
MAX_EXCERPT = 600
MAX_ITEMS = 200  # newest first; a feed listing more is read up to here per poll
FEED_LINK = re.compile(
    rb"""<link\b[^>]*\btype=["']application/(?:rss|atom)\+xml["'][^>]*>""", re.IGNORECASE
)
HREF = re.compile(rb"""\bhref=["']([^"']+)["']""", re.IGNORECASE)
# WordPress ends excerpts with "[…]" or "… Continue reading “Title”".
MORE_LINK = re.compile(r"\s*(?:(?:\[…\]|…)\s*(?:Continue reading\b[^.!?]*)?|Continue reading\b[^.!?]*)$")
IMG = re.compile(r"""<img\b[^>]*\bsrc=["']([^"']+)["']""", re.IGNORECASE)


class FeedInvalid(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Post:
    """One post from a feed or a WordPress site, in the shape the rest of the app uses."""

    guid: str
    title: str
    link: str
    excerpt: str = ""
    author: str = ""
    categories: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    published_at: datetime | None = None
    image_url: str = ""


@dataclass(frozen=True)
class Feed:
    title: str
    link: str
    posts: list[Post]


def parse(body: bytes, *, url: str, content_type: str = "") -> Feed:
    """The feed's title and posts (newest first, at most MAX_ITEMS); FeedInvalid when it is no feed."""
    if not body.strip():
        raise FeedInvalid("The address answered with an empty body, not a feed.")
    _refuse_entities(body)
    # No base URL for feedparser: it would resolve GUIDs against it too ("post-1" becoming
    # "https://…/post-1"), and a feed that moves would then look all new. Links and images are
    # resolved here instead.
    parsed = feedparser.parse(body, response_headers={"content-type": content_type or "application/xml"})
    if not parsed.version:
        raise FeedInvalid(_not_a_feed(body, parsed))
    posts = [_post(entry, base=url) for entry in parsed.entries[:MAX_ITEMS]]
    meta = parsed.feed
    return Feed(title=_text(meta.get("title", ""))[:200], link=meta.get("link", "")[:1000], posts=posts)


def excerpt(markup: str) -> str:
    """Plain text from an HTML summary, whitespace folded, cut at a word near MAX_EXCERPT."""
    text = re.sub(r"\s+", " ", html.unescape(strip_tags(markup or ""))).strip()
    text = MORE_LINK.sub(" …", text)
    if len(text) <= MAX_EXCERPT:
        return text
    return text[:MAX_EXCERPT].rsplit(" ", 1)[0].rstrip(",.;:") + "…"


def stable_guid(value: str) -> str:
    """A GUID that fits the column: long ones are replaced by their hash."""
    value = value.strip()
    return value if len(value) <= MAX_GUID else "sha256:" + hashlib.sha256(value.encode()).hexdigest()


def _refuse_entities(body: bytes) -> None:
    # Feeds have no use for entity declarations, and expanding them is how an XML bomb
    # ("billion laughs", external entities) works; defusedxml decides, only when one appears.
    if b"<!ENTITY" not in body and b"<!entity" not in body:
        return
    try:
        defusedxml.ElementTree.fromstring(body)
    except DefusedXmlException:
        raise FeedInvalid("The feed declares XML entities, which feeds do not use; it was refused unread.") from None
    except Exception:
        pass  # not well-formed: feedparser says what it is below


def _not_a_feed(body: bytes, parsed: Any) -> str:
    head = body[:4096].lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html")) or b"<html" in head:
        link = FEED_LINK.search(body[:200_000])
        href = HREF.search(link.group(0)) if link else None
        if href:
            return (
                "This address is a web page (HTML), not a feed. The page names its feed at "
                f"{href.group(1).decode(errors='replace')}: use that address."
            )
        return "This address is a web page (HTML), not an RSS or Atom feed."
    if head.startswith((b"{", b"[")):
        return "This address answers JSON, not an RSS or Atom feed."
    problem = parsed.get("bozo_exception")
    detail = f" ({problem})" if problem else ""
    return f"This is not an RSS or Atom feed{detail}."[:500]


def _post(entry: Any, *, base: str) -> Post:
    link = entry.get("link", "") or ""
    title = _text(entry.get("title", "")) or "(untitled)"
    published = entry.get("published_parsed") or entry.get("updated_parsed")
    guid = entry.get("id") or link or f"{title}|{entry.get('published', '')}"
    summary = entry.get("summary", "") or ""
    content = " ".join(part.get("value", "") for part in entry.get("content", []) or [])
    return Post(
        guid=stable_guid(guid),
        title=title[:500],
        link=_absolute(link, base)[:2000],
        excerpt=excerpt(summary or content),
        author=_text(entry.get("author", ""))[:200],
        categories=_terms(entry),
        published_at=datetime.fromtimestamp(calendar.timegm(published), tz=UTC) if published else None,
        image_url=_absolute(_image(entry, summary + content), base)[:2000],
    )


def _absolute(url: str, base: str) -> str:
    if not url:
        return ""
    absolute = urljoin(base, url)
    return absolute if absolute.startswith(("http://", "https://")) else ""


def _text(value: str) -> str:
    return re.sub(r"\s+", " ", html.unescape(strip_tags(value or ""))).strip()


def _terms(entry: Any) -> list[str]:
    terms: list[str] = []
    for tag in entry.get("tags", []) or []:
        term = _text(tag.get("label") or tag.get("term") or "")
        if term and term not in terms:
            terms.append(term[:100])
    return terms[:30]


def _image(entry: Any, markup: str) -> str:
    """The post's picture: media:content / media:thumbnail, an image enclosure, else the first <img>."""
    for key in ("media_content", "media_thumbnail"):
        for media in entry.get(key, []) or []:
            url = media.get("url", "")
            if url and (media.get("medium") in (None, "image") or key == "media_thumbnail"):
                return url
    for link in entry.get("links", []) or []:
        if link.get("rel") == "enclosure" and str(link.get("type", "")).startswith("image/"):
            return link.get("href", "")
    match = IMG.search(markup)
    return html.unescape(match.group(1)) if match else ""
