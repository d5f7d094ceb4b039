"""`reportgen card`: put a report's "Model Examination" section into an existing model card."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from reportgen.cli.app import EXIT_OK, app, guarded


@app.command()
def card(
    model_card: Annotated[Path, typer.Argument(help="The model card (markdown, e.g. README.md).", dir_okay=False)],
    report_dir: Annotated[Path, typer.Argument(help="The report folder (holding evidence.json).", file_okay=False)],
) -> None:
    """Put a report's "Model Examination" section into a model card, between reportgen's markers (idempotent)."""

    def action() -> int:
        from reportgen.cards import update_card
        from reportgen.errors import UsageError
        from reportgen.outdir import shown

        if not report_dir.is_dir():
            raise UsageError(f"{report_dir}: no such report folder")
        changed = update_card(model_card, report_dir)
        typer.echo(f"{'updated' if changed else 'unchanged'} {shown(model_card)}")
        return EXIT_OK

    guarded(action)
