"""Defences for untrusted models and files: local regular files only, content checked, no code, no network.

docs/security.md lists what is defended and how; every defence here has a test that fails without it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import stat
import zipfile
from pathlib import Path
from typing import Any, Iterator, Optional

from reportgen.errors import ModelError, UsageError

# "hf://", "http://", "gs://", "s3://", "file://": Keras and TensorFlow would fetch some of these themselves.
REMOTE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")

MAGIC = {b"PK\x03\x04": "a zip archive (a .keras model?)", b"\x89HDF\r\n\x1a\n": "an HDF5 file (an .h5 model?)"}
# What each extension must hold, and how a mismatch is told.
EXPECTED = {
    ".keras": (b"PK\x03\x04", "not a .keras model (a .keras file is a zip archive; this one is {found})"),
    ".h5": (b"\x89HDF\r\n\x1a\n", "not an HDF5 file (a .h5 model is HDF5; this one is {found})"),
    ".hdf5": (b"\x89HDF\r\n\x1a\n", "not an HDF5 file (a .h5 model is HDF5; this one is {found})"),
}

# Names a model config must never mention: code runners, the unsafe-deserialization switch, downloaders.
DENIED_NAME = re.compile(
    r"(?<![\w.])(?:os|posix|nt|subprocess|builtins|importlib|shutil|socket|ctypes|pty|pickle|marshal|sys)\.\w+"
    r"|enable_unsafe_deserialization|get_file|__import__|\beval\b|\bexec\b"
)
# Layers that run Python code or load a graph from elsewhere; Keras' safe_mode refuses them too.
DENIED_LAYERS = {"Lambda": "a Lambda layer with Python code", "TFSMLayer": "a TFSMLayer that loads an outside SavedModel"}


class NetworkDisabled(ConnectionRefusedError):
    """Raised instead of opening a connection during a run."""


def is_remote(given: str) -> bool:
    """True for a URL-like path (hf://, http://, gs://...), which reportgen never fetches."""
    return bool(REMOTE.match(given))


def file_problem(path: Path) -> Optional[str]:
    """Why `path` cannot be read as an input file (missing, or not a regular file), or None; never opens it."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "does not exist"
    except OSError as exc:
        return f"cannot be read ({exc.strerror})"
    if stat.S_ISDIR(mode):
        return "is a folder, not a file"
    if not stat.S_ISREG(mode):
        # A FIFO would block a reader forever and /dev/zero never ends.
        return "is not a regular file (a device, pipe or socket)"
    return None


def check_model_file(path: Path, rel: str) -> None:
    """Refuse a model file whose bytes are not what its extension says, or whose config names dangerous things."""
    with open(path, "rb") as f:
        head = f.read(8)
    expected = EXPECTED.get(path.suffix.lower())
    if expected is not None and not head.startswith(expected[0]):
        found = next((kind for prefix, kind in MAGIC.items() if head.startswith(prefix)), "not, or is truncated")
        raise ModelError(f"{rel}: " + expected[1].format(found=found))
    config = _model_config(path, rel)
    if config is not None:
        scan_config(config, rel)


def _model_config(path: Path, rel: str) -> Optional[Any]:
    """The model's architecture as JSON, read without Keras: config.json in a .keras, model_config in an .h5."""
    try:
        if path.suffix.lower() == ".keras":
            with zipfile.ZipFile(path) as archive:
                if "config.json" not in archive.namelist():
                    raise ModelError(f"{rel}: not a Keras model archive (no config.json inside)")
                if archive.getinfo("config.json").file_size > 64 * 2**20:
                    raise ModelError(f"{rel}: config.json inside the archive is over 64 MiB")
                return json.loads(archive.read("config.json"))
        import h5py

        with h5py.File(path, "r") as h5:
            raw = h5.attrs.get("model_config")
            if raw is None:
                return None  # a weights-only file: nothing to deserialize
            return json.loads(raw.decode("utf-8") if isinstance(raw, bytes) else raw)
    except ModelError:
        raise
    except (zipfile.BadZipFile, OSError, ValueError, UnicodeDecodeError) as exc:
        raise ModelError(f"{rel}: cannot read the model's architecture: {exc}") from None


def scan_config(config: Any, rel: str) -> None:
    """Walk a model config; a denied layer or a name outside Keras is refused before Keras sees the file."""
    stack = [config]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            class_name = node.get("class_name")
            if isinstance(class_name, str) and class_name in DENIED_LAYERS:
                raise ModelError(f"{rel}: refused: the model holds {DENIED_LAYERS[class_name]}, which reportgen never runs")
            module = node.get("module")
            if isinstance(module, str) and module != "keras" and not module.startswith("keras."):
                raise ModelError(f"{rel}: refused: the model's config names '{module}.{class_name}', outside Keras")
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, str) and (match := DENIED_NAME.search(node)):
            raise ModelError(f"{rel}: refused: the model's config names '{match.group(0)}'")


def is_saved_model(path: Path) -> bool:
    """True for a TensorFlow SavedModel folder."""
    return path.is_dir() and (path / "saved_model.pb").is_file()


# --- the process: Keras 3 on TensorFlow, with reportgen's own Keras home --------------------------------

_user_keras_home: Optional[str] = None
_private_home: Optional[str] = None
_prepared = False


def prepare_keras_environment() -> None:
    """Before Keras is imported: refuse legacy Keras and other backends; give Keras a private, clean home.

    A private KERAS_HOME means a hostile ~/.keras/keras.json (another image_data_format or floatx) cannot
    change results. The user's own folder stays readable for application weights (user_keras_home()).
    """
    global _user_keras_home, _private_home, _prepared
    if _prepared:
        return
    legacy = os.environ.get("TF_USE_LEGACY_KERAS", "").strip().lower()
    if legacy in ("1", "true", "yes"):
        raise UsageError("TF_USE_LEGACY_KERAS is set: reportgen needs Keras 3 (unset TF_USE_LEGACY_KERAS)")
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    if backend != "tensorflow":
        raise UsageError(f"KERAS_BACKEND is '{backend}': reportgen needs the tensorflow backend")
    import sys

    if "keras" not in sys.modules:
        import atexit
        import shutil
        import tempfile

        _user_keras_home = os.environ.get("KERAS_HOME")
        home = tempfile.mkdtemp(prefix="reportgen-keras-")
        atexit.register(shutil.rmtree, home, True)
        with open(os.path.join(home, "keras.json"), "w", encoding="utf-8") as f:
            json.dump({"floatx": "float32", "epsilon": 1e-07, "backend": "tensorflow",
                       "image_data_format": "channels_last"}, f)  # fmt: skip
        os.environ["KERAS_HOME"] = _private_home = home
    os.environ["KERAS_BACKEND"] = "tensorflow"
    _prepared = True


def user_keras_home() -> Path:
    """The user's Keras folder (their KERAS_HOME, else ~/.keras), where application weights are looked for."""
    given = os.environ.get("KERAS_HOME")
    if given is not None and given == _private_home:
        given = _user_keras_home
    return Path(given) if given else Path.home() / ".keras"


# --- no network during a run -------------------------------------------------------------------------------


def _refuse(*_args: Any, **_kwargs: Any) -> Any:
    raise NetworkDisabled("network access is disabled: reportgen never downloads (put the file on disk and name it)")


@contextlib.contextmanager
def no_network() -> Iterator[None]:
    """Inside: every Python-level connection or name lookup fails at once with NetworkDisabled."""
    saved = (socket.socket.connect, socket.socket.connect_ex, socket.create_connection, socket.getaddrinfo)

    def connect(self: socket.socket, address: Any) -> Any:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            _refuse()
        return saved[0](self, address)

    def connect_ex(self: socket.socket, address: Any) -> Any:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            _refuse()
        return saved[1](self, address)

    socket.socket.connect, socket.socket.connect_ex = connect, connect_ex  # type: ignore[method-assign]
    socket.create_connection, socket.getaddrinfo = _refuse, _refuse  # type: ignore[assignment]
    try:
        yield
    finally:
        socket.socket.connect, socket.socket.connect_ex, socket.create_connection, socket.getaddrinfo = saved  # type: ignore[method-assign]


def network_message(exc: BaseException) -> Optional[str]:
    """Our one message when an error (possibly wrapped by a library) comes from the network guard."""
    seen: set[int] = set()
    current: Optional[BaseException] = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, NetworkDisabled) or "network access is disabled" in str(current):
            return "network access is disabled"
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None

