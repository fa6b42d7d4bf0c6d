"""Regular expressions in trigger rules, matched with RE2 in time linear in the text.

Python's ``re`` backtracks, so a pattern like ``(.*a){12}x`` can hold a thread for seconds on a
short event. RE2 never backtracks; in exchange it cannot express backreferences (``\\1``),
lookaround (``(?=…)``, ``(?<=…)``) or possessive repeats (``a++``), and such rules are refused
when saved, with the reason. The rule editor's test box and event intake both match through here.
"""

from __future__ import annotations

import functools

import re2

MAX_PATTERN_CHARS = 200
# ``matches`` looks at this much of a text at most.
MAX_SUBJECT_CHARS = 10_000
# Memory RE2 may use for one compiled pattern; a pattern needing more is refused as too large.
_MAX_MEM = 4 << 20
_UNANCHORED = re2._Anchor.UNANCHORED
_NO_MATCH = (-1, -1)


def _options() -> re2.Options:
    options = re2.Options()
    options.log_errors = False
    options.max_mem = _MAX_MEM
    return options


@functools.lru_cache(maxsize=1024)
def compiled(pattern: str) -> re2._Regexp | str:
    """The compiled pattern, or why it cannot be used (a sentence fragment).

    Compiled from the pattern's UTF-8 and matched against the text's (``search``): the same RE2
    program the str API builds, as it encodes both itself, but a str match then maps every byte
    offset back to a character offset, two thirds of its time.
    """
    if len(pattern) > MAX_PATTERN_CHARS:
        return f"patterns are limited to {MAX_PATTERN_CHARS} characters"
    try:
        return re2.compile(_utf8(pattern), _options())
    except re2.error as error:
        detail = error.args[0].decode(errors="replace") if error.args and isinstance(error.args[0], bytes) else str(error)
        return (
            f"not a regular expression this engine can run ({detail}); backreferences, lookahead, "
            "lookbehind and possessive repeats are not supported"
        )


def problem(pattern: str) -> str:
    """Why ``pattern`` may not be used in a rule, or "" when it can."""
    result = compiled(pattern)
    return result if isinstance(result, str) else ""


def search(pattern: re2._Regexp, text: str) -> bool:
    """Whether ``pattern`` matches anywhere in the first MAX_SUBJECT_CHARS characters of ``text``."""
    subject = _utf8(text[:MAX_SUBJECT_CHARS])
    # The engine's own call, as the module's search makes it: its generator and match object
    # around it were half of a yes/no. Private names of google-re2 (pinned); the tests here
    # hold the answers to Python's for every kind of pattern.
    return pattern._regexp.Match(_UNANCHORED, subject, 0, len(subject))[0] != _NO_MATCH


def _utf8(text: str) -> bytes:
    # RE2 reads UTF-8, which cannot hold a lone surrogate (JSON's "\ud800"): match U+FFFD instead.
    try:
        return text.encode()
    except UnicodeEncodeError:
        return "".join("\ufffd" if "\ud800" <= char <= "\udfff" else char for char in text).encode()
