"""The WordPress REST API: the only code that knows its routes and payloads.

Routes are reached as ``?rest_route=/wp/v2/...``, which every WordPress answers whatever its
permalink settings (``/wp-json/`` needs pretty permalinks). Authentication is an application
password (WordPress 5.6+) sent as HTTP Basic auth.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.utils.dateparse import parse_datetime

from . import fetch
from .feeds import Post, excerpt, stable_guid

PER_PAGE = 20
# Answers of the site's API are small; a post list with embeds stays well under this.
MAX_API_BYTES = 5 * 1024 * 1024


class WordPressError(fetch.FetchError):
    pass


@dataclass(frozen=True)
class Site:
    name: str
    url: str
    user: str = ""  # the application password's user, when one was checked


def route_url(base_url: str, route: str) -> str:
    return f"{base_url.rstrip('/')}/?rest_route={route}"


def _auth(username: str, password: str) -> tuple[str, str] | None:
    # WordPress shows application passwords in groups of four; it accepts them with or without spaces.
    return (username, password.replace(" ", "")) if username and password else None


def _json(fetched: fetch.Fetched, what: str) -> Any:
    try:
        return json.loads(fetched.body)
    except ValueError:
        raise WordPressError(
            f"{what}: the site did not answer with WordPress's JSON. Is this the address of a WordPress site, "
            "with its REST API on?"
        ) from None


def check(*, base_url: str, username: str = "", password: str = "") -> Site:
    """The site's name, and with credentials the user they belong to; WordPressError otherwise."""
    index = _json(fetch.get(route_url(base_url, "/"), limit=MAX_API_BYTES), "The API index")
    if not isinstance(index, dict) or "wp/v2" not in (index.get("namespaces") or []):
        raise WordPressError("The site answers, but without WordPress's wp/v2 API.")
    user = ""
    if username or password:
        try:
            me = _json(
                fetch.get(route_url(base_url, "/wp/v2/users/me"), auth=_auth(username, password), limit=MAX_API_BYTES),
                "The user check",
            )
        except fetch.FetchError as error:
            if error.status in (401, 403):
                raise WordPressError(
                    "WordPress refused the user name and application password (HTTP "
                    f"{error.status}). Create an application password under Users → Profile."
                ) from None
            raise
        user = str(me.get("name") or me.get("slug") or username)
    return Site(name=str(index.get("name") or ""), url=str(index.get("url") or base_url), user=user)


def recent_posts(
    *, base_url: str, username: str = "", password: str = "", etag: str = "", last_modified: str = ""
) -> tuple[fetch.Fetched, list[Post]]:
    """The newest published posts with author, terms and featured image embedded."""
    fetched = fetch.get(
        route_url(base_url, "/wp/v2/posts"),
        params={"per_page": PER_PAGE, "orderby": "date", "order": "desc", "status": "publish", "_embed": "1"},
        auth=_auth(username, password),
        etag=etag,
        last_modified=last_modified,
        limit=MAX_API_BYTES,
    )
    if fetched.not_modified:
        return fetched, []
    data = _json(fetched, "The post list")
    if not isinstance(data, list):
        raise WordPressError("The post list is not a list; is this a WordPress site?")
    return fetched, [post_from_json(item) for item in data if isinstance(item, dict) and "id" in item]


def post_from_json(item: dict[str, Any]) -> Post:
    embedded = item.get("_embedded") or {}
    categories: list[str] = []
    tags: list[str] = []
    for group in embedded.get("wp:term") or []:
        for term in group or []:
            name = excerpt(str(term.get("name", "")))
            if term.get("taxonomy") == "category":
                categories.append(name)
            elif term.get("taxonomy") == "post_tag":
                tags.append(name)
    authors = embedded.get("author") or []
    media = embedded.get("wp:featuredmedia") or []
    published = parse_datetime(str(item.get("date_gmt") or ""))
    if published is not None and published.tzinfo is None:
        published = published.replace(tzinfo=UTC)
    return Post(
        guid=stable_guid(f"wp:{item['id']}"),
        title=excerpt(_rendered(item.get("title"))) or "(untitled)",
        link=str(item.get("link") or "")[:2000],
        excerpt=excerpt(_rendered(item.get("excerpt")) or _rendered(item.get("content"))),
        author=str(authors[0].get("name", "")) if authors and isinstance(authors[0], dict) else "",
        categories=categories[:30],
        tags=tags[:30],
        published_at=published if isinstance(published, datetime) else None,
        image_url=str(media[0].get("source_url") or "") if media and isinstance(media[0], dict) else "",
    )


def _rendered(value: Any) -> str:
    return str(value.get("rendered", "")) if isinstance(value, dict) else str(value or "")
