"""A model's effective settings in words: the rows of the report's settings tables and the fill of hidden superpixels."""

from __future__ import annotations

from typing import Any, Optional

from reportgen.evidence import ModelRecord
from reportgen.render.catalogue import DEFAULT_LANGUAGE, Catalogue, catalogue

DASH = "\u2014"


def value(raw: Any, t: Catalogue) -> str:
    """A config value in words: lists and mappings flattened, booleans as yes / no, nothing as a dash."""
    if raw is None:
        return DASH
    if isinstance(raw, bool):
        return t("value.yes") if raw else t("value.no")
    if isinstance(raw, (list, tuple)):
        return ", ".join(value(v, t) for v in raw)
    if isinstance(raw, dict):
        return ", ".join(f"{k}={value(v, t)}" for k, v in raw.items())
    return str(raw)


def describe_fill(hide_color: Any, t: Optional[Catalogue] = None) -> str:
    """How LIME hid superpixels, in words (English unless a catalogue is given)."""
    t = t or catalogue(DEFAULT_LANGUAGE)
    if hide_color is None or hide_color == "superpixel_mean":
        return t("fill.superpixel_mean")
    if hide_color == "image_mean":
        return t("fill.image_mean")
    if isinstance(hide_color, (int, float)) and not isinstance(hide_color, bool):
        name = {0: "colour.black", 255: "colour.white"}.get(hide_color, "colour.grey")
        return t("fill.value", colour=t(name), value=hide_color)
    if isinstance(hide_color, (list, tuple)) and len(hide_color) == 3:
        r, g, b = hide_color
        name = {(0, 0, 0): "fill.rgb_black", (255, 255, 255): "fill.rgb_white"}.get((r, g, b), "fill.rgb")
        return t(name, r=r, g=g, b=b)
    return t("fill.other", value=hide_color)


def fill(explain: dict[str, Any], t: Catalogue) -> str:
    """The fill of hidden superpixels a model's explain settings name, in words."""
    if "hide_color" not in explain:
        return t("fill.unknown")
    return describe_fill(explain["hide_color"], t)


def _segmentation(raw: Any, t: Catalogue) -> str:
    if not isinstance(raw, dict):
        return value(raw, t)
    params = {k: v for k, v in raw.items() if k != "algorithm"}
    algorithm = str(raw.get("algorithm", "?"))
    return f"{algorithm} ({value(params, t)})" if params else algorithm


def settings(model: ModelRecord, config: dict[str, Any], t: Catalogue) -> list[tuple[str, str]]:
    """Every effective setting of a model, the ones a reviewer looks for first."""
    rows: list[tuple[str, str]] = []
    from_model = t("setting.from_model")
    image = model.kind == "image"
    pre = (config.get("preprocess") or {}) if image else {}  # sizes, colours and hooks are for images only
    if isinstance(pre, dict) and pre:
        size = pre.get("size")
        if isinstance(size, (list, tuple)) and len(size) == 2:
            rows.append((t("setting.size"), t("setting.size_value", height=size[0], width=size[1])))
        elif "size" in pre:
            rows.append((t("setting.size"), from_model if size is None else value(size, t)))
        for key in ("color", "scale", "fit"):
            if key in pre:
                rows.append((t(f"setting.{key}"), from_model if pre[key] is None else value(pre[key], t)))
        rows += [(f"preprocess.{k}", value(v, t)) for k, v in pre.items() if k not in ("size", "color", "scale", "fit")]
    for key in ("output",) if image else ("output", "tokenizer"):
        if key in config:
            rows.append((t(f"setting.{key}"), value(config[key], t)))
    explain = config.get("explain") or {}
    if isinstance(explain, dict):
        for key in ("num_samples", "top_labels", "num_features", "batch_size"):
            if key in explain:
                rows.append((t(f"setting.{key}"), value(explain[key], t)))
        if model.kind == "image":
            rows.append((t("setting.hiding"), fill(explain, t)))
            if "segmentation" in explain:
                rows.append((t("setting.segmentation"), _segmentation(explain["segmentation"], t)))
        # The rest as they are, but not what the other kind of model ignores (bow is for texts only).
        known = ("num_samples", "top_labels", "num_features", "batch_size", "hide_color", "segmentation",
                 "bow" if image else "")  # fmt: skip
        rows += [(f"explain.{k}", value(v, t)) for k, v in explain.items() if k not in known]
    return rows
