"""`reportgen verify`: check a report against its hashes, the files it names and, optionally, its signature."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from reportgen.cli.app import EXIT_FAILED, EXIT_OK, app, guarded


@app.command()
def verify(
    report: Annotated[Path, typer.Argument(help="A report folder, or a report.pdf on its own.")],
    root: Annotated[
        Optional[Path],
        typer.Option("--root", help="Where the model and input files are (default: the config's folder recorded at run time)."),
    ] = None,
    public_key: Annotated[
        Optional[Path], typer.Option("--public-key", help="An Ed25519 public key (PEM): check the report's signature.")
    ] = None,
) -> None:
    """Check the evidence's own hashes, the model, input and config files still found, and the signature."""

    def action() -> int:
        from reportgen.errors import UsageError
        from reportgen.verify import summary
        from reportgen.verify import verify as check

        if root is not None and not root.is_dir():
            raise UsageError(f"--root {root}: no such folder")
        checks = check(report, root, public_key)
        for line in checks:
            typer.echo(line.line())
        typer.echo(summary(checks))
        return EXIT_FAILED if any(c.passed is False for c in checks) else EXIT_OK

    guarded(action)
