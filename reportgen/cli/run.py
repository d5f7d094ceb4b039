"""`reportgen run` and `reportgen demo`: explain, write the report folder, print the end-of-run summary."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from reportgen.cli.app import EXIT_FAILED, EXIT_GATES, EXIT_OK, LanguageOption, app, check_language, guarded

if TYPE_CHECKING:
    from reportgen.pipeline import RunResult
    from reportgen.resolve import LoadedConfig



def _run_config(config_path: Path, out: Optional[Path], use_cache: bool = True, language: Optional[str] = None) -> int:
    from reportgen import pipeline
    from reportgen import resolve as cfg

    loaded = cfg.load(config_path, out, check_language(language))
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
    language: LanguageOption = None,
) -> None:
    """Explain every input the config names and write the report folder."""
    guarded(lambda: _run_config(config, out, not no_cache, language))


@app.command()
def demo(
    out: Annotated[Path, typer.Option("--out", "-o", help="Report folder to write.")] = Path("reportgen-demo"),
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Explain every item again; ignore the item cache.")] = False,
    language: LanguageOption = None,
) -> None:
    """Run the shipped sample models on the shipped inputs (offline) and write a report."""
    from reportgen.resources import samples_dir

    guarded(lambda: _run_config(samples_dir() / "demo.yaml", out, not no_cache, language))
