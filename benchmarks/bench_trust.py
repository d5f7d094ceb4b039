"""Benchmark: what the trust metrics (issue 8) add to an explanation, beside the model's own forward passes.

Run from the repository root:  PYTHONPATH=. python benchmarks/bench_trust.py

The demo's two sample models with the demo's settings (the shapes CNN on one image, N=1000, 3 labels; the
sentiment model on one review, N=2000, 2 labels) and the default `trust:` settings. For each: the
explanation alone, then the metrics measured on it (`trust.measure`, as the pipeline calls it), the rows
the model scored for each, and the floor for those rows: the same number of forward passes through the
same compiled function on inputs built beforehand. Each figure is the best of several repeats; nothing here
is a test.
"""

from __future__ import annotations

import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _common import best_of, machine

from reportgen import model as km
from reportgen.config import Explain, Trust
from reportgen.explain import trust
from reportgen.explain.image import explain_image
from reportgen.explain.text import explain_text
from reportgen.inputs import load_image, scale_batch

REPEATS = 3


class Counting:
    """A model call that counts the rows it scored and remembers one batch to build the floor from."""

    def __init__(self, predictor: Callable[[Any], np.ndarray]):
        self.predictor, self.rows, self.seconds = predictor, 0, 0.0

    def __call__(self, batch: Any) -> np.ndarray:
        self.rows += len(batch)
        began = time.perf_counter()
        out = self.predictor(batch)
        self.seconds += time.perf_counter() - began
        return out


def run_case(name: str, explain: Callable[[Callable], Any], predictor: km.Predictor, to_input: Callable,
             sample_batch: Any, k: int) -> dict[str, Any]:  # fmt: skip
    """Best-of times, model rows and model seconds of the explanation and of its metrics, and the floor."""
    settings = Trust()
    best: dict[str, Any] = {}
    for _ in range(REPEATS):
        counting = Counting(predictor)
        began = time.perf_counter()
        result = explain(lambda batch: counting(to_input(batch)))
        explain_s, explain_rows, explain_model = time.perf_counter() - began, counting.rows, counting.seconds
        counting.rows, counting.seconds = 0, 0.0
        began = time.perf_counter()
        trust.measure(result.problem, result.sample, settings, seed=0, k=k)
        metrics_s = time.perf_counter() - began
        if not best or metrics_s < best["metrics_s"]:
            best = {"explain_s": explain_s, "explain_rows": explain_rows, "explain_model_s": explain_model,
                    "metrics_s": metrics_s, "metrics_rows": counting.rows, "metrics_model_s": counting.seconds}  # fmt: skip
    # The floor for the metrics' rows: that many forward passes of prepared inputs through the same function.
    batch = to_input(sample_batch)
    repeats = -(-best["metrics_rows"] // len(batch))
    floor_s, _ = best_of(REPEATS, lambda: [predictor(batch) for _ in range(repeats)])
    best["floor_s"] = floor_s * best["metrics_rows"] / (repeats * len(batch))
    best["name"] = name
    return best


def image_case() -> dict[str, Any]:
    """The shapes CNN on one sample image, as the demo explains it."""
    rel = "samples/models/shapes.keras"
    model = km.load_model(ROOT / rel, rel)
    image = load_image(ROOT / "samples/images/circle_01.png", "circle_01.png", (64, 64), "stretch", False).array
    explain = Explain(num_samples=1000, top_labels=3, num_features=8)
    predictor = km.Predictor(model, lambda y: y, explain.batch_size, image.shape)
    scale = lambda b: scale_batch(b, "unit", 3)
    batch = np.repeat(image[None], explain.batch_size, axis=0)
    predictor(scale(batch))  # traced outside the timing
    classes = ["circle", "square", "triangle"]
    return run_case(f"image: {rel}, N=1000, 3 labels", lambda p: explain_image(image, p, classes, explain, 0, prepare=scale),
                    predictor, lambda b: b, scale(batch), explain.num_features)  # fmt: skip


def text_case() -> dict[str, Any]:
    """The sentiment model on one shipped English review, as the demo explains it."""
    rel = "samples/models/sentiment.keras"
    model = km.load_model(ROOT / rel, rel)
    info = km.inspect(model)
    _mode, transform, _n = km.output_transform("auto", info, rel)
    shape = tuple(int(d) if d is not None else 1 for d in info.input_shape)
    document = (ROOT / "samples/texts/en_laptop_negative.txt").read_text(encoding="utf-8")
    explain = Explain(num_samples=2000, top_labels=2, num_features=10)
    predictor = km.Predictor(model, transform, explain.batch_size, shape)
    to_input = lambda texts: np.array(texts, dtype=object).reshape((-1, *shape))
    batch = [document] * explain.batch_size
    predictor(to_input(batch))
    classes = ["negative", "positive"]
    return run_case(f"text: {rel}, N=2000, 2 labels", lambda p: explain_text(document, p, classes, explain, 0, "words"),
                    predictor, to_input, batch, explain.num_features)  # fmt: skip


def main() -> None:
    warnings.filterwarnings("ignore")
    print("# Trust metrics: added time\n")
    print("\n".join(machine(("tensorflow", "keras", "lime", "numpy"))))
    print(f"\nDefault `trust:` settings; best of {REPEATS}.\n")
    print("| case | explanation (s) | its model rows | metrics (s) | metrics / explanation | their model rows "
          "| model time in the metrics (s) | floor for those rows (s) | metrics / floor |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in (image_case(), text_case()):
        print(f"| {r['name']} | {r['explain_s']:.3f} | {r['explain_rows']} | {r['metrics_s']:.3f} | "
              f"{r['metrics_s'] / r['explain_s']:.1f}x | {r['metrics_rows']} | {r['metrics_model_s']:.3f} | "
              f"{r['floor_s']:.3f} | {r['metrics_s'] / r['floor_s']:.2f}x |")


if __name__ == "__main__":
    main()
