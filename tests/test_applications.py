"""keras.applications models by name: local weights only, verified ImageNet files, preprocess_input, class names."""

from __future__ import annotations

import dataclasses
import hashlib
import re
from pathlib import Path

import numpy as np
import pytest

from reportgen import applications as apps
from reportgen.errors import ModelError

# A MobileNetV2 small enough to build in about a second.
SMALL = {"input_shape": (96, 96, 3), "alpha": 0.35, "classes": 5}


@pytest.fixture(scope="module")
def keras():
    from reportgen.model import import_keras

    return import_keras()


@pytest.fixture(scope="module")
def small_weights(keras, tmp_path_factory):
    """A small MobileNetV2 with random weights, its weights file, and its outputs on a fixed batch."""
    keras.utils.set_random_seed(0)
    model = keras.applications.MobileNetV2(weights=None, **SMALL)
    path = tmp_path_factory.mktemp("weights") / "w.weights.h5"
    model.save_weights(path)
    batch = np.random.default_rng(0).uniform(-1, 1, (2, 96, 96, 3)).astype(np.float32)
    return path, batch, model.predict_on_batch(batch)


@pytest.fixture
def keras_home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))
    return tmp_path / "keras-home" / "models"


def test_weights_file_loads_back_with_identical_outputs(keras, small_weights):
    path, batch, expected = small_weights
    model = apps.build_application("MobileNetV2", path, "w.weights.h5", options=SMALL)
    np.testing.assert_array_equal(model.predict_on_batch(batch), expected)


def test_weights_of_another_shape_are_refused(small_weights):
    path, _, _ = small_weights
    with pytest.raises(ModelError) as info:
        apps.build_application("MobileNetV2", path, "w.weights.h5", options={**SMALL, "classes": 7})
    assert str(info.value) == (
        "w.weights.h5: cannot load the weights into MobileNetV2: 1 layer of the model does not match the file,"
        " e.g. predictions (the model has shape (1280, 7), the file (1280, 5))"
    )


def test_missing_or_corrupt_weights_file(tmp_path):
    with pytest.raises(ModelError, match=r"^nope\.h5: weights file does not exist$"):
        apps.build_application("MobileNetV2", tmp_path / "nope.h5", "nope.h5")
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"not hdf5 at all")
    with pytest.raises(ModelError, match=r"^bad\.h5: not an HDF5 file"):
        apps.build_application("MobileNetV2", bad, "bad.h5")


def test_unknown_application_lists_close_matches():
    with pytest.raises(
        ModelError, match=r"'MobilenetV2' is not a keras.applications model \(did you mean 'MobileNetV2'"
    ):
        apps.build_application("MobilenetV2", "imagenet", "x")
    with pytest.raises(ModelError, match=r"did you mean 'InceptionV3'"):
        apps.application_info("InceptionV4")


def test_missing_imagenet_weights_say_which_file_goes_where(keras_home):
    with pytest.raises(ModelError) as info:
        apps.build_application("InceptionV3", "imagenet", "InceptionV3")
    message = str(info.value)
    assert "put inception_v3_weights_tf_dim_ordering_tf_kernels.h5 in " + str(keras_home) in message
    assert "https://storage.googleapis.com/tensorflow/keras-applications/inception_v3/" in message
    assert "never downloads" in message and "\n" not in message
    assert not keras_home.exists()  # looked for, never created


def test_default_keras_home_is_shown_without_the_home_folder(monkeypatch):
    monkeypatch.delenv("KERAS_HOME", raising=False)
    assert apps.keras_models_dir() == Path.home() / ".keras" / "models"
    if not (apps.keras_models_dir() / apps.APPLICATIONS["Xception"].file_name).exists():
        with pytest.raises(
            ModelError, match=r"put xception_weights_tf_dim_ordering_tf_kernels\.h5 in ~/\.keras/models "
        ):
            apps.imagenet_weights_path("Xception", "Xception")


def test_imagenet_file_with_the_wrong_hash_is_refused(keras_home):
    keras_home.mkdir(parents=True)
    (keras_home / "inception_v3_weights_tf_dim_ordering_tf_kernels.h5").write_bytes(b"\x89HDF\r\n\x1a\n tampered")
    with pytest.raises(
        ModelError,
        match=r"^InceptionV3: refused: inception_v3_weights_.*\.h5 in .* is not the file "
        r"Keras publishes for InceptionV3 \(md5 [0-9a-f]{32}, expected 9a0d5805",
    ):
        apps.build_application("InceptionV3", "imagenet", "InceptionV3")


@pytest.mark.parametrize("algorithm", ["md5", "sha256"])
def test_imagenet_file_with_the_published_hash_is_found(keras_home, monkeypatch, algorithm):
    keras_home.mkdir(parents=True)
    content = b"weights bytes"
    spec = apps.APPLICATIONS["InceptionV3"]
    (keras_home / spec.file_name).write_bytes(content)
    digest = hashlib.new(algorithm, content).hexdigest()
    monkeypatch.setitem(apps.APPLICATIONS, "InceptionV3", dataclasses.replace(spec, file_hash=digest))
    assert apps.imagenet_weights_path("InceptionV3", "x") == keras_home / spec.file_name


def test_imagenet_weights_refuse_options_that_change_the_model(keras_home):
    with pytest.raises(ModelError, match=r"the option 'alpha' would change it"):
        apps.build_application("MobileNetV2", "imagenet", "x", options={"alpha": 0.35})
    with pytest.raises(ModelError, match=r"the option 'weights' cannot be given"):
        apps.build_application("MobileNetV2", "imagenet", "x", options={"weights": "imagenet"})


def test_application_info_reads_the_table(keras):
    module, size, preprocess = apps.application_info("InceptionV3")
    assert (module, size) == ("inception_v3", (299, 299))
    assert preprocess is keras.applications.inception_v3.preprocess_input
    assert apps.application_info("ResNet50")[:2] == ("resnet", (224, 224))
    assert apps.application_info("EfficientNetB3")[:2] == ("efficientnet", (300, 300))
    assert apps.application_info("NASNetLarge")[:2] == ("nasnet", (331, 331))


def test_application_info_falls_back_to_building_the_model(monkeypatch):
    monkeypatch.delitem(apps.APPLICATIONS, "MobileNetV3Small")
    module, size, _ = apps.application_info("MobileNetV3Small")
    assert (module, size) == ("mobilenet_v3", (224, 224))


def test_table_matches_the_installed_keras(keras):
    """Every table entry is a model Keras exposes, its module exports it, and its hash is in Keras' source."""
    import keras.src.applications as sources

    source = "".join(p.read_text() for p in Path(sources.__file__).parent.glob("*.py"))
    source = re.sub(r'"\s*\n\s*"', "", source)  # join string literals split over lines
    exposed = {n for n in dir(keras.applications) if n[:1].isupper()}
    for name, spec in apps.APPLICATIONS.items():
        assert name in exposed, name
        defined_in = getattr(keras.applications, name).__module__
        assert defined_in.rpartition(".")[2] == spec.module, name
        assert hasattr(getattr(keras.applications, spec.module), "preprocess_input"), name
        assert spec.file_hash is None or spec.file_hash in source, name
        assert spec.url.rsplit("/", 1)[0] in source, name
    assert set(apps.SCALE_MODULES) <= {n for n in dir(keras.applications) if n[:1].islower()}
    # A model a newer Keras adds works through the fallbacks, but belongs in the table (config checks names there).
    assert exposed == set(apps.APPLICATIONS)


def test_scale_fn_inception_v3_maps_0_to_minus_1_and_255_to_1():
    batch = np.array([0.0, 127.5, 255.0], np.float32).reshape(1, 1, 3, 1).repeat(3, axis=3)
    before = batch.copy()
    out = apps.scale_fn("inception_v3")(batch)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out[0, 0, :, 0], [-1.0, 0.0, 1.0])
    np.testing.assert_array_equal(batch, before)  # the caller's batch is left alone


def test_scale_fn_caffe_style_flips_to_bgr_and_centres():
    batch = np.zeros((1, 1, 1, 3), np.float32)
    batch[..., 0] = 255.0  # pure red
    out = apps.scale_fn("resnet50")(batch)
    np.testing.assert_allclose(out[0, 0, 0], [-103.939, -116.779, 255.0 - 123.68], rtol=1e-5)


def test_scale_fn_unknown_module_lists_close_matches():
    with pytest.raises(ModelError, match=r"'inception_v4' is not .* \(did you mean 'inception_v3'"):
        apps.scale_fn("inception_v4")
    assert apps.did_you_mean("MOBILENET_V2", apps.SCALE_MODULES).startswith(" (did you mean 'mobilenet_v2'")


def test_imagenet_classes():
    classes = apps.imagenet_classes()
    assert len(classes) == 1000 and len(set(classes)) == 1000
    assert classes[:2] == ["tench", "goldfish"]
    assert (classes[101], classes[385], classes[386]) == ("tusker", "Indian elephant", "African elephant")
    assert classes[999] == "toilet tissue"
    assert all(c and c == c.strip() and "_" not in c for c in classes)
    classes.append("mutated")
    assert len(apps.imagenet_classes()) == 1000  # each call gets its own list


def test_module_imports_neither_keras_nor_numpy():
    import subprocess
    import sys

    code = (
        "import sys, reportgen.applications; print([m for m in ('keras', 'tensorflow', 'numpy') if m in sys.modules])"
    )
    root = Path(__file__).resolve().parent.parent
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root).stdout
    assert out.strip() == "[]"
