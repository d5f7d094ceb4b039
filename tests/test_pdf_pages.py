"""report.pdf page by page as printed: every page rendered by pdftoppm (none blank), every word inside its page."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

TOLERANCE = 1.0  # points: rounding in pdftotext's boxes


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is needed (poppler-utils; CI's .ci/run installs it)")
    return found


@pytest.fixture(scope="module")
def pages(page_report, tmp_path_factory) -> list[Path]:
    folder = tmp_path_factory.mktemp("pdf-pages")
    subprocess.run([_tool("pdftoppm"), "-r", "30", "-png", str(page_report / "report.pdf"), str(folder / "page")],
                   check=True, timeout=120)  # fmt: skip
    return sorted(folder.glob("page-*.png"), key=lambda p: int(re.findall(r"\d+", p.stem)[-1]))


def test_every_page_is_rendered_and_none_is_blank(pages, page_report):
    info = subprocess.run([_tool("pdfinfo"), str(page_report / "report.pdf")], capture_output=True, text=True,
                          check=True).stdout  # fmt: skip
    count = int(re.search(r"^Pages:\s+(\d+)", info, re.MULTILINE).group(1))
    assert len(pages) == count >= 3
    for page in pages:
        with Image.open(page) as img:
            grey = np.asarray(img.convert("L"))
        # The body inside the page margins (18 mm top, 16 mm bottom: the running header and footer are outside).
        px_per_mm = grey.shape[0] / 297
        body = grey[round(18 * px_per_mm) : -round(16 * px_per_mm), round(15 * px_per_mm) : -round(15 * px_per_mm)]
        ink = int((body < 230).sum())  # pixels darker than paper (light grey table text counts)
        assert ink > 100, f"{page.name} is blank: nothing inside the margins ({ink} dark pixels)"


def _words(pdf: Path) -> list[tuple[int, float, float, dict[str, float], str]]:
    xml = subprocess.run([_tool("pdftotext"), "-bbox", str(pdf), "-"], capture_output=True, text=True, check=True,
                         timeout=120).stdout  # fmt: skip
    out = []
    for number, page in enumerate(re.findall(r"<page (.*?)</page>", xml, re.DOTALL), start=1):
        width = float(re.search(r'width="([\d.]+)"', page).group(1))
        height = float(re.search(r'height="([\d.]+)"', page).group(1))
        for attrs, text in re.findall(r"<word ([^>]*)>(.*?)</word>", page):
            box = {k: float(v) for k, v in re.findall(r'(\w+)="([-\d.]+)"', attrs)}
            out.append((number, width, height, box, text))
    return out


def test_no_text_outside_the_page(page_report):
    words = _words(page_report / "report.pdf")
    assert len(words) > 200
    outside = [(n, text, box) for n, width, height, box, text in words
               if box["xMin"] < -TOLERANCE or box["yMin"] < -TOLERANCE
               or box["xMax"] > width + TOLERANCE or box["yMax"] > height + TOLERANCE]  # fmt: skip
    assert outside == []


def test_body_text_stays_inside_the_margins(page_report):
    # A4 with 15 mm side margins: text past them is cut off by some printers even when it is on the page.
    margin = 15 / 25.4 * 72 - 2 * TOLERANCE
    words = _words(page_report / "report.pdf")
    past = [(n, text) for n, width, _h, box, text in words if box["xMin"] < margin or box["xMax"] > width - margin]
    assert past == []
