"""Quality gates: the config's minimum trust figures, checked against the evidence (exit code 3 when not met).

Gates are read from the evidence's own config, so `render` and anyone holding evidence.json get the same answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from reportgen.evidence import Evidence, Explanation

# gate key -> (what it reads from an explanation's metrics, its words in English; the report takes its words
# from the string catalogue, key gate.<gate key>, so they can be translated)
GATES = {
    "min_stability": ("stability.jaccard", "top-k overlap across seeds"),
    "min_fidelity": ("fidelity.fresh_r2", "R² on fresh samples"),
    "min_deletion_drop": ("faithfulness.deletion_drop", "deletion drop against random orders"),
}


@dataclass(frozen=True)
class GateFailure:
    """One explanation below one gate."""

    model: str
    item: str
    label: str
    gate: str
    value: Optional[float]  # None: the figure was not measured
    threshold: float


def _figure(exp: Explanation, path: str) -> Optional[float]:
    group, name = path.split(".")
    measured = getattr(exp.metrics, group)
    return None if measured is None else float(getattr(measured, name))


def gates_of(evidence: Evidence) -> dict[str, float]:
    """The gates the run's config set (none: an empty dict)."""
    given: Any = evidence.config.get("gates") or {}
    return {key: float(value) for key, value in given.items() if key in GATES and value is not None}


def failures(evidence: Evidence) -> list[GateFailure]:
    """Every explanation of every explained item that is below a gate, in report order."""
    gates = gates_of(evidence)
    out = []
    for model in evidence.models:
        for item in model.items:
            for exp in item.explanations or []:
                for gate, threshold in gates.items():
                    value = _figure(exp, GATES[gate][0])
                    if value is None or value < threshold:
                        out.append(GateFailure(model.name, item.id, exp.label, gate, value, threshold))
    return out
