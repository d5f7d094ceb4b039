"""How an explanation's trust figures (evidence `metrics`) read in the report: words, rows and a curve plot."""

from __future__ import annotations

from typing import Any

from reportgen.evidence import Explanation

# The words for the verdict and reason codes of the evidence (docs/trust-metrics.md); issue 10 moves them
# into the per-language string catalogue.
VERDICTS = {
    "stable_faithful": ("Trustworthy", "ok"),
    "unstable": ("Unstable", "warn"),
    "poor_fit": ("Poor fit", "warn"),
    "not_faithful": ("Not faithful", "bad"),
    "disagrees": ("Disagrees with the model", "warn"),
    "insensitive_to_model": ("Does not depend on the model", "bad"),
}
REASONS = {
    "sanity_correlation_high": "almost the same with the model's weights randomised",
    "top_k_overlap_low": "other seeds pick other top features",
    "rank_correlation_low": "other seeds rank the features differently",
    "signs_flip": "top features change sign between seeds",
    "fresh_r2_low": "the surrogate predicts fresh samples poorly",
    "deletion_drop_low": "hiding the top features hurts no more than hiding random ones",
    "insertion_gain_low": "revealing the top features helps no more than random ones",
    "agreement_gap_high": "the surrogate's prediction is far from the model's",
}


def verdict(exp: Explanation) -> dict[str, Any] | None:
    """The verdict's words, its traffic-light class and the reasons in words; None when none was measured."""
    code = exp.metrics.verdict
    if code is None:
        return None
    words, light = VERDICTS.get(code, (code, "warn"))
    return {"code": code, "words": words, "light": light,
            "reasons": [REASONS.get(r, r) for r in exp.metrics.reasons or []]}  # fmt: skip


def rows(exp: Explanation) -> list[tuple[str, str]]:
    """(name, value) rows for the measured figures, in the order docs/trust-metrics.md explains them."""
    m, out = exp.metrics, []
    if m.stability is not None:
        s = m.stability
        out.append((f"Stability ({s.runs} more seeds)",
                    f"top-{s.k} overlap {s.jaccard:.2f} · rank correlation {s.rank_correlation:.2f} · "
                    f"sign flips {s.sign_flips:.0%}"))  # fmt: skip
    if m.fidelity is not None:
        f = m.fidelity
        out.append(("Fidelity (R²)", f"{f.fresh_r2:.2f} on {f.fresh_samples} fresh samples · {f.in_sample_r2:.2f} in sample"))
    if m.faithfulness is not None:
        d = m.faithfulness
        out.append(("Faithfulness", f"deletion drop {d.deletion_drop:+.2f} · insertion gain {d.insertion_gain:+.2f} "
                                    f"(vs {d.random_orders} random orders)"))  # fmt: skip
    if m.agreement is not None:
        a = m.agreement
        out.append(("Agreement", f"surrogate {a.local_prediction:.3f} vs model {a.model_probability:.3f} (gap {a.gap:.3f})"))
    if m.sanity is not None and m.sanity.skipped is not None:
        out.append(("Sanity check", f"not run: {m.sanity.skipped}"))
    elif m.sanity is not None:
        out.append(("Sanity check", f"rank correlation with a weight-randomised model {m.sanity.rank_correlation:.2f} "
                                    f"({'passed' if m.sanity.passed else 'failed'})"))  # fmt: skip
    return out


def curves_figure(exp: Explanation) -> dict[str, Any] | None:
    """The deletion and insertion curves beside their random baselines, as a small figure, if measured."""
    d = exp.metrics.faithfulness
    if d is None:
        return None
    from reportgen.render import figures

    png = figures.curves_png(d.x, d.deletion, d.insertion, d.random_deletion, d.random_insertion)
    label = f"\u2018{exp.label}\u2019"
    alt = (f"Deletion and insertion curves for {label}: the model's probability as the strongest features are hidden "
           f"(area {d.deletion_auc:.2f}, random order {d.random_deletion_auc:.2f}) or revealed (area "
           f"{d.insertion_auc:.2f}, random order {d.random_insertion_auc:.2f})")  # fmt: skip
    return {"uri": png.uri, "alt": alt, "caption": "Hiding and revealing the strongest features first",
            "width": png.width, "height": png.height}  # fmt: skip


def summary(evidence: Any, sections: list[dict[str, Any]]) -> dict[str, Any]:
    """The report's opening answer: how many explanations can be trusted, which need a look, which gates fail."""
    from reportgen.gates import GATES, failures

    rows, total, passed = [], 0, 0
    for section in sections:
        for item in section["inputs"]:
            for label in item.get("labels") or []:
                found = label.get("verdict")
                if found is None:
                    continue
                total += 1
                if found["code"] == "stable_faithful":
                    passed += 1
                    continue
                rows.append({"model": section["name"], "item": item["id"], "anchor": item["anchor"],
                             "label": label["label"], **found})  # fmt: skip
    below = [{"model": f.model, "item": f.item, "label": f.label, "gate": GATES[f.gate][1],
              "value": "not measured" if f.value is None else f"{f.value:.2f}", "threshold": f"{f.threshold:.2f}"}
             for f in failures(evidence)]  # fmt: skip
    from reportgen.gates import gates_of

    return {"total": total, "passed": passed, "needs_look": rows, "gates": gates_of(evidence), "below": below}
