"""Benchmark: fitting the surrogate for 5 labels (issue 5, goal 4), stock lime's LimeBase beside FastLimeBase.

Run from the repository root:  PYTHONPATH=. python benchmarks/bench_fit.py

Everything runs in one process and prints markdown. Timings are wall-clock (time.perf_counter); each figure is
the best of several repeats, except stock forward selection on the text-like data (one run: it takes seconds).
A "fit for 5 labels" is explain_instance_with_data for labels 0..4 on the same sampled data, as the explainers
call it; ours uses one fresh FastLimeBase per repeat, so its label-shared moments are built inside the timing.
Every run of ours is checked against stock lime's result (same features, values to 1e-9). No timing is asserted.
"""

from __future__ import annotations

import sys
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _common import best_of, machine
from lime import lime_base
from sklearn.metrics import pairwise_distances

from reportgen.explain.surrogate import FastLimeBase

LABELS = 5
OURS_REPEATS = 10
STOCK_REPEATS = 3
STOCK_FORWARD_TEXT_RUNS = 1  # about 20 s for 5 labels: one run






def softmax_labels(data: np.ndarray, seed: int) -> np.ndarray:
    """Five class probabilities from a random linear model of the features plus noise (a stand-in classifier)."""
    rng = np.random.RandomState(seed)
    n, p = data.shape
    z = data @ (rng.randn(p, LABELS) * rng.rand(p, 1) * 6 / np.sqrt(p)) + 0.3 * rng.randn(n, LABELS)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def image_like() -> dict[str, Any]:
    """lime_image's sampling: 1000 on/off rows over 42 superpixels, the first all on; kernel width 0.25."""
    rng = np.random.RandomState(1)
    data = rng.randint(0, 2, (1000, 42))
    data[0, :] = 1
    distances = pairwise_distances(data, data[:1], metric="cosine").ravel()
    kernel = lambda d: np.sqrt(np.exp(-(d**2) / 0.25**2))
    return {
        "name": "image-like 1000 x 42",
        "data": data,
        "labels": softmax_labels(data, 2),
        "distances": distances,
        "kernel": kernel,
    }


def text_like() -> dict[str, Any]:
    """lime_text's sampling: 5000 rows over 150 distinct words, each row removing 1..150 of them; width 25."""
    rng = np.random.RandomState(3)
    words, n = 150, 5000
    data = np.ones((n, words))
    for i, size in enumerate(rng.randint(1, words + 1, n - 1), start=1):
        data[i, rng.choice(words, size, replace=False)] = 0
    distances = pairwise_distances(data, data[:1], metric="cosine").ravel() * 100
    kernel = lambda d: np.sqrt(np.exp(-(d**2) / 25**2))
    return {
        "name": "text-like 5000 x 150",
        "data": data,
        "labels": softmax_labels(data, 4),
        "distances": distances,
        "kernel": kernel,
    }


def fit(base_cls: type, case: dict[str, Any], num_features: int, method: str, labels: int = LABELS) -> list:
    """explain_instance_with_data for the first `labels` labels with one new base object."""
    base = base_cls(case["kernel"], verbose=False, random_state=np.random.RandomState(0))
    return [
        base.explain_instance_with_data(
            case["data"], case["labels"], case["distances"], label, num_features, feature_selection=method
        )
        for label in range(labels)
    ]


def same(stock: list, ours: list) -> bool:
    """Same features in the same order, intercept, weights, score and local prediction to 1e-9."""
    for a, b in zip(stock, ours):
        if [int(f) for f, _ in a[1]] != [int(f) for f, _ in b[1]]:
            return False
        values_a = [a[0], a[2], *np.ravel(a[3]), *(w for _, w in a[1])]
        values_b = [b[0], b[2], *np.ravel(b[3]), *(w for _, w in b[1])]
        if not np.allclose(values_a, values_b, rtol=0, atol=1e-9):
            return False
    return len(stock) == len(ours)


def main() -> None:
    header = machine(("lime", "scikit-learn", "numpy", "scipy"))  # before the runs: the load average describes what they competed with
    rows = []
    for case in (image_like(), text_like()):
        n_features = case["data"].shape[1]
        for num_features, method, path in (
            (6, "auto", "forward_selection"),
            (10, "auto", "highest_weights"),
            (n_features, "none", "all features"),
        ):
            ours_s, ours = best_of(OURS_REPEATS, partial(fit, FastLimeBase, case, num_features, method))
            # Stock forward selection on the text-like data takes seconds per label: one run of all 5 labels.
            stock_runs = STOCK_FORWARD_TEXT_RUNS if path == "forward_selection" and n_features > 100 else STOCK_REPEATS
            stock_s, stock = best_of(stock_runs, partial(fit, lime_base.LimeBase, case, num_features, method))
            note = "1 run" if stock_runs == 1 else f"best of {stock_runs}"
            rows.append((case["name"], num_features, method, path, stock_s, note, ours_s, same(stock, ours)))

    print("# Surrogate fit benchmark (issue 5, goal 4)\n")
    print(*header, sep="\n")
    print(
        f"- a fit is explain_instance_with_data for {LABELS} labels on one sampled data set (labels: softmax of a "
        "random linear model of the features plus noise); stock = lime_base.LimeBase, ours = "
        f"reportgen.explain.surrogate.FastLimeBase (best of {OURS_REPEATS}, a fresh object per repeat)"
    )
    print("- same = ours equals stock lime for every label: same features in the same order, all values to 1e-9")
    print()
    print("| data | num_features | feature_selection (lime's path) | stock lime (s) | ours (s) | stock / ours | same |")
    print("|---|---|---|---|---|---|---|")
    for name, nf, method, path, stock_s, note, ours_s, ok in rows:
        print(
            f"| {name} | {nf} | {method} ({path}) | {stock_s:.4f} ({note}) | {ours_s:.4f} | "
            f"{stock_s / ours_s:.0f}x | {'yes' if ok else 'NO'} |"
        )


if __name__ == "__main__":
    main()
