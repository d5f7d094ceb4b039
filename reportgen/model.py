"""Load a Keras model safely and wrap it as a Predictor: a batch of model inputs -> class probabilities."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import numpy as np

from reportgen.errors import ModelError, UsageError, describe

MIN_KERAS = (3, 15, 1)  # safe_mode is not trustworthy before this release


def _quiet_tensorflow() -> None:
    # Must run before TensorFlow is first imported: its C++ logging reads these at import time.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from reportgen.safety import prepare_keras_environment

    prepare_keras_environment()


def _version_tuple(text: str) -> tuple[int, ...]:
    parts = []
    for part in text.split(".")[:3]:
        digits = "".join(ch for ch in part if ch.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)


@contextlib.contextmanager
def _native_stderr_silenced() -> Iterator[None]:
    # TensorFlow's C++ start-up (CUDA probing on a machine without a GPU) writes straight to file
    # descriptor 2, before TF_CPP_MIN_LOG_LEVEL applies. Hold it back; show it only if importing fails.
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        failed = False
        try:
            yield
        except BaseException:
            failed = True
            raise
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            if failed:
                sink.seek(0)
                sys.stderr.write(sink.read().decode("utf-8", "replace"))


def check_keras() -> None:
    """Refuse legacy Keras, other backends and unsafe Keras versions without importing TensorFlow.

    A run whose items all come from the item cache never needs TensorFlow, so it should not pay 5 s for it;
    import_keras() checks the same again when a model is loaded.
    """
    from importlib import metadata

    from reportgen.safety import prepare_keras_environment

    prepare_keras_environment()
    if "keras" in sys.modules:  # imported before us, perhaps with another backend: ask it
        import_keras()
        return
    try:
        installed = metadata.version("keras")
    except metadata.PackageNotFoundError:
        raise UsageError("Keras is not installed: pip install 'keras>=3.15.1' tensorflow") from None
    if _version_tuple(installed) < MIN_KERAS:
        raise UsageError(f"Keras {installed} is too old: reportgen needs keras>=3.15.1 for a safe model loader")


def import_keras() -> Any:
    """Import Keras 3 on TensorFlow, refusing legacy Keras, other backends and versions whose safe_mode is unsafe."""
    _quiet_tensorflow()
    if "tensorflow" not in sys.modules:
        with _native_stderr_silenced():
            import tensorflow as tf

            tf.config.list_physical_devices()  # the device probe, while its chatter is held back
    import keras

    if _version_tuple(keras.__version__) < MIN_KERAS:
        raise UsageError(f"Keras {keras.__version__} is too old: reportgen needs keras>=3.15.1 for a safe model loader")
    if keras.backend.backend() != "tensorflow":
        raise UsageError(f"Keras uses the {keras.backend.backend()} backend; reportgen needs tensorflow")
    return keras


@dataclass(frozen=True)
class ModelInfo:
    """What reportgen reads off a loaded model."""

    input_shape: tuple[Optional[int], ...]  # without the batch dimension
    num_outputs: int  # width of the output layer
    activation: str  # softmax | sigmoid | linear | unknown
    input_dtype_is_string: bool = False  # a text model taking raw strings


def load_model(path: Path, rel: str, trusted: bool = False) -> Any:
    """Load a .keras or .h5 model with safe_mode on and without compiling it (a SavedModel folder only if trusted)."""
    from reportgen.safety import check_model_file, is_saved_model

    if is_saved_model(path):
        if not trusted:
            raise ModelError(f"{rel}: refused: a SavedModel folder can run any TensorFlow graph; set trust_model: true "
                             "for this model if you trust where it comes from")  # fmt: skip
        return _load_saved_model(path, rel)
    check_model_file(path, rel)
    keras = import_keras()
    try:
        with warnings.catch_warnings():
            # Warnings about how an old file was built (input_shape on a layer, say) are not the user's to act on.
            warnings.simplefilter("ignore", UserWarning)
            model = keras.saving.load_model(str(path), compile=False, safe_mode=True)
    except Exception as exc:  # Keras raises many types here; all mean "this file is not a loadable model"
        text = describe(exc, path, rel)
        if "Lambda" in text and "arbitrary code execution" in text:
            # Keras' own advice (turning safe mode off) is exactly what reportgen must never do.
            raise ModelError(f"{rel}: refused: the model holds a Lambda layer with Python code, which reportgen never runs") from None
        raise ModelError(f"{rel}: cannot load the model: {text}") from None
    return model


def _load_saved_model(path: Path, rel: str) -> Any:
    """A trusted SavedModel folder as a Keras model: its serving signature wrapped in a TFSMLayer."""
    keras = import_keras()
    import tensorflow as tf

    try:
        signature = tf.saved_model.load(str(path)).signatures["serving_default"]
        _args, kwargs = signature.structured_input_signature
        if len(kwargs) != 1:
            raise ModelError(f"{rel}: the SavedModel's serving signature takes {len(kwargs)} inputs; reportgen needs one")
        (name, spec), = kwargs.items()
        outputs = list(signature.structured_outputs)
        if len(outputs) != 1:
            raise ModelError(f"{rel}: the SavedModel's serving signature has outputs {', '.join(outputs)}; "
                             "reportgen explains a signature with one output")  # fmt: skip
        inputs = keras.Input(shape=tuple(spec.shape[1:]), dtype=spec.dtype.name, name=name)
        layer = keras.layers.TFSMLayer(str(path), call_endpoint="serving_default")
        model = keras.Model(inputs, layer(inputs)[outputs[0]], name=path.name)
    except ModelError:
        raise
    except Exception as exc:  # TensorFlow raises many types for a folder that is not a usable SavedModel
        raise ModelError(f"{rel}: cannot load the SavedModel: {describe(exc, path, rel)}") from None
    return model


def _tensor_name(tensor: Any) -> str:
    history = getattr(tensor, "_keras_history", None)
    return history.operation.name if history is not None else str(getattr(tensor, "name", "?"))


def select_output(model: Any, output_name: Optional[str], rel: str) -> Any:
    """The model reduced to its one input and the output to explain (`output_name` among several)."""
    if len(model.inputs) != 1:
        shown = ", ".join(f"{_tensor_name(t)} {tuple(t.shape[1:])}" for t in model.inputs)
        raise ModelError(f"{rel}: the model has {len(model.inputs)} inputs ({shown}); reportgen explains models with one input")
    names = [_tensor_name(t) for t in model.outputs]
    if output_name is None:
        if len(names) > 1:
            raise ModelError(f"{rel}: the model has {len(names)} outputs ({', '.join(names)}); set output_name to the one to explain")
        return model
    if output_name not in names:
        raise ModelError(f"{rel}: output_name '{output_name}' is not an output of the model (it has: {', '.join(names)})")
    if len(names) == 1:
        return model
    keras = import_keras()
    return keras.Model(model.inputs, model.outputs[names.index(output_name)], name=f"{model.name}_{output_name}")


def _last_activation(model: Any) -> str:
    # The layer that produces the (selected) output, which need not be the last one listed.
    history = getattr(model.outputs[0], "_keras_history", None)
    layer = history.operation if history is not None else (model.layers[-1] if model.layers else None)
    name = type(layer).__name__ if layer is not None else ""
    if name == "Softmax":
        return "softmax"
    activation = getattr(layer, "activation", None)
    if activation is None:
        return "unknown"
    fn_name = getattr(activation, "__name__", str(activation))
    return fn_name if fn_name in ("softmax", "sigmoid", "linear") else "unknown"


def takes_strings(model: Any) -> bool:
    """True for a model whose input is raw text (a string tensor)."""
    return "string" in str(model.inputs[0].dtype)


def inspect(model: Any) -> ModelInfo:
    """The model's input shape, output width and last activation."""
    input_shape = tuple(model.inputs[0].shape[1:])
    output_shape = tuple(model.outputs[0].shape[1:])
    if len(output_shape) > 1 and all(d == 1 for d in output_shape[:-1]):
        # e.g. (1, k) from a string input of shape (1,): the same k scores, with a singleton axis.
        output_shape = output_shape[-1:]
    if len(output_shape) != 1 or output_shape[0] is None:
        raise ModelError(f"the model's output has shape {output_shape}; expected one score per class")
    return ModelInfo(input_shape, int(output_shape[0]), _last_activation(model), takes_strings(model))


def output_transform(mode: str, info: ModelInfo, rel: str) -> tuple[str, Callable[[np.ndarray], np.ndarray], int]:
    """How raw outputs become probabilities: (resolved mode, transform, number of classes)."""
    if mode == "auto":
        mode = {"softmax": "probabilities", "sigmoid": "sigmoid", "linear": "logits"}.get(info.activation, "probabilities")
    if mode == "probabilities":
        return mode, lambda y: y, info.num_outputs
    if mode == "logits":

        def softmax(y: np.ndarray) -> np.ndarray:
            z = np.exp(y - y.max(axis=1, keepdims=True))
            return z / z.sum(axis=1, keepdims=True)

        return mode, softmax, info.num_outputs
    # sigmoid: already in 0..1; one unit is a binary classifier, explained as two classes.
    if info.num_outputs == 1:
        return mode, lambda y: np.concatenate([1.0 - y, y], axis=1), 2
    return mode, lambda y: y, info.num_outputs


class Predictor:
    """Calls the model through one compiled function on fixed-size batches; counts the time it spends."""

    def __init__(
        self, model: Any, transform: Callable[[np.ndarray], np.ndarray], batch_size: int,
        input_shape: Optional[tuple[int, ...]] = None,
    ) -> None:  # fmt: skip
        import tensorflow as tf

        self.batch_size = batch_size
        self.transform = transform
        self.model_seconds = 0.0
        shape = (batch_size, *(input_shape or model.inputs[0].shape[1:]))
        strings = takes_strings(model)
        dtype = tf.string if strings else tf.as_dtype(str(model.inputs[0].dtype))  # Keras 3 names dtypes
        spec = tf.TensorSpec(shape, dtype)
        # A fixed input signature: one trace, whatever the number of samples; the last batch is padded.
        self._fn = tf.function(lambda x: model(x, training=False), input_signature=[spec], reduce_retracing=True)
        self._buffer = np.full(shape, "", dtype=object) if strings else np.zeros(shape, dtype.as_numpy_dtype)
        self._padding = "" if strings else 0

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        """Probabilities for a batch of model inputs of any length."""
        outputs = []
        for start in range(0, len(batch), self.batch_size):
            chunk = batch[start : start + self.batch_size]
            n = len(chunk)
            if n == self.batch_size and chunk.dtype == self._buffer.dtype and chunk.flags.c_contiguous:
                x = chunk  # a full batch of the right type goes in as it is; no copy
            else:
                self._buffer[:n] = chunk
                self._buffer[n:] = self._padding
                x = self._buffer
            began = time.perf_counter()
            with warnings.catch_warnings():
                # Keras-2-era functional models warn that a tensor is not their ['input_1'] list: harmless.
                warnings.simplefilter("ignore", UserWarning)
                raw = self._fn(x).numpy()
            self.model_seconds += time.perf_counter() - began
            outputs.append(raw[:n].reshape(n, -1).astype(np.float64))  # singleton axes dropped
        return self.transform(np.concatenate(outputs, axis=0))
