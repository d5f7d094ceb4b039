"""The template context: every value the report shows, built from an Evidence and its artifacts."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import Any

import numpy as np

from reportgen.errors import RenderError
from reportgen.evidence import ARTIFACTS_DIR, Evidence, Explanation, Item, ModelRecord
from reportgen.render import chars, figures, provenance, trust_view

MAX_PREDICTIONS = 10
DEFAULT_NUM_FEATURES = 10
SHA_SHORT = 12
DASH = "\u2014"
FROM_MODEL = "read from the model"


def build_context(evidence: Evidence, report_dir: Path) -> dict[str, Any]:
    """Turn the evidence (and the images under report_dir/artifacts) into plain values for the template."""
    report_dir = Path(report_dir)
    items = [item for model in evidence.models for item in model.items]
    sections = [
        _model_section(number, model, _model_config(evidence, number, model), report_dir)
        for number, model in enumerate(evidence.models, start=1)
    ]
    return {
        "trust": trust_view.summary(evidence, sections),
        "provenance": provenance.view(evidence),
        "title": evidence.title,
        "created": format_created(evidence.created),
        "created_iso": evidence.created,
        "tool": f"{evidence.tool.name} {evidence.tool.version}",
        "seed": _value(evidence.config.get("seed")),
        "config_sha256": evidence.config_sha256,
        "config_sha256_short": evidence.config_sha256[:SHA_SHORT],
        "counts": {
            "models": len(evidence.models),
            "models_failed": sum(model.status == "error" for model in evidence.models),
            "inputs": len(items),
            "succeeded": sum(item.status == "ok" for item in items),
            "failed": sum(item.status == "error" for item in items),
        },
        "models": [section["summary"] for section in sections],
        "sections": sections,
        "environment": [(key, value) for key, value in sorted(evidence.environment.items())],
        "failures": [
            {"model": model, "item": item, "error": error, "anchor": anchor}
            for (model, item, error), anchor in zip(evidence.failures(), _failure_anchors(evidence))
        ],
    }


def format_created(created: str) -> str:
    """'2026-11-22T15:55:32Z' as '2026-11-22 15:55:32 UTC' (the text unchanged if it is not ISO-8601)."""
    try:
        moment = parse_created(created)
    except ValueError:
        return created
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def parse_created(created: str) -> dt.datetime:
    """evidence.created as an aware UTC datetime (a naive time is taken as UTC)."""
    moment = dt.datetime.fromisoformat(created.strip())
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC)


def _failure_anchors(evidence: Evidence) -> list[str]:
    # Same order as Evidence.failures(): the model first, then its failed items.
    anchors = []
    for m, model in enumerate(evidence.models, start=1):
        if model.status == "error":
            anchors.append(f"m{m}")
        anchors.extend(f"m{m}-i{i}" for i, item in enumerate(model.items, start=1) if item.status == "error")
    return anchors


def _model_config(evidence: Evidence, number: int, model: ModelRecord) -> dict[str, Any]:
    configs = evidence.config.get("models") or []
    for config in configs:
        if isinstance(config, dict) and config.get("name") == model.name:
            return config
    if number <= len(configs) and isinstance(configs[number - 1], dict):
        return configs[number - 1]
    return {}


def _value(value: Any) -> str:
    if value is None:
        return DASH
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return ", ".join(_value(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}={_value(v)}" for k, v in value.items())
    return str(value)


def describe_fill(hide_color: Any) -> str:
    """How LIME hid superpixels, in words."""
    if hide_color is None or hide_color == "superpixel_mean":
        return (
            "hidden superpixels are painted with their own mean colour (LIME's default: "
            "a uniform superpixel then looks unchanged when hidden)"
        )
    if hide_color == "image_mean":
        return "hidden superpixels are painted with the image's mean colour"
    if isinstance(hide_color, (int, float)) and not isinstance(hide_color, bool):
        name = {0: "black", 255: "white"}.get(hide_color, "grey")
        return f"hidden superpixels are painted {name} ({hide_color})"
    if isinstance(hide_color, (list, tuple)) and len(hide_color) == 3:
        r, g, b = hide_color
        name = {(0, 0, 0): "black ", (255, 255, 255): "white "}.get((r, g, b), "")
        return f"hidden superpixels are painted {name}(RGB {r}, {g}, {b})"
    return f"hidden superpixels are painted with {hide_color}"


def _fill(explain: dict[str, Any]) -> str:
    if "hide_color" not in explain:
        return "the fill of hidden superpixels is not recorded"
    return describe_fill(explain["hide_color"])


def _segmentation(value: Any) -> str:
    if not isinstance(value, dict):
        return _value(value)
    params = {k: v for k, v in value.items() if k != "algorithm"}
    algorithm = str(value.get("algorithm", "?"))
    return f"{algorithm} ({_value(params)})" if params else algorithm


def _settings(model: ModelRecord, config: dict[str, Any]) -> list[tuple[str, str]]:
    """Every effective setting of a model, the ones a reviewer looks for first."""
    rows: list[tuple[str, str]] = []
    pre = config.get("preprocess") or {}
    if isinstance(pre, dict) and pre:
        size = pre.get("size")
        if isinstance(size, (list, tuple)) and len(size) == 2:
            rows.append(("Input size", f"{size[0]} \u00d7 {size[1]} px (height \u00d7 width)"))
        elif "size" in pre:
            rows.append(("Input size", FROM_MODEL if size is None else _value(size)))
        for key, name in (("color", "Colour"), ("scale", "Scale"), ("fit", "Fit")):
            if key in pre:
                rows.append((name, FROM_MODEL if pre[key] is None else _value(pre[key])))
        rows += [(f"preprocess.{k}", _value(v)) for k, v in pre.items() if k not in ("size", "color", "scale", "fit")]
    for key, name in (("output", "Model output"), ("tokenizer", "Tokenizer")):
        if key in config:
            rows.append((name, _value(config[key])))
    explain = config.get("explain") or {}
    if isinstance(explain, dict):
        for key, name in (
            ("num_samples", "Samples"),
            ("top_labels", "Labels explained"),
            ("num_features", "Features shown"),
            ("batch_size", "Batch size"),
        ):
            if key in explain:
                rows.append((name, _value(explain[key])))
        if model.kind == "image":
            rows.append(("Hiding", _fill(explain)))
            if "segmentation" in explain:
                rows.append(("Segmentation", _segmentation(explain["segmentation"])))
        known = ("num_samples", "top_labels", "num_features", "batch_size", "hide_color", "segmentation")
        rows += [(f"explain.{k}", _value(v)) for k, v in explain.items() if k not in known]
    return rows


def _model_section(number: int, model: ModelRecord, config: dict[str, Any], report_dir: Path) -> dict[str, Any]:
    anchor = f"m{number}"
    explain = config.get("explain") if isinstance(config.get("explain"), dict) else {}
    num_features = int(explain.get("num_features") or DEFAULT_NUM_FEATURES)
    sha = model.sha256 or ""
    ok = sum(item.status == "ok" for item in model.items)
    summary = {
        "anchor": anchor,
        "name": model.name,
        "kind": model.kind,
        "path": model.path,
        "sha256": sha or DASH,
        "sha256_short": sha[:SHA_SHORT] or DASH,
        "classes": ", ".join(model.classes),
        "n_classes": len(model.classes),
        "status": model.status,
        "trusted": model.trusted,
        "explained": f"{ok} of {len(model.items)}",
    }
    fill = _fill(explain) if model.kind == "image" else ""
    return {
        "anchor": anchor,
        "name": model.name,
        "kind": model.kind,
        "failed": model.status == "error",
        "error": model.error or "failed",
        "summary": summary,
        "settings": _settings(model, config),
        "fill": fill,
        "num_features": num_features,
        "inputs": [
            _item(f"{anchor}-i{i}", model, item, num_features, report_dir)
            for i, item in enumerate(model.items, start=1)
        ],
    }


def _artifact(report_dir: Path, ref: str | None, what: str, item: Item) -> Path:
    """The path of an artifact the evidence names, refused if it points outside artifacts/."""
    if not ref:
        raise RenderError(f"item {item.id!r}: the evidence names no {what}")
    root = (report_dir / ARTIFACTS_DIR).resolve()
    path = (report_dir / ref).resolve()
    if not path.is_relative_to(root):
        raise RenderError(f"item {item.id!r}: {what} {ref!r} is not under {ARTIFACTS_DIR}/")
    if not path.is_file():
        raise RenderError(f"item {item.id!r}: {what} {ref} is missing from {report_dir}")
    return path


def _item(anchor: str, model: ModelRecord, item: Item, num_features: int, report_dir: Path) -> dict[str, Any]:
    sha = item.input.sha256 or ""
    base = {
        "anchor": anchor,
        "id": item.id,
        "path": item.input.path or ("inline text" if model.kind == "text" else DASH),
        "sha256": sha or DASH,
        "sha256_short": sha[:SHA_SHORT] or DASH,
        "kind": model.kind,
        "failed": item.status == "error",
        "error": item.error or "failed",
    }
    if base["failed"]:
        return base
    explained = {exp.index for exp in item.explanations}
    probability = {pred.index: pred.probability for pred in item.predictions}
    base["predictions"] = [
        {
            "label": pred.label,
            "percent": f"{pred.probability * 100:.1f}%",
            "bar": f"{min(max(pred.probability, 0.0), 1.0) * 100:.1f}%",
            "explained": pred.index in explained,
        }
        for pred in item.predictions[:MAX_PREDICTIONS]
    ]
    base["predictions_note"] = (
        f"Top {MAX_PREDICTIONS} of {len(item.predictions)} classes." if len(item.predictions) > MAX_PREDICTIONS else ""
    )
    base["input_figure"] = None
    base["text"] = ""
    if model.kind == "image":
        image = figures.load_image(_artifact(report_dir, item.image, "input image", item))
        segments = figures.load_segments(_artifact(report_dir, item.segments, "segment map", item), image.shape[:2])
        png = figures.input_png(image)
        base["input_figure"] = _figure(
            png,
            f"Input image {item.id}, {image.shape[1]} \u00d7 {image.shape[0]} pixels as the model saw it",
            f"{image.shape[1]} \u00d7 {image.shape[0]} px as explained"
            + (f", shown at {png.width // image.shape[1]}\u00d7" if png.width > image.shape[1] else ""),
        )
        base["labels"] = [
            _image_label(item, exp, probability.get(exp.index), image, segments, num_features)
            for exp in item.explanations
        ]
    else:
        base["text"] = item.input.text or ""
        base["labels"] = [_text_label(item, exp, probability.get(exp.index), num_features) for exp in item.explanations]
    return base


def _figure(png: figures.Png, alt: str, caption: str) -> dict[str, Any]:
    return {"uri": png.uri, "alt": alt, "caption": caption, "width": png.width, "height": png.height}


def _direction(weight: float) -> str:
    return "for" if weight > 0 else "against" if weight < 0 else "none"


def _label_numbers(exp: Explanation, probability: float | None) -> dict[str, Any]:
    return {
        "label": exp.label,
        "index": exp.index,
        "score": f"{exp.score:.3f}",
        "intercept": figures.signed(exp.intercept),
        "local_prediction": f"{exp.local_prediction:.3f}",
        "model_probability": DASH if probability is None else f"{probability:.3f}",
        "metrics": trust_view.rows(exp),
        "verdict": trust_view.verdict(exp),
        "figures": [],
        "spans": [],
    }


def _feature_rows(exp: Explanation, num_features: int) -> list[dict[str, Any]]:
    return [
        {"rank": rank, "feature": str(f.feature), "weight": figures.signed(f.weight), "direction": _direction(f.weight),
         "spread": "" if f.spread is None else f"±{f.spread:.3f}"}
        for rank, f in enumerate(exp.features[:num_features], start=1)
    ]


def _image_label(
    item: Item, exp: Explanation, probability: float | None, image: np.ndarray, segments: np.ndarray, num_features: int
) -> dict[str, Any]:
    n_segments = int(segments.max()) + 1 if segments.size else 0
    weights = np.zeros(max(n_segments, 1), dtype=np.float64)
    ranked: list[tuple[int, int, float]] = []  # (rank by |weight|, superpixel id, weight), strongest first
    for rank, feature in enumerate(exp.features, start=1):
        seg = feature.feature
        if isinstance(seg, str) or not 0 <= seg < n_segments:
            raise RenderError(
                f"item {item.id!r}, label {exp.label!r}: feature {seg!r} is not a superpixel id "
                f"of its segment map (0..{n_segments - 1})"
            )
        weights[seg] = feature.weight
        ranked.append((rank, seg, feature.weight))
    strongest = ranked[:num_features]
    # Only superpixels from the table below, so every number on a figure can be looked up there.
    supporting = [entry for entry in strongest if entry[2] > 0]
    limit = float(np.max(np.abs(weights))) if weights.size else 0.0
    quoted = f"\u2018{exp.label}\u2019"
    block = _label_numbers(exp, probability)
    block["figures"] = [
        _figure(
            figures.positive_mask_png(image, segments, supporting),
            f"Superpixels supporting {quoted}: the {len(supporting)} of the {len(strongest)} strongest with a positive "
            "weight, numbered by rank",
            f"Supporting {quoted}: {len(supporting)} of the top {len(strongest)}"
            if supporting
            else f"None of the top {len(strongest)} supports {quoted}",
        ),
        _figure(
            figures.for_against_png(image, segments, strongest),
            f"The {len(strongest)} strongest superpixels for {quoted}: blue supports it, orange speaks against it",
            f"For (blue) and against (orange): top {len(strongest)}",
        ),
        _figure(
            figures.heatmap_png(segments, weights),
            f"Weights of all {n_segments} superpixels for {quoted}, from {figures.signed(-limit, 2)} (orange) "
            f"to {figures.signed(limit, 2)} (blue)",
            f"All {n_segments} superpixel weights",
        ),
    ]
    block["features"] = _feature_rows(exp, num_features)
    block["feature_name"] = "Superpixel"
    _add_curves(block, exp)
    return block


def _add_curves(block: dict[str, Any], exp: Explanation) -> None:
    curves = trust_view.curves_figure(exp)
    if curves is not None:
        block["figures"].append(curves)


def _text_label(item: Item, exp: Explanation, probability: float | None, num_features: int) -> dict[str, Any]:
    block = _label_numbers(exp, probability)
    block["features"] = _feature_rows(exp, num_features)
    block["feature_name"] = "Token"
    shown = {str(f.feature): (rank, f.weight) for rank, f in enumerate(exp.features[:num_features], start=1)}
    strongest = max((abs(w) for _r, w in shown.values()), default=0.0)
    if shown:
        block["figures"] = [
            _figure(
                # Invisible and bidi characters as [U+XXXX] text, as everywhere else in the report.
                figures.token_bars_png([chars.plain(name) for name in shown], [w for _r, w in shown.values()]),
                f"Weights of the {len(shown)} strongest tokens for \u2018{exp.label}\u2019: blue supports it, "
                "orange speaks against it",
                f"The {len(shown)} strongest tokens",
            )
        ]
    _add_curves(block, exp)
    text = item.input.text or ""
    spans: list[dict[str, Any]] = []
    position = 0
    for token in sorted(item.tokens or [], key=lambda t: t.start):
        if token.start < position or token.end > len(text):
            continue
        if token.start > position:
            spans.append({"text": text[position : token.start], "direction": "", "rank": None})
        rank, weight = shown.get(token.text, (None, 0.0))
        spans.append(
            {
                "text": text[token.start : token.end],
                "direction": _direction(weight) if rank else "",
                "rank": rank,
                "weight": figures.signed(weight) if rank else "",
                # Background strength 1-4 in proportion to |weight|; the number and sign carry it without colour.
                "level": max(1, min(4, math.ceil(4 * abs(weight) / strongest))) if rank and strongest else 0,
            }
        )
        position = token.end
    if position < len(text):
        spans.append({"text": text[position:], "direction": "", "rank": None})
    block["spans"] = spans
    return block
