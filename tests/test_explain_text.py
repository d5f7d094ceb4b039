"""Text explanations: spans into the original text, lime's random stream kept, each label's own score."""

from __future__ import annotations

import json
import random
from types import SimpleNamespace

import numpy as np
import pytest

from reportgen.errors import ExplainError
from reportgen.explain import text as text_module
from reportgen.explain.text import IndexedTokens, explain_text, neighbourhood
from reportgen.tokens import tokenize, tokenizer

POSITIVE = {"good", "great", "好"}
NEGATIVE = {"bad", "差"}
TWO = ["negative", "positive"]
THREE = ["negative", "neutral", "positive"]


def word_counts(strings: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    pos, neg, length = [], [], []
    for s in strings:
        words = [t.text.lower() for t in tokenize(s)]
        pos.append(sum(w in POSITIVE for w in words))
        neg.append(sum(w in NEGATIVE for w in words))
        length.append(len(words))
    return np.array(pos, float), np.array(neg, float), np.array(length, float)


def sentiment(strings: list[str]) -> np.ndarray:
    """A two-class 'model': positive rises with good/great/好 and falls with bad/差."""
    pos, neg, _ = word_counts(strings)
    p = 1 / (1 + np.exp(-(1.2 * pos - 1.5 * neg)))
    return np.stack([1 - p, p], axis=1)


def sentiment3(strings: list[str]) -> np.ndarray:
    """Three classes, softmax of word counts; neutral grows with the number of other words."""
    pos, neg, length = word_counts(strings)
    logits = np.stack([1.5 * neg - 0.5 * pos, 0.1 * (length - pos - neg), 1.5 * pos - 0.5 * neg], axis=1)
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def settings(num_samples=300, top_labels=2, num_features=10, bow=True, batch_size=64):
    return SimpleNamespace(
        num_samples=num_samples, top_labels=top_labels, num_features=num_features, bow=bow, batch_size=batch_size
    )


REVIEW = "The food was good, really good, but the service was bad."


def test_true_words_get_the_top_weights_and_bow_highlights_every_occurrence():
    result = explain_text(REVIEW, sentiment, TWO, settings(), seed=0, tokenizer="words")
    assert [p["label"] for p in result.predictions] == ["positive", "negative"]
    positive = result.explanations[0]
    assert positive["label"] == "positive" and positive["index"] == 1
    top = positive["features"][:2]
    assert {f["feature"] for f in top} == {"good", "bad"}
    weights = {f["feature"]: f["weight"] for f in positive["features"]}
    assert weights["good"] > 0 > weights["bad"]
    good = next(f for f in positive["features"] if f["feature"] == "good")
    assert good["positions"] == [3, 5]  # both occurrences, as token indices
    assert [result.tokens[i]["text"] for i in good["positions"]] == ["good", "good"]
    the = next(f for f in positive["features"] if f["feature"] == "the")
    assert the["positions"] == [7]  # "The" and "the" are different tokens
    ws = [f["weight"] for f in positive["features"]]
    assert ws == sorted(ws, key=abs, reverse=True)


def test_without_bow_each_position_is_a_feature():
    result = explain_text(REVIEW, sentiment, TWO, settings(bow=False, num_features=20), seed=0, tokenizer="words")
    goods = [f for f in result.explanations[0]["features"] if f["feature"] == "good"]
    assert sorted(f["positions"] for f in goods) == [[3], [5]]
    assert all(f["weight"] > 0 for f in goods)
    assert len(result.explanations[0]["features"]) == len(result.tokens)


def test_chinese_and_mixed_text():
    text = "这家餐厅的菜很好，服务很差。"
    result = explain_text(text, sentiment, TWO, settings(), seed=1, tokenizer="words")
    assert len(result.tokens) == 12 and all(len(t["text"]) == 1 for t in result.tokens)
    features = result.explanations[0]["features"]
    assert {f["feature"] for f in features[:2]} == {"好", "差"}
    mixed = "The phone 很好, battery 差 but camera great"
    result = explain_text(mixed, sentiment, TWO, settings(), seed=1, tokenizer="words")
    assert {f["feature"] for f in result.explanations[0]["features"][:3]} == {"好", "差", "great"}
    for t in result.tokens:
        assert mixed[t["start"] : t["end"]] == t["text"]


@pytest.mark.parametrize("spec", ["words", "chars", r"regex:\w+"])
def test_spans_point_into_the_original_text(spec):
    text = "Good\r\nfood 😀, bad re\u0301sume\u0301 好!"
    result = explain_text(text, sentiment, TWO, settings(num_samples=50), seed=0, tokenizer=spec)
    assert result.tokens == [{"text": t.text, "start": t.start, "end": t.end} for t in tokenize(text, spec)]
    for t in result.tokens:
        assert text[t["start"] : t["end"]] == t["text"]
    for feature in result.explanations[0]["features"]:
        assert all(result.tokens[i]["text"] == feature["feature"] for i in feature["positions"])


@pytest.mark.parametrize("text", ["", "   \r\n", "...!?", "😀 👍🏽"])
def test_no_tokens_to_explain(text):
    def never(_strings):
        raise AssertionError("the model must not run")

    with pytest.raises(ExplainError, match="no tokens to explain"):
        explain_text(text, never, TWO, settings(), seed=0, tokenizer="words")


MIXED = "good movie, bad ending; good actors but bad, bad script 很好 差"  # repeated words, punctuation, CJK
CJK = "这家餐厅的菜很好，服务很差。好吃！"  # no whitespace: `chars` gives lime's char_level features


def recording(fn, seen):
    """`fn`, also appending every string it is asked about to `seen`."""

    def wrapped(strings):
        seen.extend(strings)
        return fn(strings)

    return wrapped


@pytest.mark.parametrize(
    "text, spec, bow, num_features, top_labels, char_level",
    [
        (MIXED, "words", True, 10, 2, False),
        (MIXED, "words", True, 4, 3, False),  # 4 and 3 use lime's forward selection
        (MIXED, "words", False, 10, 3, False),
        (MIXED, "words", False, 3, 1, False),
        (CJK, "chars", True, 10, 2, False),
        (CJK, "chars", False, 10, 2, False),
        (CJK, "chars", True, 10, 2, True),  # against lime's own IndexedCharacters
        (CJK, "chars", False, 10, 1, True),
    ],
)
def test_same_seed_gives_stock_lime_explanation(text, spec, bow, num_features, top_labels, char_level):
    from lime.lime_text import LimeTextExplainer

    ours_seen, stock_seen = [], []
    # 300 samples in batches of 64: the strings reach our model in 5 calls, stock lime's in one.
    ours = explain_text(text, recording(sentiment3, ours_seen), THREE, settings(300, top_labels, num_features, bow),
                        seed=5, tokenizer=spec)  # fmt: skip
    explainer = LimeTextExplainer(
        class_names=THREE, random_state=np.random.RandomState(5), bow=bow, split_expression=tokenizer(spec),
        char_level=char_level, mask_string="UNKWORDZ",  # lime's char_level masks with chr(0) by default
    )  # fmt: skip
    stock = explainer.explain_instance(text, recording(sentiment3, stock_seen), num_features=num_features,
                                       top_labels=top_labels, num_samples=300)  # fmt: skip
    assert ours_seen == stock_seen and len(set(ours_seen)) > 100  # byte-equal strings, in order
    assert [e["index"] for e in ours.explanations] == stock.top_labels
    assert [p["probability"] for p in ours.predictions] == sorted(stock.predict_proba, reverse=True)
    for explanation in ours.explanations:
        label = explanation["index"]
        theirs = stock.as_list(label=label)
        assert [f["feature"] for f in explanation["features"]] == [w for w, _ in theirs]
        for feature, (_, weight) in zip(explanation["features"], theirs):
            assert feature["weight"] == pytest.approx(weight, abs=1e-9)
        assert explanation["intercept"] == pytest.approx(stock.intercept[label], abs=1e-9)
        ids = [f for f, _ in stock.local_exp[label]]
        if not bow:  # without bow lime's feature id is the token's position
            assert [f["positions"] for f in explanation["features"]] == [[i] for i in ids]
    # lime keeps only the last fitted label's score: it fits the top labels least probable first.
    assert ours.explanations[0]["score"] == pytest.approx(stock.score, abs=1e-9)
    assert ours.explanations[0]["local_prediction"] == pytest.approx(stock.local_pred[0], abs=1e-9)


NEIGHBOURHOOD_TEXTS = [
    MIXED,
    "  Bad, bad, BAD!!! good... (good) don't l’homme re\u0301sume\u0301 e\u0301 😀\r\n好 好 ",  # gaps at both ends
    "one",
    CJK,
]


@pytest.mark.parametrize("spec", ["words", "chars"])
@pytest.mark.parametrize("bow", [True, False])
@pytest.mark.parametrize("num_samples, batch_size", [(97, 16), (50, 1), (40, 1000)])
def test_neighbourhood_equals_limes_data_strings_and_distances(spec, bow, num_samples, batch_size, monkeypatch):
    from lime.lime_text import IndexedString, LimeTextExplainer

    if batch_size == 1:  # distances computed a few rows at a time, as for a very long text
        monkeypatch.setattr(text_module, "DISTANCE_CHUNK_NONZEROS", 10)
    for seed, text in enumerate(NEIGHBOURHOOD_TEXTS):
        ours_seen, stock_seen = [], []
        ours_state, stock_state = np.random.RandomState(seed), np.random.RandomState(seed)
        indexed = IndexedTokens(text, tokenize(text, spec), bow=bow)
        data, labels, distances = neighbourhood(indexed, recording(sentiment3, ours_seen), num_samples, ours_state,
                                                batch_size, len(THREE))  # fmt: skip
        explainer = LimeTextExplainer(random_state=stock_state, bow=bow, split_expression=tokenizer(spec))
        stock = explainer._LimeTextExplainer__data_labels_distances(
            IndexedString(text, split_expression=tokenizer(spec), bow=bow), recording(sentiment3, stock_seen),
            num_samples, distance_metric="cosine",
        )  # fmt: skip
        assert ours_seen == stock_seen
        assert data.dtype == stock[0].dtype and np.array_equal(data, stock[0])
        assert np.array_equal(labels, stock[1])
        assert np.array_equal(distances, stock[2])  # equal floats, not merely close
        # Both left the random state at the same place, so anything drawn afterwards is the same too.
        assert ours_state.randint(0, 2**31) == stock_state.randint(0, 2**31)


def test_each_label_keeps_its_own_score_and_values_are_plain():
    result = explain_text(REVIEW, sentiment3, THREE, settings(400, top_labels=3), seed=0, tokenizer="words")
    scores = [e["score"] for e in result.explanations]
    preds = [e["local_prediction"] for e in result.explanations]
    assert len(set(scores)) == 3 and len(set(preds)) == 3
    probabilities = {p["index"]: p["probability"] for p in result.predictions}
    for explanation in result.explanations:  # each local prediction is near its own label's probability
        assert explanation["local_prediction"] == pytest.approx(probabilities[explanation["index"]], abs=0.15)

    def plain(value):
        if isinstance(value, dict):
            return all(type(k) is str and plain(v) for k, v in value.items())
        if isinstance(value, list):
            return all(plain(v) for v in value)
        return type(value) in (str, int, float, bool) or value is None

    assert plain(result.tokens) and plain(result.predictions) and plain(result.explanations)
    assert plain(result.timings)
    json.dumps([result.tokens, result.predictions, result.explanations])
    assert set(result.timings) == {"segmentation_s", "perturb_s", "model_s", "fit_s", "total_s"}
    assert result.timings["model_s"] == 0.0


def test_an_invalid_tokenizer_is_an_explain_error():
    with pytest.raises(ExplainError, match="needs a pattern"):
        explain_text(REVIEW, sentiment, TWO, settings(), seed=0, tokenizer="regex:")


def test_model_output_of_the_wrong_shape_is_an_explain_error():
    with pytest.raises(ExplainError, match="shape"):
        explain_text(REVIEW, sentiment, THREE, settings(num_samples=20), seed=0, tokenizer="words")
    with pytest.raises(ExplainError, match="gave 63 outputs for 64 texts"):
        explain_text(REVIEW, lambda s: sentiment(s)[:-1], TWO, settings(num_samples=100), seed=0)
    with pytest.raises(ExplainError, match="NaN"):
        explain_text(REVIEW, lambda s: np.full((len(s), 2), np.nan), TWO, settings(num_samples=20), seed=0)


def test_indexed_tokens_equal_limes_indexed_string():
    from lime.lime_text import IndexedString

    rng = random.Random(0)
    alphabet = list("ab好差 ,.!'") + ["good", "bad", "\r\n", "😀", "e\u0301", "ひ", "한"]
    for _ in range(200):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 12)))
        for spec in ("words", "chars"):
            for bow in (True, False):
                tokens = tokenize(text, spec)
                if not tokens:
                    continue
                ours = IndexedTokens(text, tokens, bow=bow)
                theirs = IndexedString(text, split_expression=tokenizer(spec), bow=bow)
                assert ours.as_list == theirs.as_list
                assert ours.inverse_vocab == theirs.inverse_vocab
                assert [list(np.ravel(p)) for p in ours.positions] == [list(np.ravel(p)) for p in theirs.positions]
                remove = rng.sample(range(ours.num_words()), rng.randint(0, ours.num_words()))
                removed = np.array(remove, dtype=int) if not bow else remove
                assert ours.inverse_removing(removed) == theirs.inverse_removing(removed)
