"""The provenance block of the report (issue 9): what was explained, with what, and the evidence's own hash."""

from __future__ import annotations

from typing import Any

from reportgen.evidence import Evidence, sha256_bytes, to_json

# Every fixed string of the provenance block and the footer line, in one place (issue 10 moves them to the
# per-language catalogue).
LABELS = {
    "title": "Provenance",
    "intro": "What was explained, with what, and how to check that nothing changed since "
             "(docs/audit.md: reportgen verify does it).",
    "created": "Created (UTC)",
    "command": "Command line",
    "no_command": "not recorded (the run did not come from the command line)",
    "seeds": "Seeds",
    "derived": "derived",
    "config": "Config file",
    "file": "File",
    "sha256": "sha256",
    "model": "model",
    "input": "input",
    "inline": "inline text",
    "evidence": "sha256 of evidence.json",
    "signed": "Signed",
    "footer": "evidence.json sha256",
}


def _seeds(evidence: Evidence) -> list[int]:
    """Every seed derived from the run's seed and recorded in the trust figures, in order, once each."""
    found: list[int] = []
    for model in evidence.models:
        for item in model.items:
            for exp in item.explanations:
                metrics = exp.metrics
                seeds = list(metrics.stability.seeds) if metrics.stability else []
                seeds += [m.seed for m in (metrics.fidelity, metrics.faithfulness) if m is not None]
                found += [s for s in seeds if s not in found]
    return found


def view(evidence: Evidence) -> dict[str, Any]:
    """The provenance values the template shows: hashes of every file, the command line, seeds, evidence hash."""
    files = [{"what": LABELS["config"], "path": evidence.config_file or "", "sha256": evidence.config_sha256}]
    for model in evidence.models:
        files.append({"what": f"{LABELS['model']} {model.name}", "path": model.path, "sha256": model.sha256 or ""})
        for item in model.items:
            path = item.input.path or LABELS["inline"]
            if item.input.row is not None:
                path = f"{path} (row {item.input.row})"
            files.append({"what": f"{LABELS['input']} {item.id}", "path": path, "sha256": item.input.sha256})
    return {
        "labels": LABELS,
        "created": evidence.created,
        "command": " ".join(evidence.command) if evidence.command else "",
        "seed": evidence.config.get("seed"),
        "derived_seeds": ", ".join(str(s) for s in _seeds(evidence)),
        "files": files,
        "evidence_sha256": sha256_bytes(to_json(evidence).encode("utf-8")),
    }
