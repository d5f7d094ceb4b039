"""`reportgen schema`: print the JSON Schema of both public contracts."""

from __future__ import annotations

from typing import Annotated

import typer

from reportgen.cli.app import EXIT_OK, app, guarded


@app.command()
def schema(
    which: Annotated[str, typer.Argument(help="config, evidence, or all (default).")] = "all",
) -> None:
    """Print the JSON Schema of the config file and of the evidence record."""

    def action() -> int:
        import json

        from reportgen.config import Config
        from reportgen.errors import UsageError
        from reportgen.evidence import Evidence

        schemas = {"config": Config.model_json_schema(), "evidence": Evidence.model_json_schema()}
        if which not in (*schemas, "all"):
            raise UsageError(f"schema: '{which}' is not config, evidence or all")
        data = schemas if which == "all" else schemas[which]
        typer.echo(json.dumps(data, indent=2, ensure_ascii=False))
        return EXIT_OK

    guarded(action)
