"""docs/screenshots/ is made by docs/make_screenshots.py: the script works, and what it made is small and linked."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

from browser import png_spread

ROOT = Path(__file__).resolve().parent.parent
SHOTS = ("report-html.png", "report-html-text.png", "report-html-phone.png", "report-pdf-page-1.png",
         "report-pdf-item.png", "report-pdf-page-1-zh-cn.png")  # fmt: skip


def _script():
    spec = importlib.util.spec_from_file_location("make_screenshots", ROOT / "docs" / "make_screenshots.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_script_shoots_a_report(page_report, tmp_path):
    _script().main(["--report", str(page_report), "--out", str(tmp_path), "--image-item", "circle-01",
                    "--image-input", "images/circle-01.png", "--text-item", "review-01"])  # fmt: skip
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(SHOTS)
    for name in SHOTS:
        assert png_spread((tmp_path / name).read_bytes()) > 10, name


def test_the_checked_in_screenshots_are_small_and_linked():
    folder = ROOT / "docs" / "screenshots"
    assert sorted(p.name for p in folder.glob("*.png")) == sorted(SHOTS)
    assert sum((folder / name).stat().st_size for name in SHOTS) < 400_000
    docs = (ROOT / "README.md").read_text(encoding="utf-8") + (ROOT / "docs" / "ci.md").read_text(encoding="utf-8")
    linked = set(re.findall(r"screenshots/([a-z0-9-]+\.png)", docs))
    assert linked == set(SHOTS)
