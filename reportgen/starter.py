"""`reportgen init`: read a model file and write a commented starter config with its preprocessing guessed."""

from __future__ import annotations

import glob
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import yaml

from reportgen.config import IMAGE_SUFFIXES, MODEL_SUFFIXES
from reportgen.errors import ModelError, UsageError

SCALE_CHOICES = "unit 0..1 | symmetric -1..1 | raw 0..255 | mobilenet_v2 etc. (keras.applications)"
TEXT_NOTE = (
    "# NOTE: this version of reportgen does not run text models yet (kind: text); this config follows the\n"
    "# planned format (DESIGN.md, contract 1) and will run once text models are supported.\n"
)

# Layers that move or crop pixels but leave their values alone: the search for a scaling layer looks past them.
_VALUE_PRESERVING = {
    "InputLayer", "Resizing", "CenterCrop", "Cropping2D", "ZeroPadding2D", "RandomFlip", "RandomRotation",
    "RandomZoom", "RandomTranslation", "RandomCrop", "Dropout", "SpatialDropout2D", "GaussianNoise",
}  # fmt: skip

# keras.applications models by the name Keras gives them -> the module whose preprocess_input they expect.
_APPLICATION_NAMES = [
    (r"mobilenet_[\d.]+_\d+", "mobilenet"), (r"mobilenetv2_[\d.]+_\d+", "mobilenet_v2"),
    (r"mobilenetv3(small|large)", "mobilenet_v3"), (r"resnet(50|101|152)", "resnet"),
    (r"resnet(50|101|152)v2", "resnet_v2"), (r"inception_v3", "inception_v3"),
    (r"inception_resnet_v2", "inception_resnet_v2"), (r"vgg16", "vgg16"), (r"vgg19", "vgg19"),
    (r"xception", "xception"), (r"densenet(121|169|201)", "densenet"), (r"efficientnetb\d", "efficientnet"),
    (r"efficientnetv2-\w+", "efficientnet_v2"), (r"nasnet_(mobile|large)", "nasnet"), (r"convnext_\w+", "convnext"),
]  # fmt: skip

# Pixel conventions as (name, the range the model is fed) and the ranges a network usually wants inside.
_CONVENTIONS = [("unit", (0.0, 1.0)), ("symmetric", (-1.0, 1.0)), ("raw", (0.0, 255.0))]
_NORMALISED = [(0.0, 1.0), (-1.0, 1.0)]


@dataclass(frozen=True)
class ModelFacts:
    """What `reportgen init` reads off a model file, and what it guesses from that."""

    rel: str  # the model file as the user named it
    input_shape: tuple[Optional[int], ...]  # without the batch dimension
    input_dtype: str
    num_inputs: int
    num_outputs: int
    output_names: list[str]  # with several outputs: their names
    output_name: Optional[str]  # with several outputs: the one the config explains
    output_width: int  # scores per output
    activation: str  # softmax | sigmoid | linear | unknown
    num_classes: int  # class names the config needs (one sigmoid unit: two)
    kind: str  # image | text (the model takes strings)
    size: Optional[tuple[int, int]] = None  # None: the model takes any size
    channels: Optional[int] = None
    color: Optional[str] = None  # rgb | grayscale
    scale: str = "unit"
    scale_reason: str = ""
    tokenizer: Optional[str] = None  # text models: words | chars
    outputs_shown: list[str] = field(default_factory=list)  # with several outputs: "name (3 scores, softmax)" each
    notes: list[str] = field(default_factory=list)  # things the user must check, one line each


def _check_model_file(path: Path, rel: str) -> None:
    if path.suffix.lower() not in MODEL_SUFFIXES:
        raise UsageError(f"{rel}: not a .keras or .h5 model file")
    if not path.is_file():
        raise UsageError(f"{rel}: no such model file")


def _tensor_name(tensor: Any) -> str:
    history = getattr(tensor, "_keras_history", None)
    return str(history.operation.name) if history is not None else str(getattr(tensor, "name", "?"))


def _output_name_supported() -> bool:
    """Whether this version can explain one output of several (the config's output_name key)."""
    from reportgen import model as km
    from reportgen.config import ModelEntry

    return "output_name" in ModelEntry.model_fields and hasattr(km, "select_output")


def _several_outputs(rel: str, names: list[str]) -> ModelError:
    return ModelError(
        f"{rel}: the model has {len(names)} outputs ({', '.join(names)}); this version of reportgen explains models "
        "with one output: save a model with only the output to explain"
    )


def _load(path: Path, rel: str) -> Any:
    from reportgen import model as km

    try:
        return km.load_model(path, rel)
    except ModelError as exc:
        # Older loaders refuse several outputs without naming them; safe mode has accepted the file by then.
        if re.search(r"the model has \d+ outputs;", str(exc)) is None:
            raise
        try:
            model = km.import_keras().saving.load_model(str(path), compile=False, safe_mode=True)
        except Exception:  # the original message says enough
            raise exc from None
        raise _several_outputs(rel, [_tensor_name(t) for t in model.outputs]) from None


def _choose_output(model: Any, rel: str) -> tuple[Any, str, list[str], list[str]]:
    """(the model reduced to one output, its name, every output's name and description) for a model with several."""
    from reportgen import model as km

    names = [_tensor_name(t) for t in model.outputs]
    if not _output_name_supported():
        raise _several_outputs(rel, names)
    usable, shown = [], []
    for name in names:
        single = km.select_output(model, name, rel)
        try:
            info = km.inspect(single)
        except ModelError:
            shown.append(f"{name} (not one score per class)")
            continue
        usable.append((info.activation not in ("softmax", "sigmoid"), len(usable), name, single))
        shown.append(f"{name} ({info.num_outputs} score{'s' if info.num_outputs != 1 else ''}, {info.activation})")
    if not usable:
        raise ModelError(f"{rel}: none of the model's outputs ({', '.join(names)}) gives one score per class")
    _rank, _i, name, single = min(usable, key=lambda u: u[:2])  # the first probability output, else the first
    return single, name, names, shown


def _flat_layers(model: Any) -> list[Any]:
    """The layers in order, nested models opened up (a model may start with a preprocessing Sequential)."""
    layers = []
    for layer in getattr(model, "layers", []):
        layers.append(layer)
        if getattr(layer, "layers", None):
            layers.extend(_flat_layers(layer))
    return layers


def _application_module(name: str) -> Optional[str]:
    from reportgen.applications import SCALE_MODULES

    for pattern, module in _APPLICATION_NAMES:
        if re.fullmatch(pattern, name.lower()) and module in SCALE_MODULES:
            return module
    return None


def _affine(layer: Any) -> Optional[tuple[float, float, str]]:
    """(scale, offset, description) of a Rescaling or Normalization layer: x -> x * scale + offset."""
    import numpy as np

    kind = type(layer).__name__
    if kind == "Rescaling":
        scale = float(np.mean(np.asarray(layer.scale, dtype=np.float64)))
        offset = float(np.mean(np.asarray(layer.offset, dtype=np.float64)))
        return scale, offset, f"Rescaling(scale={scale:.6g}, offset={offset:.6g})"
    if kind == "Normalization" and not getattr(layer, "invert", False):
        mean = float(np.mean(np.asarray(layer.mean, dtype=np.float64)))
        std = float(np.sqrt(np.mean(np.asarray(layer.variance, dtype=np.float64))))
        if std <= 0:
            return None
        return 1.0 / std, -mean / std, f"Normalization(mean={mean:.4g}, std={std:.4g})"
    return None


def _convention_for(scale: float, offset: float) -> Optional[str]:
    """The pixel range that this affine map brings to a normalised range (0..1 or -1..1), if one does."""
    best: Optional[tuple[float, str]] = None
    for name, (lo, hi) in _CONVENTIONS:
        out_lo, out_hi = sorted((lo * scale + offset, hi * scale + offset))
        width = out_hi - out_lo
        if not (0.5 <= width <= 6.0 and max(abs(out_lo), abs(out_hi)) <= 4.0):
            continue  # values far too small or too large for what a network is trained on
        distance = min(abs(out_lo - a) + abs(out_hi - b) for a, b in _NORMALISED)
        if best is None or distance < best[0]:  # ties keep the earlier: unit before symmetric before raw
            best = (distance, name)
    return best[1] if best else None


def _guess_scale(model: Any) -> tuple[str, str]:
    """(scale, why) from the first layers: a keras.applications model, or a layer that scales pixels itself."""
    module = _application_module(model.name)
    if module is not None:
        return module, f"the model is keras.applications' {model.name}: its own preprocess_input"
    for layer in _flat_layers(model):
        kind = type(layer).__name__
        if getattr(layer, "layers", None):
            module = _application_module(layer.name)
            if module is not None:
                return module, f"the model starts with keras.applications' {layer.name}: its own preprocess_input"
            continue
        affine = _affine(layer)
        if affine is not None:
            scale, offset, shown = affine
            convention = _convention_for(scale, offset)
            if convention is None:
                return "unit", f"CHECK: the model starts with {shown}, which fits no usual pixel range"
            lo, hi = dict(_CONVENTIONS)[convention]
            why = f"the model starts with {shown}, so it takes pixels in {lo:g}..{hi:g} and scales them itself"
            return convention, why
        if kind not in _VALUE_PRESERVING:
            break
    return "unit", "a guess: the model has no scaling layer of its own; use the scaling it was trained with"


def _guess_tokenizer(model: Any) -> str:
    for layer in _flat_layers(model):
        if type(layer).__name__ == "TextVectorization":
            return "chars" if layer.get_config().get("split") == "character" else "words"
    return "words"


def inspect_model(path: Path, rel: Optional[str] = None) -> ModelFacts:
    """Load a .keras/.h5 model safely (no compiling) and read what a starter config needs."""
    from reportgen import model as km

    rel = rel or path.as_posix()
    _check_model_file(path, rel)
    model = _load(path, rel)
    if len(model.inputs) != 1:
        shown = ", ".join(f"{_tensor_name(t)} {tuple(t.shape[1:])}" for t in model.inputs)
        n_inputs = len(model.inputs)
        raise ModelError(f"{rel}: the model has {n_inputs} inputs ({shown}); reportgen explains models with one input")
    num_outputs, output_name, output_names, outputs_shown = len(model.outputs), None, [], []
    if num_outputs > 1:
        model, output_name, output_names, outputs_shown = _choose_output(model, rel)
    try:
        info = km.inspect(model)
    except ModelError as exc:
        raise ModelError(f"{rel}: {exc}") from None
    dtype = str(getattr(model.inputs[0], "dtype", "float32"))
    _mode, _transform, num_classes = km.output_transform("auto", info, rel)
    common: dict[str, Any] = dict(
        rel=rel, input_shape=info.input_shape, input_dtype=dtype, num_inputs=len(model.inputs),
        num_outputs=num_outputs, output_names=output_names, output_name=output_name, outputs_shown=outputs_shown,
        output_width=info.num_outputs, activation=info.activation, num_classes=num_classes,
    )  # fmt: skip
    notes = []
    if output_name is not None:
        notes.append(f"output_name: the model has {num_outputs} outputs; the config explains {output_name}")
    if info.activation == "linear" and info.num_outputs == 1:
        notes.append("output: one linear unit (a single logit), which reportgen cannot turn into probabilities yet")
    elif info.activation == "unknown":
        notes.append("cannot tell the last layer's activation: check output (auto treats the outputs as probabilities)")
    if dtype == "string":
        return ModelFacts(**common, kind="text", tokenizer=_guess_tokenizer(model), notes=notes)
    shape = info.input_shape
    if len(shape) != 3 or shape[-1] not in (1, 3):
        raise ModelError(
            f"{rel}: the model takes inputs of shape {shape}; reportgen explains image models, which take "
            "(height, width, 1 or 3 channels), and text models, which take strings"
        )
    height, width, channels = shape
    size = (int(height), int(width)) if height is not None and width is not None else None
    if size is None:
        notes.append("the model accepts any image size: choose preprocess.size")
    scale, why = _guess_scale(model)
    if why.startswith(("a guess", "CHECK")):
        notes.append(f"preprocess.scale: {why}")
    color = "grayscale" if channels == 1 else "rgb"
    return ModelFacts(
        **common, kind="image", size=size, channels=int(channels), color=color, scale=scale, scale_reason=why,
        notes=notes,
    )  # fmt: skip


def _scalar(text: str) -> str:
    """A string as a YAML scalar: plain when that reads back the same, double-quoted otherwise."""
    if text and text == text.strip() and "\n" not in text:
        try:
            if yaml.safe_load(f"k: {text}") == {"k": text}:
                return text
        except yaml.YAMLError:
            pass
    return json.dumps(text, ensure_ascii=False)  # a JSON string is a YAML double-quoted scalar


class _Lines:
    """YAML lines with their comments lined up in one column."""

    COLUMN = 36

    def __init__(self) -> None:
        self.rows: list[tuple[str, str]] = []

    def add(self, code: str, comment: str = "") -> None:
        self.rows.append((code, comment))

    def note(self, indent: int, text: str) -> None:
        self.rows.append((" " * indent + f"# {text}", ""))

    def text(self) -> str:
        out = []
        for code, comment in self.rows:
            if comment:
                code = f"{code.ljust(self.COLUMN - 2)}  # {comment}"
            out.append(code.rstrip())
        return "\n".join(out) + "\n"


def _activation_comment(facts: ModelFacts) -> str:
    if facts.activation == "linear" and facts.output_width == 1:
        return "CHECK: one linear unit (a single logit), which reportgen cannot turn into probabilities yet"
    resolved = {"softmax": "probabilities", "sigmoid": "sigmoid", "linear": "logits, softmax applied"}
    if facts.activation in resolved:
        return f"auto | probabilities | logits | sigmoid; detected {facts.activation}: {resolved[facts.activation]}"
    return "auto | probabilities | logits | sigmoid; CHECK: last activation unknown, auto reads probabilities"


def starter_config(facts: ModelFacts, model_rel: str, inputs: list[str], title: str) -> str:
    """The starter config's YAML text: every key commented, class names and missing inputs as TODOs."""
    from reportgen.inputs import slugify

    name = slugify(Path(model_rel).stem)
    text_model = facts.kind == "text"
    n = facts.num_classes
    y = _Lines()
    y.note(0, f"reportgen config written by `reportgen init` from {facts.rel}.")
    y.note(0, "Fill in the TODOs, then run: reportgen validate <this file> && reportgen run <this file>")
    y.note(0, "Paths are relative to this file's folder. README.md (\"The config file\") describes every key.")
    y.add("")
    y.add(f"title: {_scalar(title)}", "the report's title")
    y.add(f"output: {_scalar('reports/' + name)}", "report folder: report.html, report.pdf, evidence.json, artifacts/")
    y.add("formats: [html, pdf]", "which report files to write")
    y.add("language: en", "the report's words: en | zh-CN")
    y.add("palette: colorblind", "for/against colours: colorblind | grayscale (for black-and-white printing)")
    y.add("seed: 0", "one seed for everything random: the same seed, the same explanations")
    y.add("models:")
    y.add(f"  - name: {_scalar(name)}", "unique name, shown in the report")
    y.add(f"    kind: {facts.kind}", "image | text" + (" (the model takes strings)" if text_model else ""))
    y.add(f"    path: {_scalar(model_rel)}", "the model file, loaded with safe_mode, never compiled")
    if facts.output_name is not None:
        y.note(4, f"TODO: the output to explain (the class names below are for {facts.output_name}); the model has:")
        y.note(4, f"  {', '.join(facts.outputs_shown)}")
        y.add(f"    output_name: {_scalar(facts.output_name)}")
    if facts.activation == "sigmoid" and facts.output_width == 1:
        y.note(4, "TODO: put your class names here, in output order (one sigmoid unit: two names, negative first)")
    else:
        scores = f"{n} score{'s' if n != 1 else ''}"
        y.note(4, f"TODO: put your class names here, in output order (the model gives {scores})")
    if n <= 12:
        y.add(f"    classes: {_placeholder_classes(n)}", "or classes_file: labels.txt (one name per line)")
    else:
        y.note(4, "(or classes_file: labels.txt, one name per line)")
        y.add(f"    classes: {_placeholder_classes(n)}")
    y.add("    output: auto", _activation_comment(facts))
    if text_model:
        y.add(f"    tokenizer: {facts.tokenizer}", "words (CJK characters one by one) | chars | regex:<pattern>")
    else:
        y.add("    preprocess:")
        if facts.size is None:
            y.note(6, "TODO: the model accepts any size; choose the [height, width] it was trained on")
            y.add("      size: [224, 224]", "[height, width] the model takes")
        else:
            y.add(f"      size: [{facts.size[0]}, {facts.size[1]}]", "[height, width], read from the model")
        y.add("      fit: stretch", "stretch | crop (the centre) | pad (with black) to that size")
        channels = f"{facts.channels} input channel{'s' if facts.channels != 1 else ''}"
        y.add(f"      color: {facts.color}", f"read from the model ({channels}); rgb | grayscale")
        y.note(6, f"scale: {facts.scale_reason}.")
        y.add(f"      scale: {facts.scale}", SCALE_CHOICES)
        y.add("      # hook: mypkg.prep:fn", "instead of scale: (batch of uint8 RGB images) -> model input")
    if inputs:
        y.add("    inputs:", "files and globs; or text: <a text>" if text_model else "files and globs (PNG, JPEG, ...)")
        for item in inputs:
            y.add(f"      - {_scalar(item)}")
    elif text_model:
        y.add("    inputs:", "text: <a text>, file: <a .txt file>, or files and globs")
        y.note(6, "TODO: the texts to explain; for example:")
        y.add("      - text: Replace this with a text the model should classify.")
        y.add("      # - file: texts/review_01.txt")
        y.add("      # - texts/*.txt")
    else:
        y.add("    inputs:", "image files and globs (PNG, JPEG, BMP, GIF, TIFF, WebP)")
        y.note(6, "TODO: the images to explain")
        y.add("      - images/*.png")
    y.add("    explain:")
    y.add(f"      num_samples: {5000 if text_model else 1000}", "perturbed samples per input: more is steadier, slower")
    y.add(f"      top_labels: {min(3, n)}", "explain the k most probable classes")
    if text_model:
        y.add("      num_features: 10", "words shown in the report")
    else:
        y.add("      num_features: 10", "superpixels shown in masks and tables (the surrogate uses all)")
        y.add("      hide_color: 0", "black: hides superpixels; 0-255 | [r, g, b] | image_mean | superpixel_mean")
        y.add("      segmentation: {algorithm: slic, n_segments: 50}", "or quickshift, felzenszwalb")
    return y.text()


def _placeholder_classes(n: int) -> str:
    """[class_0, class_1, ...] as a flow list, ten names a line when there are many."""
    names = [f"class_{i}" for i in range(n)]
    if n <= 12:
        return f"[{', '.join(names)}]"
    rows = [", ".join(names[i : i + 10]) for i in range(0, n, 10)]
    return "[" + ",\n      ".join(rows) + "]"


def _text_models_supported() -> bool:
    """Whether this version's config takes text models (DESIGN.md contract 1 gives them a tokenizer key)."""
    from reportgen.config import ModelEntry

    return "tokenizer" in ModelEntry.model_fields


def _relative(path: str, folder: Path) -> str:
    try:
        return Path(os.path.relpath(os.path.abspath(path), folder)).as_posix()
    except ValueError:  # another drive on Windows
        return Path(os.path.abspath(path)).as_posix()


def _check_inputs(inputs: list[str]) -> list[str]:
    """The inputs, each once; a missing file or a glob that matches nothing is a UsageError."""
    kept: list[str] = []
    for item in inputs:
        if glob.has_magic(item):
            if not any(Path(p).is_file() for p in glob.glob(item, recursive=True)):
                raise UsageError(f"{item}: matches no file")
        elif not Path(item).is_file():
            raise UsageError(f"{item}: no such input file")
        if item not in kept:
            kept.append(item)
    return kept


@dataclass(frozen=True)
class Starter:
    """What `reportgen init` wrote."""

    path: Path
    facts: ModelFacts
    notes: list[str]

    def summary(self) -> list[str]:
        """What the CLI prints: what was written, what to check, what to do next."""
        facts, shown = self.facts, self.path.as_posix()
        what = f"{facts.num_classes} classes ({facts.activation} output)"
        if facts.kind == "image":
            size = f"{facts.size[0]}x{facts.size[1]}" if facts.size else "any size"
            what = f"image model, {size} {facts.color}, {what}, scale: {facts.scale}"
        else:
            what = f"text model, {what}, tokenizer: {facts.tokenizer}"
        lines = [f"wrote {shown}: {what}"]
        lines += [f"  check: {note}" for note in self.notes]
        lines.append(f"next: put the class names (and any other TODO) in {shown}, then: reportgen run {shown}")
        return lines


def write_starter(model: Path, inputs: list[str], out: Path, force: bool = False) -> Starter:
    """Inspect `model` and write a starter config at `out`; paths inside are relative to out's folder."""
    shown_out = out.as_posix()
    if out.suffix.lower() not in (".yaml", ".yml"):
        raise UsageError(f"{shown_out}: --out names the config file to write, a .yaml file")
    if out.is_dir():
        raise UsageError(f"{shown_out}: is a folder; --out names the config file to write")
    if out.exists() and not force:
        raise UsageError(f"{shown_out}: exists; use --force to overwrite it")
    kept = _check_inputs(inputs)  # before loading the model: a typo should not cost TensorFlow's start-up
    facts = inspect_model(model, model.as_posix())
    if facts.kind == "image":
        for item in kept:
            if not glob.has_magic(item) and Path(item).suffix.lower() not in IMAGE_SUFFIXES:
                raise UsageError(f"{item}: not an image file ({', '.join(IMAGE_SUFFIXES)})")
    folder = out.absolute().parent
    model_rel = _relative(str(model), folder)
    title = f"{Path(model_rel).stem} trust report"
    text = starter_config(facts, model_rel, [_relative(i, folder) for i in kept], title)
    notes = list(facts.notes)
    if facts.kind == "text" and not _text_models_supported():
        text = TEXT_NOTE + text
        notes.append("this version of reportgen does not run text models yet; the config follows the planned format")
    else:
        from reportgen.config import parse

        parse(text, out.name)  # the starter itself must be valid: a failure here is a bug in init
    folder.mkdir(parents=True, exist_ok=True)
    with open(out, "w" if force else "x", encoding="utf-8") as f:
        f.write(text)
    return Starter(out, facts, notes)
