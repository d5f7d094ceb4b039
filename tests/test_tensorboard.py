"""formats: [..., tensorboard]: figures and trust figures as TensorBoard summaries, read back record by record."""

from __future__ import annotations

import importlib.util
import io
import json
import os
from pathlib import Path

import pytest
from conftest import _with_trust_figures, write_config
from PIL import Image
from render_fixtures import build_evidence
from test_cli import ROOT, reportgen

from reportgen import config as cfg
from reportgen import tensorboard
from reportgen.errors import ConfigError

MINIMAL = "formats: [html, tensorboard]\nmodels:\n  - name: m\n    path: m.keras\n    inputs: [x.png]\n"


def _pretend_installed(monkeypatch, installed: bool) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: (object() if installed else None) if name == "tensorboard" else real(name, *a))  # fmt: skip


def test_without_tensorboard_the_format_is_a_config_error_with_the_install_hint(monkeypatch):
    _pretend_installed(monkeypatch, False)
    with pytest.raises(ConfigError) as info:
        cfg.parse(MINIMAL, "review.yaml")
    assert info.value.exit_code == 2
    assert str(info.value) == ('review.yaml: formats: tensorboard needs the TensorBoard package: '
                               'pip install "reportgen[tensorboard]"')  # fmt: skip
    cfg.parse(MINIMAL.replace(", tensorboard", ""), "review.yaml")  # the other formats do not need it


def test_with_tensorboard_the_format_is_accepted(monkeypatch):
    _pretend_installed(monkeypatch, True)
    assert cfg.effective(cfg.parse(MINIMAL, "review.yaml"))["formats"] == ["html", "tensorboard"]


def read_logs(run: Path) -> dict[str, list[tuple[int, str, object]]]:
    """Every summary value of one run's event files: tag -> [(step, plugin, value)], decoded as TensorBoard would."""
    import tensorflow as tf
    from tensorflow.core.util import event_pb2

    out: dict[str, list[tuple[int, str, object]]] = {}
    for path in sorted(run.glob("events.out.tfevents.*")):
        for record in tf.data.TFRecordDataset(str(path)):
            event = event_pb2.Event.FromString(record.numpy())
            for value in event.summary.value:
                tensor = tf.make_ndarray(value.tensor)
                plugin = value.metadata.plugin_data.plugin_name
                out.setdefault(value.tag, []).append((event.step, plugin, tensor))
    return out


@pytest.fixture(scope="module")
def logs(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("tensorboard-report")
    evidence = _with_trust_figures(build_evidence(folder, text_model=True))
    assert tensorboard.write_logs(evidence, folder) == folder / "tensorboard"
    return folder / "tensorboard"


def test_one_run_per_model(logs):
    assert sorted(p.name for p in logs.iterdir()) == ["review-sentiment", "shapes-cnn", "shapes-legacy"]


def test_image_items_get_their_input_masks_heat_maps_and_curves(logs):
    values = read_logs(logs / "shapes-cnn")
    for item in ("circle-01", "circle-02"):
        step, plugin, tensor = values[f"{item}/input"][0]
        assert (step, plugin) == (0, "images")
        width, height, png = tensor
        with Image.open(io.BytesIO(png)) as img:
            assert img.format == "PNG" and img.size == (int(width), int(height)) == (256, 256)
        labels = {tag.split("/")[1] for tag in values if tag.startswith(f"{item}/") and tag.count("/") == 2}
        assert len(labels) == 2  # top_labels: 2
        for label in labels:
            for figure in ("supporting", "for_against", "weights", "curves"):
                assert values[f"{item}/{label}/{figure}"][0][1] == "images", figure
    assert values["broken-01/error"][0][1] == "text"
    assert "truncated PNG file" in values["broken-01/error"][0][2].item().decode()


def test_trust_figures_are_scalars_one_step_per_explanation(logs):
    values = read_logs(logs / "shapes-cnn")
    jaccard = values["trust/stability_jaccard"]
    assert [step for step, _p, _v in jaccard] == [0, 1, 2, 3]  # 2 items x 2 labels, in report order
    assert {plugin for _s, plugin, _v in jaccard} == {"scalars"}
    assert [round(float(v), 4) for _s, _p, v in jaccard] == [0.5, 0.7, 0.3, 0.5]
    for tag in ("trust/fidelity_fresh_r2", "trust/faithfulness_deletion_drop", "trust/agreement_gap",
                "explanation/model_probability", "explanation/lime_score"):  # fmt: skip
        assert len(values[tag]) == 4, tag
    assert "trust/sanity_rank_correlation" not in values  # not measured: not written
    table = values["explanations"][0][2].item().decode()
    assert "| step | item | label | probability | verdict | reasons |" in table
    assert "unstable" in table and "top\\_k\\_overlap\\_low" in table


def test_text_items_get_their_text_and_token_bars(logs):
    values = read_logs(logs / "review-sentiment")
    assert values["review-01/input"][0][2].item().decode().startswith("The battery lasts all day, but the screen")
    for label in ("positive", "negative"):
        assert values[f"review-01/{label}/tokens"][0][1] == "images"
    assert "positive" in values["review-01/predictions"][0][2].item().decode()


def test_a_failed_model_says_why(logs):
    values = read_logs(logs / "shapes-legacy")
    assert "Lambda layer" in values["error"][0][2].item().decode()


def test_tensorboard_itself_reads_the_logs(logs):
    # TensorBoard's own loader finds every kind of summary.
    import tensorboard  # noqa: F401  (in the [test] extra: this test must run in CI, not skip)
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(logs / "shapes-cnn"), size_guidance={"tensors": 0})
    accumulator.Reload()
    tags = accumulator.Tags()["tensors"]
    assert {"circle-01/input", "trust/stability_jaccard", "explanations"} <= set(tags)
    plugins = accumulator.PluginTagToContent("images")
    assert "circle-01/input" in plugins and "trust/stability_jaccard" in accumulator.PluginTagToContent("scalars")


def test_run_writes_the_logs_beside_the_report(workspace, tmp_path):
    # The format is accepted when the package can be found: a stand-in on the path is enough for `run`.
    stand_in = tmp_path / "site"
    (stand_in / "tensorboard").mkdir(parents=True)
    (stand_in / "tensorboard" / "__init__.py").write_text("", encoding="utf-8")
    config = write_config(workspace, """\
title: TensorBoard run
output: out/tb
formats: [html, tensorboard]
trust: {stability_runs: 1, curve_steps: 4, fresh_samples: 50}
models:
  - name: colour-cnn
    path: models/colour.keras
    classes: [red, green, blue]
    preprocess: {size: [32, 32], scale: unit}
    inputs: [images/red_square.png]
    explain: {num_samples: 100, top_labels: 1, num_features: 4}
""", "tb.yaml")  # fmt: skip
    result = reportgen("run", str(config), "--json", "--quiet", cwd=workspace,
                       env={"PYTHONPATH": os.pathsep.join([str(ROOT), str(stand_in)])})  # fmt: skip
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["written"] == ["out/tb/report.html", "out/tb/model-card.md", "out/tb/model-card-toolkit.json",
                                  "out/tb/config.yaml", "out/tb/tensorboard", "out/tb/evidence.json",
                                  "out/tb/timings.json"]  # fmt: skip
    assert not (workspace / "out" / "tb" / "report.pdf").exists()
    values = read_logs(workspace / "out" / "tb" / "tensorboard" / "colour-cnn")
    assert {"red-square/input", "red-square/red/for_against", "trust/stability_jaccard"} <= set(values)
