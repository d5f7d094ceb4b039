"""LIME text explanations: our tokenizer's spans, lime's random stream and surrogate, each label's own score.

The neighbourhood is built here rather than by lime's per-sample loop: the same draws from the same random state, the
same data matrix, byte-equal perturbed strings and equal distances, streamed to the model batch by batch.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from reportgen.errors import ExplainError
from reportgen.explain import explanation_record, prediction_records
from reportgen.explain.trust import Sample, Surrogate, surrogate
from reportgen.tokens import Token, tokenize
from reportgen.tokens import tokenizer as token_strings

# LimeTextExplainer's defaults; distances are cosine distances of on/off vectors, times 100.
KERNEL_WIDTH = 25
FEATURE_SELECTION = "auto"
# At most this many ones in the representative rows of one distance computation: bounded memory for long texts.
DISTANCE_CHUNK_NONZEROS = 4_000_000


@dataclass
class TextExplanationResult:
    """Everything one text's explanation produced, as plain Python values (no numpy types)."""

    tokens: list[dict[str, Any]]  # [{"text", "start", "end"}]: spans into the original text
    predictions: list[dict[str, Any]]
    explanations: list[dict[str, Any]]
    timings: dict[str, float] = field(default_factory=dict)
    problem: TextProblem | None = None  # for the trust metrics; not part of the evidence
    sample: Sample | None = None


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
        self.token_feature = np.empty(len(tokens), dtype=np.intp)  # token index -> feature id
        for feature, indices in enumerate(self.token_indices):
            self.token_feature[indices] = feature
        # A perturbed string is the text before the first token, then for each token either its text or the fill
        # (removed: "" with bow, the mask string without), followed by the gap up to the next token.
        ends = [token.start for token in tokens[1:]] + [len(raw)]
        gaps = [raw[token.end : end] for token, end in zip(tokens, ends)]
        fill = "" if bow else self.mask_string
        self._lead = raw[: tokens[0].start] if tokens else raw
        # Token j's piece when removed is _pieces[j], when kept _pieces[len(tokens) + j]: one take per batch, faster
        # than np.where on object arrays.
        kept_pieces = [token.text + gap for token, gap in zip(tokens, gaps)]
        self._pieces = np.array([fill + gap for gap in gaps] + kept_pieces, dtype=object)
        self._token_range = np.arange(len(tokens))

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

    def perturbed_strings(self, rows: np.ndarray) -> list[str]:
        """The string of each data row (nonzero = feature kept), equal to `inverse_removing` of the row's zeros."""
        kept = rows[:, self.token_feature] != 0
        lead = self._lead
        chosen = self._pieces[kept * len(self._token_range) + self._token_range]
        return [lead + "".join(row) for row in chosen.tolist()]


def cosine_distances(num_features: int, kept_counts: np.ndarray) -> np.ndarray:
    """lime's distances (sklearn's cosine distance of each on/off row to the all-ones row, times 100).

    A row's distance depends only on how many features it keeps (every nonzero is 1, so sklearn sums equal terms),
    so sklearn runs once per distinct count, on a row keeping the first that many features: the same floats as
    lime's call on the whole matrix, without building its sparse copy.
    """
    import scipy.sparse
    from sklearn.metrics.pairwise import pairwise_distances

    counts, inverse = np.unique(kept_counts, return_inverse=True)
    ones = scipy.sparse.csr_matrix(np.ones((1, num_features)))
    per_count = np.empty(len(counts))
    step = max(1, DISTANCE_CHUNK_NONZEROS // num_features)
    for start in range(0, len(counts), step):
        chunk = counts[start : start + step]
        indptr = np.concatenate([[0], np.cumsum(chunk)])
        indices = np.arange(indptr[-1]) - np.repeat(indptr[:-1], chunk)  # row r: 0 .. chunk[r]-1
        rows = scipy.sparse.csr_matrix((np.ones(indptr[-1]), indices, indptr), shape=(len(chunk), num_features))
        per_count[start : start + step] = pairwise_distances(rows, ones, metric="cosine").ravel() * 100
    return per_count[inverse.ravel()]


def score_rows(
    indexed: IndexedTokens, predict: Callable[[list[str]], np.ndarray], rows: np.ndarray, batch_size: int,
    num_classes: int,
) -> np.ndarray:  # fmt: skip
    """The model's scores for on/off rows over the features, batch by batch (the strings of one batch at a time)."""
    outputs = []
    for start in range(0, len(rows), batch_size):
        strings = indexed.perturbed_strings(rows[start : start + batch_size])
        out = np.asarray(predict(strings))
        if out.ndim != 2 or out.shape[1] != num_classes:
            raise ExplainError(f"the model gave outputs of shape {out.shape[1:]} for {num_classes} classes")
        if len(out) != len(strings):
            raise ExplainError(f"the model gave {len(out)} outputs for {len(strings)} texts")
        outputs.append(out)
    return np.concatenate(outputs, axis=0)


def neighbourhood(
    indexed: IndexedTokens,
    predict: Callable[[list[str]], np.ndarray],
    num_samples: int,
    random_state: np.random.RandomState,
    batch_size: int,
    num_classes: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """lime 0.2.0.1's `__data_labels_distances` (cosine): the same draws, data, strings and distances, in batches."""
    num_features = indexed.num_words()
    # lime: how many features each sample removes, then per sample choice(range(d), size, replace=False), which
    # for a legacy RandomState is permutation(d)[:size]: one shuffle of 0..d-1 (its draws), of which we keep `size`.
    sizes = random_state.randint(1, num_features + 1, num_samples - 1)
    data = np.ones((num_samples, num_features))
    order = np.arange(num_features)
    permutation = np.empty(num_features, dtype=np.intp)
    outputs = []
    for start in range(0, num_samples, batch_size):
        stop = min(start + batch_size, num_samples)
        for i in range(max(start, 1), stop):
            permutation[:] = order
            random_state.shuffle(permutation)
            data[i, permutation[: sizes[i - 1]]] = 0
        # Row 0 keeps everything: the text itself.
        outputs.append(score_rows(indexed, predict, data[start:stop], batch_size, num_classes))
    kept_counts = np.concatenate([[num_features], num_features - sizes])
    return data, np.concatenate(outputs, axis=0), cosine_distances(num_features, kept_counts)


@dataclass
class TextProblem:
    """One text's features as on/off rows, scored by the model; what the trust metrics re-run (trust.Problem)."""

    indexed: IndexedTokens
    predict: Callable[[list[str]], np.ndarray]
    batch_size: int
    num_classes: int
    num_selected: int  # LIME's num_features: how many features each surrogate weighs
    base: Any  # the surrogate (FastLimeBase), with lime's kernel

    @property
    def num_features(self) -> int:
        return self.indexed.num_words()

    def score(self, rows: np.ndarray) -> np.ndarray:
        """The model's probabilities for on/off rows, batched as in the main run."""
        labels = score_rows(self.indexed, self.predict, rows, self.batch_size, self.num_classes)
        if not np.all(np.isfinite(labels)):
            raise ExplainError("the model returned NaN or infinite scores")
        return labels

    def with_predict(self, predict: Callable[[list[str]], np.ndarray]) -> TextProblem:
        """The same problem scored by another model (the sanity check's randomised copy)."""
        from dataclasses import replace

        return replace(self, predict=predict)

    def neighbourhood(self, random_state: np.random.RandomState, num_samples: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """lime's sample from this random state, on the main run's tokens."""
        data, labels, distances = neighbourhood(
            self.indexed, self.predict, num_samples, random_state, self.batch_size, self.num_classes
        )
        if not np.all(np.isfinite(labels)):
            raise ExplainError("the model returned NaN or infinite scores")
        return data, labels, distances

    def kernel(self, distances: np.ndarray) -> np.ndarray:
        """lime's sample weights."""
        return np.asarray(self.base.kernel_fn(distances))

    def fit(self, data: np.ndarray, labels: np.ndarray, distances: np.ndarray, label: int) -> Surrogate:
        """lime's surrogate for one label, with its feature selection (as the main run fits it)."""
        fit = self.base.explain_instance_with_data(
            data, labels, distances, label, self.num_selected, model_regressor=None, feature_selection=FEATURE_SELECTION
        )
        return surrogate(label, self.num_features, fit)


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
    from reportgen.explain.surrogate import FastLimeBase

    # lime's surrogate and forward selection (num_features <= 6), vectorised: the same features and weights.
    explainer.base = FastLimeBase(explainer.base.kernel_fn, verbose=False, random_state=explainer.base.random_state)
    model_s = 0.0

    def classifier_fn(strings: list[str]) -> np.ndarray:
        nonlocal model_s
        t0 = time.perf_counter()
        out = np.asarray(predict(strings))
        model_s += time.perf_counter() - t0
        return out

    t = time.perf_counter()
    data, labels, distances = neighbourhood(
        indexed, classifier_fn, settings.num_samples, explainer.random_state, settings.batch_size, len(classes)
    )
    timings["perturb_s"] = max(0.0, time.perf_counter() - t - model_s)
    timings["model_s"] = 0.0  # the caller measures its model's time
    if not np.all(np.isfinite(labels)):
        raise ExplainError("the model returned NaN or infinite scores")

    t = time.perf_counter()
    problem = TextProblem(indexed, predict, settings.batch_size, len(classes), settings.num_features, explainer.base)
    explanations, fits = [], []
    # lime's order (least probable of the top labels first), reported most probable first; one call per label,
    # so each keeps its own score and local prediction (lime keeps only the last fitted, the top label's).
    for label in (int(i) for i in np.argsort(labels[0])[-settings.top_labels :]):
        fit = problem.fit(data, labels, distances, label)
        features = [
            {"feature": indexed.word(f), "weight": w, "positions": list(indexed.token_indices[f])}
            for f, w in zip(fit.order, fit.weights)
        ]
        explanations.append(explanation_record(classes, label, fit.intercept, fit.score, fit.local_prediction, features))
        fits.append(fit)
    explanations.reverse()
    fits.reverse()
    timings["fit_s"] = time.perf_counter() - t

    predictions = prediction_records(classes, labels[0])
    spans = [{"text": tok.text, "start": int(tok.start), "end": int(tok.end)} for tok in tokens]
    timings["total_s"] = time.perf_counter() - began
    return TextExplanationResult(spans, predictions, explanations, timings, problem, Sample(data, labels, distances, fits))
