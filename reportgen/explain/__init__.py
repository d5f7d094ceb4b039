"""LIME explainers: one module per kind of input; each turns LIME and numpy objects into plain values."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np


def explanation_record(
    classes: Sequence[str], label: int, intercept: Any, score: Any, local_pred: Any, features: list[dict[str, Any]]
) -> dict[str, Any]:
    """One explained label as the evidence stores it (plain Python values)."""
    return {
        "label": str(classes[label]),
        "index": int(label),
        "intercept": float(intercept),
        "score": float(score),
        "local_prediction": float(np.ravel(local_pred)[0]),
        "features": features,
        "metrics": {},
    }


def prediction_records(classes: Sequence[str], probabilities: np.ndarray) -> list[dict[str, Any]]:
    """Every class with its probability on the unperturbed input, highest first (ties in class order)."""
    order = np.argsort(-probabilities, kind="stable")
    return [{"label": str(classes[i]), "index": int(i), "probability": float(probabilities[i])} for i in order]
