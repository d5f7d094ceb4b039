"""User preprocessing hooks: `module:function` or `path/to/file.py:function`, called on batches of uint8 RGB images."""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from pathlib import Path
from typing import Any, Callable

import numpy as np

from reportgen.errors import ConfigError, ModelError, describe


def _is_file_target(target: str) -> bool:
    return target.endswith(".py") or "/" in target or "\\" in target


def _import_failure(exc: BaseException, path: Path | None = None, rel: str = "") -> str:
    from reportgen.safety import network_message

    if network_message(exc):
        return "importing it tried to download: network access is disabled (reportgen runs offline)"
    return f"importing it raised {type(exc).__name__}: {describe(exc, path, rel)}"


def _load_file(path: Path, shown: str, fail: Callable[[str], ConfigError]) -> Any:
    if not path.is_file():
        raise fail(f"{shown} does not exist")
    # One module name per file: the same file loaded twice is the same module, two files never clash.
    module_name = "reportgen_hook_" + hashlib.sha256(str(path).encode()).hexdigest()[:16]
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise fail(f"{shown} cannot be loaded as a Python module")
    module = importlib.util.module_from_spec(spec)
    # Registered before running, as a normal import would be (dataclasses and pickling look it up);
    # the file's folder is on sys.path while it runs, so it can import the modules beside it.
    sys.modules[module_name] = module
    folder = str(path.parent)
    sys.path.insert(0, folder)
    try:
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as exc:
        sys.modules.pop(module_name, None)
        raise fail(_import_failure(exc, path, shown)) from None
    finally:
        if folder in sys.path:
            sys.path.remove(folder)
    return module


def _import_module(name: str, fail: Callable[[str], ConfigError]) -> Any:
    if not all(part.isidentifier() for part in name.split(".")):
        raise fail(f"'{name}' is neither a module name nor a .py file")
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and (name == exc.name or name.startswith(exc.name + ".")):
            raise fail(
                f"no module named '{exc.name}' (is it installed? a file is named as path/to/file.py:function)"
            ) from None
        raise fail(_import_failure(exc)) from None
    except (Exception, SystemExit) as exc:
        raise fail(_import_failure(exc)) from None


def load_hook(spec: str, base_dir: Path, rel_config: str) -> Callable[..., Any]:
    """The callable a hook spec names; any problem is a one-line ConfigError naming the spec."""

    def fail(problem: str) -> ConfigError:
        return ConfigError(f"{rel_config}: hook {spec}: {problem}")

    target, _, attr = spec.strip().rpartition(":")
    if not target or not attr:
        raise fail("expected module:function or path/to/file.py:function")
    if not all(part.isidentifier() for part in attr.split(".")):
        raise fail(f"'{attr}' is not a function name")
    if _is_file_target(target):
        module = _load_file((base_dir / target).resolve(), target, fail)
        where = target
    else:
        module = _import_module(target, fail)
        where = f"module {target}"
    obj: Any = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise fail(f"{where} has no '{attr}'") from None
        except Exception as exc:  # a property or module __getattr__ of the user's that raises
            raise fail(f"looking up '{attr}' raised {type(exc).__name__}: {describe(exc)}") from None
    if not callable(obj):
        raise fail(f"'{attr}' in {where} is {_a(type(obj).__name__)}, not a function")
    return obj


def _a(noun: str) -> str:
    return ("an " if noun[:1].lower() in "aeiou" else "a ") + noun


def _shape_text(shape: tuple[Any, ...]) -> str:
    return "(" + ", ".join("any" if d is None else str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def call_image_hook(
    fn: Callable[..., Any], batch_uint8: np.ndarray, spec: str, expected_shape: tuple[Any, ...]
) -> np.ndarray:
    """Call a hook on a batch of uint8 RGB images (n, h, w, 3); its result as float32 (n, *expected_shape)."""
    # A read-only view, not a copy: the batch is LIME's buffer, which a hook must not change.
    view = np.asarray(batch_uint8).view()
    view.flags.writeable = False
    n = len(batch_uint8)
    try:
        result = fn(view)
    except Exception as exc:
        _network_refused(exc, spec)
        text = describe(exc)
        if "read-only" in text:
            text += " (the batch is read-only: work on a copy, e.g. batch.astype('float32'))"
        raise ModelError(f"hook {spec} raised {type(exc).__name__}: {text}") from None
    return _checked_array(result, spec, n, expected_shape, np.float32)


def call_text_hook(fn: Callable[..., Any], texts: list[str], spec: str, expected_shape: tuple[Any, ...]) -> np.ndarray:
    """Call a hook on a list of strings; its result (n, *expected_shape), numeric (token ids or features)."""
    try:
        result = fn(list(texts))
    except Exception as exc:
        _network_refused(exc, spec)
        raise ModelError(f"hook {spec} raised {type(exc).__name__}: {describe(exc)}") from None
    return _checked_array(result, spec, len(texts), expected_shape, None)


def _network_refused(exc: BaseException, spec: str) -> None:
    from reportgen.safety import network_message

    if network_message(exc):
        raise ModelError(f"hook {spec} tried to download: network access is disabled (reportgen runs offline)") from None


def _checked_array(result: Any, spec: str, n: int, expected_shape: tuple[Any, ...], dtype: Any) -> np.ndarray:
    if not isinstance(result, np.ndarray) and not hasattr(result, "__array__"):
        what = "None" if result is None else _a(type(result).__name__)
        raise ModelError(f"hook {spec} returned {what}, not an array")
    try:
        array = np.asarray(result, dtype=dtype)
        if not np.issubdtype(array.dtype, np.number):
            raise TypeError(f"its dtype is {array.dtype}")
    except (TypeError, ValueError) as exc:
        raise ModelError(f"hook {spec} returned an array that is not numeric: {describe(exc)}") from None
    expected = (n, *expected_shape)
    fits = array.ndim == len(expected) and all(e is None or a == e for a, e in zip(array.shape, expected))
    if not fits:
        raise ModelError(
            f"hook {spec} returned shape {_shape_text(array.shape)} but the model takes {_shape_text(expected)}"
        )
    if not np.isfinite(array).all():
        raise ModelError(f"hook {spec} returned NaN or infinite values")
    return array
