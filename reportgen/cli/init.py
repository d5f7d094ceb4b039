"""`reportgen init`: write a commented starter config for a model file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from reportgen.cli.app import EXIT_OK, app, guarded


@app.command()
def init(
    model: Annotated[Path, typer.Argument(help="The model file (.keras or .h5).", dir_okay=False)],
    inputs: Annotated[
        Optional[list[str]],
        typer.Argument(help="Inputs to explain: files or quoted globs (default: images/*.png, marked TODO)."),
    ] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="The config file to write.", dir_okay=False)] = Path("review.yaml"),
    force: Annotated[bool, typer.Option("--force", help="Overwrite the config file if it exists.")] = False,
) -> None:
    """Inspect a model file and write a commented starter config (class names left to fill in)."""

    def action() -> int:
        from reportgen.starter import write_starter

        written = write_starter(model, list(inputs or []), out, force)
        for line in written.summary():
            typer.echo(line)
        return EXIT_OK

    guarded(action)
