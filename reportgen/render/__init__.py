"""Rendering: report.html and report.pdf from an Evidence record and its artifacts (never a model)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Optional

from reportgen.errors import RenderError
from reportgen.evidence import Evidence
from reportgen.render.html import render_html

__all__ = ["FORMATS", "render_html", "write_report"]

FORMATS = ("html", "pdf")


def write_report(
    evidence: Evidence, report_dir: Path, formats: list[str], language: Optional[str] = None,
    palette: Optional[str] = None,
) -> list[Path]:  # fmt: skip
    """Write report.html and/or report.pdf into report_dir, each atomically; return the paths written."""
    from reportgen.render.pdf import write_pdf

    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise RenderError(f"unknown report format {unknown[0]!r} (known: {', '.join(FORMATS)})")
    report_dir = Path(report_dir)
    report_dir.mkdir(parents=True, exist_ok=True)
    html = render_html(evidence, report_dir, language, palette)
    written: list[Path] = []
    if "html" in formats:
        target = report_dir / "report.html"
        _replace(target, lambda tmp: tmp.write_text(html, encoding="utf-8", newline="\n"))
        written.append(target)
    if "pdf" in formats:
        target = report_dir / "report.pdf"
        _replace(target, lambda tmp: write_pdf(evidence, html, tmp, report_dir))
        written.append(target)
    return written


def _replace(target: Path, write) -> None:
    """Write through a temporary file beside target, then rename it over target: never a half-written file."""
    tmp = target.with_name(f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        # Created with the default mode (umask applies), unlike tempfile's 0600.
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        write(tmp)
        os.replace(tmp, target)
    except OSError as exc:
        raise RenderError(f"{target}: cannot write: {exc}") from None
    finally:
        tmp.unlink(missing_ok=True)
