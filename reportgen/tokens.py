"""Tokenizers for text explanations: each token keeps its character span in the original text.

Specs (config key `tokenizer`):

- ``words`` (default): runs of word characters (Unicode ``\\w``: letters, digits, underscore), with the combining
  marks that follow a character kept on it (so NFD text and Indic scripts stay whole words), and an apostrophe
  (``'`` or ``’``) or a zero-width (non-)joiner *between* word characters kept inside the word, so "don't" and
  "l’homme" are one token. Every Chinese/Japanese character (Han ideographs with all extensions and compatibility
  blocks, Hiragana, Katakana incl. half-width, Bopomofo) is a token of its own, since those scripts do not put
  spaces between words. Hangul stays in word runs (Korean separates words with spaces). Punctuation, symbols,
  emoji and whitespace are never tokens.
- ``chars``: every non-whitespace character is a token (combining marks stay on the character before them).
- ``regex:<pattern>``: the pattern's matches are the tokens (zero-length matches skipped). Unlike lime's own
  ``split_expression``, which describes the separators, the pattern describes the tokens themselves.

Invariant: ``text[t.start:t.end] == t.text`` for every token; tokens are in order and never overlap.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable
from typing import NamedTuple

SPECS = ("words", "chars", "regex:<pattern>")

# Blocks whose characters are each a token of their own (only those that are word characters count).
_CJK_RANGES = (
    "\u3005-\u3007"  # 々 〆 〇
    "\u3021-\u3029\u3038-\u303c"  # Hangzhou numerals, more iteration marks
    "\u3040-\u309f"  # Hiragana
    "\u30a0-\u30ff\u31f0-\u31ff"  # Katakana, Katakana phonetic extensions
    "\u3100-\u312f\u31a0-\u31bf"  # Bopomofo
    "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"  # Han: extension A, unified, compatibility
    "\uff66-\uff9f"  # half-width Katakana
    "\U0001aff0-\U0001b16f"  # Kana extensions and supplements
    "\U00020000-\U0002fa1f\U00030000-\U000323af"  # Han extensions B-I, compatibility supplement, G, H
)
_JOINERS = "'\u2019\u200c\u200d"  # apostrophe, right single quote, ZWNJ, ZWJ: kept only between word characters


class Token(NamedTuple):
    """One token and its span: ``text[start:end] == token.text``."""

    text: str
    start: int
    end: int


@functools.cache
def _marks_class() -> str:
    """A character class body of every combining mark (Unicode categories Mn, Mc, Me)."""
    category = unicodedata.category
    # Marks live only below U+30000 and in the variation selectors supplement (U+E0100..).
    codes = [c for r in (range(0x30000), range(0xE0000, 0xE1000)) for c in r if category(chr(c))[0] == "M"]
    ranges: list[tuple[int, int]] = []
    for c in codes:
        if ranges and ranges[-1][1] == c - 1:
            ranges[-1] = (ranges[-1][0], c)
        else:
            ranges.append((c, c))
    return "".join(re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}" for a, b in ranges)


@functools.cache
def _compile(spec: str) -> re.Pattern[str]:
    marks = f"[{_marks_class()}]"
    if spec == "words":
        letter = rf"[^\W{_CJK_RANGES}]"  # a word character that is not CJK
        run = rf"{letter}(?:{letter}|{marks})*"
        cjk = rf"(?=\w)[{_CJK_RANGES}]{marks}*"
        return re.compile(rf"{cjk}|{run}(?:[{_JOINERS}]{run})*")
    if spec == "chars":
        return re.compile(rf"\S{marks}*")
    if spec.startswith("regex:"):
        pattern = spec[len("regex:") :]
        if not pattern:
            raise ValueError("tokenizer 'regex:' needs a pattern after the colon, e.g. regex:\\w+")
        try:
            return re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"tokenizer regex {pattern!r} is not a valid regular expression: {exc}") from None
    raise ValueError(f"unknown tokenizer {spec!r}; expected words, chars or regex:<pattern>")


def check_spec(spec: str) -> None:
    """Raise ValueError (with a message fit for a config error) when `spec` is not a valid tokenizer."""
    _compile(spec)


def tokenize(text: str, spec: str = "words") -> list[Token]:
    """Split `text` into tokens with their character spans, by the tokenizer `spec` (see module docstring)."""
    return [Token(m.group(), m.start(), m.end()) for m in _compile(spec).finditer(text) if m.end() > m.start()]


def tokenizer(spec: str = "words") -> Callable[[str], list[str]]:
    """A function text -> token strings, as lime's callable `split_expression` takes it."""
    pattern = _compile(spec)
    return lambda text: [m.group() for m in pattern.finditer(text) if m.end() > m.start()]
