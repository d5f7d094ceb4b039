"""`reportgen run`, top to bottom: load -> explain each item -> save evidence -> render -> publish."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import signal
import sys
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Optional

from reportgen import __version__, outdir
from reportgen import evidence as ev
from reportgen.cache import ItemCache
from reportgen.config import Limits, effective
from reportgen.errors import ConfigError, Interrupted, ReportgenError, describe
from reportgen.outdir import check_output_dir
from reportgen.provenance import config_folder, recorded_config
from reportgen.resolve import InputSpec, LoadedConfig, ResolvedModel, input_sha256

if TYPE_CHECKING:
    from reportgen.signing import Signer

# Distributions whose versions every evidence record states.
ENVIRONMENT_PACKAGES = [
    "tensorflow", "keras", "lime", "numpy", "scikit-image", "scikit-learn",
    "pillow", "matplotlib", "jinja2", "weasyprint", "pydyf", "fonttools", "pydantic",
]  # fmt: skip

ProgressFn = Callable[[str, str, str], None]  # (model name, item id, status)


@dataclass
class SummaryRow:
    """One line of the CLI's end-of-run table."""

    model: str
    item: str
    status: str
    top_label: str = ""
    probability: Optional[float] = None
    model_share: Optional[float] = None
    error: str = ""
    cached: bool = False


@dataclass
class RunResult:
    """What a run produced: where the report is, the evidence, and what the CLI summarises."""

    output_dir: Path
    evidence: ev.Evidence
    written: list[Path]
    rows: list[SummaryRow] = field(default_factory=list)
    cached: int = 0  # items taken from the item cache

    @property
    def failed(self) -> bool:
        """True when any model or item failed."""
        return bool(self.evidence.failures())


def created_time() -> str:
    """The run's UTC time, or SOURCE_DATE_EPOCH's when set, as ISO-8601 with a Z."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    moment = datetime.fromtimestamp(int(epoch), timezone.utc) if epoch and epoch.isdigit() else datetime.now(timezone.utc)
    return moment.replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def environment() -> dict[str, str]:
    """Versions of Python and of the libraries that shape the results."""
    # The machine's architecture (never its name): floating-point results may differ on another one.
    env = {"python": platform.python_version(), "machine": platform.machine() or "unknown"}
    for name in ENVIRONMENT_PACKAGES:
        try:
            env[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            if name == "tensorflow":
                try:
                    env[name] = metadata.version("tensorflow-cpu")
                except metadata.PackageNotFoundError:
                    pass
    return env


@dataclass
class _Context:
    """What every model of one run shares."""

    seed: int
    staging: Path
    limits: Limits
    cache: ItemCache
    progress: Optional[ProgressFn]
    timings: dict[str, dict[str, float | bool]]
    rows: list[SummaryRow]
    stop: Callable[[], bool]  # True once Ctrl-C asked the run to stop


def _explain_model(
    resolved: ResolvedModel, ids: list[str], effective_model: dict[str, Any], hook: Optional[Callable[..., Any]],
    ctx: _Context,
) -> ev.ModelRecord:  # fmt: skip
    from reportgen.runners import make_runner

    entry = resolved.entry
    model_sha = _model_sha256(resolved.path)
    record = ev.ModelRecord(
        name=entry.name, kind=entry.kind, path=resolved.rel_path, sha256=model_sha,
        classes=list(resolved.classes or []), status="ok", trusted=entry.trust_model,
    )  # fmt: skip

    def fail(item_id: str, ref: ev.InputRef, message: str) -> None:
        record.items.append(ev.Item(id=item_id, status="error", error=message, input=ref))
        ctx.rows.append(SummaryRow(entry.name, item_id, "error", error=message))
        if ctx.progress:
            ctx.progress(entry.name, item_id, "error")

    shas = [input_sha256(spec) for spec in resolved.inputs]
    keys = [ctx.cache.key(model_sha, sha, effective_model, ctx.seed) for sha in shas]
    cached = [ctx.cache.get(key) for key in keys]
    runner = None
    if not all(cached):  # the model is loaded only when something is left to explain
        try:
            runner = make_runner(resolved, ctx.seed, hook, ctx.limits)
        except ReportgenError as exc:
            record.status, record.error = "error", str(exc)
            for item_id, spec, sha in zip(ids, resolved.inputs, shas):
                fail(item_id, _input_ref(spec, sha), "not explained: the model could not be used")
            return record
        runner.complete(effective_model)
        record.classes = list(runner.classes)
    else:
        _merge(effective_model, cached[0]["effective_model"])  # type: ignore[index]
        record.classes = list(cached[0]["classes"])  # type: ignore[index]

    for item_id, spec, sha, key, hit in zip(ids, resolved.inputs, shas, keys, cached):
        if ctx.stop():
            raise _StopRequested()
        if hit is not None:
            fields, item_timings = _restore(hit, item_id, ctx.staging)
        else:
            assert runner is not None
            try:
                fields, item_timings = runner.explain(spec, item_id, sha, ctx.staging)
            except ReportgenError as exc:
                fail(item_id, _input_ref(spec, sha), str(exc))
                continue
            except Exception as exc:  # an unexpected failure of one item must not sink the others
                where = spec.rel or item_id
                fail(item_id, _input_ref(spec, sha), f"{where}: explanation failed: {type(exc).__name__}: {describe(exc, spec.path, where)}")
                continue
            _store(ctx.cache, key, fields, item_timings, item_id, ctx.staging, effective_model, record.classes)
        ref = _input_ref(spec, sha, fields.pop("text", None))
        record.items.append(ev.Item(id=item_id, status="ok", input=ref, **fields))
        ctx.timings[f"{entry.name}/{item_id}"] = item_timings
        top = fields["predictions"][0]
        total = float(item_timings["total_s"])
        share = float(item_timings["model_s"]) / total if total else None
        ctx.rows.append(SummaryRow(entry.name, item_id, "ok", top["label"], top["probability"], share,
                                   cached=hit is not None))  # fmt: skip
        if ctx.progress:
            ctx.progress(entry.name, item_id, "ok")
    return record


def _merge(target: dict[str, Any], source: dict[str, Any]) -> None:
    """What the runner completes in the effective config, put back from the cache with the key order kept."""
    for key, value in source.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = value


class _StopRequested(Exception):
    """Raised between two items after Ctrl-C."""


def _item_prefix(item_id: str) -> str:
    return f"{ev.ARTIFACTS_DIR}/{item_id}/"


def _store(cache: ItemCache, key: str, fields: dict[str, Any], timings: dict[str, Any], item_id: str, staging: Path,
           effective_model: dict[str, Any], classes: list[str]) -> None:  # fmt: skip
    """Keep an explained item: its fields with artifact paths made id-free, its artifact files, its timings."""
    if not cache.enabled:
        return
    prefix = _item_prefix(item_id)
    folder = staging / prefix
    artifacts = {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
    portable = {k: ("@item/" + v[len(prefix):] if isinstance(v, str) and v.startswith(prefix) else v)
                for k, v in fields.items()}  # fmt: skip
    cache.put(key, portable, artifacts, {"timings": timings, "effective_model": effective_model, "classes": classes})


def _restore(payload: dict[str, Any], item_id: str, staging: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """A cached item's fields and timings, its artifacts written under this run's item id."""
    prefix = _item_prefix(item_id)
    for name, data in payload["artifacts"].items():
        target = staging / prefix / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    fields = {k: (prefix + v[len("@item/"):] if isinstance(v, str) and v.startswith("@item/") else v)
              for k, v in payload["fields"].items()}  # fmt: skip
    return fields, {**payload["timings"], "cached": True}


def _input_ref(spec: InputSpec, sha: str, text: Optional[str] = None) -> ev.InputRef:
    return ev.InputRef(path=spec.rel, sha256=sha, text=text if text is not None else spec.text, row=spec.row)


def item_ids(loaded: LoadedConfig) -> list[list[str]]:
    """Unique, slugified item ids for every input of every model, in config order."""
    from reportgen.inputs import unique_ids

    taken: set[str] = set()
    return [unique_ids([spec.name for spec in m.inputs], taken) for m in loaded.models]


def count_items(loaded: LoadedConfig) -> int:
    """How many items the run will explain."""
    return sum(len(m.inputs) for m in loaded.models)


def _model_sha256(path: Path) -> Optional[str]:
    if path.is_dir():
        return ev.sha256_tree(path)  # a SavedModel folder
    return ev.sha256_file(path) if path.is_file() else None  # imagenet weights may be missing


def run(
    loaded: LoadedConfig, progress: Optional[ProgressFn] = None, use_cache: bool = True,
    notice: Optional[Callable[[str], None]] = None, command: Optional[list[str]] = None,
    signer: Optional[Signer] = None,
) -> RunResult:  # fmt: skip
    """Explain every input of every model and write the whole report folder (one run per folder at a time).

    command is the command line to record (already reduced by provenance.command_line); signer, when
    given, signs evidence.json (evidence.json.sig beside it and inside the PDF).
    """
    from reportgen.safety import no_network

    out = loaded.output_dir
    shown = outdir.shown(out)
    check_output_dir(out)
    say = notice or (lambda message: print(message, file=sys.stderr))
    with outdir.locked(out, shown, say), no_network(), _ctrl_c() as stop:
        outdir.clear_leftovers(out)
        folder = None
        if use_cache:
            folder = loaded.folder / loaded.config.cache if loaded.config.cache else out / outdir.CACHE_DIR
        return _run(loaded, progress, ItemCache(folder), stop, command, signer)


@contextlib.contextmanager
def _ctrl_c() -> Iterator[Callable[[], bool]]:
    """While inside, the first Ctrl-C only asks the run to stop at the next item; a second one stops at once."""
    asked = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield asked.is_set
        return

    def handler(signum: int, frame: Any) -> None:
        if asked.is_set():
            raise KeyboardInterrupt
        asked.set()
        print("\nstopping after the current item (Ctrl-C again to stop at once)", file=sys.stderr)

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield asked.is_set
    finally:
        signal.signal(signal.SIGINT, previous)


def _run(
    loaded: LoadedConfig, progress: Optional[ProgressFn], cache: ItemCache, stop: Callable[[], bool],
    command: Optional[list[str]] = None, signer: Optional[Signer] = None,
) -> RunResult:  # fmt: skip
    from reportgen import tensorboard
    from reportgen.cards import write_cards
    from reportgen.hooks import load_hook
    from reportgen.model import check_keras
    from reportgen.render import FORMATS, write_report

    out = loaded.output_dir
    check_keras()  # Keras 2, TF_USE_LEGACY_KERAS or another backend: refused (exit 2) before anything runs
    # Hooks are user code: imported before anything runs, so a broken one is a config error (exit 2).
    hooks = [
        load_hook(m.entry.preprocess.hook, loaded.folder, f"{loaded.path.name}: models[{i}].preprocess")
        if m.entry.preprocess.hook else None
        for i, m in enumerate(loaded.models)
    ]  # fmt: skip
    staging = outdir.staging_folder(out)
    try:
        created = created_time()
        config_data = effective(loaded.config)
        ctx = _Context(loaded.config.seed, staging, loaded.config.limits, cache, progress, {}, [], stop)
        models = []
        try:
            for resolved, ids, effective_model, hook in zip(loaded.models, item_ids(loaded), config_data["models"], hooks):
                models.append(_explain_model(resolved, ids, effective_model, hook, ctx))
        except _StopRequested:
            done = sum(row.status == "ok" for row in ctx.rows)
            kept = "kept in the item cache; run the same command again to resume" if cache.enabled else (
                "not kept (--no-cache)")  # fmt: skip
            raise Interrupted(f"interrupted: {done} of {count_items(loaded)} items were explained and {kept}; "
                              f"the previous report in {outdir.shown(out)} is unchanged") from None  # fmt: skip
        evidence = ev.Evidence(
            title=loaded.config.title, created=created, tool=ev.Tool(version=__version__), environment=environment(),
            config=recorded_config(config_data), config_sha256=loaded.sha256, artifacts=ev.hash_artifacts(staging), models=models,
            command=command, config_file=loaded.path.name, config_folder=config_folder(loaded.folder, out),
        )  # fmt: skip
        _keep_config(loaded, staging)
        evidence_bytes = ev.to_json(evidence).encode("utf-8")
        (staging / ev.EVIDENCE_FILE).write_bytes(evidence_bytes)
        if signer is not None:
            (staging / ev.SIGNATURE_FILE).write_bytes(signer.sign(evidence_bytes))
        (staging / ev.TIMINGS_FILE).write_text(json.dumps(ctx.timings, indent=2) + "\n", encoding="utf-8")
        formats = list(loaded.config.formats)
        report_formats = [f for f in formats if f in FORMATS]
        written = write_report(evidence, staging, report_formats) if report_formats else []
        written += write_cards(evidence, staging)
        written += [staging / name for name in (ev.CONFIG_COPY, ev.SIGNATURE_FILE) if (staging / name).is_file()]
        if tensorboard.FORMAT in formats:  # logs from the evidence, in the staging folder: swapped in with the rest
            written.append(tensorboard.write_logs(evidence, staging))
        outdir.normal_permissions(staging)
        outdir.publish(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    written = [out / p.name for p in written]
    return RunResult(out, evidence, written, ctx.rows, cache.hits)


def _keep_config(loaded: LoadedConfig, staging: Path) -> None:
    """Copy the config file's bytes into the report folder (the PDF carries them; verify checks them)."""
    data = loaded.path.read_bytes()
    if ev.sha256_bytes(data) != loaded.sha256:
        raise ConfigError(f"{loaded.path.name}: the config file changed while the run was going on; run again")
    (staging / ev.CONFIG_COPY).write_bytes(data)


def render_again(report_dir: Path, formats: list[str], language: Optional[str] = None) -> list[Path]:
    """Rebuild report.html / report.pdf (and the model-card files) from evidence.json and artifacts/ alone.

    language, when given, overrides the config's for the report files (the evidence is not changed).
    """
    from reportgen.cards import write_cards
    from reportgen.render import write_report

    evidence = ev.load(report_dir)
    written = write_report(evidence, report_dir, formats, language)
    return written + write_cards(evidence, report_dir)


def rendered_folder(pdf: Path) -> Path:
    """Where `reportgen render report.pdf` writes by default: '<pdf stem>-rendered' beside the PDF."""
    return pdf.with_name(f"{pdf.stem}-rendered")


def render_from_pdf(pdf: Path, out: Path, formats: list[str], language: Optional[str] = None) -> list[Path]:
    """Rebuild a report folder at out from what report.pdf carries alone (evidence.json, config, artifacts/)."""
    from reportgen.errors import UsageError
    from reportgen.render.carried import unpack

    if out.exists() and not (out / ev.EVIDENCE_FILE).is_file() and any(out.iterdir()):
        raise UsageError(f"{outdir.shown(out)} exists and is not a report folder; choose another --out")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = outdir.staging_folder(out)
    try:
        unpack(pdf, staging)
        render_again(staging, formats, language)
        outdir.normal_permissions(staging)
        outdir.publish(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return sorted(p for p in out.iterdir() if p.is_file())
