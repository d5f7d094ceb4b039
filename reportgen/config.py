"""The config file (DESIGN.md contract 1): YAML, validated with pydantic, paths resolved against its folder."""

from __future__ import annotations

import difflib
from typing import Any, Literal, Optional, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from reportgen.applications import APPLICATIONS, SCALE_MODULES, did_you_mean
from reportgen.errors import ConfigError

MODEL_SUFFIXES = (".keras", ".h5", ".hdf5")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")

# Each segmentation algorithm's parameters and their defaults; lime's own defaults for quickshift.
SEGMENTATION_DEFAULTS: dict[str, dict[str, float | int]] = {
    "slic": {"n_segments": 50, "compactness": 20.0, "sigma": 1.0},
    "quickshift": {"kernel_size": 4.0, "max_dist": 200.0, "ratio": 0.2},
    "felzenszwalb": {"scale": 100.0, "sigma": 0.8, "min_size": 20},
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Segmentation(_Strict):
    algorithm: Literal["slic", "quickshift", "felzenszwalb"] = "slic"
    n_segments: Optional[int] = Field(default=None, ge=1)
    compactness: Optional[float] = Field(default=None, gt=0)
    sigma: Optional[float] = Field(default=None, ge=0)
    kernel_size: Optional[float] = Field(default=None, gt=0)
    max_dist: Optional[float] = Field(default=None, gt=0)
    ratio: Optional[float] = Field(default=None, ge=0, le=1)
    scale: Optional[float] = Field(default=None, gt=0)
    min_size: Optional[int] = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _fill_defaults(self) -> "Segmentation":
        allowed = SEGMENTATION_DEFAULTS[self.algorithm]
        for key in type(self).model_fields:
            if key != "algorithm" and getattr(self, key) is not None and key not in allowed:
                raise ValueError(f"'{key}' is not a parameter of {self.algorithm} (it takes {', '.join(allowed)})")
        for key, value in allowed.items():
            if getattr(self, key) is None:
                object.__setattr__(self, key, value)
        return self

    def params(self) -> dict[str, float | int]:
        """The algorithm's parameters, defaults filled in."""
        return {key: getattr(self, key) for key in SEGMENTATION_DEFAULTS[self.algorithm]}


HideColor = Union[Literal["image_mean", "superpixel_mean"], int, list[int]]


class Explain(_Strict):
    num_samples: int = Field(default=1000, ge=10, le=1_000_000)
    top_labels: int = Field(default=3, ge=1)
    num_features: int = Field(default=10, ge=1)
    hide_color: HideColor = 0
    segmentation: Segmentation = Field(default_factory=Segmentation)
    batch_size: int = Field(default=64, ge=1, le=4096)
    bow: bool = True  # text models: one weight per distinct word (True) or per position (False)

    @field_validator("hide_color", mode="before")
    @classmethod
    def _check_hide_color(cls, value: Any) -> Any:
        def is_byte(v: Any) -> bool:
            return isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 255

        ok = (
            value in ("image_mean", "superpixel_mean")
            or is_byte(value)
            or (isinstance(value, list) and len(value) == 3 and all(is_byte(v) for v in value))
        )
        if not ok:
            raise ValueError("expected a value from 0 to 255, [r, g, b], image_mean or superpixel_mean")
        return value


class Thresholds(_Strict):
    """Where a trust figure stops being good enough; each failed one adds a reason to the explanation's verdict."""

    # Defaults from the sample models (docs/trust-metrics.md): 20-100 samples fail them all, 5000 mostly pass.
    min_jaccard: float = Field(default=0.4, ge=0, le=1)  # stability: mean top-k overlap with the main run
    min_rank_correlation: float = Field(default=0.4, ge=-1, le=1)  # stability: mean Spearman with the main run
    max_sign_flips: float = Field(default=0.2, ge=0, le=1)  # stability: share of top-k features flipping sign
    min_fresh_r2: float = Field(default=0.2, le=1)  # fidelity: the surrogate's weighted R^2 on fresh samples
    min_deletion_drop: float = 0.0  # faithfulness: random deletion area minus the explanation's
    min_insertion_gain: float = 0.0  # faithfulness: the explanation's insertion area minus random's


class Trust(_Strict):
    """How each explanation's trust figures are measured (docs/trust-metrics.md)."""

    stability_runs: int = Field(default=3, ge=0, le=50)  # extra explanations with derived seeds; 0: off
    fresh_samples: int = Field(default=200, ge=0, le=1_000_000)  # held-out samples for the fresh R^2; 0: off
    curve_steps: int = Field(default=20, ge=0, le=1000)  # points of the deletion/insertion curves; 0: off
    random_orders: int = Field(default=3, ge=1, le=100)  # random orders averaged into the curves' baseline
    negligible_weight: float = Field(default=0.05, ge=0, lt=1)  # |weight| under this share of the largest: no evidence
    max_agreement_gap: float = Field(default=0.2, ge=0, le=1)
    max_sanity_correlation: float = Field(default=0.5, ge=-1, le=1)
    thresholds: Thresholds = Field(default_factory=Thresholds)

    @field_validator("curve_steps")
    @classmethod
    def _check_steps(cls, value: int) -> int:
        if value == 1:
            raise ValueError("a curve needs at least 2 steps (0 turns the curves off)")
        return value


def overlay(base: BaseModel, over: BaseModel) -> BaseModel:
    """`base` with every key that was set in `over` taken from it (nested settings merged key by key)."""
    update: dict[str, Any] = {}
    for key in over.model_fields_set:
        value, under = getattr(over, key), getattr(base, key)
        update[key] = overlay(under, value) if isinstance(value, BaseModel) and isinstance(under, BaseModel) else value
    return base.model_copy(update=update)


class Preprocess(_Strict):
    size: Optional[tuple[int, int]] = None
    fit: Literal["stretch", "crop", "pad"] = "stretch"
    color: Optional[Literal["rgb", "grayscale"]] = None
    scale: str = "unit"
    hook: Optional[str] = None

    @field_validator("scale")
    @classmethod
    def _check_scale(cls, value: str) -> str:
        if value in ("unit", "symmetric", "raw") or value in SCALE_MODULES:
            return value
        hint = did_you_mean(value, ("unit", "symmetric", "raw", *SCALE_MODULES))
        raise ValueError(f"expected unit, symmetric, raw or a keras.applications module such as inception_v3{hint}")

    @field_validator("hook")
    @classmethod
    def _check_hook(cls, value: Optional[str]) -> Optional[str]:
        if value is not None and (":" not in value or not value.rpartition(":")[2]):
            raise ValueError("expected module:function or path/to/file.py:function")
        return value

    @model_validator(mode="after")
    def _hook_or_scale(self) -> "Preprocess":
        if self.hook is not None and "scale" in self.model_fields_set:
            raise ValueError("give scale or hook, not both (a hook returns the model's input itself)")
        return self

    @field_validator("size", mode="before")
    @classmethod
    def _check_size(cls, value: Any) -> Any:
        ok = (
            isinstance(value, (list, tuple))
            and len(value) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)
        )
        if value is not None and not ok:
            raise ValueError("expected two positive integers [height, width]")
        return value


class TextInput(_Strict):
    text: str


class FileInput(_Strict):
    file: str = Field(min_length=1)


class TableInput(_Strict):
    table: str = Field(min_length=1)  # a .csv or .jsonl file, one text per row
    column: str = Field(default="text", min_length=1)
    id_column: Optional[str] = None
    limit: Optional[int] = Field(default=None, ge=1)


InputEntry = Union[str, TextInput, FileInput, TableInput]
IMAGE_ONLY_EXPLAIN = ("hide_color", "segmentation")
TEXT_ONLY_EXPLAIN = ("bow",)
TEXT_ONLY_KEYS = ("tokenizer", "vocabulary", "max_len", "lowercase", "oov_index", "pad")


class ModelEntry(_Strict):
    name: str = Field(min_length=1)
    kind: Literal["image", "text"] = "image"
    path: Optional[str] = Field(default=None, min_length=1)
    application: Optional[str] = None  # a keras.applications model, e.g. InceptionV3, instead of path
    weights: Optional[str] = Field(default=None, min_length=1)  # with application: imagenet | path/to/weights.h5
    classes: Optional[list[str]] = Field(default=None, min_length=1)
    classes_file: Optional[str] = None
    output: Literal["auto", "probabilities", "logits", "sigmoid"] = "auto"
    output_name: Optional[str] = Field(default=None, min_length=1)
    preprocess: Preprocess = Field(default_factory=Preprocess)
    tokenizer: str = "words"  # text models: words | chars | regex:<pattern>
    vocabulary: Optional[str] = None  # text models taking token ids: one token per line, index = line number
    max_len: Optional[int] = Field(default=None, ge=1)
    lowercase: bool = True
    oov_index: int = Field(default=1, ge=0)
    pad: Literal["pre", "post"] = "post"
    inputs: list[InputEntry] = Field(min_length=1)
    explain: Explain = Field(default_factory=Explain)
    trust_model: bool = False  # allows a TensorFlow SavedModel folder (it can run any graph); recorded in the evidence
    trust: Optional[Trust] = None  # this model's trust settings over the top-level `trust:` (filled in by Config)
    sanity_check: bool = False  # also explain a weight-randomised copy of the model (Adebayo et al. 2018)

    @field_validator("tokenizer")
    @classmethod
    def _check_tokenizer(cls, value: str) -> str:
        from reportgen.tokens import check_spec

        check_spec(value)  # one definition of what a tokenizer spec is, and one message
        return value

    @model_validator(mode="after")
    def _check(self) -> "ModelEntry":
        self._check_kind_keys()
        if self.classes is not None and self.classes_file is not None:
            raise ValueError("give classes or classes_file, not both")
        if self.classes is not None and len(set(self.classes)) != len(self.classes):
            raise ValueError("classes: names must be unique")
        if (self.path is None) == (self.application is None):
            raise ValueError("give path (a model file) or application (a keras.applications model), one of them")
        if self.application is not None:
            if self.application not in APPLICATIONS:
                hint = did_you_mean(self.application, APPLICATIONS)
                raise ValueError(f"application: '{self.application}' is not a keras.applications model{hint}")
            if self.weights is None:
                raise ValueError("application needs weights: imagenet or a path to a weights file")
            if self.preprocess.hook is None and "scale" not in self.preprocess.model_fields_set:
                # The application's own preprocess_input unless the config says otherwise.
                preprocess = self.preprocess.model_copy(update={"scale": APPLICATIONS[self.application].module})
                object.__setattr__(self, "preprocess", preprocess)
        elif self.weights is not None:
            raise ValueError("weights goes with application; a model file named by path holds its own weights")
        return self


    def _check_kind_keys(self) -> None:
        # Keys that only mean something for the other kind of model are mistakes, not silently ignored.
        if self.kind == "text":
            wrong = [k for k in IMAGE_ONLY_EXPLAIN if k in self.explain.model_fields_set]
            wrong += [f"preprocess.{k}" for k in self.preprocess.model_fields_set if k != "hook"]
            wrong += ["application"] * (self.application is not None)
            if wrong:
                raise ValueError(f"'{wrong[0]}' is for image models; this model is kind: text")
            if self.vocabulary is not None and self.preprocess.hook is not None:
                raise ValueError("give vocabulary or preprocess.hook, not both")
        else:
            wrong = [k for k in TEXT_ONLY_EXPLAIN if k in self.explain.model_fields_set]
            wrong += [k for k in TEXT_ONLY_KEYS if k in self.model_fields_set]
            wrong += [type(i).__name__ for i in self.inputs if isinstance(i, (TextInput, TableInput))]
            if wrong:
                key = {"TextInput": "inputs: text", "TableInput": "inputs: table"}.get(wrong[0], wrong[0])
                raise ValueError(f"'{key}' is for text models; this model is kind: image")


class Limits(_Strict):
    max_image_pixels: int = Field(default=40_000_000, ge=1)  # width x height, read from the header before decoding
    max_text_bytes: int = Field(default=1_000_000, ge=1)  # one text input, as UTF-8


class Gates(_Strict):
    """Minimum trust figures every explanation must reach; below one, the run exits 3 (docs/trust-metrics.md)."""

    min_stability: Optional[float] = Field(default=None, ge=0, le=1)  # stability.jaccard
    min_fidelity: Optional[float] = Field(default=None, le=1)  # fidelity.fresh_r2
    min_deletion_drop: Optional[float] = Field(default=None, ge=-1, le=1)  # faithfulness.deletion_drop


# The report's languages (a string catalogue each, reportgen/render/strings/) and for/against palettes.
Language = Literal["en", "zh-CN"]
Palette = Literal["colorblind", "grayscale"]


class Config(_Strict):
    title: str = "Model trust report"
    output: str = "report"
    formats: list[Literal["html", "pdf", "tensorboard"]] = Field(default_factory=lambda: ["html", "pdf"], min_length=1)
    language: Language = "en"  # every fixed word of the report; `reportgen run/demo/render --language` overrides it
    palette: Palette = "colorblind"  # the for/against colours of figures, highlights and verdicts
    seed: int = Field(default=0, ge=0, le=2**32 - 1)
    limits: Limits = Field(default_factory=Limits)
    cache: Optional[str] = Field(default=None, min_length=1)  # item cache folder; default: <output>/.cache
    trust: Trust = Field(default_factory=Trust)
    gates: Gates = Field(default_factory=Gates)
    models: list[ModelEntry] = Field(min_length=1)

    @field_validator("formats")
    @classmethod
    def _check_formats(cls, value: list[str]) -> list[str]:
        from reportgen import tensorboard

        # An optional extra: missing, it is a config error before anything runs (and never an import here).
        if tensorboard.FORMAT in value and not tensorboard.available():
            raise ValueError(f"tensorboard needs the TensorBoard package: {tensorboard.INSTALL_HINT}")
        return value

    @model_validator(mode="after")
    def _fill_trust(self) -> "Config":
        # Each model holds its effective trust settings: they are part of its entry, so of the item cache's key.
        for model in self.models:
            merged = self.trust if model.trust is None else overlay(self.trust, model.trust)
            object.__setattr__(model, "trust", merged)
            # A gate on a figure that is turned off could never be met: say so before anything runs.
            needs = {"min_stability": ("stability_runs", merged.stability_runs),
                     "min_fidelity": ("fresh_samples", merged.fresh_samples),
                     "min_deletion_drop": ("curve_steps", merged.curve_steps)}  # fmt: skip
            for gate, (setting, value) in needs.items():
                if getattr(self.gates, gate) is not None and value == 0:
                    raise ValueError(f"gates.{gate} needs trust.{setting} above 0 (model '{model.name}' turns it off)")
        return self

    @model_validator(mode="after")
    def _unique_names(self) -> "Config":
        names = [m.name for m in self.models]
        for name in names:
            if names.count(name) > 1:
                raise ValueError(f"models: the name '{name}' is used twice; names must be unique")
        return self


def _where(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ("literal['image_mean','superpixel_mean']", "int", "list[int]", "str", "function-after",
                      "TextInput", "FileInput", "TableInput"):  # fmt: skip
            continue  # pydantic's union branch names are noise to a user
        else:
            out += ("." if out else "") + str(part)
    return out


def _known_keys() -> set[str]:
    classes = (Config, ModelEntry, Preprocess, Explain, Segmentation, TextInput, FileInput, TableInput, Trust, Thresholds, Gates)
    return {name for cls in classes for name in cls.model_fields}


def _message(error: dict[str, Any]) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        key = str(error["loc"][-1])
        close = difflib.get_close_matches(key, sorted(_known_keys()), n=1, cutoff=0.75)
        return f"unknown key (did you mean '{close[0]}'?)" if close else "unknown key"
    if kind == "missing":
        return "required key is missing"
    msg = str(error["msg"])
    return msg.removeprefix("Value error, ")


def _format_errors(name: str, exc: ValidationError) -> str:
    # A misspelt key also makes the right one "missing": report the unknown key first.
    errors = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")
    first = errors[0]
    where = _where(tuple(first["loc"]))
    # For union types pydantic reports one error per branch: the first says enough.
    more = len({_where(tuple(e["loc"])).split(".")[0] for e in errors}) - 1
    suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more > 0 else ""
    prefix = f"{where}: " if where else ""
    return f"{name}: {prefix}{_message(first)}{suffix}"


def lone_surrogate(text: str) -> Optional[int]:
    """The index of the first lone surrogate (no UTF-8 file can hold one), or None."""
    return next((i for i, ch in enumerate(text) if 0xD800 <= ord(ch) <= 0xDFFF), None)


def _refuse_surrogates(node: Any, name: str, where: str) -> None:
    # YAML's "\ud800" escape gives a lone surrogate, which no UTF-8 file (evidence, report) can hold.
    if isinstance(node, str):
        bad = lone_surrogate(node)
        if bad is not None:
            raise ConfigError(f"{name}: {where or 'a key'}: a lone surrogate U+{ord(node[bad]):04X} at character {bad}; "
                              "text must be valid Unicode")  # fmt: skip
    elif isinstance(node, dict):
        for key, value in node.items():
            _refuse_surrogates(key, name, where)
            _refuse_surrogates(value, name, f"{where}.{key}" if where else str(key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            _refuse_surrogates(value, name, f"{where}[{i}]")


def parse(text: str, name: str) -> Config:
    """Validate a config document's text; errors name the file and the key path."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(f"{name}: not valid YAML{where}: {problem}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{name}: expected a mapping of keys (title, models, ...) at the top level")
    _refuse_surrogates(data, name, "")
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_errors(name, exc)) from None


def effective(config: Config) -> dict[str, Any]:
    """The config after validation, every default filled in, as plain JSON values."""
    data = config.model_dump(mode="json")
    for model in data["models"]:
        seg = model["explain"]["segmentation"]
        model["explain"]["segmentation"] = {k: v for k, v in seg.items() if v is not None}
    return data
