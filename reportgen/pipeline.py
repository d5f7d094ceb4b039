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

import numpy as np

from reportgen import __version__
from reportgen import evidence as ev
from reportgen.config import LoadedConfig, ResolvedModel, effective
from reportgen.errors import ConfigError, ModelError, ReportgenError, describe

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
    model_errors: list[tuple[str, str]] = field(default_factory=list)

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


def _write_png(path: Path, array: np.ndarray) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    if array.dtype == np.uint8:
        Image.fromarray(array, "RGB").save(path, format="PNG")
    else:
        # 16-bit label map: values 0..S-1 survive exactly.
        Image.fromarray(array.astype(np.uint16)).save(path, format="PNG")


class _ImageModelRun:
    """One image model: loaded and compiled once, then asked to explain each of its inputs."""

    def __init__(self, resolved: ResolvedModel, seed: int, hook: Optional[Callable[..., Any]] = None) -> None:
        from reportgen import model as km

        entry = resolved.entry
        self.resolved = resolved
        self.seed = seed
        if entry.application is not None:
            from reportgen.applications import build_application

            weights = "imagenet" if entry.weights == "imagenet" else resolved.path
            model = build_application(entry.application, weights, resolved.rel_path)
        else:
            model = km.load_model(resolved.path, resolved.rel_path)
        model = km.select_output(model, entry.output_name, resolved.rel_path)
        info = km.inspect(model)
        rel = resolved.rel_path
        if len(info.input_shape) != 3 or info.input_shape[-1] not in (1, 3):
            raise ModelError(f"{rel}: the model takes inputs of shape {info.input_shape}; an image model takes (height, width, 1 or 3)")
        height, width, channels = info.input_shape
        size = entry.preprocess.size
        if size is None:
            if height is None or width is None:
                raise ModelError(f"{rel}: the model accepts any image size; set preprocess.size")
            size = (int(height), int(width))
        elif (height, width) != (None, None) and tuple(size) != (height, width):
            raise ModelError(f"{rel}: preprocess.size is {list(size)} but the model takes {height}x{width} images")
        color = entry.preprocess.color or ("grayscale" if channels == 1 else "rgb")
        if color == "rgb" and channels == 1:
            raise ModelError(f"{rel}: preprocess.color is rgb but the model takes one channel (grayscale)")
        mode, transform, n_classes = km.output_transform(entry.output, info, rel)
        classes = resolved.classes
        if classes is None and entry.application is not None and n_classes == 1000:
            from reportgen.applications import imagenet_classes

            classes = imagenet_classes()
        classes = classes or [str(i) for i in range(n_classes)]
        if len(classes) != n_classes:
            extra = " (one sigmoid unit: two classes, negative first)" if info.num_outputs == 1 and mode == "sigmoid" else ""
            raise ModelError(f"{rel}: {len(classes)} class names given but the model has {n_classes} outputs{extra}")
        self.size, self.color, self.channels, self.classes = tuple(size), color, int(channels), classes
        self.output_mode = mode
        self.predictor = km.Predictor(model, transform, entry.explain.batch_size)
        self.to_input = self._input_fn(hook)

    def _input_fn(self, hook: Optional[Callable[..., Any]]) -> Callable[[np.ndarray], np.ndarray]:
        """uint8 RGB batch -> model input: the hook, a keras.applications preprocess_input, or plain scaling."""
        from reportgen.inputs import scale_batch

        preprocess = self.resolved.entry.preprocess
        if hook is not None:
            from reportgen.hooks import call_image_hook

            shape = (*self.size, self.channels)
            return lambda batch: call_image_hook(hook, batch, preprocess.hook, shape)
        if preprocess.scale in ("unit", "symmetric", "raw"):
            return lambda batch: scale_batch(batch, preprocess.scale, self.channels)
        from reportgen.applications import scale_fn

        keras_scale = scale_fn(preprocess.scale)  # converts the uint8 batch to float32 itself
        return lambda batch: keras_scale(batch[..., : self.channels])

    def effective_settings(self) -> dict[str, Any]:
        """Settings read off the model, to complete the effective config."""
        return {
            "size": list(self.size), "color": self.color, "output": self.output_mode,
            "top_labels": min(self.resolved.entry.explain.top_labels, len(self.classes)),
        }  # fmt: skip

    def explain(self, image: np.ndarray) -> Any:
        """Explain one image; the timings include the model's share."""
        from reportgen.explain.image import explain_image

        entry = self.resolved.entry
        settings = entry.explain.model_copy(update={"top_labels": min(entry.explain.top_labels, len(self.classes))})
        before = self.predictor.model_seconds
        predict = lambda batch: self.predictor(self.to_input(batch))  # noqa: E731
        result = explain_image(image, predict, self.classes, settings, self.seed)
        result.timings["model_s"] = self.predictor.model_seconds - before
        result.timings["perturb_s"] = max(0.0, result.timings["total_s"] - result.timings["segmentation_s"]
                                          - result.timings["fit_s"] - result.timings["model_s"])  # fmt: skip
        return result


def _explain_model(
    resolved: ResolvedModel, seed: int, staging: Path, ids: list[str], progress: Optional[ProgressFn],
    timings: dict[str, dict[str, float]], rows: list[SummaryRow], effective_model: dict[str, Any],
    hook: Optional[Callable[..., Any]] = None,
) -> ev.ModelRecord:  # fmt: skip
    from reportgen.inputs import load_image

    entry = resolved.entry
    record = ev.ModelRecord(
        name=entry.name, kind=entry.kind, path=resolved.rel_path,
        sha256=ev.sha256_file(resolved.path) if resolved.path.is_file() else None,  # imagenet weights may be missing
        classes=list(resolved.classes or []), status="ok",
    )  # fmt: skip
    hashes = [ev.sha256_file(f.path) for f in resolved.inputs]
    try:
        runner = _ImageModelRun(resolved, seed, hook)
    except ReportgenError as exc:
        record.status, record.error = "error", str(exc)
        for item_id, input_file, sha in zip(ids, resolved.inputs, hashes):
            record.items.append(ev.Item(id=item_id, status="error", error="not explained: the model could not be used",
                                        input=ev.InputRef(path=input_file.rel, sha256=sha)))  # fmt: skip
            rows.append(SummaryRow(entry.name, item_id, "error", error="model failed"))
            if progress:
                progress(entry.name, item_id, "error")
        return record
    record.classes = list(runner.classes)
    effective_model["preprocess"].update(size=list(runner.size), color=runner.color)
    effective_model["output"] = runner.output_mode
    effective_model["explain"]["top_labels"] = runner.effective_settings()["top_labels"]
    effective_model["classes"] = list(runner.classes)

    for item_id, input_file, sha in zip(ids, resolved.inputs, hashes):
        ref = ev.InputRef(path=input_file.rel, sha256=sha)
        try:
            image = load_image(input_file.path, input_file.rel, item_id, sha, runner.size, entry.preprocess.fit,
                               runner.color == "grayscale").array  # fmt: skip
            result = runner.explain(image)
        except ReportgenError as exc:
            record.items.append(ev.Item(id=item_id, status="error", error=str(exc), input=ref))
            rows.append(SummaryRow(entry.name, item_id, "error", error=str(exc)))
        except Exception as exc:  # an unexpected failure of one item must not sink the others
            message = f"{input_file.rel}: explanation failed: {type(exc).__name__}: {describe(exc, input_file.path, input_file.rel)}"
            record.items.append(ev.Item(id=item_id, status="error", error=message, input=ref))
            rows.append(SummaryRow(entry.name, item_id, "error", error=message))
        else:
            image_rel = f"{ev.ARTIFACTS_DIR}/{item_id}/input.png"
            segments_rel = f"{ev.ARTIFACTS_DIR}/{item_id}/segments.png"
            _write_png(staging / image_rel, image)
            _write_png(staging / segments_rel, result.segments)
            record.items.append(ev.Item(
                id=item_id, status="ok", input=ref, predictions=result.predictions,
                explanations=result.explanations, image=image_rel, segments=segments_rel,
            ))  # fmt: skip
            timings[f"{entry.name}/{item_id}"] = {k: round(result.timings[k], 6) for k in
                                                  ("segmentation_s", "perturb_s", "model_s", "fit_s", "total_s")}  # fmt: skip
            top = result.predictions[0]
            share = result.timings["model_s"] / result.timings["total_s"] if result.timings["total_s"] else None
            rows.append(SummaryRow(entry.name, item_id, "ok", top["label"], top["probability"], share))
        if progress:
            progress(entry.name, item_id, record.items[-1].status)
    return record


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
    return [unique_ids([Path(f.rel).stem for f in m.inputs], taken) for m in loaded.models]


def count_items(loaded: LoadedConfig) -> int:
    """How many items the run will explain."""
    return sum(len(m.inputs) for m in loaded.models)


def run(loaded: LoadedConfig, progress: Optional[ProgressFn] = None) -> RunResult:
    """Explain every input of every model and write the whole report folder."""
    from reportgen.hooks import load_hook
    from reportgen.render import write_report

    out = loaded.output_dir
    check_output_dir(out)
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
                                         effective_model, hook))  # fmt: skip
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
