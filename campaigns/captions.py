"""Instagram's caption rules, in one place for the form, the API and the execution engine."""

import re

MAX_CAPTION_CHARS = 2200
MAX_HASHTAGS = 30
MAX_MENTIONS = 20

HASHTAG = re.compile(r"(?<![\w#])#(\w+)", re.UNICODE)
MENTION = re.compile(r"(?<![\w@])@([A-Za-z0-9._]+)")


def normalize_hashtags(raw: str) -> str:
    """'summer, #Sale  sale' -> '#summer #Sale' (first spelling wins, duplicates dropped)."""
    seen: set[str] = set()
    tags = []
    for word in re.split(r"[\s,]+", raw.strip()):
        word = word.lstrip("#")
        if word and word.lower() not in seen:
            seen.add(word.lower())
            tags.append(f"#{word}")
    return " ".join(tags)


def render_caption(*, caption: str, hashtags: str) -> str:
    """The caption exactly as it will be posted: the text, a blank line, then the hashtags."""
    tags = normalize_hashtags(hashtags)
    text = caption.strip()
    return f"{text}\n\n{tags}" if text and tags else text or tags


def caption_problems(*, caption: str, hashtags: str) -> dict[str, str]:
    """What breaks Instagram's limits, by form field; empty when the post can go out."""
    problems: dict[str, str] = {}
    posted = render_caption(caption=caption, hashtags=hashtags)
    if len(posted) > MAX_CAPTION_CHARS:
        problems["caption"] = (
            f"The caption with its hashtags is {len(posted):,} characters; Instagram allows {MAX_CAPTION_CHARS:,}."
        )
    tag_count = len({tag.lower() for tag in HASHTAG.findall(posted)})
    if tag_count > MAX_HASHTAGS:
        problems["hashtags"] = f"{tag_count} hashtags (in the caption and the hashtag field); Instagram allows {MAX_HASHTAGS}."
    mention_count = len(MENTION.findall(posted))
    if mention_count > MAX_MENTIONS:
        problems.setdefault("caption", "")
        problems["caption"] = (
            problems["caption"] + " " if problems["caption"] else ""
        ) + f"{mention_count} @mentions; Instagram allows {MAX_MENTIONS}."
    return problems
