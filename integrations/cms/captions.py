"""Captions drafted from a post: by OpenAI chat when a key is set, from a template otherwise.

Either way the result is cut to Instagram's limits (campaigns/captions.py) before a campaign
sees it, and the post's link goes in the first comment: Instagram does not link captions.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass

from campaigns.captions import HASHTAG, MAX_CAPTION_CHARS, MAX_HASHTAGS, caption_problems, normalize_hashtags, render_caption
from integrations.http import ProviderError
from integrations.openai import client as openai_client

from .models import ContentItem

logger = logging.getLogger(__name__)

LINK_NOTE = "Link in the first comment."
# Terms WordPress gives a post that says nothing about it.
IGNORED_TERMS = frozenset({"uncategorized", "uncategorised", "general", "blog"})
SYSTEM = (
    "You write Instagram captions for a company's new blog posts. Answer with JSON only: "
    '{"caption": "...", "hashtags": ["...", ...]}. The caption: at most 1,500 characters, '
    "in the post's language, a hook first line, two or three short paragraphs, no links, no hashtags "
    "(they go in the hashtags list, at most 10, without #), and end with: " + LINK_NOTE
)


@dataclass(frozen=True)
class Draft:
    caption: str
    hashtags: str
    first_comment: str
    drafted_by: str  # "openai" or "template"
    note: str = ""


def hashtag_words(terms: list[str]) -> list[str]:
    """'Product news' -> 'ProductNews'; terms that say nothing or have no letters are dropped."""
    words = []
    for term in terms:
        if term.strip().lower() in IGNORED_TERMS:
            continue
        word = "".join(part[:1].upper() + part[1:] for part in re.findall(r"\w+", term, re.UNICODE))
        if word and not word.isdigit():
            words.append(word[:60])
    return words


def draft(item: ContentItem, *, extra_hashtags: str = "", first_comment: str = "") -> Draft:
    """The caption, hashtags and first comment for a campaign made from ``item``."""
    comment = f"Read the full post: {item.link}" if item.link else ""
    if first_comment.strip():
        comment = f"{comment}\n\n{first_comment.strip()}" if comment else first_comment.strip()
    tags = hashtag_words(item.categories + item.tags) + extra_hashtags.split()
    try:
        caption, ai_tags = _from_openai(item)
    except openai_client.NotConfigured:
        caption, by, note = _template(item), "template", ""
    except (ProviderError, ValueError) as error:
        reason = error.message if isinstance(error, ProviderError) else str(error)
        caption, by, note = _template(item), "template", f"OpenAI could not draft the caption ({reason}); used the template."
        logger.warning("caption draft fell back to the template", extra={"item_id": item.pk})
    else:
        tags, by, note = ai_tags + tags, "openai", ""
    caption, hashtags = fit(caption, " ".join(tags))
    return Draft(caption=caption, hashtags=hashtags, first_comment=comment[:MAX_CAPTION_CHARS], drafted_by=by, note=note)


def fit(caption: str, hashtags: str) -> tuple[str, str]:
    """The caption and hashtags cut until Instagram accepts them: length, hashtags, mentions."""
    caption = caption.strip()
    in_caption = {tag.lower() for tag in HASHTAG.findall(caption)}
    room = max(0, MAX_HASHTAGS - len(in_caption))
    kept = [tag for tag in normalize_hashtags(hashtags).split() if tag[1:].lower() not in in_caption][:room]
    hashtags = " ".join(kept)
    problems = caption_problems(caption=caption, hashtags=hashtags)
    if "caption" in problems and "@mentions" in problems["caption"]:
        caption = caption.replace("@", "")
    while len(render_caption(caption=caption, hashtags=hashtags)) > MAX_CAPTION_CHARS:
        over = len(render_caption(caption=caption, hashtags=hashtags)) - MAX_CAPTION_CHARS
        if len(caption) > over + 200:
            caption = _shorten(caption, len(caption) - over - 1)
        elif hashtags:
            hashtags = " ".join(hashtags.split()[:-1])
        else:
            caption = _shorten(caption, MAX_CAPTION_CHARS - 1)
    return caption, hashtags


def _shorten(text: str, limit: int) -> str:
    cut = text[:limit].rsplit(" ", 1)[0] if " " in text[:limit] else text[:limit]
    return cut.rstrip(",.;: \n") + "…"


def _template(item: ContentItem) -> str:
    parts = [item.title.strip()]
    if item.excerpt and item.excerpt.strip() != item.title.strip():
        parts.append(item.excerpt.strip())
    if item.link:
        parts.append(LINK_NOTE)
    return "\n\n".join(parts)


def _from_openai(item: ContentItem) -> tuple[str, list[str]]:
    prompt = json.dumps(
        {
            "title": item.title,
            "excerpt": item.excerpt,
            "categories": item.categories,
            "tags": item.tags,
            "author": item.author,
        },
        ensure_ascii=False,
    )
    answer = openai_client.chat(system=SYSTEM, prompt=prompt)
    match = re.search(r"\{.*\}", answer, re.DOTALL)
    data = json.loads(match.group(0) if match else answer)
    caption = data.get("caption") if isinstance(data, dict) else None
    if not isinstance(caption, str) or not caption.strip():
        raise ValueError("the answer had no caption")
    raw_tags = data.get("hashtags") or []
    tags = [str(tag).lstrip("#") for tag in raw_tags if isinstance(tag, str | int)] if isinstance(raw_tags, list) else []
    return caption, hashtag_words(tags)
