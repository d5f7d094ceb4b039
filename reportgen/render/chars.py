"""Invisible and direction-changing characters made visible in the report (display only, never in the evidence).

A right-to-left override (U+202E) or an isolate in a review text would otherwise reorder the words
shown after it, and a zero-width space or a NUL would hide in plain sight. Every format character
(category Cf) except ZWJ and ZWNJ, every control character (Cc) except tab and newline, and any
surrogate (Cs, unencodable in UTF-8) is replaced by a marker naming its code point. Callers slice
the original text first (token offsets index it), then mark each piece, so highlights line up.
"""

from __future__ import annotations

import unicodedata
from typing import Any

from markupsafe import Markup, escape

# ZWNJ and ZWJ shape real scripts (Persian, Indic) and emoji sequences; tab and newline are layout.
KEPT = frozenset("\t\n\u200c\u200d")
MARKED_CATEGORIES = frozenset({"Cf", "Cc", "Cs"})
# unicodedata names no control characters; these are the ones a text file plausibly holds.
CONTROL_NAMES = {
    0x00: "NULL",
    0x07: "BELL",
    0x08: "BACKSPACE",
    0x0B: "LINE TABULATION",
    0x0C: "FORM FEED",
    0x0D: "CARRIAGE RETURN",
    0x1B: "ESCAPE",
    0x7F: "DELETE",
    0x85: "NEXT LINE",
}


def needs_marker(ch: str) -> bool:
    """Whether one character is shown as a marker instead of itself."""
    return ch not in KEPT and unicodedata.category(ch) in MARKED_CATEGORIES


def describe(ch: str) -> str:
    """'U+202E RIGHT-TO-LEFT OVERRIDE': the code point and its Unicode name (or what kind of character it is)."""
    code = ord(ch)
    category = unicodedata.category(ch)
    fallback = "SURROGATE" if category == "Cs" else "CONTROL CHARACTER" if category == "Cc" else "FORMAT CHARACTER"
    return f"U+{code:04X} {unicodedata.name(ch, None) or CONTROL_NAMES.get(code, fallback)}"


def _clean(text: str) -> bool:
    # Fast path in C: printable strings hold no Cc/Cf/Cs at all; otherwise look character by character.
    return text.isprintable() or not any(needs_marker(ch) for ch in text)


def mark(value: Any) -> Markup:
    """The value as escaped HTML text, each marked character a boxed <span class="ctl"> naming it."""
    text = value if isinstance(value, str) else str(value)
    if isinstance(text, Markup):
        return text
    if _clean(text):
        return escape(text)
    parts: list[Markup] = []
    for ch in text:
        if needs_marker(ch):
            # Markup.format escapes both arguments: the title and the label are built from the code point only.
            parts.append(Markup('<span class="ctl" title="{}">U+{}</span>').format(describe(ch), f"{ord(ch):04X}"))
        else:
            parts.append(escape(ch))
    return Markup("").join(parts)


def plain(value: Any) -> Any:
    """A string with each marked character as the text '[U+202E]' (for attributes, <title> and figures)."""
    if not isinstance(value, str) or isinstance(value, Markup) or _clean(value):
        return value
    return "".join(f"[U+{ord(ch):04X}]" if needs_marker(ch) else ch for ch in value)
