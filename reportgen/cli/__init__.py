"""The `reportgen` command: one small module per command, errors mapped to messages and exit codes in `app`."""

from __future__ import annotations

import importlib
import os
import sys

from reportgen.cli.app import ARGV, EXIT_FAILED, EXIT_USAGE, app

# Each module registers its command on import; this order is the order `--help` lists them in.
COMMANDS = ("run", "render", "verify", "card", "keygen", "init", "validate", "schema")
for _name in COMMANDS:
    importlib.import_module(f"reportgen.cli.{_name}")

__all__ = ["app", "main"]


def _check_source_date_epoch() -> None:
    """An empty SOURCE_DATE_EPOCH means unset; anything but whole seconds is a usage error (exit 2).

    Checked first because libraries read it on import (numpy.f2py fails on an empty one with a ValueError).
    """
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch is None:
        return
    if not epoch.strip():
        del os.environ["SOURCE_DATE_EPOCH"]
    elif not epoch.strip().isdigit():
        print(f"error: SOURCE_DATE_EPOCH is {epoch!r}: it must be whole seconds since 1970-01-01 UTC", file=sys.stderr)
        sys.exit(EXIT_USAGE)


def main() -> None:
    """Console-script entry point."""
    # Matplotlib must never try a GUI backend (TensorFlow's logging is quieted where it is imported).
    os.environ.setdefault("MPLBACKEND", "Agg")
    ARGV[:] = sys.argv  # the command line as given, for the evidence (reduced before recording)
    _check_source_date_epoch()
    try:
        app()
    except SystemExit:
        raise
    except BaseException as exc:  # a bug in reportgen itself: say so briefly
        if os.environ.get("REPORTGEN_DEBUG"):
            raise
        print(f"internal error: {type(exc).__name__}: {exc} (set REPORTGEN_DEBUG=1 for the traceback)", file=sys.stderr)
        sys.exit(EXIT_FAILED)
