"""The `--json` summary of `run` and `demo`: one JSON document on stdout for CI (schema in docs/ci.md)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Optional

if TYPE_CHECKING:
    from reportgen.pipeline import RunResult

SUMMARY_VERSION = 1


def _verdicts(item: Any) -> list[dict[str, Any]]:
    return [
        {"label": exp.label, "verdict": exp.metrics.verdict, "reasons": list(exp.metrics.reasons or [])}
        for exp in item.explanations or []
    ]


def summary(result: "RunResult", exit_code: int) -> dict[str, Any]:
    """What a finished run did: every item with its status and verdicts, the gates, the files written."""
    from reportgen.evidence import EVIDENCE_FILE, TIMINGS_FILE
    from reportgen.gates import failures, gates_of
    from reportgen.outdir import shown

    cached = {(row.model, row.item) for row in result.rows if row.cached}
    models, items = [], []
    for model in result.evidence.models:
        models.append({"name": model.name, "kind": model.kind, "status": model.status, "error": model.error})
        for item in model.items:
            top = item.predictions[0] if item.predictions else None
            items.append({
                "model": model.name, "item": item.id, "status": item.status, "error": item.error,
                "cached": (model.name, item.id) in cached,
                "input": item.input.path,
                "top_label": top.label if top else None,
                "probability": top.probability if top else None,
                "verdicts": _verdicts(item),
            })  # fmt: skip
    below = failures(result.evidence)
    written = result.written + [result.output_dir / EVIDENCE_FILE, result.output_dir / TIMINGS_FILE]
    ok = sum(item["status"] == "ok" for item in items)
    return {
        "summary_version": SUMMARY_VERSION,
        "exit_code": exit_code,
        "error": None,
        "output": shown(result.output_dir),
        "counts": {"items": len(items), "ok": ok, "failed": len(items) - ok, "cached": result.cached},
        "models": models,
        "items": items,
        "gates": {
            "set": gates_of(result.evidence),
            "passed": not below,
            "failures": [
                {"model": f.model, "item": f.item, "label": f.label, "gate": f.gate, "value": f.value,
                 "threshold": f.threshold}
                for f in below
            ],  # fmt: skip
        },
        "written": [shown(path) for path in written],
    }


def error_summary(message: str, exit_code: int, output: Optional[str] = None) -> dict[str, Any]:
    """A run that stopped before writing a report (exit 2, 130, ...): same keys, nothing in them."""
    return {
        "summary_version": SUMMARY_VERSION,
        "exit_code": exit_code,
        "error": message,
        "output": output,
        "counts": {"items": 0, "ok": 0, "failed": 0, "cached": 0},
        "models": [],
        "items": [],
        "gates": None,
        "written": [],
    }


def dumps(document: dict[str, Any]) -> str:
    """The document as printed: one line of UTF-8 JSON (NaN refused: it is not JSON)."""
    return json.dumps(document, ensure_ascii=False, allow_nan=False)
