"""Write .h5 model files laid out exactly as tf.keras 2.12 (Keras 2, before Keras 3) wrote them.

No Keras 2 is installed here, so the files are written with h5py alone, following
keras/saving/legacy/hdf5_format.py and saving_utils.model_metadata of Keras 2.12:

- root attrs: keras_version and backend (str), model_config (JSON bytes), and, for a
  compiled model, training_config (JSON bytes) plus an optimizer_weights group;
- group model_weights with attrs layer_names (array of bytes), backend and keras_version
  (bytes); one group per layer in `model.layers` (a Sequential's InputLayer is not in
  `model.layers`, a Functional's is), each with a weight_names attr (bytes such as
  b"conv2d/kernel:0"; an empty float64 array for a layer without weights) and the values
  as datasets named by the weight name, so h5py nests them: model_weights/conv2d/conv2d/kernel:0;
- an empty top_level_model_weights group.

Layer configs use Keras 2.12's legacy serialization: {"class_name", "config"} without
"module" or "registered_name", dtype "float32", initializers as {"class_name": "GlorotUniform", ...}.
"""

from __future__ import annotations

import codecs
import json
import marshal
from pathlib import Path
from typing import Any

import numpy as np

KERAS_VERSION = "2.12.0"
SIZE = 16  # height and width of the model input
CHANNELS = 3
FILTERS = 4
KERNEL = 3
CLASSES = 3


def make_weights(seed: int = 26) -> dict[str, np.ndarray]:
    """Fixed float32 weights for the conv -> relu -> global average pooling -> dense -> softmax model."""
    rng = np.random.default_rng(seed)
    return {
        "conv_kernel": rng.normal(0.0, 0.6, (KERNEL, KERNEL, CHANNELS, FILTERS)).astype(np.float32),
        "conv_bias": rng.normal(0.0, 0.2, (FILTERS,)).astype(np.float32),
        "dense_kernel": rng.normal(0.0, 1.5, (FILTERS, CLASSES)).astype(np.float32),
        "dense_bias": rng.normal(0.0, 0.3, (CLASSES,)).astype(np.float32),
    }


def reference_forward(x: np.ndarray, w: dict[str, np.ndarray]) -> np.ndarray:
    """The same model in numpy: valid 3x3 conv + relu, global average pooling, dense, softmax."""
    x = x.astype(np.float64)
    k = w["conv_kernel"].astype(np.float64)
    out = KERNEL - 1
    h, wd = x.shape[1] - out, x.shape[2] - out
    conv = np.zeros((x.shape[0], h, wd, FILTERS))
    for i in range(KERNEL):
        for j in range(KERNEL):
            conv += x[:, i : i + h, j : j + wd, :] @ k[i, j]
    conv = np.maximum(conv + w["conv_bias"], 0.0)
    pooled = conv.mean(axis=(1, 2))
    logits = pooled @ w["dense_kernel"].astype(np.float64) + w["dense_bias"]
    z = np.exp(logits - logits.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


# ---- layer configs, key for key and in the order Keras 2.12's get_config() produced them ----


def _initializer(name: str) -> dict[str, Any]:
    return {"class_name": name, "config": {"seed": None} if name.startswith("Glorot") else {}}


def input_layer_config(name: str) -> dict[str, Any]:
    return {
        "class_name": "InputLayer",
        "config": {
            "batch_input_shape": [None, SIZE, SIZE, CHANNELS],
            "dtype": "float32",
            "sparse": False,
            "ragged": False,
            "name": name,
        },
    }


def conv2d_config(name: str, batch_input_shape: bool = False) -> dict[str, Any]:
    config: dict[str, Any] = {"name": name, "trainable": True, "dtype": "float32"}
    if batch_input_shape:  # Sequential([Conv2D(..., input_shape=...)]) wrote it on the first layer too
        config["batch_input_shape"] = [None, SIZE, SIZE, CHANNELS]
    config.update(
        {
            "filters": FILTERS,
            "kernel_size": [KERNEL, KERNEL],
            "strides": [1, 1],
            "padding": "valid",
            "data_format": "channels_last",
            "dilation_rate": [1, 1],
            "groups": 1,
            "activation": "relu",
            "use_bias": True,
            "kernel_initializer": _initializer("GlorotUniform"),
            "bias_initializer": _initializer("Zeros"),
            "kernel_regularizer": None,
            "bias_regularizer": None,
            "activity_regularizer": None,
            "kernel_constraint": None,
            "bias_constraint": None,
        }
    )
    return {"class_name": "Conv2D", "config": config}


def pooling_config(name: str) -> dict[str, Any]:
    return {
        "class_name": "GlobalAveragePooling2D",
        "config": {
            "name": name,
            "trainable": True,
            "dtype": "float32",
            "data_format": "channels_last",
            "keepdims": False,
        },
    }


def dense_config(name: str) -> dict[str, Any]:
    return {
        "class_name": "Dense",
        "config": {
            "name": name,
            "trainable": True,
            "dtype": "float32",
            "units": CLASSES,
            "activation": "softmax",
            "use_bias": True,
            "kernel_initializer": _initializer("GlorotUniform"),
            "bias_initializer": _initializer("Zeros"),
            "kernel_regularizer": None,
            "bias_regularizer": None,
            "activity_regularizer": None,
            "kernel_constraint": None,
            "bias_constraint": None,
        },
    }


def lambda_config(name: str, marker: Path) -> dict[str, Any]:
    """A Keras 2 Lambda layer whose marshalled function writes `marker` when it runs (and returns its input)."""
    source = f"lambda x: (open({str(marker)!r}, 'w').write('code ran'), x)[1]"
    # The lambda's code object, taken from the compiled expression without evaluating anything.
    (code_object,) = [c for c in compile(source, "<keras2-lambda>", "eval").co_consts if hasattr(c, "co_code")]
    # keras.utils.generic_utils.func_dump of Keras 2: base64 (with line breaks) of marshal.dumps(code).
    code = codecs.encode(marshal.dumps(code_object), "base64").decode("ascii")
    return {
        "class_name": "Lambda",
        "config": {
            "name": name,
            "trainable": True,
            "dtype": "float32",
            "function": [code, None, None],
            "function_type": "lambda",
            "module": "__main__",
            "output_shape": None,
            "output_shape_type": "raw",
            "output_shape_module": None,
            "arguments": {},
        },
    }


# ---- model configs ----


def sequential_config(first_layer_input_shape: bool = False, lambda_marker: Path | None = None) -> dict[str, Any]:
    """A Keras 2 Sequential: `Sequential([Input(...), Conv2D, GAP, Dense])`, or with input_shape= on the Conv2D."""
    if first_layer_input_shape:
        layers = [input_layer_config("conv2d_input"), conv2d_config("conv2d", batch_input_shape=True)]
    else:
        layers = [input_layer_config("input_1"), conv2d_config("conv2d")]
    if lambda_marker is not None:
        layers.append(lambda_config("lambda", lambda_marker))
    layers += [pooling_config("global_average_pooling2d"), dense_config("dense")]
    return {"class_name": "Sequential", "config": {"name": "sequential", "layers": layers}}


def functional_config(lambda_marker: Path | None = None) -> dict[str, Any]:
    """A Keras 2 Functional model: keras.Model(inputs, outputs) with the same layers."""
    chain = [input_layer_config("input_1"), conv2d_config("conv2d")]
    if lambda_marker is not None:
        chain.append(lambda_config("lambda", lambda_marker))
    chain += [pooling_config("global_average_pooling2d"), dense_config("dense")]
    layers = []
    previous: str | None = None
    for layer in chain:
        name = layer["config"]["name"]
        inbound = [] if previous is None else [[[previous, 0, 0, {}]]]
        layers.append({**layer, "name": name, "inbound_nodes": inbound})
        previous = name
    return {
        "class_name": "Functional",
        "config": {
            "name": "model",
            "trainable": True,
            "layers": layers,
            "input_layers": [["input_1", 0, 0]],
            "output_layers": [["dense", 0, 0]],
        },
    }


# ---- the file ----


def _training_config() -> dict[str, Any]:
    """What model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"]) saved in 2.12."""
    return {
        "loss": "categorical_crossentropy",
        "metrics": [
            [
                {
                    "class_name": "MeanMetricWrapper",
                    "config": {"name": "accuracy", "dtype": "float32", "fn": "categorical_accuracy"},
                }
            ]
        ],
        "weighted_metrics": None,
        "loss_weights": None,
        "optimizer_config": {
            "class_name": "Custom>Adam",
            "config": {
                "name": "Adam",
                "weight_decay": None,
                "clipnorm": None,
                "global_clipnorm": None,
                "clipvalue": None,
                "use_ema": False,
                "ema_momentum": 0.99,
                "ema_overwrite_frequency": None,
                "jit_compile": False,
                "is_legacy_optimizer": False,
                "learning_rate": 0.0010000000474974513,
                "beta_1": 0.9,
                "beta_2": 0.999,
                "epsilon": 1e-07,
                "amsgrad": False,
            },
        },
    }


def _save_subset(group: Any, weights: list[tuple[str, np.ndarray]]) -> None:
    # hdf5_format.save_subset_weights_to_hdf5_group + save_attributes_to_hdf5_group (one chunk: the data is small)
    names = [name.encode("utf8") for name, _ in weights]
    group.attrs["weight_names"] = np.asarray(names)  # np.asarray([]) is float64 for a layer without weights
    for name, value in zip(names, (v for _, v in weights)):
        dataset = group.create_dataset(name, value.shape, dtype=value.dtype)
        dataset[:] = value


def layer_weights(w: dict[str, np.ndarray]) -> dict[str, list[tuple[str, np.ndarray]]]:
    """Each layer's weights as Keras 2 named its variables (trainable first, then non-trainable)."""
    return {
        "conv2d": [("conv2d/kernel:0", w["conv_kernel"]), ("conv2d/bias:0", w["conv_bias"])],
        "dense": [("dense/kernel:0", w["dense_kernel"]), ("dense/bias:0", w["dense_bias"])],
    }


def write_keras2_h5(
    path: Path, model_config: dict[str, Any], weights: dict[str, np.ndarray], compiled: bool = True
) -> Path:
    """Write `model_config` and `weights` as tf.keras 2.12's model.save("x.h5") did."""
    import h5py

    config_layers = model_config["config"]["layers"]
    # `model.layers` of a Keras 2 Sequential leaves out its InputLayer; a Functional model keeps it.
    layer_names = [
        layer["config"]["name"]
        for layer in config_layers
        if not (model_config["class_name"] == "Sequential" and layer["class_name"] == "InputLayer")
    ]
    by_layer = layer_weights(weights)
    with h5py.File(path, mode="w") as f:
        # saving_utils.model_metadata: str values stored as they are, dicts as JSON bytes.
        f.attrs["keras_version"] = KERAS_VERSION
        f.attrs["backend"] = "tensorflow"
        # The model_config attr is {"class_name", "config"}: keras_version and backend sit beside it as
        # attrs of their own (model.to_json() is the form that nests them in the JSON).
        f.attrs["model_config"] = json.dumps(model_config).encode("utf8")
        if compiled:
            f.attrs["training_config"] = json.dumps(_training_config()).encode("utf8")
        group = f.create_group("model_weights")
        group.attrs["layer_names"] = np.asarray([name.encode("utf8") for name in layer_names])
        group.attrs["backend"] = b"tensorflow"
        group.attrs["keras_version"] = KERAS_VERSION.encode("utf8")
        for name in sorted(layer_names):
            _save_subset(group.create_group(name), by_layer.get(name, []))
        _save_subset(group.create_group("top_level_model_weights"), [])
        if compiled:
            # Adam's state after some training steps; never read when loading with compile=False.
            slots: list[tuple[str, np.ndarray]] = [("iteration:0", np.asarray(120, np.int64))]
            for slot in ("m", "v"):
                for layer in ("conv2d", "dense"):
                    for var_name, value in by_layer[layer]:
                        slots.append((f"Adam/{slot}/{var_name}", np.zeros_like(value)))
            opt = f.create_group("optimizer_weights")
            names = [n.encode("utf8") for n, _ in slots]
            opt.attrs["weight_names"] = np.asarray(names)
            for name, (_, value) in zip(names, slots):
                dataset = opt.create_dataset(name, value.shape, dtype=value.dtype)
                dataset[()] = value
    return path
