"""`reportgen keygen`: write an Ed25519 key pair for `reportgen run --sign`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from reportgen.cli.app import EXIT_OK, app, guarded


@app.command()
def keygen(
    private: Annotated[Path, typer.Argument(help="The private key file to write (PEM, mode 0600).", dir_okay=False)] = Path(
        "reportgen-signing.pem"
    ),
    public: Annotated[
        Optional[Path],
        typer.Option("--public", help="The public key file (default: the private key's name + .pub).", dir_okay=False),
    ] = None,
) -> None:
    """Write an Ed25519 key pair (never overwriting); sign with `run --sign`, check with `verify --public-key`."""

    def action() -> int:
        from reportgen.outdir import shown
        from reportgen.signing import keygen as write_keys

        public_path = public or private.with_name(private.name + ".pub")
        write_keys(private, public_path)
        typer.echo(f"wrote {shown(private)} (private: keep it secret) and {shown(public_path)} (public: share it)")
        return EXIT_OK

    guarded(action)
