"""Untrusted models (issue 6): nothing in a model file runs, nothing is fetched, the environment cannot bend results."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import pytest
from conftest import build_colour_model, write_config

from reportgen.errors import ModelError
from reportgen.model import load_model
from reportgen.safety import no_network, scan_config

ROOT = Path(__file__).resolve().parent.parent

CONFIG = """\
title: untrusted
output: out/{name}
models:
  - name: m
    path: {path}
    classes: [red, green, blue]
    preprocess: {{size: [32, 32], scale: unit}}
    inputs: [{inputs}]
    explain: {{num_samples: 50, top_labels: 1}}
{extra}"""


def reportgen(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([sys.executable, "-m", "reportgen", *args], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=300)  # fmt: skip


def config(root: Path, name: str, path: str = "models/colour.keras", inputs: str = "images/red_square.png",
           extra: str = "") -> Path:  # fmt: skip
    return write_config(root, CONFIG.format(name=name, path=path, inputs=inputs, extra=extra), f"{name}.yaml")


def payload(marker: Path) -> str:
    return f"(open({str(marker)!r}, 'w').write('code ran'), x)[1]"


@pytest.fixture(scope="module")
def lambda_keras(tmp_path_factory) -> tuple[Path, Path]:
    """A .keras file whose Lambda layer writes a marker file when it runs."""
    import keras

    folder = tmp_path_factory.mktemp("lambda")
    marker = folder / "code-ran.txt"
    fn = eval(f"lambda x: {payload(marker)}")  # noqa: S307 - the planted payload of the test
    model = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Lambda(fn), keras.layers.Flatten(),
                              keras.layers.Dense(3, activation="softmax")])  # fmt: skip
    model.save(folder / "lambda.keras")
    marker.unlink()  # building the model ran the payload once (shape inference); loading must not
    return folder / "lambda.keras", marker


def test_a_keras_lambda_is_refused_and_its_payload_never_runs(lambda_keras):
    path, marker = lambda_keras
    with pytest.raises(ModelError, match=r"^lambda\.keras: refused: the model holds a Lambda layer with Python code"):
        load_model(path, "lambda.keras")
    assert not marker.exists()


def test_the_keras_lambda_payload_is_live(lambda_keras):
    # Proof the test above means something: with safe_mode off (in another process) the payload runs.
    path, marker = lambda_keras
    code = f"import keras; keras.saving.load_model({str(path)!r}, safe_mode=False)"
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, timeout=120,
                   env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})  # fmt: skip
    assert marker.read_text() == "code ran"
    marker.unlink()


def _with_layer_replaced(source: Path, target: Path, replace: dict) -> Path:
    """A copy of a .keras file whose first layer's config entry is `replace`."""
    with zipfile.ZipFile(source) as archive:
        files = {name: archive.read(name) for name in archive.namelist()}
    config = json.loads(files["config.json"])
    config["config"]["layers"][1] = replace
    files["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(target, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return target


@pytest.mark.parametrize(
    "layer, named",
    [
        ({"module": "os", "class_name": "system", "config": {"command": "touch MARKER"}}, "'os.system'"),
        ({"module": "subprocess", "class_name": "Popen", "config": {"args": ["touch", "MARKER"]}}, "'subprocess.Popen'"),
        ({"module": "keras.config", "class_name": "enable_unsafe_deserialization", "config": {}},
         "'enable_unsafe_deserialization'"),
        ({"module": "keras.utils", "class_name": "get_file", "config": {"origin": "http://127.0.0.1:9/x"}}, "'get_file'"),
        ({"module": "keras.layers", "class_name": "Dense", "config": {"units": 3, "activation": "os.system"}},
         "'os.system'"),
        ({"module": "keras.layers", "class_name": "TFSMLayer", "config": {"filepath": "/tmp/elsewhere"}}, "TFSMLayer"),
    ],
    ids=["os.system", "subprocess.Popen", "enable_unsafe_deserialization", "get_file", "activation string", "TFSMLayer"],
)
def test_a_config_naming_dangerous_functions_is_refused_before_keras_reads_it(workspace, tmp_path, layer, named):
    layer = json.loads(json.dumps(layer).replace("MARKER", str(tmp_path / "marker")))
    path = _with_layer_replaced(workspace / "models" / "colour.keras", tmp_path / "evil.keras", layer)
    with pytest.raises(ModelError) as info:
        load_model(path, "evil.keras")
    assert str(info.value).startswith("evil.keras: refused: ") and named in str(info.value)
    assert not (tmp_path / "marker").exists()


def test_the_config_scan_lets_real_keras_configs_through():
    for name in ("shapes.keras", "sentiment.keras"):
        with zipfile.ZipFile(ROOT / "samples" / "models" / name) as archive:
            scan_config(json.loads(archive.read("config.json")), name)  # no error


@pytest.mark.parametrize("given", ["hf://someone/model", "http://127.0.0.1:9/m.keras", "gs://bucket/m.keras"])
def test_remote_model_paths_are_refused_before_anything_runs(workspace, given):
    result = reportgen("run", config(workspace, "remote", path=given).name, cwd=workspace)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"error: remote.yaml: models[0].path: '{given}' is a URL; reportgen never downloads models "
        "(download it and name the copy)"
    )


def test_devices_fifos_and_urls_as_inputs_are_refused_without_hanging(workspace, tmp_path):
    fifo = workspace / "pipe.png"
    if not fifo.exists():
        os.mkfifo(fifo)
    for given, problem in (
        ("/dev/zero", "is not a regular file (a device, pipe or socket)"),
        ("pipe.png", "is not a regular file (a device, pipe or socket)"),
        ("images", "is a folder, not a file"),
        ("http://127.0.0.1:9/x.png", "is a URL; reportgen reads local files only (download it and name the copy)"),
    ):
        result = reportgen("run", config(workspace, "special", inputs=given).name, cwd=workspace)
        assert result.returncode == 2, result.stderr
        assert result.stderr.strip() == f"error: special.yaml: models[0].inputs[0]: '{given}' {problem}"


def test_a_zip_named_h5_and_an_hdf5_named_keras_are_told_apart(workspace, tmp_path):
    as_h5 = shutil.copy(workspace / "models" / "colour.keras", tmp_path / "zip.h5")
    with pytest.raises(ModelError, match=r"^zip\.h5: not an HDF5 file \(a \.h5 model is HDF5; this one is a zip archive"):
        load_model(Path(as_h5), "zip.h5")
    as_keras = shutil.copy(workspace / "models" / "colour.h5", tmp_path / "hdf5.keras")
    with pytest.raises(ModelError, match=r"^hdf5\.keras: not a \.keras model .*this one is an HDF5 file"):
        load_model(Path(as_keras), "hdf5.keras")


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("saved") / "colour_savedmodel"
    build_colour_model().export(str(folder), verbose=False)
    return folder


def test_a_savedmodel_needs_trust_model_and_trust_is_recorded(workspace, saved_model):
    target = workspace / "models" / "colour_savedmodel"
    if not target.exists():
        shutil.copytree(saved_model, target)
    refused = reportgen("run", config(workspace, "sm-refused", path="models/colour_savedmodel").name, cwd=workspace)
    assert refused.returncode == 1
    evidence = json.loads((workspace / "out" / "sm-refused" / "evidence.json").read_text())
    assert evidence["models"][0]["error"].startswith(
        "models/colour_savedmodel: refused: a SavedModel folder can run any TensorFlow graph; set trust_model: true"
    )
    trusted = reportgen(
        "run", config(workspace, "sm-trusted", path="models/colour_savedmodel", extra="    trust_model: true\n").name,
        cwd=workspace,
    )
    assert trusted.returncode == 0, trusted.stderr
    record = json.loads((workspace / "out" / "sm-trusted" / "evidence.json").read_text())["models"][0]
    assert record["trusted"] is True and record["status"] == "ok" and len(record["sha256"]) == 64
    assert record["items"][0]["predictions"][0]["label"] == "red"
    html = (workspace / "out" / "sm-trusted" / "report.html").read_text()
    assert "was loaded with <code>trust_model: true</code>" in html


@pytest.mark.parametrize(
    "env, message",
    [
        ({"TF_USE_LEGACY_KERAS": "1"}, "error: TF_USE_LEGACY_KERAS is set: reportgen needs Keras 3 (unset TF_USE_LEGACY_KERAS)"),
        ({"KERAS_BACKEND": "jax"}, "error: KERAS_BACKEND is 'jax': reportgen needs the tensorflow backend"),
    ],
)
def test_legacy_keras_and_other_backends_are_refused_at_start(workspace, env, message):
    result = reportgen("run", config(workspace, "env").name, cwd=workspace, env=env)
    assert (result.returncode, result.stderr.strip()) == (2, message)
    assert not (workspace / "out" / "env").exists()


def test_a_hostile_keras_json_does_not_change_results(workspace, tmp_path):
    home = tmp_path / "home"
    (home / ".keras").mkdir(parents=True)
    # Read as it is, this file would switch Keras to JAX (not installed: Keras would not even import), float16
    # and channels_first.
    (home / ".keras" / "keras.json").write_text(json.dumps(
        {"floatx": "float16", "epsilon": 0.1, "backend": "jax", "image_data_format": "channels_first"}))  # fmt: skip
    normal = reportgen("run", config(workspace, "keras-normal").name, cwd=workspace)
    env = {k: v for k, v in os.environ.items() if k not in ("KERAS_BACKEND", "KERAS_HOME")}
    hostile = subprocess.run([sys.executable, "-m", "reportgen", "run", config(workspace, "keras-hostile").name],
                             cwd=workspace, env={**env, "PYTHONPATH": str(ROOT), "HOME": str(home)},
                             capture_output=True, text=True, timeout=300)  # fmt: skip
    assert normal.returncode == hostile.returncode == 0, hostile.stderr
    items = [json.loads((workspace / "out" / n / "evidence.json").read_text())["models"][0]["items"]
             for n in ("keras-normal", "keras-hostile")]  # fmt: skip
    assert items[0] == items[1]
    assert json.loads((home / ".keras" / "keras.json").read_text())["floatx"] == "float16"  # left as it was


def test_no_connection_leaves_the_process_during_a_run():
    hits: list[int] = []
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    def accept() -> None:
        with contextlib.suppress(OSError):  # the server is closed at the end
            hits.append(server.accept() and 1)

    threading.Thread(target=accept, daemon=True).start()
    import urllib.request

    with no_network():
        with pytest.raises(OSError, match="network access is disabled"):
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5)
        with pytest.raises(OSError, match="network access is disabled"):
            socket.create_connection(("127.0.0.1", port), timeout=5)
    with socket.create_connection(("127.0.0.1", port), timeout=5):
        pass  # outside the guard the same call connects: the guard was what stopped it
    server.close()


def test_a_hook_that_downloads_fails_fast_with_a_clear_message(workspace):
    (workspace / "downloading_hook.py").write_text(
        "import numpy as np, keras\n"
        "def prep(batch):\n"
        "    keras.utils.get_file('w.h5', origin='http://127.0.0.1:9/weights.h5')\n"
        "    return batch.astype(np.float32) / 255\n"
    )
    path = config(workspace, "net-hook").read_text().replace("scale: unit", "hook: downloading_hook.py:prep")
    write_config(workspace, path, "net-hook.yaml")
    result = reportgen("run", "net-hook.yaml", cwd=workspace)
    assert result.returncode == 1
    item = json.loads((workspace / "out" / "net-hook" / "evidence.json").read_text())["models"][0]["items"][0]
    assert "network access is disabled" in item["error"] and "\n" not in item["error"]


def test_paths_outside_the_config_folder_stay_relative_in_errors_evidence_and_report(workspace):
    sub = workspace / "configs"
    sub.mkdir(exist_ok=True)
    text = CONFIG.format(name="outside", path="../models/garbage.keras", inputs="../images/red_square.png", extra="")
    text = text.replace("output: out/outside", "output: ../out/outside")
    write_config(sub, text, "outside.yaml")
    result = reportgen("run", "outside.yaml", cwd=sub)
    assert result.returncode == 1
    folder = workspace / "out" / "outside"
    evidence = json.loads((folder / "evidence.json").read_text())
    assert evidence["models"][0]["error"].startswith("../models/garbage.keras: not a .keras model")
    assert evidence["models"][0]["items"][0]["input"]["path"] == "../images/red_square.png"
    for name in ("evidence.json", "report.html", "timings.json"):
        assert str(workspace) not in (folder / name).read_text(encoding="utf-8"), name
    assert str(workspace) not in result.stdout + result.stderr


def test_old_keras_is_refused(monkeypatch):
    import keras

    from reportgen.errors import UsageError
    from reportgen.model import import_keras

    monkeypatch.setattr(keras, "__version__", "3.15.0")
    with pytest.raises(UsageError, match=r"^Keras 3\.15\.0 is too old: reportgen needs keras>=3\.15\.1"):
        import_keras()
    monkeypatch.setattr(keras, "__version__", "2.15.0")
    with pytest.raises(UsageError, match=r"^Keras 2\.15\.0 is too old"):
        import_keras()


def test_the_unsafe_switches_appear_nowhere_in_reportgen():
    # safe_mode is never turned off, per call or process-wide, anywhere in the package.
    for path in (ROOT / "reportgen").rglob("*.py"):
        source = path.read_text(encoding="utf-8")
        assert "enable_unsafe_deserialization(" not in source, path
        assert "safe_mode=False" not in source.replace(" ", ""), path
