"""The wheel carries the templates and the demo's files, and the demo runs from it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation", "-q", "-w", str(out)],
        check=True, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    (path,) = out.glob("reportgen-*.whl")
    return path


def test_wheel_holds_templates_and_demo_files(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for required in (
        "reportgen/templates/report.html.j2",
        "reportgen/templates/report.css",
        "reportgen/templates/report-phone.css",
        "reportgen/templates/_provenance.html.j2",
        "reportgen/render/strings/en.yaml",
        "reportgen/render/strings/zh-CN.yaml",
        "reportgen/samples/demo.yaml",
        "reportgen/samples/models/shapes.keras",
        "reportgen/samples/models/sentiment.keras",
    ):
        assert required in names, required
    assert any(n.startswith("reportgen/samples/images/") for n in names)
    assert any(n.startswith("reportgen/samples/texts/") for n in names)
    assert not any("__pycache__" in n or n.startswith("tests/") for n in names)
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "reportgen = reportgen.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


def test_demo_runs_from_the_installed_wheel(wheel, tmp_path):
    """Unpacked wheel on sys.path, run from an unrelated folder: the demo finds its files inside the package."""
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site), "SOURCE_DATE_EPOCH": "1700000000"}
    done = subprocess.run([sys.executable, "-m", "reportgen", "demo", "--out", "demo-report"], cwd=work, env=env,
                          capture_output=True, text=True, timeout=900)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    out = work / "demo-report"
    for name in ("report.html", "report.pdf", "evidence.json", "timings.json"):
        assert (out / name).is_file()
    assert "demo-report/report.pdf" in done.stdout  # says where the report is
    evidence = json.loads((out / "evidence.json").read_text(encoding="utf-8"))
    image_model, text_model = evidence["models"]
    assert image_model["kind"] == "image" and len(image_model["items"]) >= 6
    assert text_model["kind"] == "text" and len(text_model["items"]) >= 4
    languages = {"en": 0, "zh": 0}
    for model in (image_model, text_model):
        assert model["status"] == "ok"
        assert all(item["status"] == "ok" for item in model["items"])
    for item in text_model["items"]:
        languages[item["id"][:2]] += 1
    assert languages["en"] >= 2 and languages["zh"] >= 2
    assert str(site) not in json.dumps(evidence)
