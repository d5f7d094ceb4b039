"""`formats: [..., tensorboard]`: each item's figures and trust figures as TensorBoard summaries (docs/ci.md).

The logs go to `<report>/tensorboard/<model>/`, one TensorBoard run per model, written in the staging folder
so they are swapped in with the rest of the report. They are written with TensorFlow's own `tf.summary.write`
and the plugin metadata TensorBoard's `tf.summary.image`, `scalar` and `text` write (the same records), so
writing needs no TensorBoard; reading them does, which is why the format asks for the extra.
Only `run` writes them: they are made from the evidence, but `render` leaves them alone.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the config validator imports this module: it stays light
    import numpy as np

    from reportgen.evidence import Evidence, Explanation, Item, ModelRecord

FORMAT = "tensorboard"
LOG_DIR = "tensorboard"
INSTALL_HINT = 'pip install "reportgen[tensorboard]"'

# Scalar tag -> where its value sits in an explanation's metrics; one point per explanation (see _explanations).
SCALARS = {
    "trust/stability_jaccard": ("stability", "jaccard"),
    "trust/stability_rank_correlation": ("stability", "rank_correlation"),
    "trust/stability_sign_flips": ("stability", "sign_flips"),
    "trust/fidelity_fresh_r2": ("fidelity", "fresh_r2"),
    "trust/fidelity_in_sample_r2": ("fidelity", "in_sample_r2"),
    "trust/faithfulness_deletion_drop": ("faithfulness", "deletion_drop"),
    "trust/faithfulness_insertion_gain": ("faithfulness", "insertion_gain"),
    "trust/agreement_gap": ("agreement", "gap"),
    "trust/sanity_rank_correlation": ("sanity", "rank_correlation"),
}


def available() -> bool:
    """True when the TensorBoard package is installed (looked up, not imported)."""
    return importlib.util.find_spec("tensorboard") is not None


def _metadata(plugin: str, description: str = "") -> Any:
    from tensorflow.core.framework import summary_pb2

    # Version 0 of each plugin's data proto serialises to no bytes: what TensorBoard's own summaries write.
    return summary_pb2.SummaryMetadata(
        summary_description=description, plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name=plugin)
    )


def _image(tag: str, png: Any, description: str) -> None:
    import tensorflow as tf

    tensor = tf.constant([str(png.width).encode(), str(png.height).encode(), png.data])
    tf.summary.write(tag, tensor, step=0, metadata=_metadata("images", description))


def _scalar(tag: str, value: float, step: int) -> None:
    import tensorflow as tf

    tf.summary.write(tag, tf.constant(value, tf.float32), step=step, metadata=_metadata("scalars"))


def _text(tag: str, markdown: str, step: int = 0) -> None:
    import tensorflow as tf

    tf.summary.write(tag, tf.constant(markdown), step=step, metadata=_metadata("text"))


def _escape(text: str) -> str:
    """Text shown as itself in TensorBoard's Markdown (which it sanitises: this is about looks, not safety)."""
    return re.sub(r"([\\`*_{}\[\]()#+\-.!|<>~])", r"\\\1", text).replace("\n", "  \n")


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_escape(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _figure_value(exp: Explanation, group: str, name: str) -> float | None:
    measured = getattr(exp.metrics, group)
    return None if measured is None else float(getattr(measured, name))


def _image_figures(item: Item, exp: Explanation, image: np.ndarray, segments: np.ndarray, num_features: int) -> None:
    import numpy as np

    from reportgen.render import figures

    ranked = [(rank, int(f.feature), f.weight) for rank, f in enumerate(exp.features, start=1)]
    strongest = ranked[:num_features]
    n_segments = int(segments.max()) + 1 if segments.size else 1
    weights = np.zeros(max(n_segments, 1))
    for _rank, seg, weight in ranked:
        if 0 <= seg < n_segments:
            weights[seg] = weight
    prefix, label = f"{item.id}/{exp.label}", f"'{exp.label}'"
    _image(f"{prefix}/supporting", figures.positive_mask_png(image, segments, [r for r in strongest if r[2] > 0]),
           f"Superpixels of the top {len(strongest)} supporting {label}, numbered by rank")  # fmt: skip
    _image(f"{prefix}/for_against", figures.for_against_png(image, segments, strongest),
           f"The top {len(strongest)} superpixels for {label}: blue for, orange against")  # fmt: skip
    _image(f"{prefix}/weights", figures.heatmap_png(segments, weights), f"All {n_segments} superpixel weights")


def _item(model: ModelRecord, item: Item, num_features: int, report_dir: Path) -> None:
    from reportgen.render import charts, figures

    if item.status == "error":
        _text(f"{item.id}/error", _escape(item.error or "failed"))
        return
    _text(f"{item.id}/predictions", _table(["label", "probability"],
                                           [[p.label, f"{p.probability:.4f}"] for p in item.predictions]))  # fmt: skip
    if model.kind == "image" and item.image and item.segments:
        image = figures.load_image(report_dir / item.image)
        segments = figures.load_segments(report_dir / item.segments, image.shape[:2])
        _image(f"{item.id}/input", figures.input_png(image), f"{item.input.path or item.id}, as the model saw it")
        for exp in item.explanations:
            _image_figures(item, exp, image, segments, num_features)
    else:
        _text(f"{item.id}/input", _escape(item.input.text or ""))
        for exp in item.explanations:
            shown = exp.features[:num_features]
            if shown:
                png = charts.token_bars_png([str(f.feature) for f in shown], [f.weight for f in shown],
                                            _words()("figure.tokens_xlabel"))  # fmt: skip
                _image(f"{item.id}/{exp.label}/tokens", png, f"The {len(shown)} strongest tokens for '{exp.label}'")
    for exp in item.explanations:
        d = exp.metrics.faithfulness
        if d is not None:
            t = _words()
            texts = {name: t(f"curves.{name}") for name in ("hide", "hide_random", "reveal", "reveal_random", "xlabel", "ylabel")}
            png = charts.curves_png(d.x, d.deletion, d.insertion, d.random_deletion, d.random_insertion, texts)
            _image(f"{item.id}/{exp.label}/curves", png, "Hiding and revealing the strongest features first")


def _words() -> Any:
    """The report's English catalogue, for the words inside the charts (TensorBoard's own labels are English)."""
    from reportgen.render.catalogue import catalogue

    return catalogue("en")


def _explanations(model: ModelRecord) -> None:
    """Every explanation's trust figures as scalars, step n the model's n-th explanation (listed in `explanations`)."""
    rows, step = [], 0
    for item in model.items:
        probability = {p.index: p.probability for p in item.predictions}
        for exp in item.explanations:
            for tag, (group, name) in SCALARS.items():
                value = _figure_value(exp, group, name)
                if value is not None:
                    _scalar(tag, value, step)
            p = probability.get(exp.index)
            if p is not None:
                _scalar("explanation/model_probability", p, step)
            _scalar("explanation/lime_score", exp.score, step)
            rows.append([str(step), item.id, exp.label, "" if p is None else f"{p:.4f}", exp.metrics.verdict or "",
                         ", ".join(exp.metrics.reasons or [])])  # fmt: skip
            step += 1
    if rows:
        _text("explanations", _table(["step", "item", "label", "probability", "verdict", "reasons"], rows))


def write_logs(evidence: Evidence, report_dir: Path) -> Path:
    """Write `<report_dir>/tensorboard/<model>/` for every model of the evidence; return the log folder."""
    import tensorflow as tf

    from reportgen.inputs import unique_ids

    folder = report_dir / LOG_DIR
    runs = unique_ids([model.name for model in evidence.models], set())
    num_features = {m.get("name"): int(m.get("explain", {}).get("num_features", 10)) for m in evidence.config["models"]}
    for model, run in zip(evidence.models, runs):
        writer = tf.summary.create_file_writer(str(folder / run))
        with writer.as_default():
            _text("report", _escape(f"{evidence.title} ({evidence.created}); model {model.name}, {model.path}"))
            if model.status == "error":
                _text("error", _escape(model.error or "failed"))
            for item in model.items:
                _item(model, item, num_features.get(model.name, 10), report_dir)
            _explanations(model)
        writer.close()
    return folder
