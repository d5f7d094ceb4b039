"""Shared fixtures: tiny real Keras models and real image files, built once per session."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("MPLBACKEND", "Agg")

COLOURS = ["red", "green", "blue"]


def build_colour_model(size: int = 32, activation: str = "softmax", channels: int = 3):
    """A real Keras CNN with hand-set weights: class k scores how much of the picture is colour k.

    Its true evidence is known: the pixels of a class's colour support that class.
    """
    import keras

    inputs = keras.Input((size, size, channels))
    # 1x1 convolution: per-pixel "redness", "greenness", "blueness" (a channel minus the other two's mean).
    conv = keras.layers.Conv2D(3, 1, use_bias=False, name="colour")
    x = conv(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    dense = keras.layers.Dense(3, activation=activation, name="scores")
    outputs = dense(x)
    model = keras.Model(inputs, outputs, name="colour_cnn")
    kernel = np.full((1, 1, channels, 3), -0.5, np.float32)
    for k in range(min(channels, 3)):
        kernel[0, 0, k, k] = 1.0
    if channels == 1:
        kernel = np.array([[[[1.0, 0.0, -1.0]]]], np.float32)
    conv.set_weights([kernel])
    dense.set_weights([np.eye(3, dtype=np.float32) * 8.0, np.zeros(3, np.float32)])
    return model


def colour_image(rgb: tuple[int, int, int], size: int = 48, background: int = 128) -> np.ndarray:
    """A grey picture with one coloured square in it."""
    img = np.full((size, size, 3), background, np.uint8)
    lo, hi = size // 4, size // 4 + size // 2
    img[lo:hi, lo:hi] = rgb
    return img


POSITIVE_WORDS, NEGATIVE_WORDS = ["good", "great"], ["bad", "awful"]


def build_sentiment_model():
    """A real Keras text model taking raw strings: counts of good/great push 'positive', bad/awful 'negative'."""
    import keras

    inputs = keras.Input(shape=(1,), dtype="string")
    vectorize = keras.layers.TextVectorization(
        vocabulary=POSITIVE_WORDS + NEGATIVE_WORDS, output_mode="count", name="words"
    )
    dense = keras.layers.Dense(2, activation="softmax", name="sentiment")
    model = keras.Model(inputs, dense(vectorize(inputs)), name="word_counter")
    # Index 0 of a count vector is the out-of-vocabulary bucket: no weight.
    kernel = np.zeros((5, 2), np.float32)
    kernel[1:3, 1] = 2.0  # good, great -> positive
    kernel[3:5, 0] = 2.0  # bad, awful -> negative
    dense.set_weights([kernel, np.zeros(2, np.float32)])
    return model


@pytest.fixture(scope="session")
def workspace(tmp_path_factory) -> Path:
    """A folder with a saved tiny model (.keras and .h5), images, and a config naming them."""
    from PIL import Image

    root = tmp_path_factory.mktemp("workspace")
    (root / "models").mkdir()
    (root / "images").mkdir()
    model = build_colour_model()
    model.save(root / "models" / "colour.keras")
    model.save(root / "models" / "colour.h5")
    Image.fromarray(colour_image((220, 30, 30))).save(root / "images" / "red_square.png")
    Image.fromarray(colour_image((30, 200, 40))).save(root / "images" / "green_square.png")
    Image.fromarray(colour_image((30, 40, 220), size=64)).save(root / "images" / "blue square.jpg", quality=95)
    (root / "images" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"not really a png")
    (root / "models" / "garbage.keras").write_bytes(b"this is not a zip file")
    build_sentiment_model().save(root / "models" / "sentiment.keras")
    texts = root / "texts"
    texts.mkdir()
    (texts / "praise.txt").write_bytes("\ufeffA good phone, great screen, but the case is bad.".encode("utf-8"))
    (texts / "latin1.txt").write_bytes("Caf\xe9 was awful".encode("latin-1"))
    (texts / "blank.txt").write_text("  ...  \n", encoding="utf-8")
    (root / "reviews.csv").write_text(
        'id,review\nr1,"Awful, just awful. Bad sound."\nr2,"<script>alert(1)</script> good {{7*7}} value"\n', encoding="utf-8"
    )
    return root


def write_config(root: Path, text: str, name: str = "review.yaml") -> Path:
    """Write a config file into the workspace and return its path."""
    path = root / name
    path.write_text(text, encoding="utf-8")
    return path


def _with_trust_figures(evidence):
    """The render fixture's evidence with every trust figure measured, a verdict on each explanation, and a gate."""
    from reportgen.evidence import Metrics

    x = [i / 10 for i in range(11)]
    verdicts = [("stable_faithful", []), ("unstable", ["top_k_overlap_low", "signs_flip"]),
                ("not_faithful", ["deletion_drop_low"])]  # fmt: skip
    n = 0
    for model in evidence.models:
        for item in model.items:
            for exp in item.explanations:
                code, reasons = verdicts[n % len(verdicts)]
                n += 1
                exp.metrics = Metrics.model_validate({
                    "stability": {"runs": 3, "seeds": [11, 12, 13], "k": 8, "jaccard": 0.3 + 0.2 * (n % 3),
                                  "rank_correlation": 0.61, "sign_flips": 0.125},
                    "fidelity": {"in_sample_r2": 0.74, "fresh_r2": 0.52, "fresh_samples": 200, "seed": 7},
                    "faithfulness": {"x": x, "deletion": [0.9 * (1 - v) ** 2 for v in x],
                                     "insertion": [0.1 + 0.8 * v ** 0.5 for v in x],
                                     "random_deletion": [0.9 - 0.5 * v for v in x],
                                     "random_insertion": [0.4 + 0.4 * v for v in x],
                                     "deletion_auc": 0.3, "insertion_auc": 0.63, "random_deletion_auc": 0.65,
                                     "random_insertion_auc": 0.6, "deletion_drop": 0.35, "insertion_gain": 0.03,
                                     "random_orders": 3, "seed": 9},
                    "agreement": {"local_prediction": 0.58, "model_probability": 0.62, "gap": 0.04, "flagged": False},
                    "verdict": code, "reasons": reasons,
                })  # fmt: skip
    evidence.config["gates"] = {"min_stability": 0.5}
    return evidence


@pytest.fixture(scope="session")
def page_report(tmp_path_factory) -> Path:
    """One report.html + report.pdf with image and text items, failures, trust figures and an unmet gate,
    rendered once for the tests that look at its pages (browser, PDF pages)."""
    from render_fixtures import build_evidence

    from reportgen.evidence import EVIDENCE_FILE, to_json
    from reportgen.render import write_report

    folder = tmp_path_factory.mktemp("page-report")
    evidence = _with_trust_figures(build_evidence(folder, text_model=True))
    (folder / EVIDENCE_FILE).write_text(to_json(evidence), encoding="utf-8")  # a whole report folder: it can be rendered again
    write_report(evidence, folder, ["html", "pdf"])
    return folder
