"""The vectorised surrogate picks lime's features and returns lime's explanation (issue 5, goal 4)."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator

import numpy as np
import pytest
import sklearn
from lime import lime_base
from sklearn.metrics import pairwise_distances

from reportgen.explain import surrogate
from reportgen.explain.surrogate import FastLimeBase, forward_selection


def kernel(d: np.ndarray) -> np.ndarray:
    """lime_image's default kernel (width 0.25 on cosine distances)."""
    return np.sqrt(np.exp(-(d**2) / 0.25**2))


@pytest.fixture(autouse=True)
def fast_sklearn() -> Iterator[None]:
    """Skip sklearn's input checks (a third of each stock Ridge fit here); the arithmetic is unchanged."""
    with sklearn.config_context(assume_finite=True, skip_parameter_validation=True):
        yield


def text_kernel(d: np.ndarray) -> np.ndarray:
    """lime_text's default kernel (width 25 on cosine distances times 100)."""
    return np.sqrt(np.exp(-(d**2) / 25**2))


def lime_like(n: int, p: int, seed: int, labels: int = 3) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(binary data with a first row of ones, probability labels, cosine distances) as lime_image makes them."""
    rng = np.random.RandomState(seed)
    data = rng.randint(0, 2, (n, p))
    data[0, :] = 1
    probabilities = rng.dirichlet(np.ones(labels), size=n)
    return data, probabilities, pairwise_distances(data, data[:1], metric="cosine").ravel()


def stock_forward(data: np.ndarray, labels: np.ndarray, weights: np.ndarray, num_features: int) -> np.ndarray:
    """lime's own forward_selection, sklearn's warnings about singular systems silenced."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return lime_base.LimeBase(kernel, random_state=0).forward_selection(data, labels, weights, num_features)


CASES = [(200, 10, s) for s in range(6)] + [(1000, 42, 0), (500, 80, 0)]


@pytest.mark.parametrize("n,p,seed", CASES)
def test_forward_selection_picks_lime_features(n: int, p: int, seed: int) -> None:
    data, probabilities, distances = lime_like(n, p, seed)
    weights = kernel(distances)
    label = probabilities[:, seed % 3]
    # lime's picks for k features are the first k of its picks for 6 (a greedy loop): one stock run checks all.
    expected = stock_forward(data, label, weights, 6).tolist()
    for num_features in range(1, 7):
        assert forward_selection(data, label, weights, num_features).tolist() == expected[:num_features]


def degenerate_data() -> tuple[np.ndarray, np.ndarray]:
    """LIME-style data with a duplicate, a constant, a complement and an all-zero column, and its weights."""
    data, _, _ = lime_like(300, 8, 7)
    data = np.column_stack([data, data[:, 2], np.ones(300), 1 - data[:, 4], np.zeros(300)])
    data[0, -1] = 0  # the all-zero column stays all zero; the others keep lime's first row of ones
    return data, kernel(pairwise_distances(data[:, :8], data[:1, :8], metric="cosine").ravel())


@pytest.mark.parametrize("kind", ["random", "duplicate wins", "exact fit", "constant labels", "tiny variance"])
def test_forward_selection_degenerate_columns(kind: str) -> None:
    data, weights = degenerate_data()
    rng = np.random.RandomState(3)
    labels = {
        "random": rng.rand(300),
        "duplicate wins": 0.8 * data[:, 2] + 0.1 * data[:, 4] + 0.05 * rng.rand(300),
        "exact fit": 0.25 + 0.5 * data[:, 8],  # once chosen, every further candidate ties at R^2 = 1
        "constant labels": np.full(300, 0.3),
        "tiny variance": 0.999 + 1e-7 * rng.rand(300),
    }[kind]
    expected = stock_forward(data, labels, weights, 20).tolist()  # 20 > 12 columns: lime stops at 12
    assert len(expected) == data.shape[1]
    for num_features in (3, 20):
        assert forward_selection(data, labels, weights, num_features).tolist() == expected[:num_features]


def test_near_ties_are_refitted_by_sklearn(monkeypatch: pytest.MonkeyPatch) -> None:
    data, weights = degenerate_data()
    calls: list[list[int]] = []
    score = surrogate._lime_score
    monkeypatch.setattr(surrogate, "_lime_score", lambda d, y, w, c: calls.append(c) or score(d, y, w, c))
    labels = 0.8 * data[:, 2] + 0.05 * np.random.RandomState(3).rand(300)
    assert forward_selection(data, labels, weights, 1).tolist() == stock_forward(data, labels, weights, 1).tolist()
    assert [2] in calls and [8] in calls  # column 2 and its duplicate 8 tie: sklearn decides, as in lime


def explain_both(
    data: np.ndarray,
    probabilities: np.ndarray,
    distances: np.ndarray,
    label: int,
    num_features: int,
    method: str,
    kernel_fn: Callable[[np.ndarray], np.ndarray] = kernel,
) -> tuple[tuple, tuple]:
    """explain_instance_with_data of stock LimeBase and of FastLimeBase (built as a drop-in replacement)."""
    stock = lime_base.LimeBase(kernel_fn, verbose=False, random_state=np.random.RandomState(0))
    fast = FastLimeBase(stock.kernel_fn, verbose=False, random_state=stock.random_state)
    args = (data, probabilities, distances, label, num_features)
    return (
        stock.explain_instance_with_data(*args, feature_selection=method),
        fast.explain_instance_with_data(*args, feature_selection=method),
    )


def assert_same_explanation(expected: tuple, got: tuple) -> None:
    """Intercept, (feature, weight) list in lime's order, score and local prediction agree to 1e-9."""
    intercept, local_exp, score, local_pred = expected
    assert got[0] == pytest.approx(intercept, abs=1e-9)
    assert [int(f) for f, _ in got[1]] == [int(f) for f, _ in local_exp]
    np.testing.assert_allclose([w for _, w in got[1]], [w for _, w in local_exp], rtol=0, atol=1e-9)
    assert got[2] == pytest.approx(score, abs=1e-9)
    assert np.shape(got[3]) == np.shape(local_pred)
    np.testing.assert_allclose(got[3], local_pred, rtol=0, atol=1e-9)


@pytest.mark.parametrize(
    "method,num_features",
    [("auto", 3), ("auto", 10), ("forward_selection", 5), ("highest_weights", 6), ("none", 10), ("lasso_path", 5)],
)
def test_explanation_equals_lime(method: str, num_features: int) -> None:
    data, probabilities, distances = lime_like(400, 16, 11, labels=3)
    fast = FastLimeBase(kernel, random_state=0)
    for label in range(2):
        expected, got = explain_both(data, probabilities, distances, label, num_features, method)
        assert_same_explanation(expected, got)
        # One FastLimeBase across labels, as the explainers use it: the shared moments must not leak between labels.
        assert_same_explanation(
            expected,
            fast.explain_instance_with_data(
                data, probabilities, distances, label, num_features, feature_selection=method
            ),
        )


def test_reused_buffer_is_not_mistaken_for_the_same_data() -> None:
    data, probabilities, distances = lime_like(300, 12, 5)
    data = data.astype(np.float64)  # float data is where a cache could alias the caller's array
    fast = FastLimeBase(kernel, random_state=0)
    first = fast.explain_instance_with_data(data, probabilities, distances, 0, 12, feature_selection="none")
    data[1:] = 1 - data[1:]  # new values in the same array, as a reused perturbation buffer would hold
    expected, _ = explain_both(data, probabilities, distances, 0, 12, "none")
    assert_same_explanation(expected, fast.explain_instance_with_data(data, probabilities, distances, 0, 12, "none"))
    assert first[0] != pytest.approx(expected[0], abs=1e-6)


def test_text_like_float_data() -> None:
    rng = np.random.RandomState(2)
    data = np.ones((400, 20))
    for i, size in enumerate(rng.randint(1, 21, 399), start=1):  # lime_text's sampling: remove `size` words
        data[i, rng.choice(20, size, replace=False)] = 0
    distances = pairwise_distances(data, data[:1], metric="cosine").ravel() * 100
    probabilities = rng.dirichlet(np.ones(4), size=400)
    for method, num_features in (("auto", 6), ("auto", 10), ("none", 20)):
        expected, got = explain_both(data, probabilities, distances, 1, num_features, method, text_kernel)
        assert_same_explanation(expected, got)


@pytest.mark.parametrize("method,num_features", [("auto", 3), ("auto", 10), ("none", 8)])
def test_saturated_labels_fall_back_to_lime(method: str, num_features: int) -> None:
    data, probabilities, distances = lime_like(300, 8, 6)
    rng = np.random.RandomState(6)
    # A saturated class (exactly 1.0 everywhere), one that is never predicted, and one varying by 1e-13.
    saturated = np.column_stack([np.ones(300), np.zeros(300), 0.5 + 1e-13 * rng.rand(300), probabilities[:, 0]])
    for label in range(4):
        expected, got = explain_both(data, saturated, distances, label, num_features, method)
        assert_same_explanation(expected, got)


def test_many_columns_path_without_the_full_gram(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(surrogate, "GRAM_COLUMNS", 4)  # as if 10-16 columns were too many for one Gram matrix
    data, probabilities, distances = lime_like(200, 10, 21)
    weights = kernel(distances)
    expected = stock_forward(data, probabilities[:, 1], weights, 6).tolist()
    assert forward_selection(data, probabilities[:, 1], weights, 6).tolist() == expected
    for method, num_features in (("auto", 4), ("auto", 8), ("none", 10)):
        assert_same_explanation(*explain_both(data, probabilities, distances, 0, num_features, method))
