"""`run --quiet` prints only errors, `run --json` prints one JSON summary on stdout (docs/ci.md)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from conftest import write_config
from test_cli import reportgen

CONFIG = """\
title: CI gate check
output: out/{name}
formats: [html]
cache: ci-cache
seed: 5
{gates}
models:
  - name: colour-cnn
    path: models/colour.keras
    classes: [red, green, blue]
    preprocess: {{size: [32, 32], scale: unit}}
    inputs: {inputs}
    explain: {{num_samples: 150, top_labels: 1, num_features: 4}}
"""
IMPOSSIBLE = "gates: {min_fidelity: 1.0}"  # a weighted R² of exactly 1 on fresh samples: never met


def ci_config(workspace: Path, name: str, inputs: list[str], gates: str = "") -> Path:
    return write_config(workspace, CONFIG.format(name=name, inputs=json.dumps(inputs), gates=gates), f"{name}.yaml")


def stale_lock(workspace: Path, name: str) -> None:
    """A lock left behind by a run that no longer exists (taking it over prints a notice)."""
    lock = workspace / "out" / f".{name}.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    lock.write_text("999999999\n", encoding="ascii")
    old = time.time() - 60
    os.utime(lock, (old, old))


def test_json_quiet_prints_the_summary_alone_and_failures_come_first(workspace):
    config = ci_config(workspace, "ci-json", ["images/red_square.png", "images/broken.png"], IMPOSSIBLE)
    result = reportgen("run", str(config), "--json", "--quiet", cwd=workspace)
    assert result.returncode == 1  # a failed item (1) comes before gates not met (3)
    assert result.stderr == ""
    summary = json.loads(result.stdout)
    assert result.stdout.count("\n") == 1  # one document, one line
    assert summary["summary_version"] == 1 and summary["exit_code"] == 1 and summary["error"] is None
    assert summary["output"] == "out/ci-json"
    assert summary["counts"] == {"items": 2, "ok": 1, "failed": 1, "cached": 0}
    assert summary["models"] == [{"name": "colour-cnn", "kind": "image", "status": "ok", "error": None}]
    items = {item["item"]: item for item in summary["items"]}
    red, broken = items["red-square"], items["broken"]
    assert red["status"] == "ok" and red["error"] is None and red["input"] == "images/red_square.png"
    assert red["top_label"] == "red" and 0.5 < red["probability"] <= 1.0
    assert [v["label"] for v in red["verdicts"]] == ["red"]
    assert isinstance(red["verdicts"][0]["verdict"], str) and isinstance(red["verdicts"][0]["reasons"], list)
    assert broken["status"] == "error" and broken["error"].startswith("images/broken.png: cannot decode")
    assert broken["verdicts"] == [] and broken["top_label"] is None
    gates = summary["gates"]
    assert gates["set"] == {"min_fidelity": 1.0} and gates["passed"] is False
    assert gates["failures"][0] | {"value": None} == {"model": "colour-cnn", "item": "red-square", "label": "red",
                                                       "gate": "min_fidelity", "value": None, "threshold": 1.0}  # fmt: skip
    assert summary["written"] == [f"out/ci-json/{name}" for name in ("report.html", "model-card.md", "model-card-toolkit.json",
                                                                     "config.yaml", "evidence.json", "timings.json")]  # fmt: skip
    for path in summary["written"]:
        assert (workspace / path).is_file()


def test_quiet_prints_only_the_unmet_gates(workspace):
    config = ci_config(workspace, "ci-gates", ["images/red_square.png"], IMPOSSIBLE)
    result = reportgen("run", str(config), "--quiet", cwd=workspace)
    assert result.returncode == 3, result.stderr
    assert result.stdout == ""
    assert result.stderr.splitlines() == ["gates not met by 1 explanation: colour-cnn/red-square (red)"]


def test_json_keeps_stdout_for_the_document_and_quiet_drops_notices(workspace):
    config = ci_config(workspace, "ci-ok", ["images/red_square.png"])
    stale_lock(workspace, "ci-ok")
    loud = reportgen("run", str(config), "--json", cwd=workspace)
    assert loud.returncode == 0, loud.stderr
    summary = json.loads(loud.stdout)  # the human summary and the notice went to stderr
    assert summary["exit_code"] == 0 and summary["gates"] == {"set": {}, "passed": True, "failures": []}
    assert summary["counts"]["ok"] == 1
    assert "taking over the lock" in loud.stderr and "Summary" in loud.stderr
    stale_lock(workspace, "ci-ok")
    quiet = reportgen("run", str(config), "--quiet", cwd=workspace)
    assert (quiet.returncode, quiet.stdout, quiet.stderr) == (0, "", "")


@pytest.mark.parametrize("quiet", [[], ["--quiet"]])
def test_json_error_before_the_run_is_a_document_too(workspace, quiet):
    config = ci_config(workspace, "ci-missing", ["images/missing.png"])
    result = reportgen("run", str(config), "--json", *quiet, cwd=workspace)
    assert result.returncode == 2
    message = "ci-missing.yaml: models[0].inputs[0]: 'images/missing.png' does not exist"
    assert result.stderr.splitlines() == [f"error: {message}"]
    summary = json.loads(result.stdout)
    assert summary["exit_code"] == 2 and summary["error"] == message
    assert summary["items"] == [] and summary["written"] == [] and summary["gates"] is None


def test_demo_takes_the_same_flags():
    result = reportgen("demo", "--help")
    assert result.returncode == 0 and "--quiet" in result.stdout and "--json" in result.stdout
