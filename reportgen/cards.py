"""Model-card files from the evidence: a Hugging Face "Model Examination" section and a Model Card Toolkit fragment."""

from __future__ import annotations

import base64
import json
import os
import secrets
from pathlib import Path
from typing import Any

from reportgen.errors import RenderError, UsageError
from reportgen.evidence import ARTIFACTS_DIR, EVIDENCE_FILE, Evidence, Explanation, Item, ModelRecord, evidence_sha256
from reportgen.outdir import shown

CARD_FILE = "model-card.md"
TOOLKIT_FILE = "model-card-toolkit.json"
TOOLKIT_SCHEMA_VERSION = "0.0.2"  # Model Card Toolkit's schema the fragment follows (schemas/model_card.schema.json)
BEGIN = "<!-- reportgen:begin -->"
END = "<!-- reportgen:end -->"
REPORT_FILES = ("report.html", "report.pdf", EVIDENCE_FILE)
MAX_GRAPHICS = 12  # figures in the toolkit fragment: the top explanation of the first items

# What LIME cannot tell, said once for both files (English for now; issue 10 moves report strings to a catalogue).
LIMITATIONS = [
    "LIME explains single predictions with a linear surrogate fitted near each input; it says nothing about "
    "the model's behaviour on other inputs.",
    "The weights depend on the random perturbations (seed), on how images are segmented into superpixels or "
    "texts split into tokens, and on the fill that hides a feature; other choices can give other explanations.",
    "A surrogate that fits poorly (low R\u00b2) or whose prediction differs from the model's deserves less trust; "
    "the report's trust checks (stability, fidelity, faithfulness, agreement) measure this per explanation.",
    "Explanations show correlation with the model's output, not causes in the world, and can be misleading for "
    "inputs unlike the examined ones.",
]
VERDICT_WORDS = {
    "stable_faithful": "trustworthy",
    "unstable": "unstable",
    "poor_fit": "poor fit",
    "not_faithful": "not faithful",
    "disagrees": "disagrees with the model",
    "insensitive_to_model": "does not depend on the model",
}


def _top(item: Item) -> tuple[str, float | None, Explanation | None]:
    """The top predicted label, its probability, and its explanation (if explained)."""
    if not item.predictions:
        return "", None, None
    best = item.predictions[0]
    explanation = next((e for e in item.explanations if e.index == best.index), None)
    return best.label, best.probability, explanation


def _verdict(explanation: Explanation | None) -> str:
    if explanation is None or explanation.metrics.verdict is None:
        return "not measured"
    return VERDICT_WORDS.get(explanation.metrics.verdict, explanation.metrics.verdict)


def _counts(evidence: Evidence) -> tuple[int, int, int, int]:
    """(inputs, explained, explanations with a verdict, of those trustworthy)."""
    items = [item for model in evidence.models for item in model.items]
    verdicts = [e.metrics.verdict for item in items for e in item.explanations if e.metrics.verdict is not None]
    return len(items), sum(i.status == "ok" for i in items), len(verdicts), verdicts.count("stable_faithful")


def _cell(text: Any) -> str:
    """Text safe inside one markdown table cell."""
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").replace("<", "&lt;")


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _explain_settings(evidence: Evidence, number: int, kind: str) -> str:
    models = evidence.config.get("models") or []
    config = models[number] if number < len(models) and isinstance(models[number], dict) else {}
    explain = config.get("explain") if isinstance(config.get("explain"), dict) else {}
    keys = ("num_samples", "top_labels", "num_features") + (("hide_color", "segmentation") if kind == "image" else ())
    if kind == "text" and "tokenizer" in config:
        explain = {**explain, "tokenizer": config["tokenizer"]}
        keys += ("tokenizer",)
    return ", ".join(f"{k}={json.dumps(explain[k], sort_keys=True)}" for k in keys if k in explain) or "defaults"


def section(evidence: Evidence, digest: str, prefix: str = "") -> str:
    """The markdown section, between the markers, with links to the report files under prefix ('' or 'dir/')."""
    inputs, explained, measured, trusted = _counts(evidence)
    lime = evidence.environment.get("lime", "unknown")
    lines = [
        BEGIN,
        "## Model Examination",
        "",
        f"<!-- Written by {evidence.tool.name} {evidence.tool.version} from {EVIDENCE_FILE}; "
        "`reportgen card` replaces everything between the reportgen markers. -->",
        "",
        f"**What was examined.** {evidence.title}: {_plural(len(evidence.models), 'model')}, "
        f"{_plural(inputs, 'input')}, {explained} explained; report created {evidence.created}.",
        "",
        "| model | kind | file | sha256 | status |",
        "|---|---|---|---|---|",
    ]
    for model in evidence.models:
        lines.append(f"| {_cell(model.name)} | {model.kind} | `{_cell(model.path)}` | `{model.sha256 or '-'}` | "
                     f"{_cell(model.status if model.status == 'ok' else 'error: ' + (model.error or 'failed'))} |")  # fmt: skip
    lines += [
        "",
        f"**How.** Each prediction was explained with LIME (lime {lime}), a local linear surrogate fitted to the "
        f"model's outputs on perturbed copies of the input, with seed {evidence.config.get('seed')}. Settings:",
        "",
    ]
    for number, model in enumerate(evidence.models):
        lines.append(f"- {_cell(model.name)}: {_explain_settings(evidence, number, model.kind)}")
    lines += ["", "**Key figures and verdicts.** "
              + (f"{trusted} of {measured} explanations passed every trust check." if measured
                 else "No trust figures were measured."),  # fmt: skip
              "", "| model | input | top label | probability | verdict |", "|---|---|---|---|---|"]  # fmt: skip
    for model in evidence.models:
        for item in model.items:
            label, probability, explanation = _top(item)
            if item.status != "ok":
                lines.append(f"| {_cell(model.name)} | {_cell(item.id)} | - | - | not explained |")
                continue
            shown_p = f"{probability:.1%}" if probability is not None else "-"
            lines.append(f"| {_cell(model.name)} | {_cell(item.id)} | {_cell(label)} | {shown_p} | {_verdict(explanation)} |")
    lines += ["", "**Limitations.**", ""] + [f"- {text}" for text in LIMITATIONS]
    links = " · ".join(f"[{name}]({prefix}{name})" for name in REPORT_FILES)
    lines += ["", f"**Report files.** {links}; sha256 of {EVIDENCE_FILE}: `{digest}`. "
              "`reportgen verify` checks them.", END]  # fmt: skip
    return "\n".join(lines) + "\n"


def _graphic(report_dir: Path, model: ModelRecord, item: Item, explanation: Explanation, num_features: int) -> Any:
    from reportgen.render import figures

    if model.kind == "image":
        root = (report_dir / ARTIFACTS_DIR).resolve()
        paths = [(report_dir / ref).resolve() for ref in (item.image, item.segments) if ref]
        if len(paths) != 2 or not all(p.is_relative_to(root) and p.is_file() for p in paths):
            return None
        image = figures.load_image(paths[0])
        segments = figures.load_segments(paths[1], image.shape[:2])
        ranked = [(rank, int(f.feature), f.weight) for rank, f in enumerate(explanation.features, start=1)
                  if isinstance(f.feature, int)][:num_features]  # fmt: skip
        return figures.for_against_png(image, segments, ranked)
    features = explanation.features[:num_features]
    from reportgen.render import charts
    from reportgen.render.catalogue import catalogue

    xlabel = catalogue("en")("figure.tokens_xlabel")  # the model card is written in English
    return charts.token_bars_png([str(f.feature) for f in features], [f.weight for f in features], xlabel)


def toolkit_fragment(evidence: Evidence, report_dir: Path) -> dict[str, Any]:
    """A Model Card Toolkit (schema 0.0.2) fragment: what was examined, figures, trust counts, LIME's caveats."""
    inputs, explained, measured, trusted = _counts(evidence)
    collection = []
    for number, model in enumerate(evidence.models):
        models = evidence.config.get("models") or []
        explain = (models[number].get("explain") if number < len(models) else None) or {}
        num_features = int(explain.get("num_features") or 10)
        for item in model.items:
            label, probability, explanation = _top(item)
            if item.status != "ok" or explanation is None or len(collection) >= MAX_GRAPHICS:
                continue
            png = _graphic(report_dir, model, item, explanation, num_features)
            if png is not None:
                collection.append({"name": f"{model.name} / {item.id}: LIME weights for {label}",
                                   "image": base64.b64encode(png.data).decode("ascii")})  # fmt: skip
    names = ", ".join(model.name for model in evidence.models)
    metrics = [{"type": "inputs explained", "value": f"{explained} of {inputs}"}]
    if measured:
        metrics.append({"type": "explanations passing every trust check", "value": f"{trusted} of {measured}"})
    for model in evidence.models:
        for item in model.items:
            label, probability, explanation = _top(item)
            if item.status == "ok" and explanation is not None:
                metrics.append({"type": f"trust verdict ({label})", "value": _verdict(explanation),
                                "slice": f"{model.name}/{item.id}"})  # fmt: skip
    return {
        "schema_version": TOOLKIT_SCHEMA_VERSION,
        "model_details": {
            "name": names or evidence.title,
            "overview": f"{evidence.title}: LIME explanations by {evidence.tool.name} {evidence.tool.version}",
            "references": [{"reference": name} for name in REPORT_FILES],
        },
        "quantitative_analysis": {
            "performance_metrics": metrics,
            "graphics": {"description": "LIME weights of each input's top label: blue for, orange against",
                         "collection": collection},  # fmt: skip
        },
        "considerations": {"limitations": [{"description": text} for text in LIMITATIONS]},
    }


def write_atomic(target: Path, data: bytes) -> None:
    """Write through a temporary file beside target, then rename it over target."""
    tmp = target.with_name(f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        tmp.write_bytes(data)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def write_cards(evidence: Evidence, report_dir: Path) -> list[Path]:
    """Write model-card.md and model-card-toolkit.json into report_dir; return their paths."""
    report_dir = Path(report_dir)
    digest = evidence_sha256(evidence)
    card, toolkit = report_dir / CARD_FILE, report_dir / TOOLKIT_FILE
    try:
        write_atomic(card, section(evidence, digest).encode("utf-8"))
        text = json.dumps(toolkit_fragment(evidence, report_dir), indent=2, ensure_ascii=False) + "\n"
        write_atomic(toolkit, text.encode("utf-8"))
    except OSError as exc:
        raise RenderError(f"{shown(report_dir)}: cannot write the model-card files: {exc}") from None
    return [card, toolkit]


def insert_section(existing: str, new_section: str) -> str:
    """existing with the reportgen section replaced between the markers, or appended if there are none."""
    start, end = existing.find(BEGIN), existing.find(END)
    if start != -1 and end != -1 and end > start:
        tail = existing[end + len(END):]
        tail = tail[1:] if tail.startswith("\n") else tail
        return existing[:start] + new_section + tail
    if start != -1 or end != -1:
        raise UsageError("the model card has one reportgen marker without the other; fix or remove it")
    if not existing:
        return new_section
    separator = "" if existing.endswith("\n\n") else ("\n" if existing.endswith("\n") else "\n\n")
    return existing + separator + new_section


def update_card(card_path: Path, report_dir: Path) -> bool:
    """Insert or replace the section in the model card at card_path; True if the file changed."""
    from reportgen.evidence import load, sha256_file

    evidence = load(report_dir)
    digest = sha256_file(report_dir / EVIDENCE_FILE)
    prefix = Path(os.path.relpath(report_dir.resolve(), card_path.resolve().parent)).as_posix()
    prefix = "" if prefix == "." else prefix + "/"
    try:
        existing = card_path.read_text(encoding="utf-8") if card_path.exists() else ""
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{shown(card_path)}: cannot read: {exc}") from None
    try:
        updated = insert_section(existing, section(evidence, digest, prefix))
    except UsageError as exc:
        raise UsageError(f"{shown(card_path)}: {exc}") from None
    if updated == existing:
        return False
    write_atomic(card_path, updated.encode("utf-8"))
    return True
