"""Instagram's caption and comment rules, in one place for the form, the API, the admin and the
execution engine."""

import re

MAX_CAPTION_CHARS = 2200
MAX_HASHTAGS = 30
MAX_MENTIONS = 20
# Instagram's limits on a comment posted through the Graph API (POST /{ig-media-id}/comments).
MAX_COMMENT_CHARS = 300
MAX_COMMENT_HASHTAGS = 4
MAX_COMMENT_URLS = 1
# An image's description for screen readers (the Graph API's ``alt_text``, image posts and
# carousel items). Meta states no limit; a thousand characters is several sentences.
MAX_ALT_TEXT_CHARS = 1000

URL = re.compile(r"(?i)\b(?:https?://|www\.)\S+|\b[a-z0-9-]+(?:\.[a-z0-9-]+)*\.(?:com|net|org|io|co|shop|de|uk)\b(?:/\S*)?")

HASHTAG = re.compile(r"(?<![\w#])#(\w+)", re.UNICODE)
MENTION = re.compile(r"(?<![\w@])@([A-Za-z0-9._]+)")


def text_length(text: str) -> int:
    """Characters as Instagram counts them against its limits: UTF-16 code units, as its apps
    count, so most emoji count as two. The form's counter and the detail page both show this."""
    return len(text.encode("utf-16-le")) // 2


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
    length = text_length(posted)
    if length > MAX_CAPTION_CHARS:
        problems["caption"] = (
            f"The caption with its hashtags is {length:,} characters; Instagram allows {MAX_CAPTION_CHARS:,}."
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


def comment_problems(comment: str) -> list[str]:
    """What breaks Instagram's limits on the first comment; empty when it can be posted."""
    text = comment.strip()
    problems = []
    length = text_length(text)
    if length > MAX_COMMENT_CHARS:
        problems.append(f"The first comment is {length:,} characters; Instagram allows {MAX_COMMENT_CHARS} in a comment.")
    tags = len(HASHTAG.findall(text))
    if tags > MAX_COMMENT_HASHTAGS:
        problems.append(f"{tags} hashtags; Instagram allows {MAX_COMMENT_HASHTAGS} in a comment.")
    urls = len(URL.findall(text))
    if urls > MAX_COMMENT_URLS:
        problems.append(f"{urls} links; Instagram allows {MAX_COMMENT_URLS} in a comment.")
    letters = [c for c in text if c.isalpha()]
    if len(letters) > 1 and all(c.isupper() for c in letters):
        problems.append("Instagram refuses a comment written all in capital letters.")
    return problems


def post_problems(*, caption: str, hashtags: str, first_comment: str) -> dict[str, str]:
    """Every field of a post that Instagram would refuse, by form field."""
    problems = caption_problems(caption=caption, hashtags=hashtags)
    comment = comment_problems(first_comment)
    if comment:
        problems["first_comment"] = " ".join(comment)
    return problems
