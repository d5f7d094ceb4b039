"""Tokenizers: spans always reproduce the text; CJK characters stand alone; regex specs describe tokens."""

from __future__ import annotations

import random
import re
import unicodedata

import pytest

from reportgen.tokens import Token, check_spec, tokenize, tokenizer


def texts(text: str, spec: str = "words") -> list[str]:
    return [t.text for t in tokenize(text, spec)]


def assert_spans(text: str, tokens: list[Token]) -> None:
    end = 0
    for token in tokens:
        assert text[token.start : token.end] == token.text
        assert token.end > token.start >= end  # in order, non-overlapping, never empty
        end = token.end


@pytest.mark.parametrize(
    "text, expected",
    [
        ("The battery lasts all day, but the screen is dim.",
         ["The", "battery", "lasts", "all", "day", "but", "the", "screen", "is", "dim"]),
        ("这部电影很好", ["这", "部", "电", "影", "很", "好"]),
        ("iPhone好用吗？good!", ["iPhone", "好", "用", "吗", "good"]),
        ("good good, GOOD good", ["good", "good", "GOOD", "good"]),
        ("Wait... what?! (really)", ["Wait", "what", "really"]),
        ("great 😀 movie 👍🏽 ❤️ 👨‍👩‍👧", ["great", "movie"]),
        ("line one\r\nline two\r\n", ["line", "one", "line", "two"]),
        ("ひらがなとカタカナ、ｶﾀｶﾅ", ["ひ", "ら", "が", "な", "と", "カ", "タ", "カ", "ナ", "ｶ", "ﾀ", "ｶ", "ﾅ"]),
        ("𠀀𪜀 and 々", ["𠀀", "𪜀", "and", "々"]),
        ("한국어 문장입니다", ["한국어", "문장입니다"]),  # Hangul: words, since Korean puts spaces between them
        ("don't 'quoted' l’homme students' rock'n'roll", ["don't", "quoted", "l’homme", "students", "rock'n'roll"]),
        ("state-of-the-art 3.5 snake_case", ["state", "of", "the", "art", "3", "5", "snake_case"]),
        ("Ça coûte 5 €, naïve Straße", ["Ça", "coûte", "5", "naïve", "Straße"]),
        ("नमस्ते दुनिया", ["नमस्ते", "दुनिया"]),  # vowel signs and viramas are marks: words stay whole
    ],
)  # fmt: skip
def test_words(text, expected):
    tokens = tokenize(text)
    assert [t.text for t in tokens] == expected
    assert_spans(text, tokens)


def test_words_is_the_default_and_tokens_are_tuples():
    assert tokenize("a b") == tokenize("a b", "words") == [Token("a", 0, 1), Token("b", 2, 3)]
    assert tokenize("a")[0] == ("a", 0, 1)


def test_combining_characters_stay_on_their_letter():
    nfd = unicodedata.normalize("NFD", "résumé café naïve")
    assert nfd != "résumé café naïve"
    tokens = tokenize(nfd)
    assert [unicodedata.normalize("NFC", t.text) for t in tokens] == ["résumé", "café", "naïve"]
    assert_spans(nfd, tokens)
    kana = unicodedata.normalize("NFD", "がぎ")  # dakuten as a combining mark after each kana
    assert texts(kana) == ["か\u3099", "き\u3099"]


def test_cjk_characters_are_single_tokens_in_mixed_text():
    text = "我喜欢Python和机器学习, and 日本語も好き."
    words = texts(text)
    assert "Python" in words and "and" in words
    assert all(len(w) == 1 for w in words if re.match(r"[\u3040-\u30ff\u4e00-\u9fff]", w))
    assert "".join(w for w in words if w not in ("Python", "and")) == "我喜欢和机器学习日本語も好き"


def test_chars():
    text = "ab 好!\r\n e\u0301"
    tokens = tokenize(text, "chars")
    assert [t.text for t in tokens] == ["a", "b", "好", "!", "e\u0301"]
    assert_spans(text, tokens)


def test_regex_describes_tokens_not_separators():
    text = "call 555-1234 or 555-9876 now"
    tokens = tokenize(text, r"regex:\d{3}-\d{4}")
    assert [t.text for t in tokens] == ["555-1234", "555-9876"]
    assert_spans(text, tokens)
    assert tokenize("ab  cd", r"regex:\w*") == [Token("ab", 0, 2), Token("cd", 4, 6)]  # empty matches skipped
    assert texts("x-y z", r"regex:(\w)") == ["x", "y", "z"]  # groups do not matter: the whole match is the token


@pytest.mark.parametrize("spec, message", [
    ("regex:(", "not a valid regular expression"),
    ("regex:[a-", "not a valid regular expression"),
    ("regex:", "needs a pattern"),
    ("word", "unknown tokenizer 'word'"),
    ("", "unknown tokenizer"),
])  # fmt: skip
def test_invalid_specs_raise_value_error(spec, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        check_spec(spec)
    with pytest.raises(ValueError, match=re.escape(message)):
        tokenize("text", spec)


@pytest.mark.parametrize("text", ["", "   ", "\r\n\t", "...!?", "«—»", "😀👍🏽❤️", "''' ’"])
def test_nothing_to_tokenize(text):
    assert tokenize(text) == []


def test_tokenizer_gives_lime_a_callable_of_strings():
    assert tokenizer("words")("Hello, 世界") == ["Hello", "世", "界"]
    assert tokenizer("regex:a*")("baab") == ["aa"]


ALPHABET = (
    list("abcXYZ019_ ") + [" ", "  ", "\t", "\r\n", "\n", "\u00a0", "\u3000"]
    + list(".,;:!?-'’\"()«»…") + ["\u0301", "\u0308", "\u3099", "\ufe0f", "\u200d", "\u200c", "\x00"]
    + list("éßØ好差中文字ひらカタｶ한국") + ["𠀀", "😀", "👍🏽", "🇫🇷", "नमस्ते", "ŉ", "ǅ", "\U000e0100"]
)  # fmt: skip
CJK = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff\uff66-\uff9f\U00020000-\U0002fa1f]")


def test_spans_property_on_random_strings():
    rng = random.Random(0)
    for _ in range(400):
        text = "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 30)))
        for spec in ("words", "chars", r"regex:\w+|[^\w\s]", r"regex:a*|好"):
            tokens = tokenize(text, spec)
            assert_spans(text, tokens)
        words = tokenize(text)
        covered = set().union(*(range(t.start, t.end) for t in words)) if words else set()
        for i, ch in enumerate(text):
            if re.match(r"\w", ch):
                assert i in covered, (text, i)  # every word character is in a token
            if ch.isspace():
                assert i not in covered
        for t in words:
            if CJK.match(t.text):
                assert all(unicodedata.category(ch)[0] == "M" for ch in t.text[1:])  # one character and its marks
        chars = tokenize(text, "chars")
        assert "".join(t.text for t in chars) == "".join(ch for ch in text if not ch.isspace())
