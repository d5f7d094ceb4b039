"""LIME text explanations: our tokenizer's spans, lime's random stream and surrogate, each label's own score."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from reportgen.errors import ExplainError
from reportgen.explain import explanation_record, prediction_records
from reportgen.tokens import Token, tokenize
from reportgen.tokens import tokenizer as token_strings

# LimeTextExplainer's defaults; distances are cosine distances of on/off vectors, times 100.
KERNEL_WIDTH = 25
FEATURE_SELECTION = "auto"


@dataclass
class TextExplanationResult:
    """Everything one text's explanation produced, as plain Python values (no numpy types)."""

    tokens: list[dict[str, Any]]  # [{"text", "start", "end"}]: spans into the original text
    predictions: list[dict[str, Any]]
    explanations: list[dict[str, Any]]
    timings: dict[str, float] = field(default_factory=dict)


class IndexedTokens:
    """lime's `IndexedString`, built from our token spans instead of re-finding the tokens in the text.

    lime 0.2.0.1 re-locates a callable tokenizer's strings with a forward `startswith` scan (quadratic in the
    text's length, and wrong when a token's text also occurs earlier in a gap, which a `regex:` tokenizer allows);
    with spans the pieces are exact. For `words` and `chars` the result equals lime's piece for piece, so the
    feature ids, the random stream and the perturbed strings are stock lime's.
    """

    def __init__(self, raw: str, tokens: Sequence[Token], bow: bool = True, mask_string: str | None = None):
        self.raw = raw
        self.bow = bow
        self.mask_string = "UNKWORDZ" if mask_string is None else mask_string
        pieces: list[str] = []
        token_piece: list[int] = []  # token index -> piece index
        end = 0
        for token in tokens:
            if token.start > end:
                pieces.append(raw[end : token.start])
            token_piece.append(len(pieces))
            pieces.append(token.text)
            end = token.end
        if end < len(raw):
            pieces.append(raw[end:])
        self.as_list = pieces
        self.inverse_vocab: list[str] = []
        self.positions: list[list[int]] | np.ndarray = []  # feature id -> piece indices, as lime keeps them
        self.token_indices: list[list[int]] = []  # feature id -> token indices
        if bow:
            vocab: dict[str, int] = {}
            for index, (token, piece) in enumerate(zip(tokens, token_piece)):
                if token.text not in vocab:
                    vocab[token.text] = len(vocab)
                    self.inverse_vocab.append(token.text)
                    self.positions.append([])
                    self.token_indices.append([])
                self.positions[vocab[token.text]].append(piece)
                self.token_indices[vocab[token.text]].append(index)
        else:
            self.inverse_vocab = [token.text for token in tokens]
            self.positions = np.array(token_piece, dtype=int)
            self.token_indices = [[index] for index in range(len(tokens))]

    def raw_string(self) -> str:
        """The original text."""
        return self.raw

    def num_words(self) -> int:
        """How many features (distinct tokens with bow, token positions without)."""
        return len(self.inverse_vocab)

    def word(self, id_: int) -> str:
        """The token text of feature `id_`."""
        return self.inverse_vocab[id_]

    def inverse_removing(self, words_to_remove: Iterable[int]) -> str:
        """The text with the given features removed (bow) or replaced by the mask string, as lime builds it."""
        parts = list(self.as_list)
        fill = "" if self.bow else self.mask_string
        for feature in words_to_remove:
            pieces = self.positions[feature] if self.bow else (self.positions[feature],)
            for piece in pieces:
                parts[piece] = fill
        return "".join(parts)


def explain_text(
    text: str,
    predict: Callable[[list[str]], np.ndarray],
    classes: Sequence[str],
    settings: Any,
    seed: int,
    tokenizer: str = "words",
) -> TextExplanationResult:
    """Explain one text; `predict` maps a list of strings (any length) to probabilities (n, classes)."""
    from lime import lime_text

    timings: dict[str, float] = {}
    began = time.perf_counter()
    bow = bool(getattr(settings, "bow", True))

    t = time.perf_counter()
    try:
        tokens = tokenize(text, tokenizer)
    except ValueError as exc:  # an invalid spec the config layer let through (it should call tokens.check_spec)
        raise ExplainError(str(exc)) from None
    if not tokens:
        raise ExplainError("no tokens to explain")
    indexed = IndexedTokens(text, tokens, bow=bow)
    timings["segmentation_s"] = time.perf_counter() - t

    explainer = lime_text.LimeTextExplainer(
        kernel_width=KERNEL_WIDTH,
        class_names=[str(c) for c in classes],
        feature_selection=FEATURE_SELECTION,
        split_expression=token_strings(tokenizer),
        bow=bow,
        mask_string=None,
        random_state=np.random.RandomState(seed),
        char_level=False,
    )
    model_s = 0.0

    def classifier_fn(strings: list[str]) -> np.ndarray:
        nonlocal model_s
        t0 = time.perf_counter()
        out = np.asarray(predict(strings))
        model_s += time.perf_counter() - t0
        return out

    t = time.perf_counter()
    # lime's own neighbourhood (pinned to 0.2.0.1): same draws, same strings, one call with all of them.
    data, labels, distances = explainer._LimeTextExplainer__data_labels_distances(
        indexed, classifier_fn, settings.num_samples, distance_metric="cosine"
    )
    timings["perturb_s"] = max(0.0, time.perf_counter() - t - model_s)
    timings["model_s"] = 0.0  # the caller measures its model's time
    if labels.shape != (settings.num_samples, len(classes)):
        raise ExplainError(f"the model gave outputs of shape {labels.shape[1:]} for {len(classes)} classes")
    if not np.all(np.isfinite(labels)):
        raise ExplainError("the model returned NaN or infinite scores")

    t = time.perf_counter()
    explanations = []
    # lime's order (least probable of the top labels first), reported most probable first; one call per label,
    # so each keeps its own score and local prediction (lime keeps only the last fitted, the top label's).
    for label in (int(i) for i in np.argsort(labels[0])[-settings.top_labels :]):
        intercept, local_exp, score, local_pred = explainer.base.explain_instance_with_data(
            data, labels, distances, label, settings.num_features,
            model_regressor=None, feature_selection=explainer.feature_selection,
        )  # fmt: skip
        features = [
            {"feature": indexed.word(int(f)), "weight": float(w), "positions": list(indexed.token_indices[int(f)])}
            for f, w in local_exp
        ]
        explanations.append(explanation_record(classes, label, intercept, score, local_pred, features))
    explanations.reverse()
    timings["fit_s"] = time.perf_counter() - t

    predictions = prediction_records(classes, labels[0])
    spans = [{"text": tok.text, "start": int(tok.start), "end": int(tok.end)} for tok in tokens]
    timings["total_s"] = time.perf_counter() - began
    return TextExplanationResult(spans, predictions, explanations, timings)
