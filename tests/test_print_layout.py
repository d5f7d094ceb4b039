"""The PDF layout (issue 10 and the leftover of issue 8): each label's figures on one row, a table of contents
with page numbers, running header and a translated "page x of y" footer."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
from html_tree import parse
from render_fixtures import build_evidence
from test_catalogue import _with_metrics

from reportgen.render import render_html, write_report
from reportgen.resources import templates_dir

A4_CONTENT_MM = 210 - 15 - 15  # report.css: A4 with 15 mm side margins


def _print_rule(css: str, selector: str, prop: str) -> float:
    match = re.search(re.escape(selector) + r"\s*\{[^}]*\b" + prop + r":\s*([\d.]+)mm", css)
    assert match, f"{selector} {{ {prop}: ...mm }} not found"
    return float(match.group(1))


def test_an_image_labels_figures_fit_on_one_row_at_one_height(tmp_path):
    css = (templates_dir() / "report.css").read_text(encoding="utf-8")
    print_css = css[css.index("@media print") :]
    gap = _print_rule(print_css, ".fig", "margin-right")
    widths = {kind: _print_rule(print_css, f".figs-image .fig-{kind}", "width") for kind in ("mask", "heatmap", "curves")}
    page = parse(render_html(_with_metrics(build_evidence(tmp_path, items=1, top_labels=1)), tmp_path))
    row = page.root.find("div", "figs-image")
    figures = list(row.iter("figure"))
    kinds = [next(c for c in fig.classes if c.startswith("fig-"))[4:] for fig in figures]
    assert kinds == ["mask", "mask", "heatmap", "curves"]
    total = sum(widths[kind] for kind in kinds) + gap * (len(kinds) - 1)
    assert total <= A4_CONTENT_MM, f"{total} mm of figures and gaps in {A4_CONTENT_MM} mm"
    heights = []
    for kind, fig in zip(kinds, figures):
        img = fig.find("img")
        heights.append(widths[kind] * int(img.attrs["height"]) / int(img.attrs["width"]))
    assert max(heights) - min(heights) < 1.5, heights  # one row, one height (mm)


@pytest.mark.parametrize("language, footer, contents", [("en", "Page 1 of", "Contents"), ("zh-CN", "第 1 页，共", "目录")])
def test_the_pdf_has_contents_with_page_numbers_and_a_translated_footer(tmp_path, language, footer, contents):
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) is not installed")
    evidence = _with_metrics(build_evidence(tmp_path, items=2, top_labels=2, text_model=True))
    write_report(evidence, tmp_path, ["pdf"], language=language)
    text = subprocess.run(["pdftotext", "-layout", str(tmp_path / "report.pdf"), "-"], capture_output=True,
                          text=True, check=True).stdout  # fmt: skip
    assert footer in text
    toc = text[text.index(contents) :]
    # Every input of the contents is followed by its page number (after a dotted leader).
    for item in ("circle-01", "circle-02", "review-01"):
        assert re.search(re.escape(item) + r"[ .]+\d+\s*$", toc, flags=re.MULTILINE), item
