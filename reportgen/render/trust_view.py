"""How an explanation's trust figures (evidence `metrics`) read in the report: words, rows and a curve plot.

The evidence stores codes (docs/trust-metrics.md); their words come from the string catalogue
(`verdict.<code>`, `reason.<code>`), so a report can be read in any language it has a catalogue for.
"""

from __future__ import annotations

from typing import Any

from reportgen.evidence import Explanation
from reportgen.render.catalogue import Catalogue

# Verdict code -> traffic-light class (its sign and colour in the stylesheet).
LIGHTS = {
    "stable_faithful": "ok",
    "unstable": "warn",
    "poor_fit": "warn",
    "not_faithful": "bad",
    "disagrees": "warn",
    "insensitive_to_model": "bad",
}
REASONS = (
    "sanity_correlation_high",
    "top_k_overlap_low",
    "rank_correlation_low",
    "signs_flip",
    "fresh_r2_low",
    "deletion_drop_low",
    "insertion_gain_low",
    "agreement_gap_high",
)
PASSED = "stable_faithful"


def _words(t: Catalogue, prefix: str, code: str) -> str:
    # A code this version does not know (evidence from a newer reportgen) is shown as the code itself.
    key = f"{prefix}.{code}"
    return t(key) if key in t.strings else code


def verdict(exp: Explanation, t: Catalogue) -> dict[str, Any] | None:
    """The verdict's words, its traffic-light class and the reasons in words; None when none was measured."""
    code = exp.metrics.verdict
    if code is None:
        return None
    return {"code": code, "words": _words(t, "verdict", code), "light": LIGHTS.get(code, "warn"),
            "reasons": [_words(t, "reason", r) for r in exp.metrics.reasons or []]}  # fmt: skip


def rows(exp: Explanation, t: Catalogue) -> list[tuple[str, str]]:
    """(name, value) rows for the measured figures, in the order docs/trust-metrics.md explains them."""
    m, out = exp.metrics, []
    if m.stability is not None:
        s = m.stability
        out.append((t("metric.stability", count=s.runs, runs=s.runs),
                    t("metric.stability_value", k=s.k, jaccard=f"{s.jaccard:.2f}",
                      rank=f"{s.rank_correlation:.2f}", flips=f"{s.sign_flips:.0%}")))  # fmt: skip
    if m.fidelity is not None:
        f = m.fidelity
        out.append((t("metric.fidelity"), t("metric.fidelity_value", fresh=f"{f.fresh_r2:.2f}", count=f.fresh_samples,
                                            samples=f.fresh_samples, in_sample=f"{f.in_sample_r2:.2f}")))  # fmt: skip
    if m.faithfulness is not None:
        d = m.faithfulness
        out.append((t("metric.faithfulness"),
                    t("metric.faithfulness_value", drop=f"{d.deletion_drop:+.2f}", gain=f"{d.insertion_gain:+.2f}",
                      count=d.random_orders, orders=d.random_orders)))  # fmt: skip
    if m.agreement is not None:
        a = m.agreement
        out.append((t("metric.agreement"), t("metric.agreement_value", surrogate=f"{a.local_prediction:.3f}",
                                             model=f"{a.model_probability:.3f}", gap=f"{a.gap:.3f}")))  # fmt: skip
    if m.sanity is not None and m.sanity.skipped is not None:
        out.append((t("metric.sanity"), t("metric.sanity_skipped", why=m.sanity.skipped)))
    elif m.sanity is not None:
        out.append((t("metric.sanity"), t("metric.sanity_value", rank=f"{m.sanity.rank_correlation:.2f}",
                                          result=t("metric.passed" if m.sanity.passed else "metric.failed"))))  # fmt: skip
    return out


def curves_figure(exp: Explanation, t: Catalogue, palette: Any) -> dict[str, Any] | None:
    """The deletion and insertion curves beside their random baselines, as a small figure, if measured."""
    d = exp.metrics.faithfulness
    if d is None:
        return None
    from reportgen.render import charts

    texts = {name: t(f"curves.{name}") for name in ("hide", "hide_random", "reveal", "reveal_random", "xlabel", "ylabel")}
    png = charts.curves_png(d.x, d.deletion, d.insertion, d.random_deletion, d.random_insertion, texts, palette)
    alt = t("curves.alt", label=exp.label, deletion=f"{d.deletion_auc:.2f}", random_deletion=f"{d.random_deletion_auc:.2f}",
            insertion=f"{d.insertion_auc:.2f}", random_insertion=f"{d.random_insertion_auc:.2f}")  # fmt: skip
    return {"uri": png.uri, "alt": alt, "caption": t("curves.caption"), "width": png.width, "height": png.height,
            "kind": "curves"}  # fmt: skip


def summary(evidence: Any, sections: list[dict[str, Any]], t: Catalogue) -> dict[str, Any]:
    """The report's opening answer: how many explanations can be trusted, which need a look, which gates fail."""
    from reportgen.gates import failures, gates_of

    rows, total, passed = [], 0, 0
    for section in sections:
        for item in section["inputs"]:
            for label in item.get("labels") or []:
                found = label.get("verdict")
                if found is None:
                    continue
                total += 1
                if found["code"] == PASSED:
                    passed += 1
                    continue
                rows.append({"model": section["name"], "item": item["id"], "anchor": item["anchor"],
                             "label": label["label"], **found})  # fmt: skip
    below = [{"model": f.model, "item": f.item, "label": f.label, "gate": t(f"gate.{f.gate}"),
              "value": t("gate.not_measured") if f.value is None else f"{f.value:.2f}", "threshold": f"{f.threshold:.2f}"}
             for f in failures(evidence)]  # fmt: skip
    return {"total": total, "passed": passed, "needs_look": rows, "gates": gates_of(evidence), "below": below}
