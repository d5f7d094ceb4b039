"""`reportgen validate`: check a config without loading any model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from reportgen.cli.app import EXIT_OK, app, guarded


@app.command()
def validate(
    config: Annotated[Path, typer.Argument(help="The config file (YAML).", dir_okay=False)],
) -> None:
    """Check the config and that every file it names exists, without loading any model."""

    def action() -> int:
        from reportgen import resolve as cfg
        from reportgen.pipeline import check_output_dir, count_items

        loaded = cfg.load(config)
        check_output_dir(loaded.output_dir)
        n_models, n_items = len(loaded.models), count_items(loaded)
        typer.echo(
            f"{config}: ok: {n_models} model{'s' if n_models != 1 else ''}, {n_items} input{'s' if n_items != 1 else ''}"
        )
        for model in loaded.models:
            typer.echo(f"  {model.entry.name}: {model.rel_path}, {len(model.inputs)} inputs")
        return EXIT_OK

    guarded(action)
