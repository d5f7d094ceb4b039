"""How far each explanation can be trusted: stability, fidelity on fresh samples, faithfulness, agreement, sanity.

Every figure is computed from on/off rows over the main run's features (superpixels or tokens), scored by the same
compiled, batched model path as the main explanation (`Problem.score`). docs/trust-metrics.md gives the formulas.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

# Spawn keys of the seeds derived from the config seed, one family per purpose, so that adding stability runs
# never changes the fresh sample or the random orders.
STABILITY, FRESH, ORDERS, SANITY = 0, 1, 2, 3
# Verdicts, most serious first: an explanation gets the first one whose figures fail.
VERDICTS = ("insensitive_to_model", "unstable", "poor_fit", "not_faithful", "disagrees")
GOOD = "stable_faithful"


def derived_seed(seed: int, purpose: int, index: int = 0) -> int:
    """A 32-bit seed for one purpose: `np.random.SeedSequence(seed).spawn(...)`'s child (purpose, index)."""
    return int(np.random.SeedSequence(seed, spawn_key=(purpose, index)).generate_state(1)[0])


@dataclass
class Surrogate:
    """One label's fitted linear surrogate, its weights as a dense vector over every feature."""

    label: int
    intercept: float
    coef: np.ndarray  # (d,); 0 for a feature LIME did not select
    order: list[int]  # feature ids in the record's order (by |weight|, highest first)
    weights: list[float]  # their weights exactly as lime lists them (the evidence's `weight`)
    score: float
    local_prediction: float


def surrogate(label: int, num_features: int, fit: tuple[Any, Any, Any, Any]) -> Surrogate:
    """A Surrogate from lime's (intercept, local_exp, score, local_pred)."""
    intercept, local_exp, score, local_pred = fit
    coef = np.zeros(num_features)
    order = [int(f) for f, _w in local_exp]
    weights = [float(w) for _f, w in local_exp]
    coef[order] = weights
    return Surrogate(label, float(intercept), coef, order, weights, float(score), float(np.ravel(local_pred)[0]))


class Problem(Protocol):
    """One explained item as the metrics see it: on/off rows over its features, scored by the model."""

    num_features: int

    def score(self, rows: np.ndarray) -> np.ndarray:
        """The model's probabilities (n, classes) for on/off rows (n, d), through the compiled, batched path."""

    def neighbourhood(
        self, random_state: np.random.RandomState, num_samples: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """LIME's sample from this random state: (rows, probabilities, distances); row 0 is the input itself."""

    def kernel(self, distances: np.ndarray) -> np.ndarray:
        """LIME's sample weights for these distances."""

    def fit(self, data: np.ndarray, labels: np.ndarray, distances: np.ndarray, label: int) -> Surrogate:
        """LIME's surrogate for one label, fitted as the main run fits it."""


@dataclass
class Sample:
    """The main run's neighbourhood and fits, kept for the metrics."""

    data: np.ndarray
    labels: np.ndarray
    distances: np.ndarray
    fits: list[Surrogate]  # in the order of the item's explanations


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation (ties averaged); 0 when either side is constant."""
    from scipy.stats import rankdata

    ra, rb = rankdata(a), rankdata(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    denominator = np.sqrt((ra @ ra) * (rb @ rb))
    return float(ra @ rb / denominator) if denominator > 0 else 0.0


def evidence_mask(fit: Surrogate, negligible: float) -> np.ndarray:
    """The features that carry evidence: |weight| at least `negligible` times the largest |weight| (and not 0)."""
    size = np.abs(fit.coef)
    return (size > 0) & (size >= negligible * size.max())


def compared(a: Surrogate, b: Surrogate, negligible: float = 0.0) -> np.ndarray:
    """The features two explanations are compared on: those that carry evidence in either."""
    # Features neither explanation gives evidence for (text tokens LIME did not select, superpixels the model does
    # not look at) are noise or equal zeros: their ranks would make a stable explanation look unstable, or two
    # unrelated explanations look alike.
    return np.flatnonzero(evidence_mask(a, negligible) | evidence_mask(b, negligible))


def rank_correlation(a: Surrogate, b: Surrogate, negligible: float = 0.0) -> float:
    """Spearman rank correlation of two explanations' weights over the features either gives evidence for."""
    keep = compared(a, b, negligible)
    return spearman(a.coef[keep], b.coef[keep]) if len(keep) > 1 else 1.0


def top_k(fit: Surrogate, k: int, negligible: float = 0.0) -> list[int]:
    """The k features of largest |weight| (LIME's order), of those that carry evidence."""
    mask = evidence_mask(fit, negligible)
    return [f for f in fit.order if mask[f]][:k]


def flips(main: Surrogate, others: Sequence[Surrogate], features: Sequence[int], negligible: float = 0.0) -> list[int]:
    """The features whose weight takes the opposite sign, with evidence, in any of the other runs."""
    signs = np.sign(main.coef)
    out = []
    for f in features:
        if any(evidence_mask(o, negligible)[f] and np.sign(o.coef[f]) == -signs[f] for o in others):
            out.append(f)
    return out


def jaccard(a: Sequence[int], b: Sequence[int]) -> float:
    """|A ∩ B| / |A ∪ B| (1 for two empty sets)."""
    union = set(a) | set(b)
    return len(set(a) & set(b)) / len(union) if union else 1.0


def weighted_r2(y: np.ndarray, predicted: np.ndarray, weights: np.ndarray) -> float:
    """1 - Σw(y-ŷ)² / Σw(y-ȳ)², ȳ the weighted mean (sklearn's r2_score with sample_weight)."""
    mean = np.average(y, weights=weights)
    total = weights @ (y - mean) ** 2
    return float(1 - (weights @ (y - predicted) ** 2) / total) if total > 0 else 0.0


def cut_points(num_features: int, steps: int) -> np.ndarray:
    """How many features are hidden (or revealed) at each point of a curve: 0 .. d in at most `steps` steps."""
    return np.unique(np.round(np.linspace(0, num_features, min(steps, num_features) + 1)).astype(int))


def curve_rows(order: np.ndarray, cuts: np.ndarray, num_features: int, deletion: bool) -> np.ndarray:
    """On/off rows along one order: deletion starts from all on and hides, insertion from all off and reveals."""
    rows = np.full((len(cuts), num_features), 1 if deletion else 0, dtype=np.int64)
    for i, cut in enumerate(cuts):
        rows[i, order[:cut]] = 0 if deletion else 1
    return rows


def _area(x: np.ndarray, y: np.ndarray) -> float:
    return float(np.sum((y[1:] + y[:-1]) * np.diff(x)) / 2)


def _round(values: Any, digits: int = 6) -> list[float]:
    return [round(float(v), digits) for v in values]


def measure(
    problem: Problem,
    main: Sample,
    settings: Any,
    seed: int,
    k: int,
    sanity: Callable[[np.ndarray], np.ndarray] | None = None,
    sanity_skipped: str | None = None,
) -> tuple[list[dict[str, Any]], list[dict[int, float]]]:
    """Each explanation's metrics and each feature's spread, in the order of `main.fits`.

    `settings` is the model's `trust:` block; `k` the number of features the report shows (num_features);
    `sanity` scores on/off rows with a weight-randomised copy of the model; `sanity_skipped` says why the
    check that was asked for could not run (recorded instead of a result).
    """
    probability = main.labels[0]
    negligible = settings.negligible_weight
    metrics: list[dict[str, Any]] = [{} for _ in main.fits]
    spreads: list[dict[int, float]] = [{} for _ in main.fits]

    if settings.stability_runs > 0:
        seeds = [derived_seed(seed, STABILITY, i) for i in range(settings.stability_runs)]
        runs: list[list[Surrogate]] = []
        for run_seed in seeds:
            data, labels, distances = problem.neighbourhood(np.random.RandomState(run_seed), len(main.data))
            runs.append([problem.fit(data, labels, distances, fit.label) for fit in main.fits])
        for i, fit in enumerate(main.fits):
            others = [run[i] for run in runs]
            top = top_k(fit, k, negligible)
            flipped = flips(fit, others, top, negligible)
            metrics[i]["stability"] = {
                "runs": len(seeds), "seeds": seeds, "k": k,
                "jaccard": round(float(np.mean([jaccard(top, top_k(o, k, negligible)) for o in others])), 6),
                "rank_correlation": round(float(np.mean([rank_correlation(fit, o, negligible) for o in others])), 6),
                "sign_flips": round(len(flipped) / len(top), 6) if top else 0.0,
            }  # fmt: skip
            weights = np.stack([fit.coef] + [o.coef for o in others])
            spread = weights.std(axis=0, ddof=1)
            spreads[i] = {f: round(float(spread[f]), 9) for f in fit.order}

    if settings.fresh_samples > 0:
        fresh_seed = derived_seed(seed, FRESH)
        data, labels, distances = problem.neighbourhood(np.random.RandomState(fresh_seed), settings.fresh_samples + 1)
        data, labels, weights = data[1:], labels[1:], problem.kernel(distances[1:])  # row 0 is the input itself
        for i, fit in enumerate(main.fits):
            predicted = data @ fit.coef + fit.intercept
            metrics[i]["fidelity"] = {
                "in_sample_r2": round(fit.score, 6),
                "fresh_r2": round(weighted_r2(labels[:, fit.label], predicted, weights), 6),
                "fresh_samples": settings.fresh_samples, "seed": fresh_seed,
            }  # fmt: skip

    if settings.curve_steps > 0:
        _faithfulness(problem, main, settings, seed, metrics)

    for i, fit in enumerate(main.fits):
        model_p = float(probability[fit.label])
        gap = abs(fit.local_prediction - model_p)
        metrics[i]["agreement"] = {
            "local_prediction": round(fit.local_prediction, 6), "model_probability": round(model_p, 6),
            "gap": round(gap, 6), "flagged": bool(gap > settings.max_agreement_gap),
        }  # fmt: skip

    if sanity is not None:
        # The randomised model scores the main run's own rows (same seed, same segmentation, same distances).
        random_labels = sanity(main.data)
        for i, fit in enumerate(main.fits):
            randomised = problem.fit(main.data, random_labels, main.distances, fit.label)
            correlation = rank_correlation(fit, randomised, negligible)
            metrics[i]["sanity"] = {
                "rank_correlation": round(correlation, 6),
                "passed": bool(correlation < settings.max_sanity_correlation),
            }
    elif sanity_skipped is not None:
        for m in metrics:
            m["sanity"] = {"skipped": sanity_skipped}

    for m in metrics:
        m["verdict"], m["reasons"] = verdict(m, settings)
    return metrics, spreads


def _faithfulness(problem: Problem, main: Sample, settings: Any, seed: int, metrics: list[dict[str, Any]]) -> None:
    """Deletion and insertion curves along each label's order and along random orders, in one batched call."""
    d = problem.num_features
    cuts = cut_points(d, settings.curve_steps)
    x = cuts / d
    orders_seed = derived_seed(seed, ORDERS)
    random_state = np.random.RandomState(orders_seed)
    random_orders = [random_state.permutation(d) for _ in range(settings.random_orders)]
    # Highest weight first; ties (features a text surrogate did not select) in feature order.
    label_orders = [np.argsort(-fit.coef, kind="stable") for fit in main.fits]
    blocks = [
        curve_rows(order, cuts, d, deletion) for order in label_orders + random_orders for deletion in (True, False)
    ]
    scores = problem.score(np.concatenate(blocks)).reshape(len(blocks), len(cuts), -1)
    n = len(label_orders)
    for i, fit in enumerate(main.fits):
        deletion, insertion = scores[2 * i, :, fit.label], scores[2 * i + 1, :, fit.label]
        random_deletion = scores[2 * n :: 2, :, fit.label].mean(axis=0)
        random_insertion = scores[2 * n + 1 :: 2, :, fit.label].mean(axis=0)
        areas = {name: _area(x, y) for name, y in
                 [("deletion", deletion), ("insertion", insertion), ("rd", random_deletion), ("ri", random_insertion)]}  # fmt: skip
        metrics[i]["faithfulness"] = {
            "x": _round(x), "deletion": _round(deletion), "insertion": _round(insertion),
            "random_deletion": _round(random_deletion), "random_insertion": _round(random_insertion),
            "deletion_auc": round(areas["deletion"], 6), "insertion_auc": round(areas["insertion"], 6),
            "random_deletion_auc": round(areas["rd"], 6), "random_insertion_auc": round(areas["ri"], 6),
            "deletion_drop": round(areas["rd"] - areas["deletion"], 6),
            "insertion_gain": round(areas["insertion"] - areas["ri"], 6),
            "random_orders": settings.random_orders, "seed": orders_seed,
        }  # fmt: skip


def verdict(m: dict[str, Any], settings: Any) -> tuple[str, list[str]]:
    """The explanation's verdict code and the codes of every failed figure (the report translates both)."""
    t = settings.thresholds
    failed: dict[str, list[str]] = {code: [] for code in VERDICTS}
    if "sanity" in m and m["sanity"].get("passed") is False:  # a skipped check neither passes nor fails
        failed["insensitive_to_model"].append("sanity_correlation_high")
    if "stability" in m:
        s = m["stability"]
        if s["jaccard"] < t.min_jaccard:
            failed["unstable"].append("top_k_overlap_low")
        if s["rank_correlation"] < t.min_rank_correlation:
            failed["unstable"].append("rank_correlation_low")
        if s["sign_flips"] > t.max_sign_flips:
            failed["unstable"].append("signs_flip")
    if "fidelity" in m and m["fidelity"]["fresh_r2"] < t.min_fresh_r2:
        failed["poor_fit"].append("fresh_r2_low")
    if "faithfulness" in m:
        if m["faithfulness"]["deletion_drop"] < t.min_deletion_drop:
            failed["not_faithful"].append("deletion_drop_low")
        if m["faithfulness"]["insertion_gain"] < t.min_insertion_gain:
            failed["not_faithful"].append("insertion_gain_low")
    if m["agreement"]["flagged"]:
        failed["disagrees"].append("agreement_gap_high")
    reasons = [reason for code in VERDICTS for reason in failed[code]]
    code = next((code for code in VERDICTS if failed[code]), GOOD)
    return code, reasons


def attach(explanations: list[dict[str, Any]], fits: list[Surrogate], metrics: list[dict[str, Any]],
           spreads: list[dict[int, float]]) -> None:  # fmt: skip
    """Put each explanation's metrics, and each feature's spread, into the item's records."""
    for record, fit, m, spread in zip(explanations, fits, metrics, spreads):
        record["metrics"] = m
        if spread:
            for feature, f in zip(record["features"], fit.order):
                feature["spread"] = spread[f]


class SanityUnavailable(Exception):
    """A weight-randomised copy of this model cannot be made; the message says why, for the report."""


def randomised_copy(model: Any, seed: int, reload: Callable[[], Any] | None = None) -> Any:
    """A copy of a Keras model with its weights re-drawn (Adebayo et al. 2018's model randomisation test).

    `keras.models.clone_model` builds fresh layers (those without weights are shared); where it cannot (a
    SavedModel behind a TFSMLayer refuses to be rebuilt from its config), `reload` loads the model a second
    time instead. Every weight of two or more axes (kernels, embeddings, also frozen ones) is then drawn
    Glorot-uniform from a RandomState of the derived seed, so the copy is the same on every run without
    touching Keras' global seed. Biases, scales and statistics keep their values, which carry little of
    the training. Raises SanityUnavailable when no copy can be made or it has nothing to randomise.
    """
    import keras

    def clone(layer: Any) -> Any:
        # A layer without weights is shared, not rebuilt: a TextVectorization's vocabulary is state that
        # from_config does not restore, and there is nothing to randomise in it.
        return layer.__class__.from_config(layer.get_config()) if layer.weights else layer

    try:
        copy = keras.models.clone_model(model, clone_function=clone, recursive=True)
    except Exception as exc:  # Keras raises ValueError, TypeError or NotImplementedError, by layer
        if reload is None:
            raise SanityUnavailable(f"the model cannot be copied ({_first_line(exc)})") from exc
        try:
            copy = reload()
        except Exception as again:
            raise SanityUnavailable(f"the model cannot be loaded a second time ({_first_line(again)})") from again
    random_state = np.random.RandomState(derived_seed(seed, SANITY))
    randomised = 0
    for variable in copy.weights:
        shape = tuple(int(d) for d in variable.shape)
        if len(shape) < 2:
            continue
        receptive = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
        fan_in, fan_out = receptive * shape[-2], receptive * shape[-1]
        limit = np.sqrt(6.0 / max(1, fan_in + fan_out))
        variable.assign(random_state.uniform(-limit, limit, shape).astype(variable.dtype))
        randomised += 1
    if not randomised:
        # Comparing the model with an unchanged copy would "fail" the check for nothing.
        raise SanityUnavailable("the model has no kernel or embedding weights to randomise")
    return copy


def _first_line(exc: BaseException) -> str:
    """An exception as one short line for the report."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    text = text if len(text) <= 160 else text[:157] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
