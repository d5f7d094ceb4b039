"""`reportgen render`: rebuild the report files from a report folder's evidence."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from reportgen.cli.app import EXIT_OK, LanguageOption, app, check_language, guarded


@app.command()
def render(
    report_dir: Annotated[Path, typer.Argument(help="A report folder holding evidence.json and artifacts/, or a report.pdf.")],
    formats: Annotated[
        Optional[list[str]], typer.Option("--format", "-f", help="html or pdf; repeat for both (default: both).")
    ] = None,
    out: Annotated[
        Optional[Path], typer.Option("--out", "-o", help="From a PDF: the folder to write (default: <pdf stem>-rendered).")
    ] = None,
    language: LanguageOption = None,
) -> None:
    """Rebuild report.html and report.pdf from evidence.json and artifacts/ alone, or from what a report.pdf carries.

    --language renders the same evidence in another language (the evidence keeps its config's language).
    """

    def action() -> int:
        from reportgen.errors import UsageError
        from reportgen.outdir import shown
        from reportgen.pipeline import render_again, render_from_pdf, rendered_folder

        wanted = formats or ["html", "pdf"]
        unknown = [f for f in wanted if f not in ("html", "pdf")]
        if unknown:
            raise UsageError(f"--format: '{unknown[0]}' is not html or pdf")
        language_wanted = check_language(language)
        if report_dir.is_file() and report_dir.suffix.lower() == ".pdf":
            for path in render_from_pdf(report_dir, out or rendered_folder(report_dir), wanted, language_wanted):
                typer.echo(f"wrote {shown(path)}")
            return EXIT_OK
        if out is not None:
            raise UsageError("--out is for rendering from a report.pdf; a report folder is rendered in place")
        if not report_dir.is_dir():
            raise UsageError(f"{report_dir}: no such report folder or report.pdf")
        for path in render_again(report_dir, wanted, language_wanted):
            typer.echo(f"wrote {shown(path)}")
        return EXIT_OK

    guarded(action)
