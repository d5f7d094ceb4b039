"""`reportgen run` and `reportgen demo`: explain, write the report folder, print the end-of-run summary."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Callable, Optional

import typer

from reportgen.cli.app import ARGV, EXIT_FAILED, EXIT_GATES, EXIT_OK, LanguageOption, app, check_language, guarded

if TYPE_CHECKING:
    from reportgen.pipeline import RunResult
    from reportgen.resolve import LoadedConfig

SIGN_HELP = "Sign evidence.json with this Ed25519 private key (PEM, from `reportgen keygen`)."
NoCache = Annotated[bool, typer.Option("--no-cache", help="Explain every item again; ignore the item cache.")]
Sign = Annotated[Optional[Path], typer.Option("--sign", help=SIGN_HELP, dir_okay=False)]


def _run_config(config_path: Path, out: Optional[Path], use_cache: bool = True, *, quiet: bool = False,
                as_json: bool = False, sign: Optional[Path] = None, language: Optional[str] = None) -> int:  # fmt: skip
    from reportgen import pipeline
    from reportgen import resolve as cfg
    from reportgen.gates import failures as gate_failures
    from reportgen.provenance import command_line

    # The key is read before anything runs: a missing or wrong key is a usage error (exit 2), not a lost run.
    signer = None
    if sign is not None:
        from reportgen.signing import load_signer

        signer = load_signer(sign)
    loaded = cfg.load(config_path, out, check_language(language))
    total = pipeline.count_items(loaded)
    command = command_line(ARGV) if ARGV else None
    result = _run_with_progress(loaded, total, use_cache, quiet, command, signer)
    # DESIGN.md: 2, then 1, then 3
    code = EXIT_FAILED if result.failed else EXIT_GATES if gate_failures(result.evidence) else EXIT_OK
    if as_json:
        from reportgen.cli.summary import dumps, summary

        if not quiet:
            _print_summary(result, err=True)  # for a person reading the CI log; stdout is the JSON alone
        typer.echo(dumps(summary(result, code)))
    elif quiet:
        _print_problems(result)
    else:
        _print_summary(result)
    return code


def _run_with_progress(loaded: "LoadedConfig", total: int, use_cache: bool, quiet: bool = False,
                       command: Optional[list[str]] = None, signer: Any = None) -> "RunResult":  # fmt: skip
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from reportgen import pipeline

    if quiet:  # no progress, no notices (a stale lock taken over); errors still reach stderr through `guarded`
        return pipeline.run(loaded, None, use_cache, lambda message: None, command, signer)
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

        result = pipeline.run(loaded, advance, use_cache, lambda message: console.print(message, highlight=False),
                              command, signer)  # fmt: skip
        progress.update(task, description="report written")
    return result


def _gates_line(result: "RunResult") -> Optional[str]:
    """"gates not met by N explanations: ..." (rich markup), or None when every gate is met."""
    from reportgen.gates import failures as gate_failures

    below = gate_failures(result.evidence)
    if not below:
        return None
    names = sorted({f"{f.model}/{f.item} ({f.label})" for f in below})
    return (f"[red]gates not met[/red] by {len(names)} explanation{'s' if len(names) != 1 else ''}: "
            + ", ".join(names[:5]) + (", ..." if len(names) > 5 else ""))  # fmt: skip


def _print_problems(result: "RunResult") -> None:
    """--quiet: only what went wrong, on stderr (failed models and items, gates not met)."""
    from rich.console import Console

    console = Console(stderr=True, width=None if sys.stderr.isatty() else 120)
    for model, item, message in result.evidence.failures():
        where = f"{model}/{item}" if item else model
        console.print(f"[red]failed[/red] {where}: {message}", highlight=False, markup=True)
    line = _gates_line(result)
    if line:
        console.print(line, highlight=False)


def _print_summary(result: "RunResult", err: bool = False) -> None:
    from rich.console import Console
    from rich.table import Table

    from reportgen.outdir import shown

    # Piped output gets a fixed, roomy width so ids are not cut; a terminal uses its own.
    stream = sys.stderr if err else sys.stdout
    console = Console(stderr=err, width=None if stream.isatty() else 120)
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
    line = _gates_line(result)
    if line:
        console.print(line, highlight=False)
    verdict = f"{ok} of {len(result.rows)} inputs explained"
    if result.cached:
        verdict += f" ({result.cached} from the item cache)"
    console.print(verdict + (f"; [red]{failed} failed[/red] (see the report)" if failed else ""), highlight=False)


def _json_error(out: Optional[Path]) -> Callable[[str, int], None]:
    """With --json, an error that stops the run still leaves one JSON document on stdout."""

    def print_error(message: str, code: int) -> None:
        from reportgen.cli.summary import dumps, error_summary

        typer.echo(dumps(error_summary(message, code, out.as_posix() if out else None)))

    return print_error


Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="Print only errors: no progress, no summary table.")]
AsJson = Annotated[
    bool, typer.Option("--json", help="Print a JSON summary on stdout (docs/ci.md); progress goes to stderr.")
]


@app.command()
def run(
    config: Annotated[Path, typer.Argument(help="The config file (YAML).", dir_okay=False)],
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Report folder (default: the config's output).")] = None,
    no_cache: NoCache = False,
    language: LanguageOption = None,
    sign: Sign = None,
    quiet: Quiet = False,
    as_json: AsJson = False,
) -> None:
    """Explain every input the config names and write the report folder."""
    guarded(lambda: _run_config(config, out, not no_cache, quiet=quiet, as_json=as_json, sign=sign, language=language),
            _json_error(out) if as_json else None)  # fmt: skip


@app.command()
def demo(
    out: Annotated[Path, typer.Option("--out", "-o", help="Report folder to write.")] = Path("reportgen-demo"),
    no_cache: NoCache = False,
    language: LanguageOption = None,
    sign: Sign = None,
    quiet: Quiet = False,
    as_json: AsJson = False,
) -> None:
    """Run the shipped sample models on the shipped inputs (offline) and write a report."""
    from reportgen.resources import samples_dir

    guarded(lambda: _run_config(samples_dir() / "demo.yaml", out, not no_cache, quiet=quiet, as_json=as_json,
                                sign=sign, language=language), _json_error(out) if as_json else None)  # fmt: skip
