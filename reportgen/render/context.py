"""The template context: every value the report shows, built from an Evidence and its artifacts.

Every fixed word comes from the string catalogue of the report's language (render/strings/), every colour
of a figure from its palette; both are read from the evidence's config unless the caller overrides them.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np

from reportgen.errors import RenderError
from reportgen.evidence import ARTIFACTS_DIR, Evidence, Explanation, Item, ModelRecord
from reportgen.render import chars, charts, figures, overview, provenance, trust_view
from reportgen.render.catalogue import DEFAULT_LANGUAGE, Catalogue, catalogue
from reportgen.render.settings_view import DASH, fill, settings, value

MAX_PREDICTIONS = 10
DEFAULT_NUM_FEATURES = 10
SHA_SHORT = 12
EXCERPT_COLUMNS = 46  # width of a text input's excerpt in the first page's table (a CJK character is 2)
DEFAULT_PALETTE = "colorblind"


@dataclass(frozen=True)
class Look:
    """How the report reads and looks: its language's catalogue and its for/against palette."""

    t: Catalogue
    palette: figures.Palette


def look_of(evidence: Evidence, language: Optional[str] = None, palette: Optional[str] = None) -> Look:
    """The language and palette the evidence's config names (or the overrides given), checked."""
    language = language or str(evidence.config.get("language") or DEFAULT_LANGUAGE)
    palette = palette or str(evidence.config.get("palette") or DEFAULT_PALETTE)
    if palette not in figures.PALETTES:
        raise RenderError(f"unknown palette {palette!r} (known: {', '.join(figures.PALETTES)})")
    return Look(catalogue(language), figures.PALETTES[palette])


def build_context(
    evidence: Evidence, report_dir: Path, language: Optional[str] = None, palette: Optional[str] = None
) -> dict[str, Any]:
    """Turn the evidence (and the images under report_dir/artifacts) into plain values for the template."""
    report_dir = Path(report_dir)
    look = look_of(evidence, language, palette)
    t = look.t
    items = [item for model in evidence.models for item in model.items]
    sections = [
        _model_section(number, model, _model_config(evidence, number, model), report_dir, look)
        for number, model in enumerate(evidence.models, start=1)
    ]
    trust = trust_view.summary(evidence, sections, t)
    counts = {
        "models": len(evidence.models),
        "models_failed": sum(model.status == "error" for model in evidence.models),
        "inputs": len(items),
        "succeeded": sum(item.status == "ok" for item in items),
        "failed": sum(item.status == "error" for item in items),
    }
    failures = [
        {"model": model, "item": item, "error": error, "anchor": anchor}
        for (model, item, error), anchor in zip(evidence.failures(), _failure_anchors(evidence))
    ]
    return {
        "lang": t.language,
        "t": t.t,
        "tm": t.tm,
        "palette": look.palette.name,
        "page_css": overview.page_css(t),
        "trust": trust,
        "overall": overview.overall(trust, len(failures), t),
        "examined": overview.examined(sections, counts, format_created(evidence.created), t),
        "overview": overview.item_rows(sections),
        "howto": overview.howto(sections),
        "provenance": provenance.view(evidence, t),
        "title": evidence.title,
        "created": format_created(evidence.created),
        "created_iso": evidence.created,
        "tool": f"{evidence.tool.name} {evidence.tool.version}",
        "seed": value(evidence.config.get("seed"), t),
        "config_sha256": evidence.config_sha256,
        "config_sha256_short": evidence.config_sha256[:SHA_SHORT],
        "counts": counts,
        "models": [section["summary"] for section in sections],
        "sections": sections,
        "environment": [(key, value) for key, value in sorted(evidence.environment.items())],
        "failures": failures,
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


def _model_section(number: int, model: ModelRecord, config: dict[str, Any], report_dir: Path, look: Look) -> dict[str, Any]:
    t = look.t
    anchor = f"m{number}"
    explain = config.get("explain") if isinstance(config.get("explain"), dict) else {}
    num_features = int(explain.get("num_features") or DEFAULT_NUM_FEATURES)
    sha = model.sha256 or ""
    ok = sum(item.status == "ok" for item in model.items)
    summary = {
        "anchor": anchor,
        "name": model.name,
        "kind": model.kind,
        "kind_words": t(f"kind.{model.kind}"),
        "path": model.path,
        "sha256": sha or DASH,
        "sha256_short": sha[:SHA_SHORT] or DASH,
        "classes": ", ".join(model.classes),
        "n_classes": len(model.classes),
        "status": model.status,
        "status_words": t(f"status.{model.status}"),
        "trusted": model.trusted,
        "explained": t("models.explained_value", ok=ok, total=len(model.items)),
    }
    fill_words = fill(explain, t) if model.kind == "image" else ""
    return {
        "anchor": anchor,
        "name": model.name,
        "kind": model.kind,
        "failed": model.status == "error",
        "error": model.error or t("status.error"),
        "summary": summary,
        "settings": settings(model, config, t),
        "fill": fill_words,
        "num_features": num_features,
        "inputs": [
            _item(f"{anchor}-i{i}", model, item, num_features, report_dir, look)
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


def _item(anchor: str, model: ModelRecord, item: Item, num_features: int, report_dir: Path, look: Look) -> dict[str, Any]:
    t = look.t
    sha = item.input.sha256 or ""
    base = {
        "anchor": anchor,
        "id": item.id,
        "model": model.name,
        "path": item.input.path or (t("item.inline_text") if model.kind == "text" else DASH),
        "sha256": sha or DASH,
        "sha256_short": sha[:SHA_SHORT] or DASH,
        "kind": model.kind,
        "failed": item.status == "error",
        "error": item.error or t("status.error"),
        "thumbnail": None,
        "excerpt": "",
    }
    if base["failed"]:
        return base
    explained = {exp.index for exp in item.explanations}
    probability = {pred.index: pred.probability for pred in item.predictions}
    base["predictions"] = [
        {
            "label": pred.label,
            "index": pred.index,
            "probability": pred.probability,
            "percent": f"{pred.probability * 100:.1f}%",
            "bar": f"{min(max(pred.probability, 0.0), 1.0) * 100:.1f}%",
            "explained": pred.index in explained,
        }
        for pred in item.predictions[:MAX_PREDICTIONS]
    ]
    base["predictions_note"] = (
        t("predictions.top_of", shown=MAX_PREDICTIONS, total=len(item.predictions))
        if len(item.predictions) > MAX_PREDICTIONS
        else ""
    )
    base["input_figure"] = None
    base["text"] = ""
    if model.kind == "image":
        image = figures.load_image(_artifact(report_dir, item.image, "input image", item))
        segments = figures.load_segments(_artifact(report_dir, item.segments, "segment map", item), image.shape[:2])
        png = figures.input_png(image)
        size = {"width": image.shape[1], "height": image.shape[0]}
        base["input_figure"] = _figure(
            png,
            t("figure.input_alt", id=item.id, **size),
            t("figure.input_caption", **size)
            + (t("figure.input_enlarged", factor=png.width // image.shape[1]) if png.width > image.shape[1] else ""),
        )
        thumb = figures.thumbnail_png(image)
        base["thumbnail"] = {**_figure(thumb, t("overview.thumbnail_alt", id=item.id), ""), "kind": "thumbnail"}
        base["labels"] = [
            _image_label(item, exp, probability.get(exp.index), image, segments, num_features, look)
            for exp in item.explanations
        ]
    else:
        base["text"] = item.input.text or ""
        base["excerpt"] = excerpt(base["text"])
        base["labels"] = [
            _text_label(item, exp, probability.get(exp.index), num_features, look) for exp in item.explanations
        ]
    return base


def excerpt(text: str, columns: int = EXCERPT_COLUMNS) -> str:
    """The start of a text on one line, cut with an ellipsis to about `columns` (wide CJK characters count 2)."""
    import unicodedata

    flat, used, out = " ".join(text.split()), 0, []
    for ch in flat:
        used += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
        if used > columns - 1:
            return "".join(out).rstrip() + "\u2026"
        out.append(ch)
    return flat


def _figure(png: figures.Png, alt: str, caption: str, kind: str = "image") -> dict[str, Any]:
    return {"uri": png.uri, "alt": alt, "caption": caption, "width": png.width, "height": png.height, "kind": kind}


def _direction(weight: float) -> str:
    return "for" if weight > 0 else "against" if weight < 0 else "none"


def _label_numbers(exp: Explanation, probability: float | None, t: Catalogue) -> dict[str, Any]:
    return {
        "label": exp.label,
        "index": exp.index,
        "score": f"{exp.score:.3f}",
        "intercept": figures.signed(exp.intercept),
        "local_prediction": f"{exp.local_prediction:.3f}",
        "model_probability": DASH if probability is None else f"{probability:.3f}",
        "metrics": trust_view.rows(exp, t),
        "verdict": trust_view.verdict(exp, t),
        "figures": [],
        "spans": [],
    }


def _feature_rows(exp: Explanation, num_features: int, t: Catalogue) -> list[dict[str, Any]]:
    return [
        {"rank": rank, "feature": str(f.feature), "weight": figures.signed(f.weight), "direction": _direction(f.weight),
         "direction_words": t(f"direction.{_direction(f.weight)}"),
         "spread": "" if f.spread is None else f"±{f.spread:.3f}"}
        for rank, f in enumerate(exp.features[:num_features], start=1)
    ]  # fmt: skip


def _image_label(
    item: Item, exp: Explanation, probability: float | None, image: np.ndarray, segments: np.ndarray,
    num_features: int, look: Look,
) -> dict[str, Any]:  # fmt: skip
    t, palette = look.t, look.palette
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
    words = {"label": exp.label, "shown": len(supporting), "top": len(strongest), "count": len(strongest),
             "segments": n_segments, "low": figures.signed(-limit, 2), "high": figures.signed(limit, 2),
             "for": t(f"palette.{palette.name}.for"), "against": t(f"palette.{palette.name}.against")}  # fmt: skip
    block = _label_numbers(exp, probability, t)
    block["figures"] = [
        _figure(
            figures.positive_mask_png(image, segments, supporting, palette),
            t("figure.supporting_alt", **words),
            t("figure.supporting_caption", **words) if supporting else t("figure.supporting_none", **words),
            "mask",
        ),
        _figure(
            figures.for_against_png(image, segments, strongest, palette),
            t("figure.for_against_alt", **words),
            t("figure.for_against_caption", **words),
            "mask",
        ),
        _figure(
            figures.heatmap_png(segments, weights, palette),
            t("figure.heatmap_alt", **words),
            t("figure.heatmap_caption", **words),
            "heatmap",
        ),
    ]
    block["features"] = _feature_rows(exp, num_features, t)
    block["feature_name"] = t("features.superpixel")
    _add_curves(block, exp, look)
    return block


def _add_curves(block: dict[str, Any], exp: Explanation, look: Look) -> None:
    curves = trust_view.curves_figure(exp, look.t, look.palette)
    if curves is not None:
        block["figures"].append(curves)


def _text_label(item: Item, exp: Explanation, probability: float | None, num_features: int, look: Look) -> dict[str, Any]:
    t, palette = look.t, look.palette
    block = _label_numbers(exp, probability, t)
    block["features"] = _feature_rows(exp, num_features, t)
    block["feature_name"] = t("features.token")
    shown = {str(f.feature): (rank, f.weight) for rank, f in enumerate(exp.features[:num_features], start=1)}
    strongest = max((abs(w) for _r, w in shown.values()), default=0.0)
    if shown:
        words = {"label": exp.label, "count": len(shown), "shown": len(shown),
                 "for": t(f"palette.{palette.name}.for"), "against": t(f"palette.{palette.name}.against")}  # fmt: skip
        block["figures"] = [
            _figure(
                # Invisible and bidi characters as [U+XXXX] text, as everywhere else in the report.
                charts.token_bars_png([chars.plain(name) for name in shown], [w for _r, w in shown.values()],
                                       t("figure.tokens_xlabel"), palette),  # fmt: skip
                t("figure.tokens_alt", **words),
                t("figure.tokens_caption", **words),
                "tokens",
            )
        ]
    _add_curves(block, exp, look)
    text = item.input.text or ""
    spans: list[dict[str, Any]] = []
    position = 0
    for token in sorted(item.tokens or [], key=lambda tok: tok.start):
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
                "mark": figures.rank_label(rank, weight) if rank else "",
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
