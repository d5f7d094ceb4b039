"""The `reportgen` command: parse arguments, call the pipeline, turn errors into one-line messages and exit codes."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Callable, Optional

import typer

if TYPE_CHECKING:
    from reportgen.pipeline import RunResult
    from reportgen.resolve import LoadedConfig

app = typer.Typer(
    name="reportgen",
    help="Explain Keras classifiers with LIME and write trust reports (HTML, PDF, evidence).",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_GATES = 0, 1, 2, 3


def _fail(message: str, code: int) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _guarded(action: Callable[[], int]) -> None:
    """Run a command body; our errors become one line on stderr and their exit code, never a traceback."""
    from reportgen.errors import ReportgenError

    try:
        code = action()
    except ReportgenError as exc:
        _fail(str(exc), exc.exit_code)
    except KeyboardInterrupt:
        typer.echo("interrupted: nothing was replaced; the previous report (if any) is unchanged", err=True)
        raise typer.Exit(130) from None
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        _fail(f"{where}{exc.strerror or exc}", EXIT_FAILED)
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


def _run_config(config_path: Path, out: Optional[Path], use_cache: bool = True) -> int:
    from reportgen import pipeline
    from reportgen import resolve as cfg

    loaded = cfg.load(config_path, out)
    total = pipeline.count_items(loaded)
    result = _run_with_progress(loaded, total, use_cache)
    _print_summary(result)
    from reportgen.gates import failures as gate_failures

    if result.failed:
        return EXIT_FAILED  # DESIGN.md: 2, then 1, then 3
    return EXIT_GATES if gate_failures(result.evidence) else EXIT_OK


def _run_with_progress(loaded: "LoadedConfig", total: int, use_cache: bool) -> "RunResult":
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from reportgen import pipeline

    console = Console(stderr=True)
    with Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=not console.is_terminal,
    ) as progress:
        task = progress.add_task("loading models", total=total)

        def advance(model: str, item: str, status: str) -> None:
            progress.update(task, advance=1, description=f"{model}: {item}")

        result = pipeline.run(loaded, advance, use_cache, lambda message: console.print(message, highlight=False))
        progress.update(task, description="report written")
    return result


def _print_summary(result: "RunResult") -> None:
    from rich.console import Console
    from rich.table import Table

    from reportgen.outdir import shown

    # Piped output gets a fixed, roomy width so ids are not cut; a terminal uses its own.
    console = Console(width=None if sys.stdout.isatty() else 120)
    table = Table(title="Summary", title_justify="left")
    for column in ("model", "item", "top label", "probability", "status", "time in model"):
        table.add_column(column, justify="right" if column in ("probability", "time in model") else "left")
    for row in result.rows:
        probability = f"{row.probability:.1%}" if row.probability is not None else ""
        share = f"{row.model_share:.0%}" if row.model_share is not None else ""
        status = "[green]ok[/green]" if row.status == "ok" else "[red]failed[/red]"
        table.add_row(row.model, row.item, row.top_label, probability, status, share)
    console.print(table)
    for model, item, message in result.evidence.failures():
        where = f"{model}/{item}" if item else model
        console.print(f"[red]failed[/red] {where}: {message}", highlight=False, markup=True)
    for path in result.written + [result.output_dir / "evidence.json"]:
        console.print(f"wrote {shown(path)}", highlight=False)
    ok = sum(row.status == "ok" for row in result.rows)
    failed = len(result.rows) - ok
    from reportgen.gates import failures as gate_failures

    below = gate_failures(result.evidence)
    if below:
        shown = sorted({f"{f.model}/{f.item} ({f.label})" for f in below})
        console.print(f"[red]gates not met[/red] by {len(shown)} explanation{'s' if len(shown) != 1 else ''}: "
                      + ", ".join(shown[:5]) + (", ..." if len(shown) > 5 else ""), highlight=False)  # fmt: skip
    verdict = f"{ok} of {len(result.rows)} inputs explained"
    if result.cached:
        verdict += f" ({result.cached} from the item cache)"
    console.print(verdict + (f"; [red]{failed} failed[/red] (see the report)" if failed else ""), highlight=False)


@app.command()
def run(
    config: Annotated[Path, typer.Argument(help="The config file (YAML).", dir_okay=False)],
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Report folder (default: the config's output).")] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Explain every item again; ignore the item cache.")] = False,
) -> None:
    """Explain every input the config names and write the report folder."""
    _guarded(lambda: _run_config(config, out, not no_cache))


@app.command()
def demo(
    out: Annotated[Path, typer.Option("--out", "-o", help="Report folder to write.")] = Path("reportgen-demo"),
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Explain every item again; ignore the item cache.")] = False,
) -> None:
    """Run the shipped sample models on the shipped inputs (offline) and write a report."""
    from reportgen.resources import samples_dir

    _guarded(lambda: _run_config(samples_dir() / "demo.yaml", out, not no_cache))


@app.command()
def render(
    report_dir: Annotated[Path, typer.Argument(help="A report folder holding evidence.json and artifacts/.")],
    formats: Annotated[
        Optional[list[str]], typer.Option("--format", "-f", help="html or pdf; repeat for both (default: both).")
    ] = None,
) -> None:
    """Rebuild report.html and report.pdf from evidence.json and artifacts/ alone (no model needed)."""

    def action() -> int:
        from reportgen.errors import UsageError
        from reportgen.outdir import shown
        from reportgen.pipeline import render_again

        wanted = formats or ["html", "pdf"]
        unknown = [f for f in wanted if f not in ("html", "pdf")]
        if unknown:
            raise UsageError(f"--format: '{unknown[0]}' is not html or pdf")
        if not report_dir.is_dir():
            raise UsageError(f"{report_dir}: no such report folder")
        for path in render_again(report_dir, wanted):
            typer.echo(f"wrote {shown(path)}")
        return EXIT_OK

    _guarded(action)


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

    _guarded(action)


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

    _guarded(action)


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

    _guarded(action)


def main() -> None:
    """Console-script entry point."""
    # Matplotlib must never try a GUI backend (TensorFlow's logging is quieted where it is imported).
    os.environ.setdefault("MPLBACKEND", "Agg")
    try:
        app()
    except SystemExit:
        raise
    except BaseException as exc:  # a bug in reportgen itself: say so briefly
        if os.environ.get("REPORTGEN_DEBUG"):
            raise
        print(f"internal error: {type(exc).__name__}: {exc} (set REPORTGEN_DEBUG=1 for the traceback)", file=sys.stderr)
        sys.exit(EXIT_FAILED)
