"""The provenance block of the report (issue 9): what was explained, with what, and the evidence's own hash."""

from __future__ import annotations

from typing import Any

from reportgen.evidence import Evidence, evidence_sha256
from reportgen.render.catalogue import Catalogue

# The words of the provenance block come from the catalogue (render/strings/, keys provenance.*).
LABEL_KEYS = ("title", "intro", "created", "command", "no_command", "seeds", "derived", "config", "file", "inline",
              "evidence")  # fmt: skip
# The page foot of the PDF names the hash the same way in every language: both are names, not words.
FOOTER = "evidence.json sha256"


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


def view(evidence: Evidence, t: Catalogue) -> dict[str, Any]:
    """The provenance values the template shows: hashes of every file, the command line, seeds, evidence hash."""
    labels = {key: t(f"provenance.{key}") for key in LABEL_KEYS}
    files = [{"what": labels["config"], "path": evidence.config_file or "", "sha256": evidence.config_sha256}]
    for model in evidence.models:
        files.append({"what": t("provenance.model_file", name=model.name), "path": model.path,
                      "sha256": model.sha256 or ""})  # fmt: skip
        for item in model.items:
            path = item.input.path or labels["inline"]
            if item.input.row is not None:
                path = t("provenance.row", path=path, row=item.input.row)
            files.append({"what": t("provenance.input_file", id=item.id), "path": path, "sha256": item.input.sha256})
    return {
        "labels": labels,
        "created": evidence.created,
        "command": " ".join(evidence.command) if evidence.command else "",
        "seed": evidence.config.get("seed"),
        "derived_seeds": ", ".join(str(s) for s in _seeds(evidence)),
        "files": files,
        "evidence_sha256": evidence_sha256(evidence),
        "footer": FOOTER,
    }
