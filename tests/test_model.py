"""Model loading and output handling on real (tiny) Keras models."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import build_colour_model

from reportgen import model as km
from reportgen.errors import ModelError


@pytest.mark.parametrize(("activation", "mode"), [("softmax", "probabilities"), ("linear", "logits"), ("sigmoid", "sigmoid")])
def test_auto_detects_last_activation(activation, mode):
    info = km.inspect(build_colour_model(8, activation))
    assert info.activation == activation
    assert km.output_transform("auto", info, "m.keras")[0] == mode


def test_logits_go_through_softmax():
    info = km.ModelInfo((8, 8, 3), 3, "linear")
    _mode, transform, n = km.output_transform("auto", info, "m")
    probs = transform(np.array([[1.0, 2.0, 3.0]]))
    assert n == 3 and np.isclose(probs.sum(), 1.0) and probs.argmax() == 2


def test_single_sigmoid_unit_becomes_two_classes():
    info = km.ModelInfo((8, 8, 3), 1, "sigmoid")
    _mode, transform, n = km.output_transform("auto", info, "m")
    assert n == 2
    assert np.allclose(transform(np.array([[0.8]])), [[0.2, 0.8]])


def test_loads_keras_and_h5(workspace):
    for name in ("colour.keras", "colour.h5"):
        model = km.load_model(workspace / "models" / name, f"models/{name}")
        assert km.inspect(model).input_shape == (32, 32, 3)


def test_garbage_file_is_model_error(workspace):
    with pytest.raises(ModelError) as info:
        km.load_model(workspace / "models" / "garbage.keras", "models/garbage.keras")
    assert str(info.value) == "models/garbage.keras: not a .keras model (a .keras file is a zip archive; this one is not, or is truncated)"


def test_h5_that_is_not_hdf5_is_model_error(tmp_path):
    (tmp_path / "fake.h5").write_bytes(b"GIF89a not a model")
    with pytest.raises(ModelError) as info:
        km.load_model(tmp_path / "fake.h5", "fake.h5")
    assert "not an HDF5 file" in str(info.value)


def test_truncated_keras_file_is_model_error(workspace, tmp_path):
    data = (workspace / "models" / "colour.keras").read_bytes()
    (tmp_path / "cut.keras").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelError) as info:
        km.load_model(tmp_path / "cut.keras", "cut.keras")
    assert str(info.value).startswith("cut.keras: ")


def test_predictor_pads_and_matches_direct_call():
    model = build_colour_model(8)
    _mode, transform, _n = km.output_transform("auto", km.inspect(model), "m")
    predictor = km.Predictor(model, transform, batch_size=16)
    batch = np.random.RandomState(0).rand(37, 8, 8, 3).astype(np.float32)
    direct = model(batch, training=False).numpy()
    assert np.allclose(predictor(batch), direct, atol=1e-6)
    assert predictor(batch[:1]).shape == (1, 3)


def _two_headed():
    import keras

    inputs = keras.Input((8, 8, 3))
    x = keras.layers.GlobalAveragePooling2D()(inputs)
    cls = keras.layers.Dense(3, activation="softmax", name="cls")(x)
    box = keras.layers.Dense(4, name="box")(x)
    return keras.Model(inputs, [cls, box])


def test_output_name_picks_one_output():
    model = km.select_output(_two_headed(), "cls", "m.keras")
    info = km.inspect(model)
    assert info.num_outputs == 3 and info.activation == "softmax"
    assert km.inspect(km.select_output(_two_headed(), "box", "m.keras")).activation == "linear"


def test_several_outputs_need_output_name():
    with pytest.raises(ModelError) as info:
        km.select_output(_two_headed(), None, "m.keras")
    assert str(info.value) == "m.keras: the model has 2 outputs (cls, box); set output_name to the one to explain"
    with pytest.raises(ModelError) as info:
        km.select_output(_two_headed(), "boxes", "m.keras")
    assert "output_name 'boxes' is not an output of the model (it has: cls, box)" in str(info.value)


def test_several_inputs_are_refused_with_what_the_model_has():
    import keras

    a, b = keras.Input((4,), name="image"), keras.Input((2,), name="meta")
    model = keras.Model([a, b], keras.layers.Dense(2)(keras.layers.Concatenate()([a, b])))
    with pytest.raises(ModelError) as info:
        km.select_output(model, None, "m.keras")
    assert "the model has 2 inputs (image (4,), meta (2,))" in str(info.value)
