"""Rendering: report.html checked by structure, report.pdf by its text and page count, never a model."""

from __future__ import annotations

import base64
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from html_tree import parse
from render_fixtures import CLASSES, build_evidence

from reportgen.errors import RenderError
from reportgen.render import render_html, write_report
from reportgen.render.figures import signed
from reportgen.render.settings_view import describe_fill

HOSTILE_MODEL = "<script>alert(1)</script>"
HOSTILE_ITEM = "{{7*7}}"
NUM_FEATURES = 5
TOP_LABELS = 2
SOURCE_DATE_EPOCH_BEFORE = os.environ.get("SOURCE_DATE_EPOCH")


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """One rendered report (HTML and PDF) of the synthetic evidence, shared by the tests."""
    report_dir = tmp_path_factory.mktemp("report")
    evidence = build_evidence(
        report_dir,
        items=2,
        top_labels=TOP_LABELS,
        num_features=NUM_FEATURES,
        model_name=HOSTILE_MODEL,
        item_ids=["circle-01", HOSTILE_ITEM],
        text_model=True,
    )
    handler = _Collect()
    logger = logging.getLogger("weasyprint")
    logger.addHandler(handler)
    try:
        written = write_report(evidence, report_dir, ["html", "pdf"])
    finally:
        logger.removeHandler(handler)
    return evidence, report_dir, written, handler.records


class _Collect(logging.Handler):
    def __init__(self):
        super().__init__(level=logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record):
        self.records.append(record)


@pytest.fixture(scope="module")
def page(report):
    _evidence, report_dir, _written, _log = report
    return parse((report_dir / "report.html").read_text(encoding="utf-8"))


def _ok_items(evidence):
    return [item for model in evidence.models for item in model.items if item.status == "ok"]


def test_write_report_writes_both_formats_and_nothing_else(report):
    _evidence, report_dir, written, _log = report
    assert written == [report_dir / "report.html", report_dir / "report.pdf"]
    assert sorted(p.name for p in report_dir.iterdir()) == ["artifacts", "report.html", "report.pdf"]
    assert os.environ.get("SOURCE_DATE_EPOCH") == SOURCE_DATE_EPOCH_BEFORE


def test_html_head_declares_language_charset_and_title(report, page):
    evidence, _dir, _written, _log = report
    html = page.root.find("html")
    assert html.attrs.get("lang") == "en"
    assert any(meta.attrs.get("charset") == "utf-8" for meta in page.root.iter("meta"))
    assert page.root.find("title").text() == evidence.title
    assert page.root.find("style").text().strip().startswith("/*")


def test_html_is_self_contained(report, page):
    _evidence, report_dir, _written, _log = report
    text = (report_dir / "report.html").read_text(encoding="utf-8")
    assert "script" not in page.tags
    assert not {"link", "iframe", "object", "embed"} & set(page.tags)
    for node in page.root.iter():
        for name in ("src", "href", "srcset", "action", "poster"):
            value = node.attrs.get(name)
            if value is not None:
                assert value.startswith(("data:", "#")), f"<{node.tag} {name}={value[:60]!r}>"
        assert not any(name.startswith("on") for name in node.attrs), node.attrs
    lowered = text.lower()
    for needle in ("http:", "https:", "file:", "url(", "@import", "javascript:"):
        assert needle not in lowered


def test_every_image_is_an_inline_png_with_alt_text(page):
    images = list(page.root.iter("img"))
    assert images
    for img in images:
        assert (img.attrs.get("alt") or "").strip()
        src = img.attrs["src"]
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"


def test_internal_links_point_at_existing_ids(page):
    ids = {node.attrs["id"] for node in page.root.iter() if node.attrs.get("id")}
    targets = {node.attrs["href"][1:] for node in page.root.iter("a") if node.attrs.get("href", "").startswith("#")}
    assert targets and targets <= ids


def test_prediction_and_feature_tables_have_the_right_rows(report, page):
    evidence, _dir, _written, _log = report
    items = _ok_items(evidence)
    tables = list(page.root.iter("table", "prediction-table"))
    assert len(tables) == len(items)
    for table, item in zip(tables, items):
        rows = list(table.find("tbody").iter("tr"))
        assert len(rows) == min(len(item.predictions), 10)
        assert [r.find("td").text() for r in rows] == [p.label for p in item.predictions[:10]]
        assert sum("explained" in r.classes for r in rows) == len(item.explanations)
    features = list(page.root.iter("table", "feature-table"))
    image_explanations = [exp for item in items if item.image for exp in item.explanations]
    text_explanations = [exp for item in items if not item.image for exp in item.explanations]
    assert len(features) == len(image_explanations) + len(text_explanations)
    for table, exp in zip(features, image_explanations):
        rows = list(table.find("tbody").iter("tr"))
        assert len(rows) == NUM_FEATURES
        cells = [[td.text().strip() for td in row.iter("td")] for row in rows]
        assert [c[0] for c in cells] == [str(n) for n in range(1, NUM_FEATURES + 1)]
        assert [c[1] for c in cells] == [str(f.feature) for f in exp.features[:NUM_FEATURES]]
        for cell, feature in zip(cells, exp.features):
            assert cell[2][0] == ("+" if feature.weight > 0 else "\u2212")
            assert cell[3] == ("for" if feature.weight > 0 else "against")


def test_each_explained_label_has_its_figures(report, page):
    evidence, _dir, _written, _log = report
    image_items = [item for item in _ok_items(evidence) if item.image]
    text_items = [item for item in _ok_items(evidence) if item.tokens is not None]
    figures = list(page.root.iter("figure", "fig"))
    # Three per image label (masks and heat map), one per text label (the token weight bars).
    expected = 3 * sum(len(item.explanations) for item in image_items) + sum(len(i.explanations) for i in text_items)
    assert len(figures) == expected
    for figure in figures:
        assert figure.find("figcaption").text().strip()
    # the input image too, one per image item
    assert len(list(page.root.iter("figure", "input-figure"))) == len(image_items)


def test_failures_are_shown_with_their_messages(report, page):
    evidence, _dir, _written, _log = report
    failures = evidence.failures()
    assert len(failures) == 2
    listed = page.root.find("div", "failures-list")
    assert len(list(listed.iter("li"))) == len(failures)
    boxes = [box.text() for box in page.root.iter("div", "failure")]
    for _model, _item, error in failures:
        assert sum(error in box for box in boxes) >= 2  # in the summary and where the model or item would be
    failed_article = next(a for a in page.root.iter("article") if "item-failed" in a.classes)
    assert not list(failed_article.iter("img")) and not list(failed_article.iter("table"))


def test_user_strings_are_escaped_not_interpreted(report, page):
    _evidence, report_dir, _written, _log = report
    text = (report_dir / "report.html").read_text(encoding="utf-8")
    assert HOSTILE_MODEL not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "script" not in page.tags
    headings = [h.text() for h in page.root.iter("h3")]
    assert any(HOSTILE_ITEM in h for h in headings)
    assert any(HOSTILE_MODEL in h.text() for h in page.root.iter("h2"))


def test_run_details_state_settings_and_fill(report, page):
    summary = page.root.find("section", "details").text()
    assert "hidden superpixels are painted black (0)" in summary
    assert "hidden superpixels are painted with their own mean colour" in summary
    assert "slic (n_segments=50" in summary
    for key in ("python", "tensorflow", "lime"):
        assert key in summary
    assert describe_fill([255, 255, 255]) == "hidden superpixels are painted white (RGB 255, 255, 255)"


def test_text_items_highlight_their_tokens(page):
    marks = list(page.root.iter("mark"))
    assert marks
    assert {m.attrs["class"].split()[1] for m in marks} <= {"tok-for", "tok-against", "tok-none"}


def test_signed_numbers_use_explicit_signs():
    assert signed(0.1234) == "+0.1234"
    assert signed(-0.045) == "\u22120.04500"
    assert signed(0.0) == "0"


def test_rendering_twice_gives_the_same_bytes(report):
    evidence, report_dir, _written, _log = report
    first = (report_dir / "report.html").read_bytes()
    assert render_html(evidence, report_dir).encode("utf-8") == first
    write_report(evidence, report_dir, ["html"])
    assert (report_dir / "report.html").read_bytes() == first


def test_more_than_ten_classes_shows_the_top_ten(tmp_path):
    evidence = build_evidence(tmp_path, items=1, top_labels=1)
    item = evidence.models[0].items[0]
    extra = [{"label": f"class-{n}", "index": n, "probability": 0.001} for n in range(len(CLASSES), 14)]
    item.predictions = item.predictions + [type(item.predictions[0]).model_validate(p) for p in extra]
    page = parse(render_html(evidence, tmp_path))
    table = page.root.find("table", "prediction-table")
    assert len(list(table.find("tbody").iter("tr"))) == 10
    assert "Top 10 of 14 classes." in page.root.find("div", "predictions").text()


def test_artifacts_outside_the_report_folder_are_refused(tmp_path):
    evidence = build_evidence(tmp_path, items=1, top_labels=1)
    evidence.models[0].items[0].image = "../outside.png"
    with pytest.raises(RenderError, match="not under artifacts"):
        render_html(evidence, tmp_path)
    evidence.models[0].items[0].image = "artifacts/missing.png"
    with pytest.raises(RenderError, match="missing"):
        render_html(evidence, tmp_path)


def test_unknown_format_is_refused(tmp_path):
    evidence = build_evidence(tmp_path, items=1, top_labels=1)
    with pytest.raises(RenderError, match="unknown report format"):
        write_report(evidence, tmp_path, ["docx"])
    assert not (tmp_path / "report.html").exists()


def test_the_pdf_fetcher_serves_data_urls_only():
    from reportgen.render.pdf import data_only_fetcher

    fetcher = data_only_fetcher()
    assert fetcher("data:text/plain,hello").read() == b"hello"
    for url in ("file:///etc/passwd", "https://example.com/x.png", "http://127.0.0.1/"):
        with pytest.raises(ValueError):
            fetcher(url)


def _poppler(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.skip(f"{tool} (poppler-utils) is not installed")
    return path


def test_pdf_has_the_title_items_and_several_pages(report):
    evidence, report_dir, _written, _log = report
    pdf = report_dir / "report.pdf"
    text = subprocess.run(
        [_poppler("pdftotext"), "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert evidence.title in text
    for item in (item for model in evidence.models for item in model.items):
        assert item.id in text
    assert "Page 1 of" in text
    info = subprocess.run([_poppler("pdfinfo"), str(pdf)], capture_output=True, text=True, check=True).stdout
    fields = dict(line.split(":", 1) for line in info.splitlines() if ":" in line)
    assert int(fields["Pages"]) > 1
    assert fields["Title"].strip() == evidence.title
    assert "2026" in fields["CreationDate"]


def test_weasyprint_has_nothing_to_complain_about(report):
    # No ignored CSS, no refused URL, no missing image: the stylesheet and the HTML suit WeasyPrint as they are.
    *_rest, log = report
    assert [record.getMessage() for record in log] == []


def test_pdf_embeds_the_evidence(report):
    _evidence, report_dir, _written, _log = report
    listing = subprocess.run(
        [_poppler("pdfdetach"), "-list", str(report_dir / "report.pdf")], capture_output=True, text=True, check=True
    ).stdout
    assert "evidence.json" in listing


def test_pdf_is_reproducible_and_restores_source_date_epoch(report, tmp_path, monkeypatch):
    evidence, report_dir, _written, _log = report
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "12345")
    shutil.copytree(report_dir / "artifacts", tmp_path / "artifacts")
    write_report(evidence, tmp_path, ["pdf"])
    assert os.environ["SOURCE_DATE_EPOCH"] == "12345"
    assert (tmp_path / "report.pdf").read_bytes() == (report_dir / "report.pdf").read_bytes()


def test_importing_render_pulls_in_no_model_library():
    code = (
        "import sys, reportgen.render\n"
        "heavy = [m for m in ('tensorflow', 'keras', 'lime', 'matplotlib', 'weasyprint') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env, cwd=root)
    assert result.stdout.strip() == ""


def test_a_models_settings_list_only_what_applies_to_its_kind():
    # The effective config holds every key for both kinds; a reviewer should see only what the model used.
    from reportgen.config import ModelEntry
    from reportgen.evidence import ModelRecord
    from reportgen.render.catalogue import catalogue
    from reportgen.render.settings_view import settings

    t = catalogue("en")
    for kind in ("image", "text"):
        config = ModelEntry(name="m", kind=kind, path="m.keras", inputs=["x"]).model_dump(mode="json")
        record = ModelRecord(name="m", kind=kind, path="m.keras", sha256=None, classes=["a", "b"], status="ok")
        names = [name for name, _value in settings(record, config, t)]
        image_only = {"Input size", "Colour", "Scale", "Fit", "Hiding", "Segmentation"}
        assert "Samples" in names
        if kind == "image":
            assert image_only <= set(names) and "Tokenizer" not in names and "explain.bow" not in names
        else:
            assert not image_only & set(names) and "Tokenizer" in names
            assert not any(name.startswith("preprocess.") for name in names)
