"""Regenerate the screenshots in docs/screenshots/ from the demo report (never edit them by hand).

    python docs/make_screenshots.py                      # runs `reportgen demo` (about 2 minutes), then shoots
    python docs/make_screenshots.py --report demo-report # shoots an existing demo report folder

The PDF's first page is also shot in Chinese, from the same evidence (`reportgen render --language zh-CN`).

Needs headless Chromium (`chromium`), pdftoppm/pdftotext (poppler-utils) and websocket-client (the [test]
extra); the browser is driven by the tests' own DevTools helper (tests/browser.py). The demo runs with a
fixed SOURCE_DATE_EPOCH, so the dates in the pictures do not change from one regeneration to the next.
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from browser import BrowserError, Chromium  # noqa: E402

OUT = ROOT / "docs" / "screenshots"
EPOCH = "1795000000"  # 2026-11-18: the date the pictures show
DESKTOP, PHONE = (1240, 900), (390, 844)
COLOURS = 128  # a palette keeps each picture a few tens of KB

# The smallest section or article whose heading names the item: the item's block in the report.
FIND_ITEM_JS = """(() => {
  const id = %r;
  const blocks = [...document.querySelectorAll('article, section')].filter(el => {
    const heading = el.querySelector('h1, h2, h3, h4');
    return heading && heading.textContent.trim().endsWith(id);
  });
  if (!blocks.length) return null;
  const el = blocks[blocks.length - 1], box = el.getBoundingClientRect();
  return {x: box.left + window.scrollX, y: box.top + window.scrollY, width: box.width, height: box.height};
})()"""


def save(png: bytes | Image.Image, name: str, out: Path, height: int | None = None, scale: float = 1.0) -> Path:
    """Crop to `height`, scale, reduce to a palette and write out/name."""
    img = png if isinstance(png, Image.Image) else Image.open(io.BytesIO(png))
    img = img.convert("RGB")
    if height is not None and img.height > height:
        img = img.crop((0, 0, img.width, height))
    if scale != 1.0:
        img = img.resize((round(img.width * scale), round(img.height * scale)), Image.Resampling.LANCZOS)
    target = out / name
    img.quantize(COLOURS, dither=Image.Dither.NONE).save(target, optimize=True)
    print(f"wrote {target.relative_to(ROOT) if target.is_relative_to(ROOT) else target} {img.width}x{img.height}")
    return target


def run_demo(folder: Path) -> None:
    """`reportgen demo` into folder (a failed item would make a misleading picture: stop)."""
    env = {**os.environ, "SOURCE_DATE_EPOCH": EPOCH, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "reportgen", "demo", "--out", str(folder), "--quiet"], env=env)
    if done.returncode not in (0, 3):  # 3: gates not met, still a whole report
        sys.exit(f"reportgen demo exited with {done.returncode}")


def html_shots(report: Path, out: Path, text_item: str) -> list[Path]:
    """The top of report.html on a desktop, one text item's block, and the top of the report on a phone."""
    url = (report / "report.html").as_uri()
    written = []
    with Chromium(extra_flags=("--hide-scrollbars",)) as browser:
        page = browser.new_page(*DESKTOP)
        page.open(url)
        written.append(save(page.screenshot(), "report-html.png", out))
        box = page.evaluate(FIND_ITEM_JS % text_item)
        if box is None:
            raise BrowserError(f"report.html has no block for the item {text_item!r}")
        clip = {"x": max(box["x"] - 10, 0), "y": box["y"], "width": box["width"] + 20,
                "height": min(box["height"] + 10, 760)}  # fmt: skip
        written.append(save(page.screenshot(clip=clip), "report-html-text.png", out))
        phone = browser.new_page(*PHONE)
        phone.resize(*PHONE, mobile=True)
        phone.open(url)
        written.append(save(phone.screenshot(full_page=True), "report-html-phone.png", out, height=2 * PHONE[1]))
    return written


def _pdf_page(pdf: Path, number: int, dpi: int) -> Image.Image:
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["pdftoppm", "-r", str(dpi), "-f", str(number), "-l", str(number), "-png", "-singlefile",
                        str(pdf), f"{tmp}/page"], check=True)  # fmt: skip
        with Image.open(f"{tmp}/page.png") as img:
            return img.copy()


def pdf_shots(report: Path, out: Path, image_item: str, image_input: str) -> list[Path]:
    """The PDF's first page, and the page where one image item starts (found by its input's path)."""
    pdf = report / "report.pdf"
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    pages = text.split("\f")
    # The item's own page starts with its heading "<model> / <item>" (the provenance page names it too).
    number = next((n for n, page in enumerate(pages, 1) if f"/ {image_item}" in page and image_input in page), None)
    if number is None:
        sys.exit(f"report.pdf has no page for the item {image_item!r} ({image_input})")
    return [save(_pdf_page(pdf, 1, 60), "report-pdf-page-1.png", out),
            save(_pdf_page(pdf, number, 100), "report-pdf-item.png", out)]  # fmt: skip


def chinese_shot(report: Path, out: Path) -> Path:
    """The first page of the same report laid out in Chinese (`reportgen render --language zh-CN`, on a copy)."""
    import shutil

    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "report"
        shutil.copytree(report, copy, ignore=shutil.ignore_patterns(".cache"))
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        subprocess.run([sys.executable, "-m", "reportgen", "render", str(copy), "--format", "pdf", "--language", "zh-CN"],
                       env=env, check=True, stdout=subprocess.DEVNULL)  # fmt: skip
        return save(_pdf_page(copy / "report.pdf", 1, 60), "report-pdf-page-1-zh-cn.png", out)


def main(argv: list[str] | None = None) -> None:
    """Parse the arguments, run the demo unless given a report, and write every picture."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--report", type=Path, help="an existing demo report folder (default: run the demo)")
    parser.add_argument("--out", type=Path, default=OUT, help="where the pictures go (default: docs/screenshots)")
    parser.add_argument("--image-item", default="hard-square-corner", help="the image item the PDF picture shows")
    parser.add_argument("--image-input", default="images/hard_square_corner.png", help="that item's input path")
    parser.add_argument("--text-item", default="zh-phone-positive", help="the text item the HTML picture shows")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="reportgen-screenshots-") as tmp:
        report = args.report
        if report is None:
            report = Path(tmp) / "demo"
            run_demo(report)
        html_shots(report, args.out, args.text_item)
        pdf_shots(report, args.out, args.image_item, args.image_input)
        chinese_shot(report, args.out)


if __name__ == "__main__":
    main()
