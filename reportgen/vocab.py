"""Texts as token ids, for Keras text models that take ids instead of raw strings."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from reportgen.errors import ConfigError
from reportgen.tokens import tokenize


class VocabularyEncoder:
    """Maps texts to fixed-length rows of token ids: index = line number in the vocabulary file, 0 pads."""

    def __init__(self, path: Path, rel: str, tokenizer: str, max_len: int, lowercase: bool, oov_index: int, pad: str):
        try:
            lines = path.read_text(encoding="utf-8-sig").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{rel}: cannot read the vocabulary: {exc}") from None
        self.index: dict[str, int] = {}
        for number, token in enumerate(lines):
            # The first line wins for a repeated token, as Keras' TextVectorization does.
            self.index.setdefault(token, number)
        if not self.index:
            raise ConfigError(f"{rel}: the vocabulary is empty")
        self.size = len(lines)
        self.tokenizer, self.max_len, self.lowercase = tokenizer, max_len, lowercase
        self.oov_index, self.pad = oov_index, pad

    def encode(self, texts: list[str]) -> np.ndarray:
        """(n, max_len) int32 ids; longer texts are cut after max_len tokens."""
        out = np.zeros((len(texts), self.max_len), np.int32)
        for row, text in enumerate(texts):
            tokens = [t.text.lower() if self.lowercase else t.text for t in tokenize(text, self.tokenizer)]
            ids = [self.index.get(token, self.oov_index) for token in tokens[: self.max_len]]
            if ids:
                if self.pad == "post":
                    out[row, : len(ids)] = ids
                else:
                    out[row, -len(ids) :] = ids
        return out
