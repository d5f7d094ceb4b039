"""A synthetic Evidence record with real artifacts on disk, for rendering tests (no model, no LIME)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from PIL import Image

from reportgen.evidence import Evidence, hash_artifacts, sha256_bytes

CLASSES = ["circle", "square", "triangle"]
SIZE = 64
CREATED = "2026-11-22T15:55:32Z"


def _image(rng: np.random.Generator) -> np.ndarray:
    """A noisy background with a filled circle, like the shapes sample."""
    image = rng.integers(40, 90, size=(SIZE, SIZE, 3), dtype=np.uint8)
    rows, cols = np.mgrid[:SIZE, :SIZE]
    cy, cx, r = rng.integers(24, 40), rng.integers(24, 40), rng.integers(10, 18)
    image[(rows - cy) ** 2 + (cols - cx) ** 2 <= r * r] = (230, 200, 60)
    return image


def _segments(image: np.ndarray) -> np.ndarray:
    from skimage.segmentation import slic

    return slic(image, n_segments=50, compactness=20, sigma=1, start_label=0).astype(np.uint16)


def _save_png(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, format="PNG")


def _image_item(report_dir: Path, item_id: str, folder: str, rng: np.random.Generator, top_labels: int) -> dict:
    image = _image(rng)
    segments = _segments(image)
    # The pipeline names folders by (slugified) item id; here ids may be hostile strings, so use `folder`.
    image_ref, segments_ref = f"artifacts/{folder}/input.png", f"artifacts/{folder}/segments.png"
    _save_png(report_dir / image_ref, image)
    _save_png(report_dir / segments_ref, segments)
    n_segments = int(segments.max()) + 1
    probabilities = rng.dirichlet(np.ones(len(CLASSES)))
    order = np.argsort(-probabilities, kind="stable")
    predictions = [{"label": CLASSES[i], "index": int(i), "probability": float(probabilities[i])} for i in order]
    explanations = []
    for i in order[:top_labels]:
        weights = rng.normal(0.0, 0.05, size=n_segments)
        ids = sorted(range(n_segments), key=lambda s: -abs(weights[s]))
        explanations.append(
            {
                "label": CLASSES[i],
                "index": int(i),
                "intercept": float(rng.normal(0.3, 0.1)),
                "score": float(rng.uniform(0.3, 0.9)),
                "local_prediction": float(probabilities[i] + rng.normal(0, 0.03)),
                "features": [{"feature": int(s), "weight": float(weights[s])} for s in ids],
            }
        )
    return {
        "id": item_id,
        "status": "ok",
        "error": None,
        "input": {"path": f"images/{item_id}.png", "sha256": sha256_bytes(image.tobytes())},
        "predictions": predictions,
        "explanations": explanations,
        "image": image_ref,
        "segments": segments_ref,
    }


def _failed_item(item_id: str, error: str) -> dict:
    return {
        "id": item_id,
        "status": "error",
        "error": error,
        "input": {"path": f"images/{item_id}.png", "sha256": "0" * 64},
    }


def _text_item(item_id: str, rng: np.random.Generator) -> dict:
    text = "The battery lasts all day, but the screen is dim."
    tokens = [{"text": m.group(), "start": m.start(), "end": m.end()} for m in re.finditer(r"\w+", text)]
    words = sorted({t["text"] for t in tokens})
    explanations = []
    for index, label in ((1, "positive"), (0, "negative")):
        weights = {w: float(rng.normal(0, 0.1)) for w in words}
        ranked = sorted(weights.items(), key=lambda kv: -abs(kv[1]))[:6]
        explanations.append(
            {
                "label": label,
                "index": index,
                "intercept": 0.5,
                "score": 0.7,
                "local_prediction": 0.6,
                "features": [{"feature": w, "weight": v} for w, v in ranked],
            }
        )
    return {
        "id": item_id,
        "status": "ok",
        "error": None,
        "input": {"path": None, "sha256": sha256_bytes(text.encode()), "text": text},
        "predictions": [
            {"label": "positive", "index": 1, "probability": 0.62},
            {"label": "negative", "index": 0, "probability": 0.38},
        ],
        "explanations": explanations,
        "tokens": tokens,
    }


def build_evidence(
    report_dir: Path,
    *,
    items: int = 2,
    top_labels: int = 2,
    num_features: int = 8,
    model_name: str = "shapes-cnn",
    item_ids: list[str] | None = None,
    seed: int = 0,
    title: str = "Shapes classifier trust report",
    text_model: bool = False,
) -> Evidence:
    """Write artifacts under report_dir and return their Evidence: model 1 has `items` good items and one
    failed item, model 2 failed to load; with text_model, a third (text) model with one item."""
    rng = np.random.default_rng(seed)
    ids = item_ids or [f"circle-{n:02d}" for n in range(1, items + 1)]
    ok_items = [_image_item(report_dir, item_id, f"item-{n}", rng, top_labels) for n, item_id in enumerate(ids, 1)]
    failed = _failed_item("broken-01", "images/broken-01.png: cannot decode image: truncated PNG file")
    explain = {
        "num_samples": 1000,
        "top_labels": top_labels,
        "num_features": num_features,
        "hide_color": 0,
        "segmentation": {"algorithm": "slic", "n_segments": 50, "compactness": 20, "sigma": 1},
    }
    preprocess = {"size": [SIZE, SIZE], "fit": "stretch", "color": "rgb", "scale": "unit"}
    config = {
        "title": title,
        "output": "reports/shapes",
        "formats": ["html", "pdf"],
        "seed": 0,
        "models": [
            {
                "name": model_name,
                "kind": "image",
                "path": "models/shapes.keras",
                "classes": CLASSES,
                "output": "auto",
                "preprocess": preprocess,
                "explain": explain,
            },
            {
                "name": "shapes-legacy",
                "kind": "image",
                "path": "models/legacy.h5",
                "classes": CLASSES,
                "output": "auto",
                "preprocess": preprocess,
                "explain": {**explain, "hide_color": "superpixel_mean"},
            },
        ],
    }
    data = {
        "schema_version": 1,
        "title": title,
        "created": CREATED,
        "tool": {"name": "reportgen", "version": "0.1.0"},
        "environment": {
            "python": "3.11.7",
            "tensorflow": "2.21.0",
            "keras": "3.15.1",
            "lime": "0.2.0.1",
            "numpy": "2.4.6",
            "scikit-image": "0.26.0",
        },
        "config": config,
        "config_sha256": "c0ffee" + "0" * 58,
        "artifacts": hash_artifacts(report_dir),
        "models": [
            {
                "name": model_name,
                "kind": "image",
                "path": "models/shapes.keras",
                "sha256": "ab12" * 16,
                "classes": CLASSES,
                "status": "ok",
                "error": None,
                "items": [*ok_items, failed],
            },
            {
                "name": "shapes-legacy",
                "kind": "image",
                "path": "models/legacy.h5",
                "sha256": "cd34" * 16,
                "classes": CLASSES,
                "status": "error",
                "error": "models/legacy.h5: refused: the file contains a Lambda layer (arbitrary code)",
                "items": [],
            },
        ],
    }
    if text_model:
        config["models"].append(
            {
                "name": "review-sentiment",
                "kind": "text",
                "path": "models/sentiment.keras",
                "classes": ["negative", "positive"],
                "tokenizer": "words",
                "explain": {"num_samples": 5000, "top_labels": 2, "num_features": 6},
            }
        )
        data["models"].append(
            {
                "name": "review-sentiment",
                "kind": "text",
                "path": "models/sentiment.keras",
                "sha256": "ef56" * 16,
                "classes": ["negative", "positive"],
                "status": "ok",
                "error": None,
                "items": [_text_item("review-01", rng)],
            }
        )
    return Evidence.model_validate(data)
