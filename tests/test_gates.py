"""Quality gates (issue 8): an explanation below a gate is listed in the report and the run exits 3."""

from __future__ import annotations

import json

from conftest import write_config
from test_cli import reportgen

CONFIG = """\
title: gates
output: out/{name}
{gates}
models:
  - name: colour-cnn
    path: models/colour.keras
    classes: [red, green, blue]
    preprocess: {{size: [32, 32], scale: unit}}
    inputs: [{inputs}]
    explain: {{num_samples: 200, top_labels: 1}}
    trust: {{stability_runs: 1, fresh_samples: 50, curve_steps: 5, random_orders: 1}}
"""


def run(workspace, name: str, gates: str, inputs: str = "images/red_square.png"):
    config = write_config(workspace, CONFIG.format(name=name, gates=gates, inputs=inputs), f"{name}.yaml")
    return reportgen("run", config.name, cwd=workspace)


def test_a_gate_not_met_exits_3_and_is_listed_on_the_first_page(workspace):
    result = run(workspace, "gates-fail", "gates: {min_deletion_drop: 0.99, min_stability: 0.0}")
    assert result.returncode == 3, result.stderr
    assert "gates not met by 1 explanation: colour-cnn/red-square (red)" in result.stdout
    html = (workspace / "out" / "gates-fail" / "report.html").read_text(encoding="utf-8")
    assert "Quality gates not met by 1 check" in html and "deletion drop against random orders" in html
    evidence = json.loads((workspace / "out" / "gates-fail" / "evidence.json").read_text())
    assert evidence["config"]["gates"]["min_deletion_drop"] == 0.99


def test_gates_that_are_met_exit_0_and_a_failure_comes_first(workspace):
    met = run(workspace, "gates-met", "gates: {min_stability: 0.0}")
    assert met.returncode == 0, met.stderr
    assert "Every quality gate is met." in (workspace / "out" / "gates-met" / "report.html").read_text(encoding="utf-8")
    both = run(workspace, "gates-and-failure", "gates: {min_deletion_drop: 0.99}",
               inputs="images/red_square.png, images/broken.png")  # fmt: skip
    assert both.returncode == 1  # DESIGN.md: 2, then 1, then 3


def test_a_gate_on_a_figure_turned_off_is_a_config_error(workspace):
    config = CONFIG.format(name="gates-off", gates="gates: {min_fidelity: 0.5}", inputs="images/red_square.png")
    write_config(workspace, config.replace("fresh_samples: 50", "fresh_samples: 0"), "gates-off.yaml")
    result = reportgen("run", "gates-off.yaml", cwd=workspace)
    assert result.returncode == 2
    assert "gates.min_fidelity needs trust.fresh_samples above 0" in result.stderr
