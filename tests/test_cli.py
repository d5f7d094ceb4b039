"""End to end through the CLI: real tiny Keras models, real LIME, real HTML and PDF files."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from conftest import write_config
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("tensorflow", "keras", "lime")

CONFIG = """\
title: Colour model review
output: out/{name}
seed: 3
models:
  - name: colour-cnn
    kind: image
    path: models/colour.keras
    classes: [red, green, blue]
    preprocess: {{size: [32, 32], scale: unit}}
    inputs:
{inputs}
    explain: {{num_samples: 200, top_labels: 2, num_features: 5}}
"""


def reportgen(*args: str, cwd: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run the CLI in a fresh process, as a user would."""
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "reportgen", *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=600
    )


def make_config(workspace: Path, name: str, inputs: list[str], extra_models: str = "") -> Path:
    lines = "\n".join(f"      - {i}" for i in inputs)
    return write_config(workspace, CONFIG.format(name=name, inputs=lines) + extra_models, f"{name}.yaml")


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def parse_html(path: Path) -> _Collector:
    collector = _Collector()
    collector.feed(path.read_text(encoding="utf-8"))
    return collector


@pytest.fixture(scope="module")
def mixed_report(workspace) -> tuple[subprocess.CompletedProcess, Path]:
    """One run with good images, an undecodable one, and a second model whose file is garbage."""
    garbage = """\
  - name: broken-model
    path: models/garbage.keras
    classes: [a, b]
    inputs: [images/red_square.png]
  - name: sentiment
    kind: text
    path: models/sentiment.keras
    classes: [negative, positive]
    inputs: [{text: "Great colours, awful strap."}]
    explain: {num_samples: 200}
"""
    config = make_config(workspace, "mixed", ["images/*.png", "images/blue square.jpg"], garbage)
    result = reportgen("run", str(config), env={"SOURCE_DATE_EPOCH": "1700000000"})
    return result, workspace / "out" / "mixed"


def test_run_writes_every_file_and_exits_1_on_failures(mixed_report):
    result, out = mixed_report
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    for name in ("report.html", "report.pdf", "evidence.json", "timings.json"):
        assert (out / name).is_file(), name
    assert "report.pdf" in result.stdout and "failed" in result.stdout
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]  # no staging folder left behind


def test_evidence_follows_the_contract(mixed_report, workspace):
    _result, out = mixed_report
    text = (out / "evidence.json").read_text(encoding="utf-8")
    assert str(workspace) not in text  # paths are relative to the config: no home folders leak
    evidence = json.loads(text)
    assert evidence["schema_version"] == 1
    assert evidence["created"] == "2023-11-14T22:13:20Z"
    assert evidence["tool"]["name"] == "reportgen"
    assert {"python", "tensorflow", "keras", "lime", "numpy", "scikit-image"} <= set(evidence["environment"])
    assert evidence["config"]["models"][0]["explain"]["hide_color"] == 0
    assert evidence["config"]["models"][0]["preprocess"]["color"] == "rgb"  # read off the model
    good, bad, text = evidence["models"]
    assert text["kind"] == "text" and text["items"][0]["status"] == "ok"
    assert text["items"][0]["input"]["text"] == "Great colours, awful strap."
    assert good["status"] == "ok" and good["path"] == "models/colour.keras" and len(good["sha256"]) == 64
    assert bad["status"] == "error" and bad["error"].startswith("models/garbage.keras: not a .keras model")
    assert [i["status"] for i in bad["items"]] == ["error"]
    items = {i["id"]: i for i in good["items"]}
    assert set(items) == {"broken", "green-square", "red-square", "blue-square"}
    assert items["broken"]["status"] == "error"
    assert items["broken"]["error"].startswith("images/broken.png: cannot decode the image")
    red = items["red-square"]
    assert red["input"]["path"] == "images/red_square.png"
    assert [p["label"] for p in red["predictions"]][0] == "red"
    assert sum(p["probability"] for p in red["predictions"]) == pytest.approx(1.0, abs=1e-5)
    assert len(red["explanations"]) == 2
    # Every file under artifacts/ is hashed, and every hash is right.
    listed = {p.relative_to(out / "artifacts").as_posix() for p in (out / "artifacts").rglob("*") if p.is_file()}
    assert set(evidence["artifacts"]) == listed
    from reportgen.evidence import sha256_file

    for rel, digest in evidence["artifacts"].items():
        assert sha256_file(out / "artifacts" / rel) == digest
    image = np.array(Image.open(out / red["image"]))
    segments = np.array(Image.open(out / red["segments"]))
    assert image.shape == (32, 32, 3) and segments.shape == (32, 32)
    n_segments = int(segments.max()) + 1
    assert sorted(np.unique(segments)) == list(range(n_segments))
    for explanation in red["explanations"]:
        assert sorted(f["feature"] for f in explanation["features"]) == list(range(n_segments))
    timings = json.loads((out / "timings.json").read_text(encoding="utf-8"))
    assert set(timings["colour-cnn/red-square"]) == {"segmentation_s", "perturb_s", "model_s", "fit_s", "total_s", "metrics_s"}


def test_html_is_self_contained_and_complete(mixed_report, workspace):
    _result, out = mixed_report
    page = parse_html(out / "report.html")
    tags = [t for t, _ in page.tags]
    assert "script" not in tags
    for tag, attrs in page.tags:
        for key in ("src", "href", "srcset", "action", "data"):
            value = attrs.get(key)
            if value is not None:
                assert value.startswith(("data:", "#")), (tag, key, value[:60])
    images = [a for t, a in page.tags if t == "img"]
    assert images and all(a["src"].startswith("data:image/png;base64,") and a.get("alt") for a in images)
    assert tags.count("table") >= 3
    text = " ".join(page.text)
    assert "Colour model review" in text
    for item in ("red-square", "green-square", "blue-square", "broken", "broken-model"):
        assert item in text
    assert "cannot decode the image" in text and "not a .keras model" in text
    raw = (out / "report.html").read_text(encoding="utf-8")
    assert str(workspace) not in raw
    assert "http://" not in raw and "https://" not in raw and "file:" not in raw


def test_pdf_has_pages_and_text(mixed_report):
    if shutil.which("pdftotext") is None:
        pytest.skip("poppler-utils is not installed")
    _result, out = mixed_report
    info = subprocess.run(["pdfinfo", str(out / "report.pdf")], capture_output=True, text=True, check=True).stdout
    pages = int(next(line.split()[-1] for line in info.splitlines() if line.startswith("Pages:")))
    assert pages >= 3
    text = subprocess.run(["pdftotext", str(out / "report.pdf"), "-"], capture_output=True, text=True, check=True).stdout
    assert "Colour model review" in text
    assert "red-square" in text and "blue-square" in text
    assert "cannot decode the image" in text


def test_render_rebuilds_the_same_html_without_tensorflow(mixed_report, tmp_path):
    _result, out = mixed_report
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    (copy / "report.html").unlink()
    (copy / "report.pdf").unlink()
    probe = (
        "import sys, runpy\n"
        f"sys.argv = ['reportgen', 'render', {str(copy)!r}]\n"
        "try:\n    runpy.run_module('reportgen', run_name='__main__')\n"
        "except SystemExit as exc:\n    code = exc.code\n"
        f"print('HEAVY', [m for m in {HEAVY!r} if m in sys.modules], code)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SOURCE_DATE_EPOCH": "1700000000"}
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=300)
    assert "HEAVY [] 0" in done.stdout, done.stdout + done.stderr
    assert (copy / "report.html").read_bytes() == (out / "report.html").read_bytes()
    assert (copy / "report.pdf").is_file()


@pytest.mark.parametrize("args", [["--help"], ["validate", "--help"], ["render", "--help"], ["verify", "--help"],
                                  ["keygen", "--help"], ["card", "--help"]])  # fmt: skip
def test_help_imports_no_heavy_library(args):
    probe = (
        "import sys\nfrom typer.testing import CliRunner\nfrom reportgen.cli import app\n"
        f"result = CliRunner().invoke(app, {args!r})\n"
        f"print('HEAVY', [m for m in {HEAVY!r} if m in sys.modules], result.exit_code)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)  # fmt: skip
    assert "HEAVY [] 0" in done.stdout, done.stdout + done.stderr


def test_validate_checks_files_without_tensorflow(workspace):
    config = make_config(workspace, "valid", ["images/*.png"])
    probe = (
        "import sys\nfrom typer.testing import CliRunner\nfrom reportgen.cli import app\n"
        f"result = CliRunner().invoke(app, ['validate', {str(config)!r}])\n"
        f"print(result.output)\nprint('HEAVY', [m for m in {HEAVY!r} if m in sys.modules], result.exit_code)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)  # fmt: skip
    assert "HEAVY [] 0" in done.stdout, done.stdout + done.stderr
    assert "1 model, 3 inputs" in done.stdout


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        (["images/*.gif"], "models[0].inputs[0]: 'images/*.gif' matches no file"),
        (["images/missing.png"], "models[0].inputs[0]: 'images/missing.png' does not exist"),
    ],
)
def test_config_errors_exit_2_with_one_line(workspace, inputs, message):
    config = make_config(workspace, "bad", inputs)
    for command in ("run", "validate"):
        result = reportgen(command, str(config))
        assert result.returncode == 2
        assert result.stderr.strip().splitlines() == [f"error: bad.yaml: {message}"]
    assert not (workspace / "out" / "bad").exists()


def test_unknown_key_exits_2(workspace):
    config = write_config(workspace, "title: x\nmodles: []\n", "typo.yaml")
    result = reportgen("run", str(config))
    assert result.returncode == 2
    assert result.stderr.strip() == "error: typo.yaml: modles: unknown key (did you mean 'models'?) (and 1 more problem)"


def test_refuses_to_replace_a_folder_that_is_not_a_report(workspace):
    precious = workspace / "out" / "precious"
    precious.mkdir(parents=True)
    (precious / "thesis.tex").write_text("years of work", encoding="utf-8")
    config = make_config(workspace, "precious", ["images/red_square.png"])
    result = reportgen("run", str(config))
    assert result.returncode == 2 and "not a reportgen report folder" in result.stderr
    assert (precious / "thesis.tex").read_text(encoding="utf-8") == "years of work"


def test_rerun_replaces_the_previous_report_whole(workspace):
    config = make_config(workspace, "rerun", ["images/red_square.png", "images/green_square.png"])
    first = reportgen("run", str(config))
    assert first.returncode == 0, first.stderr
    out = workspace / "out" / "rerun"
    (out / "stale.txt").write_text("from before", encoding="utf-8")
    make_config(workspace, "rerun", ["images/green_square.png"])
    second = reportgen("run", str(config), cwd=workspace)
    assert second.returncode == 0, second.stderr
    evidence = json.loads((out / "evidence.json").read_text(encoding="utf-8"))
    assert [i["id"] for i in evidence["models"][0]["items"]] == ["green-square"]
    assert not (out / "stale.txt").exists() and not (out / "artifacts" / "red-square").exists()


@pytest.mark.parametrize("value, code, message", [
    ("", 0, None),  # empty means unset (numpy.f2py would otherwise fail on it while being imported)
    ("yesterday", 2, "error: SOURCE_DATE_EPOCH is 'yesterday': it must be whole seconds since 1970-01-01 UTC"),
])  # fmt: skip
def test_source_date_epoch_empty_is_unset_and_garbage_is_a_usage_error(mixed_report, tmp_path, value, code, message):
    _result, out = mixed_report
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    done = subprocess.run([sys.executable, "-m", "reportgen", "render", str(copy), "--format", "html"],
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT), "SOURCE_DATE_EPOCH": value})  # fmt: skip
    assert done.returncode == code, done.stderr
    if message:
        assert done.stderr.strip() == message
    else:
        assert "error" not in done.stderr and (copy / "report.html").is_file()
