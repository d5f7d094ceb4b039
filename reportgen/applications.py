"""keras.applications models by class name, with weights from local files only: reportgen never downloads."""

from __future__ import annotations

import difflib
import functools
import hashlib
import re
import warnings
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, Optional

from reportgen.errors import ModelError, describe

if TYPE_CHECKING:
    import numpy as np

# Nothing here imports Keras or numpy at module level: config.py validates names against these tables cheaply.

_GCS = "https://storage.googleapis.com/tensorflow/keras-applications/"


@dataclass(frozen=True)
class AppSpec:
    """What reportgen knows of one keras.applications model (its default configuration, with top)."""

    module: str  # the keras.applications module whose preprocess_input the model expects
    size: int  # default input height and width
    file_name: str  # Keras' cache name of the ImageNet weights (include_top=True, default alpha)
    url: str  # where Keras downloads that file from (shown to users, never fetched)
    file_hash: Optional[str]  # as Keras passes it to get_file: md5 (32 hex) or sha256 (64 hex); None: Keras has none


def _spec(module: str, size: int, folder: str, file_name: str, file_hash: Optional[str], url_name: str = "") -> AppSpec:
    return AppSpec(module, size, file_name, f"{_GCS}{folder}/{url_name or file_name}", file_hash)


def _top(prefix: str) -> str:
    return f"{prefix}_weights_tf_dim_ordering_tf_kernels.h5"


# File names, URLs and hashes are those of keras/src/applications/*.py in Keras 3.15
# (tests/test_applications.py checks every hash against the installed Keras source).
APPLICATIONS: dict[str, AppSpec] = {
    "ConvNeXtTiny": _spec("convnext", 224, "convnext", "convnext_tiny.h5",
                          "8ae6e78ce2933352b1ef4008e6dd2f17bc40771563877d156bc6426c7cf503ff"),
    "ConvNeXtSmall": _spec("convnext", 224, "convnext", "convnext_small.h5",
                           "ce1277d8f1ee5a0ef0e171469089c18f5233860ceaf9b168049cb9263fd7483c"),
    "ConvNeXtBase": _spec("convnext", 224, "convnext", "convnext_base.h5",
                          "52cbb006d3dadd03f6e095a8ca1aca47aecdd75acb4bc74bce1f5c695d0086e6"),
    "ConvNeXtLarge": _spec("convnext", 224, "convnext", "convnext_large.h5",
                           "070c5ed9ed289581e477741d3b34beffa920db8cf590899d6d2c67fba2a198a6"),
    "ConvNeXtXLarge": _spec("convnext", 224, "convnext", "convnext_xlarge.h5",
                            "c1f5ccab661354fc3a79a10fa99af82f0fbf10ec65cb894a3ae0815f17a889ee"),
    "DenseNet121": _spec("densenet", 224, "densenet", _top("densenet121"), "9d60b8095a5708f2dcce2bca79d332c7"),
    "DenseNet169": _spec("densenet", 224, "densenet", _top("densenet169"), "d699b8f76981ab1b30698df4c175e90b"),
    "DenseNet201": _spec("densenet", 224, "densenet", _top("densenet201"), "1ceb130c1ea1b78c3bf6114dbdfd8807"),
    "InceptionResNetV2": _spec("inception_resnet_v2", 299, "inception_resnet_v2", _top("inception_resnet_v2"),
                               "e693bd0210a403b3192acc6073ad2e96"),
    "InceptionV3": _spec("inception_v3", 299, "inception_v3", _top("inception_v3"), "9a0d58056eeedaa3f26cb7ebd46da564"),
    "MobileNet": _spec("mobilenet", 224, "mobilenet", "mobilenet_1_0_224_tf.h5", None),
    "MobileNetV2": _spec("mobilenet_v2", 224, "mobilenet_v2",
                         "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224.h5", None),
    "MobileNetV3Large": _spec("mobilenet_v3", 224, "mobilenet_v3", "weights_mobilenet_v3_large_224_1.0_float.h5",
                              "59e551e166be033d707958cf9e29a6a7"),
    "MobileNetV3Small": _spec("mobilenet_v3", 224, "mobilenet_v3", "weights_mobilenet_v3_small_224_1.0_float.h5",
                              "8768d4c2e7dee89b9d02b2d03d65d862"),
    # Keras caches the NASNet files under another name than the one they have on the server.
    "NASNetLarge": _spec("nasnet", 331, "nasnet", "nasnet_large.h5", "11577c9a518f0070763c2b964a382f17",
                         url_name="NASNet-large.h5"),
    "NASNetMobile": _spec("nasnet", 224, "nasnet", "nasnet_mobile.h5", "020fb642bf7360b370c678b08e0adf61",
                          url_name="NASNet-mobile.h5"),
    "ResNet50": _spec("resnet", 224, "resnet", _top("resnet50"), "2cb95161c43110f7111970584f804107"),
    "ResNet101": _spec("resnet", 224, "resnet", _top("resnet101"), "f1aeb4b969a6efcfb50fad2f0c20cfc5"),
    "ResNet152": _spec("resnet", 224, "resnet", _top("resnet152"), "100835be76be38e30d865e96f2aaae62"),
    "ResNet50V2": _spec("resnet_v2", 224, "resnet", _top("resnet50v2"), "3ef43a0b657b3be2300d5770ece849e0"),
    "ResNet101V2": _spec("resnet_v2", 224, "resnet", _top("resnet101v2"), "6343647c601c52e1368623803854d971"),
    "ResNet152V2": _spec("resnet_v2", 224, "resnet", _top("resnet152v2"), "a49b44d1979771252814e80f8ec446f9"),
    "VGG16": _spec("vgg16", 224, "vgg16", _top("vgg16"), "64373286793e3c8b2b4e3219cbf3544b"),
    "VGG19": _spec("vgg19", 224, "vgg19", _top("vgg19"), "cbe5617147190e668d6c5d5026f83318"),
    "Xception": _spec("xception", 299, "xception", _top("xception"), "0a58e3b7378bc2990ea3b43d5981f1f6"),
}  # fmt: skip

# EfficientNet files live in another bucket; the V2 family in a folder of its own.
for _i, (_size, _hash) in enumerate([
    (224, "902e53a9f72be733fc0bcb005b3ebbac"), (240, "1d254153d4ab51201f1646940f018540"),
    (260, "b15cce36ff4dcbd00b6dd88e7857a6ad"), (300, "ffd1fdc53d0ce67064dc6a9c7960ede0"),
    (380, "18c95ad55216b8f92d7e70b3a046e2fc"), (456, "ace28f2a6363774853a83a0b21b9421a"),
    (528, "165f6e37dce68623721b423839de8be5"), (600, "8c03f828fec3ef71311cd463b6759d99"),
]):  # fmt: skip
    APPLICATIONS[f"EfficientNetB{_i}"] = AppSpec(
        "efficientnet", _size, f"efficientnetb{_i}.h5",
        f"https://storage.googleapis.com/keras-applications/efficientnetb{_i}.h5", _hash,
    )  # fmt: skip
for _suffix, _size, _hash in [
    ("B0", 224, "21ecbf6da12460d5c40bb2f29ceb2188"), ("B1", 240, "069f0534ff22adf035c89e2d9547a9dc"),
    ("B2", 260, "424e49f28180edbde1e94797771950a7"), ("B3", 300, "1f1fc43bd98a6e4fd8fdfd551e02c7a0"),
    ("S", 384, "e1d88a8495beba45748fedd0cecbe016"), ("M", 480, "a3bf6aa3276309f4fc6a34aa114c95cd"),
    ("L", 480, "27e6d408b53c7ebc868fefa357689935"),
]:  # fmt: skip
    APPLICATIONS[f"EfficientNetV2{_suffix}"] = _spec(
        "efficientnet_v2", _size, "efficientnet_v2", f"efficientnetv2-{_suffix.lower()}.h5", _hash
    )
del _i, _size, _hash, _suffix

# Modules whose preprocess_input `preprocess.scale` may name; resnet50 is Keras' alias of resnet.
SCALE_MODULES: tuple[str, ...] = tuple(sorted({spec.module for spec in APPLICATIONS.values()} | {"resnet50"}))

# Constructor options that leave the ImageNet weights file unchanged (the others pick another file or shape).
_IMAGENET_OPTIONS = {"classifier_activation"}
_FORBIDDEN_OPTIONS = {"weights", "input_tensor"}


def did_you_mean(name: str, choices: Any) -> str:
    """' (did you mean 'X' or 'Y'?)' for the choices closest to name, ignoring case; '' when none is close."""
    by_lower = {c.lower(): c for c in choices}
    close = difflib.get_close_matches(name.lower(), list(by_lower), n=3, cutoff=0.6)
    if not close:
        return ""
    return " (did you mean " + " or ".join(f"'{by_lower[c]}'" for c in close) + "?)"


def _keras() -> Any:
    from reportgen.model import import_keras

    return import_keras()


def _exposed_applications(keras: Any) -> list[str]:
    apps = keras.applications
    return sorted(n for n in dir(apps) if n[:1].isupper() and callable(getattr(apps, n)))


def _application_class(keras: Any, name: str) -> Callable[..., Any]:
    exposed = _exposed_applications(keras)
    if name not in exposed:
        raise ModelError(f"'{name}' is not a keras.applications model{did_you_mean(name, exposed)}")
    return getattr(keras.applications, name)


def _module_of(keras: Any, name: str) -> str:
    if name in APPLICATIONS:
        return APPLICATIONS[name].module
    # A model newer than this table: the module it is defined in (keras.src.applications.<module>),
    # or else a public module that exports it.
    apps = keras.applications
    defined_in = getattr(getattr(apps, name), "__module__", "").rpartition(".")[2]
    candidates = [defined_in] + sorted(
        n for n in dir(apps) if getattr(getattr(apps, n), name, None) is getattr(apps, name)
    )
    for module_name in candidates:
        if module_name[:1].islower() and hasattr(getattr(apps, module_name, None), "preprocess_input"):
            return module_name
    raise ModelError(f"cannot tell which keras.applications module's preprocess_input {name} expects")


def keras_models_dir() -> Path:
    """The folder application weights are looked for in: the user's $KERAS_HOME/models, else ~/.keras/models."""
    from reportgen.safety import user_keras_home

    # The user's folder, not the private Keras home reportgen gives Keras while it runs.
    return user_keras_home().expanduser() / "models"


def _show(path: Path) -> str:
    # The folder must be named exactly, but without the user's home folder spelt out.
    try:
        return "~/" + path.relative_to(Path.home()).as_posix()
    except ValueError:
        return str(path)


def file_digest(path: Path, algorithm: str) -> str:
    """The hex digest of a file, read in chunks."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def imagenet_weights_path(name: str, rel: str) -> Path:
    """The verified local copy of an application's ImageNet weights; a missing or altered file is a ModelError."""
    spec = APPLICATIONS.get(name)
    if spec is None:
        raise ModelError(
            f"{rel}: reportgen does not know where Keras keeps the ImageNet weights of '{name}'"
            f"{did_you_mean(name, APPLICATIONS)}; give `weights:` a path to a weights file instead"
        )
    folder = keras_models_dir()
    path = folder / spec.file_name
    if not path.is_file():
        raise ModelError(
            f"{rel}: the ImageNet weights of {name} are not on this machine: put {spec.file_name} in {_show(folder)}"
            f" (the folder is $KERAS_HOME/models when KERAS_HOME is set); it can be downloaded from {spec.url}"
            " (reportgen never downloads)"
        )
    if spec.file_hash is not None:
        algorithm = "sha256" if len(spec.file_hash) == 64 else "md5"
        try:
            actual = file_digest(path, algorithm)
        except OSError as exc:
            raise ModelError(f"{rel}: cannot read {_show(path)}: {exc.strerror}") from None
        if actual != spec.file_hash:
            raise ModelError(
                f"{rel}: refused: {spec.file_name} in {_show(folder)} is not the file Keras publishes for {name}"
                f" ({algorithm} {actual}, expected {spec.file_hash}); replace it with a fresh copy from {spec.url}"
            )
    return path


def _check_weights_file(path: Path, rel: str) -> None:
    if not path.is_file():
        raise ModelError(f"{rel}: weights file does not exist")
    name = path.name.lower()
    if name.endswith((".h5", ".hdf5")):
        import h5py

        if not h5py.is_hdf5(str(path)):
            raise ModelError(f"{rel}: not an HDF5 file (a .h5 weights file is HDF5; this one is not, or is truncated)")
    elif not name.endswith(".keras"):
        raise ModelError(f"{rel}: not a weights file (expected .weights.h5, .h5 or .keras)")


def build_application(name: str, weights: str | Path, rel: str, options: Optional[Mapping[str, Any]] = None) -> Any:
    """Build keras.applications.<name> without weights, then load `weights` (imagenet or a local file) into it."""
    options = dict(options or {})
    bad = sorted(set(options) & _FORBIDDEN_OPTIONS)
    if bad:
        raise ModelError(f"{rel}: the option '{bad[0]}' cannot be given to {name}")
    keras = _keras()
    constructor = _application_class(keras, name)
    if isinstance(weights, str) and weights == "imagenet":
        extra = sorted(set(options) - _IMAGENET_OPTIONS)
        if extra:
            raise ModelError(
                f"{rel}: with ImageNet weights {name} is built as published; the option '{extra[0]}' would change it"
            )
        path = imagenet_weights_path(name, rel)
    else:
        path = Path(weights)
        _check_weights_file(path, rel)
    try:
        # weights=None always: with "imagenet" Keras would download, which reportgen never does.
        model = constructor(weights=None, **options)
    except (TypeError, ValueError) as exc:
        raise ModelError(f"{rel}: cannot build {name}: {describe(exc)}") from None
    try:
        with warnings.catch_warnings():
            # Keras warns once per layer it skips; a mismatch is reported below as one line instead.
            warnings.simplefilter("ignore", UserWarning)
            model.load_weights(str(path))
    except Exception as exc:  # h5py and Keras raise many types; all mean "these weights do not fit"
        raise ModelError(f"{rel}: cannot load the weights into {name}: {_load_failure(exc, path, rel)}") from None
    return model


def _load_failure(exc: BaseException, path: Path, rel: str) -> str:
    # Keras' message spans pages (it prints the variable's values); keep what a user can act on.
    text = str(exc)
    count = re.match(r"A total of (\d+) objects could not be loaded", text)
    layer = re.search(r"Example error message for object <\w+ name=([^,>]+)", text)
    shapes = re.search(r"variable\.shape=(\([^)]*\)), Received: value\.shape=(\([^)]*\))", text)
    if count and layer:
        n = int(count.group(1))
        what = f"{n} layer{'s' if n > 1 else ''} of the model do{'' if n > 1 else 'es'} not match the file, e.g. {layer.group(1)}"
        if shapes:
            what += f" (the model has shape {shapes.group(1)}, the file {shapes.group(2)})"
        return what
    return describe(exc, path, rel)


def application_info(name: str) -> tuple[str, tuple[int, int], Callable[..., Any]]:
    """(module name, default (height, width), the module's preprocess_input) of a keras.applications model."""
    keras = _keras()
    constructor = _application_class(keras, name)
    module_name = _module_of(keras, name)
    preprocess = getattr(keras.applications, module_name).preprocess_input
    if name in APPLICATIONS:
        size = (APPLICATIONS[name].size, APPLICATIONS[name].size)
    else:
        # Unknown to the table: build it once without weights and read its input shape (slow, but right);
        # a model that takes any size gets ImageNet's usual 224.
        shape = constructor(weights=None).inputs[0].shape
        size = (int(shape[1] or 224), int(shape[2] or 224))
    return module_name, size, preprocess


def scale_fn(module_name: str) -> Callable[[np.ndarray], np.ndarray]:
    """For `preprocess.scale: <module>`: float32 batch (n, h, w, 3) in 0..255 -> the model's input, via preprocess_input."""
    keras = _keras()
    apps = keras.applications
    available = sorted(
        n for n in dir(apps)
        if n[:1].islower() and n != "imagenet_utils" and hasattr(getattr(apps, n), "preprocess_input")
    )  # fmt: skip
    if module_name not in available:
        hint = did_you_mean(module_name, available)
        raise ModelError(f"'{module_name}' is not a keras.applications module with preprocess_input{hint}")
    preprocess = getattr(apps, module_name).preprocess_input
    import numpy as np

    def scale(batch: np.ndarray) -> np.ndarray:
        # A copy: several preprocess_input functions work in place on float arrays.
        return np.asarray(preprocess(np.array(batch, dtype=np.float32)), dtype=np.float32)

    scale.__name__ = f"{module_name}_preprocess_input"
    return scale


def imagenet_classes() -> list[str]:
    """The 1000 ImageNet class names in index order, as Keras' decode_predictions names them, made readable."""
    return list(_imagenet_classes())


@functools.lru_cache(maxsize=1)
def _imagenet_classes() -> tuple[str, ...]:
    # Keras' imagenet_class_index.json (md5 c2c37ea517e94d9795004a39431a14cb, the hash Keras checks) with
    # underscores as spaces; its two repeated names are told apart: crane (bird) 134 / crane (machine) 517,
    # maillot 638 / maillot (tank suit) 639.
    text = (resources.files("reportgen") / "data" / "imagenet_classes.txt").read_text(encoding="utf-8")
    return tuple(text.splitlines())
