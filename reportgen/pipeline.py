"""`reportgen run`, top to bottom: load -> explain each item -> save evidence -> render -> publish."""

from __future__ import annotations

import json
import os
import platform
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Optional

from reportgen import __version__
from reportgen import evidence as ev
from reportgen.config import Limits, effective
from reportgen.errors import ConfigError, ReportgenError, describe
from reportgen.resolve import InputSpec, LoadedConfig, ResolvedModel, input_sha256

# Distributions whose versions every evidence record states.
ENVIRONMENT_PACKAGES = [
    "tensorflow", "keras", "lime", "numpy", "scikit-image", "scikit-learn",
    "pillow", "matplotlib", "jinja2", "weasyprint", "pydantic",
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


@dataclass
class RunResult:
    """What a run produced: where the report is, the evidence, and what the CLI summarises."""

    output_dir: Path
    evidence: ev.Evidence
    written: list[Path]
    rows: list[SummaryRow] = field(default_factory=list)

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
    env = {"python": platform.python_version()}
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


def check_output_dir(out: Path) -> None:
    """Refuse to replace a folder that is not a report: the run swaps the whole folder in."""
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / ev.EVIDENCE_FILE).exists())):
        raise ConfigError(f"{out}: exists and is not a reportgen report folder; refusing to replace it")


def _explain_model(
    resolved: ResolvedModel, seed: int, staging: Path, ids: list[str], progress: Optional[ProgressFn],
    timings: dict[str, dict[str, float]], rows: list[SummaryRow], effective_model: dict[str, Any],
    hook: Optional[Callable[..., Any]] = None, limits: Optional[Limits] = None,
) -> ev.ModelRecord:  # fmt: skip
    from reportgen.runners import make_runner

    entry = resolved.entry
    record = ev.ModelRecord(
        name=entry.name, kind=entry.kind, path=resolved.rel_path,
        sha256=_model_sha256(resolved.path), classes=list(resolved.classes or []), status="ok",
        trusted=entry.trust_model,
    )  # fmt: skip

    def fail(item_id: str, ref: ev.InputRef, message: str) -> None:
        record.items.append(ev.Item(id=item_id, status="error", error=message, input=ref))
        rows.append(SummaryRow(entry.name, item_id, "error", error=message))
        if progress:
            progress(entry.name, item_id, "error")

    try:
        runner = make_runner(resolved, seed, hook, limits or Limits())
    except ReportgenError as exc:
        record.status, record.error = "error", str(exc)
        for item_id, spec in zip(ids, resolved.inputs):
            fail(item_id, _input_ref(spec, input_sha256(spec)), "not explained: the model could not be used")
        return record
    record.classes = list(runner.classes)
    runner.complete(effective_model)

    for item_id, spec in zip(ids, resolved.inputs):
        sha = input_sha256(spec)
        try:
            fields, item_timings = runner.explain(spec, item_id, sha, staging)
        except ReportgenError as exc:
            fail(item_id, _input_ref(spec, sha), str(exc))
            continue
        except Exception as exc:  # an unexpected failure of one item must not sink the others
            where = spec.rel or item_id
            fail(item_id, _input_ref(spec, sha), f"{where}: explanation failed: {type(exc).__name__}: {describe(exc, spec.path, where)}")
            continue
        ref = _input_ref(spec, sha, fields.pop("text", None))
        record.items.append(ev.Item(id=item_id, status="ok", input=ref, **fields))
        timings[f"{entry.name}/{item_id}"] = item_timings
        top = fields["predictions"][0]
        share = item_timings["model_s"] / item_timings["total_s"] if item_timings["total_s"] else None
        rows.append(SummaryRow(entry.name, item_id, "ok", top["label"], top["probability"], share))
        if progress:
            progress(entry.name, item_id, "ok")
    return record


def _input_ref(spec: InputSpec, sha: str, text: Optional[str] = None) -> ev.InputRef:
    return ev.InputRef(path=spec.rel, sha256=sha, text=text if text is not None else spec.text, row=spec.row)


def _publish(staging: Path, out: Path) -> None:
    # The previous report stays whole until the new one is complete, then the folders are swapped.
    if out.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
        os.replace(out, old / out.name)
        os.replace(staging, out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(staging, out)


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


def run(loaded: LoadedConfig, progress: Optional[ProgressFn] = None) -> RunResult:
    """Explain every input of every model and write the whole report folder."""
    from reportgen.safety import no_network

    with no_network():  # a run never connects anywhere: downloads fail fast instead of timing out
        return _run(loaded, progress)


def _run(loaded: LoadedConfig, progress: Optional[ProgressFn]) -> RunResult:
    from reportgen.hooks import load_hook
    from reportgen.model import import_keras
    from reportgen.render import write_report

    out = loaded.output_dir
    check_output_dir(out)
    import_keras()  # Keras 2, TF_USE_LEGACY_KERAS or another backend: refused (exit 2) before anything runs
    # Hooks are user code: imported before anything runs, so a broken one is a config error (exit 2).
    hooks = [
        load_hook(m.entry.preprocess.hook, loaded.folder, f"{loaded.path.name}: models[{i}].preprocess")
        if m.entry.preprocess.hook else None
        for i, m in enumerate(loaded.models)
    ]  # fmt: skip
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        staging.chmod(0o755)
        created = created_time()
        config_data = effective(loaded.config)
        timings: dict[str, dict[str, float]] = {}
        rows: list[SummaryRow] = []
        models = []
        for resolved, ids, effective_model, hook in zip(loaded.models, item_ids(loaded), config_data["models"], hooks):
            models.append(_explain_model(resolved, loaded.config.seed, staging, ids, progress, timings, rows,
                                         effective_model, hook, loaded.config.limits))  # fmt: skip
        evidence = ev.Evidence(
            title=loaded.config.title, created=created, tool=ev.Tool(version=__version__), environment=environment(),
            config=config_data, config_sha256=loaded.sha256, artifacts=ev.hash_artifacts(staging), models=models,
        )  # fmt: skip
        (staging / ev.EVIDENCE_FILE).write_text(ev.to_json(evidence), encoding="utf-8")
        (staging / ev.TIMINGS_FILE).write_text(json.dumps(timings, indent=2) + "\n", encoding="utf-8")
        written = write_report(evidence, staging, list(loaded.config.formats))
        _publish(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    written = [out / p.name for p in written]
    return RunResult(out, evidence, written, rows)


def render_again(report_dir: Path, formats: list[str]) -> list[Path]:
    """Rebuild report.html / report.pdf from evidence.json and artifacts/ alone."""
    from reportgen.render import write_report

    evidence = ev.load(report_dir)
    return write_report(evidence, report_dir, formats)
