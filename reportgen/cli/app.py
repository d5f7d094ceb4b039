"""The Typer app, exit codes and the one place where errors become one-line messages."""

from __future__ import annotations

from typing import Annotated, Callable, Optional

import typer

app = typer.Typer(
    name="reportgen",
    help="Explain Keras classifiers with LIME and write trust reports (HTML, PDF, evidence).",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_GATES = 0, 1, 2, 3
# sys.argv when started through main() (the console script, python -m reportgen); empty when the app is
# invoked another way (a test's CliRunner), whose sys.argv is not the reportgen command line.
ARGV: list[str] = []


def _fail(message: str, code: int, on_error: Optional[Callable[[str, int], None]] = None) -> None:
    typer.echo(f"error: {message}", err=True)
    if on_error is not None:
        on_error(message, code)
    raise typer.Exit(code)


def guarded(action: Callable[[], int], on_error: Optional[Callable[[str, int], None]] = None) -> None:
    """Run a command body; our errors become one line on stderr and their exit code, never a traceback.

    on_error(message, exit code) is also told of such an error (`run --json` prints it as its summary).
    """
    from reportgen.errors import ReportgenError

    try:
        code = action()
    except ReportgenError as exc:
        _fail(str(exc), exc.exit_code, on_error)
    except KeyboardInterrupt:
        message = "interrupted: nothing was replaced; the previous report (if any) is unchanged"
        typer.echo(message, err=True)
        if on_error is not None:
            on_error(message, 130)
        raise typer.Exit(130) from None
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        _fail(f"{where}{exc.strerror or exc}", EXIT_FAILED, on_error)
    else:
        raise typer.Exit(code)


def _version_callback(value: bool) -> None:
    if value:
        from reportgen import __version__

        typer.echo(f"reportgen {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[
        Optional[bool], typer.Option("--version", callback=_version_callback, is_eager=True, help="Show the version.")
    ] = None,
) -> None:
    """Explain Keras classifiers with LIME and write trust reports (HTML, PDF, evidence)."""


LanguageOption = Annotated[
    Optional[str], typer.Option("--language", help="The report's language, en or zh-CN (default: the config's).")
]


def check_language(language: Optional[str]) -> Optional[str]:
    """A --language value, checked against the languages the config accepts (a UsageError otherwise)."""
    from typing import get_args

    from reportgen.config import Language
    from reportgen.errors import UsageError

    known = get_args(Language)
    if language is not None and language not in known:
        raise UsageError(f"--language: '{language}' is not one of {', '.join(known)}")
    return language
