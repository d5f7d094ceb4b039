"""The first page: what was examined, the overall verdict, one row per item; and the print page's running strings."""

from __future__ import annotations

import string
from typing import Any

from markupsafe import Markup

from reportgen.render.catalogue import Catalogue
from reportgen.render.trust_view import PASSED


def _top(item: dict[str, Any]) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """An item's top prediction and the explanation of that label (or its first explanation)."""
    predictions = item.get("predictions") or []
    labels = item.get("labels") or []
    top = predictions[0] if predictions else None
    chosen = next((label for label in labels if top is not None and label["index"] == top["index"]), None)
    return top, chosen or (labels[0] if labels else None)


def item_rows(sections: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per item for the first page's table: thumbnail or excerpt, top label, probability, quality."""
    rows = []
    for section in sections:
        for item in section["inputs"]:
            row = {"anchor": item["anchor"], "id": item["id"], "model": section["name"], "kind": item["kind"],
                   "failed": item["failed"], "error": item["error"], "thumbnail": item["thumbnail"],
                   "excerpt": item["excerpt"], "top": None, "verdict": None, "others": 0, "others_flagged": 0}  # fmt: skip
            if not item["failed"]:
                top, label = _top(item)
                row["top"] = top
                row["verdict"] = label["verdict"] if label else None
                others = [other["verdict"] for other in item["labels"] if other is not label and other["verdict"]]
                row["others"] = len(others)
                row["others_flagged"] = sum(v["code"] != PASSED for v in others)
            rows.append(row)
    return rows


def overall(trust: dict[str, Any], failures: int, t: Catalogue) -> dict[str, Any]:
    """The one-line answer and its traffic light: bad on failures or unmet gates, warn when some need a look."""
    flagged = len(trust["needs_look"])
    if trust["total"]:
        words = t("overall.trusted", count=trust["total"], passed=trust["passed"], total=trust["total"])
        if flagged:
            words += t("overall.need_look", count=flagged, flagged=flagged)
        words += t("overall.end")
    else:
        words = t("overall.not_measured")
    light = "bad" if failures or trust["below"] else "warn" if flagged or not trust["total"] else "ok"
    return {"words": words, "light": light, "failures": failures}


def examined(sections: list[dict[str, Any]], counts: dict[str, int], created: str, t: Catalogue) -> str:
    """What was examined, in one sentence: the models, how many inputs of which kind, and when."""
    models = t("list.separator").join(
        t("examined.model", name=section["name"], kind=t(f"kind.{section['kind']}")) for section in sections
    )
    return t("examined.sentence", count=counts["inputs"], inputs=counts["inputs"], models=models,
             created=created)  # fmt: skip


def howto(sections: list[dict[str, Any]]) -> dict[str, bool]:
    """Which parts of "How to read this report" apply: only what the report holds is explained."""
    items = [item for section in sections for item in section["inputs"] if not item["failed"]]
    labels = [label for item in items for label in item["labels"]]
    return {
        "images": any(item["kind"] == "image" for item in items),
        "texts": any(item["kind"] == "text" for item in items),
        "trust": any(label["verdict"] is not None for label in labels),
        "curves": any(fig["kind"] == "curves" for label in labels for fig in label["figures"]),
    }


def _css_string(text: str) -> str:
    """text as a CSS string literal (the catalogue's own words, still escaped so nothing can end the rule)."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\A ").replace("<", "\\3C ")
    return f'"{escaped}"'


def css_content(template: str) -> str:
    """A catalogue string with {page} and {pages} as a CSS `content` value ('Page {page}' -> '"Page " counter(page)')."""
    parts = []
    for literal, name, _spec, _conv in string.Formatter().parse(template):
        if literal:
            parts.append(_css_string(literal))
        if name:
            parts.append(f"counter({name})" if name in ("page", "pages") else _css_string(name))
    return " ".join(parts) or '""'


def page_css(t: Catalogue) -> Markup:
    """The print rules whose words depend on the language: the page x of y footer."""
    css = f"@media print {{ @page {{ @bottom-right {{ content: {css_content(t.raw('page.footer'))}; }} }} }}"
    return Markup(css)
