"""Keras-2-era .h5 files (tf.keras 2.12, before Keras 3) load through reportgen, predict right, and stay safe.

No Keras 2 is installed here: tests/legacy_h5.py writes the files with h5py in the layout tf.keras 2.12's
model.save("model.h5") used, so these tests pin what Keras 3's legacy loader does with such files.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import legacy_h5
import numpy as np
import pytest
from legacy_h5 import (
    CLASSES,
    SIZE,
    functional_config,
    make_weights,
    reference_forward,
    sequential_config,
    write_keras2_h5,
)
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent

VARIANTS = {
    # Sequential([keras.Input((16, 16, 3)), Conv2D, GlobalAveragePooling2D, Dense])
    "sequential": lambda marker=None: sequential_config(lambda_marker=marker),
    # Sequential([Conv2D(..., input_shape=(16, 16, 3)), ...]): the InputLayer is "conv2d_input" and the
    # Conv2D carries batch_input_shape too; the commonest spelling in Keras 2 tutorials.
    "sequential-input-shape": lambda marker=None: sequential_config(first_layer_input_shape=True, lambda_marker=marker),
    # keras.Model(inputs, outputs): "class_name": "Functional" with inbound_nodes, input_layers, output_layers
    "functional": lambda marker=None: functional_config(lambda_marker=marker),
}


def fixed_batch(n: int = 6) -> np.ndarray:
    """A fixed batch of model inputs, each image tinted its own way, the last all zero (the relu's dead zone)."""
    rng = np.random.default_rng(11)
    x = (rng.random((n, SIZE, SIZE, 3)) * rng.random((n, 1, 1, 3)) * 2).astype(np.float32)
    x[-1] = 0.0
    return x


@pytest.fixture(scope="module")
def weights() -> dict[str, np.ndarray]:
    return make_weights()


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_keras2_h5_loads_and_predicts_like_numpy(variant: str, weights, tmp_path: Path) -> None:
    from reportgen import model as km

    path = write_keras2_h5(tmp_path / "old.h5", VARIANTS[variant](), weights)
    model = km.load_model(path, "models/old.h5")
    info = km.inspect(model)
    assert info == km.ModelInfo(input_shape=(SIZE, SIZE, 3), num_outputs=CLASSES, activation="softmax")

    # The weights went into the right layers: the output equals numpy running the same weights.
    assert [w.shape for w in model.get_layer("conv2d").get_weights()] == [(3, 3, 3, 4), (4,)]
    x = fixed_batch()
    expected = reference_forward(x, weights)
    got = np.asarray(model(x, training=False))
    np.testing.assert_allclose(got, expected, atol=1e-5, rtol=0)
    assert np.all(expected.max(axis=1) < 0.99), "the fixture should give undecided outputs, not one-hot ones"
    assert len({int(i) for i in expected.argmax(axis=1)}) == CLASSES, "the fixture should predict every class"

    # And through the Predictor the pipeline uses (one compiled function, last batch padded).
    mode, transform, num_classes = km.output_transform("auto", info, "models/old.h5")
    assert (mode, num_classes) == ("probabilities", CLASSES)
    predictor = km.Predictor(model, transform, batch_size=4)
    np.testing.assert_allclose(predictor(x), expected, atol=1e-5, rtol=0)


def test_the_numpy_reference_would_notice_misplaced_weights(weights) -> None:
    """A guard on the test itself: swapped or foreign weights give clearly different outputs."""
    x = fixed_batch()
    expected = reference_forward(x, weights)
    other = make_weights(seed=8)
    assert np.abs(reference_forward(x, other) - expected).max() > 1e-2
    swapped = {**weights, "conv_kernel": weights["conv_kernel"].transpose(1, 0, 2, 3)}
    assert np.abs(reference_forward(x, swapped) - expected).max() > 1e-3


@pytest.mark.parametrize("variant", ["sequential", "functional"])
def test_keras2_lambda_h5_is_refused_without_running_its_code(variant: str, weights, tmp_path: Path) -> None:
    from reportgen import model as km
    from reportgen.errors import ModelError

    marker = tmp_path / "code-ran.txt"
    path = write_keras2_h5(tmp_path / "lambda.h5", VARIANTS[variant](marker), weights)
    with pytest.raises(ModelError) as caught:
        km.load_model(path, "models/lambda.h5")
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("models/lambda.h5: ")
    assert "Lambda" in message
    assert str(tmp_path) not in message  # the file is named relative to the config, no absolute path leaks
    assert not marker.exists()


def test_the_lambda_payload_is_live(weights, tmp_path: Path) -> None:
    """Control for the refusal test: with safe_mode off, Keras 3 would run the marshalled code."""
    keras = pytest.importorskip("keras")
    marker = tmp_path / "code-ran.txt"
    path = write_keras2_h5(tmp_path / "lambda.h5", VARIANTS["sequential"](marker), weights)
    model = keras.saving.load_model(str(path), compile=False, safe_mode=False)
    assert marker.read_text() == "code ran"
    assert [layer.name for layer in model.layers] == ["conv2d", "lambda", "global_average_pooling2d", "dense"]

    # Loading unsafely once leaves no global switch behind: reportgen still refuses the file.
    from reportgen import model as km
    from reportgen.errors import ModelError

    marker.unlink()
    with pytest.raises(ModelError):
        km.load_model(path, "models/lambda.h5")
    assert not marker.exists()


def test_loading_the_commonest_keras2_sequential_warns_nobody(weights, tmp_path: Path) -> None:
    """Keras 3 warns "Do not pass an `input_shape`/`input_dim` argument to a layer" for every
    Sequential(Conv2D(..., input_shape=...)) file; the user cannot act on that, and the CLI prints it."""
    import warnings

    from reportgen import model as km

    path = write_keras2_h5(tmp_path / "old.h5", VARIANTS["sequential-input-shape"](), weights)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        km.load_model(path, "models/old.h5")
    assert [str(w.message) for w in caught] == []


def _write_image(path: Path, seed: int) -> None:
    rng = np.random.default_rng(seed)
    img = np.full((SIZE, SIZE, 3), 90, np.uint8)
    img[4:12, 4:12] = rng.integers(0, 256, 3, dtype=np.uint8)
    img[:, :3] = rng.integers(0, 256, (SIZE, 3, 3), dtype=np.uint8)
    Image.fromarray(img).save(path)


def test_cli_explains_a_keras2_h5_model(weights, tmp_path: Path) -> None:
    (tmp_path / "models").mkdir()
    (tmp_path / "images").mkdir()
    write_keras2_h5(tmp_path / "models" / "old.h5", sequential_config(first_layer_input_shape=True), weights)
    _write_image(tmp_path / "images" / "first.png", 1)
    _write_image(tmp_path / "images" / "second.png", 2)
    config = tmp_path / "review.yaml"
    config.write_text(
        "title: Keras 2 model review\n"
        "output: out\n"
        "formats: [html]\n"
        "seed: 0\n"
        "models:\n"
        "  - name: old-cnn\n"
        "    kind: image\n"
        "    path: models/old.h5\n"
        "    classes: [alpha, beta, gamma]\n"
        "    inputs: [images/*.png]\n"
        "    explain: {num_samples: 100, top_labels: 2, num_features: 5}\n",
        encoding="utf-8",
    )
    result = subprocess.run(
        [sys.executable, "-m", "reportgen", "run", str(config)],
        check=False,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = tmp_path / "out"
    evidence = json.loads((out / "evidence.json").read_text(encoding="utf-8"))
    (record,) = evidence["models"]
    assert record["status"] == "ok" and record["error"] is None
    assert record["path"] == "models/old.h5"
    assert len(record["items"]) == 2
    for item in record["items"]:
        assert item["status"] == "ok", item["error"]
        assert [e["label"] for e in item["explanations"]] == [p["label"] for p in item["predictions"][:2]]
        assert all(e["features"] for e in item["explanations"])
        # The probabilities in the record are the numpy model's on the image exactly as explained.
        image = np.asarray(Image.open(out / item["image"]).convert("RGB"), np.float32)[None] / np.float32(255.0)
        expected = reference_forward(image, weights)[0]
        got = np.zeros(CLASSES)
        for p in item["predictions"]:
            got[p["index"]] = p["probability"]
        np.testing.assert_allclose(got, expected, atol=1e-5, rtol=0)
    assert (out / "report.html").is_file()


def test_helper_writes_the_keras2_layout(weights, tmp_path: Path) -> None:
    """The file has the Keras 2 root attrs and weight paths the legacy loader reads."""
    import h5py

    path = write_keras2_h5(tmp_path / "old.h5", sequential_config(), weights)
    with h5py.File(path, "r") as f:
        assert f.attrs["keras_version"] == legacy_h5.KERAS_VERSION
        assert f.attrs["backend"] == "tensorflow"
        config = json.loads(f.attrs["model_config"])
        assert set(config) == {"class_name", "config"}
        assert "module" not in config["config"]["layers"][1]  # Keras 2 legacy serialization: no module key
        names = [n.decode() for n in f["model_weights"].attrs["layer_names"]]
        assert names == ["conv2d", "global_average_pooling2d", "dense"]
        assert list(f["model_weights/conv2d"].attrs["weight_names"]) == [b"conv2d/kernel:0", b"conv2d/bias:0"]
        np.testing.assert_array_equal(f["model_weights/conv2d/conv2d/kernel:0"][()], weights["conv_kernel"])
        np.testing.assert_array_equal(f["model_weights/dense/dense/bias:0"][()], weights["dense_bias"])
