"""Text models end to end: raw-string Keras model, inline texts, files and table rows, highlights, escaping."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
from conftest import write_config
from test_cli import parse_html, reportgen

CONFIG = """\
title: Review model check
output: out/text
seed: 1
formats: [html, pdf]
models:
  - name: sentiment
    kind: text
    path: models/sentiment.keras
    classes: [negative, positive]
    inputs:
      - text: The sound is great and the battery is good.
      - text: 音质很好，但是电池很差。
      - texts/*.txt
      - {table: reviews.csv, column: review, id_column: id}
    explain: {num_samples: 300, top_labels: 2, num_features: 6}
"""


@pytest.fixture(scope="module")
def text_report(workspace):
    config = write_config(workspace, CONFIG, "text.yaml")
    result = reportgen("run", str(config), env={"SOURCE_DATE_EPOCH": "1700000000"})
    return result, workspace / "out" / "text"


def _items(out):
    evidence = json.loads((out / "evidence.json").read_text(encoding="utf-8"))
    return evidence, {item["id"]: item for item in evidence["models"][0]["items"]}


def test_text_run_explains_good_items_and_fails_bad_ones(text_report):
    result, out = text_report
    assert result.returncode == 1, result.stderr  # two inputs cannot be explained
    assert "Traceback" not in result.stderr + result.stdout
    _evidence, items = _items(out)
    assert set(items) == {"text-1", "text-2", "praise", "latin1", "blank", "r1", "r2"}
    assert items["latin1"]["status"] == "error"
    assert items["latin1"]["error"] == "texts/latin1.txt: not valid UTF-8 (byte offset 3)"
    assert items["blank"]["status"] == "error" and "no tokens to explain" in items["blank"]["error"]
    for good in ("text-1", "text-2", "praise", "r1", "r2"):
        assert items[good]["status"] == "ok", items[good]["error"]


def test_text_evidence_has_text_tokens_and_rows(text_report):
    _result, out = text_report
    _evidence, items = _items(out)
    praise = items["praise"]
    text = praise["input"]["text"]
    assert text == "A good phone, great screen, but the case is bad."  # the BOM is dropped
    assert praise["input"]["path"] == "texts/praise.txt"
    for token in praise["tokens"]:
        assert text[token["start"] : token["end"]] == token["text"]
    assert items["r1"]["input"]["row"] == 1 and items["r1"]["input"]["path"] == "reviews.csv"
    assert "path" in items["text-1"]["input"] and items["text-1"]["input"]["path"] is None
    positive = next(e for e in praise["explanations"] if e["label"] == "positive")
    top_words = [f["feature"] for f in positive["features"][:3]]
    assert set(top_words) == {"good", "great", "bad"}
    weights = {f["feature"]: f["weight"] for f in positive["features"]}
    assert weights["good"] > 0 and weights["great"] > 0 and weights["bad"] < 0
    assert items["r1"]["predictions"][0]["label"] == "negative"


def test_text_html_highlights_and_escapes(text_report):
    _result, out = text_report
    page = parse_html(out / "report.html")
    marks = [attrs for tag, attrs in page.tags if tag == "mark"]
    assert marks and all("title" in m for m in marks)  # weights readable without colour
    assert "script" not in [tag for tag, _ in page.tags]
    text = "".join(page.text)
    assert "<script>alert(1)</script>" in text  # shown literally, as text
    assert "{{7*7}}" in text and "49" not in text.split("{{7*7}}")[0][-5:]


def test_text_pdf_shows_the_reviews(text_report):
    if shutil.which("pdftotext") is None:
        pytest.skip("poppler-utils is not installed")
    _result, out = text_report
    text = subprocess.run(["pdftotext", str(out / "report.pdf"), "-"], capture_output=True, text=True, check=True).stdout
    assert "Review model check" in text
    assert "battery" in text and "Awful" in text
    assert "not valid UTF-8 (byte offset 3)" in text
    assert "音质很好，但是电池很差" in text  # real CJK glyphs, not boxes: the text extracts back
    fonts = subprocess.run(["pdffonts", str(out / "report.pdf")], capture_output=True, text=True, check=True).stdout
    assert "CJK" in fonts


def test_chinese_text_is_one_token_per_character(text_report):
    _result, out = text_report
    _evidence, items = _items(out)
    tokens = [t["text"] for t in items["text-2"]["tokens"]]
    assert tokens == list("音质很好但是电池很差")


def test_missing_table_column_is_a_config_error(workspace):
    config = write_config(workspace, CONFIG.replace("column: review", "column: body"), "badcol.yaml")
    result = reportgen("validate", str(config))
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "error: badcol.yaml: models[0].inputs[3]: reviews.csv: no column 'body' (its columns: id, review)"
    )
