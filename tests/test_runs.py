"""Runs that survive (issue 7): SIGKILL, Ctrl-C, resume from the item cache, a corrupt entry, the lock."""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import build_colour_model, colour_image
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
COLOURS = [(220, 30, 30), (30, 200, 40), (30, 40, 220), (200, 200, 30), (200, 30, 200), (30, 200, 200)]

HOOK = """\
import os, time
import numpy as np

def prep(batch):
    # One line per model call, so a test can count them; an optional pause makes a run slow enough to kill.
    with open(os.environ["COUNT_FILE"], "a") as f:
        f.write(f"{len(batch)}\\n")
    time.sleep(float(os.environ.get("HOOK_SLEEP", "0")))
    return batch.astype(np.float32) / 255
"""

CONFIG = """\
title: Runs that survive
output: out
seed: 1
trust: {{stability_runs: 0, fresh_samples: 0, curve_steps: 0}}  # model calls below count the explanation only
models:
  - name: colours
    path: colour.keras
    classes: [red, green, blue]
    preprocess: {{size: [32, 32], hook: "hook.py:prep"}}
    inputs: [{inputs}]
    explain: {{num_samples: 100, batch_size: 50, top_labels: 1}}
"""
CALLS_PER_ITEM = 2  # num_samples / batch_size


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("runs")
    build_colour_model().save(root / "colour.keras")
    for i, rgb in enumerate(COLOURS):
        Image.fromarray(colour_image(rgb)).save(root / f"img{i}.png")
    (root / "hook.py").write_text(HOOK)
    return root


def configure(root: Path, count: int) -> None:
    inputs = ", ".join(f"img{i}.png" for i in range(count))
    (root / "review.yaml").write_text(CONFIG.format(inputs=inputs))


def env(root: Path, sleep: float = 0.0) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "COUNT_FILE": str(root / "calls.txt"), "HOOK_SLEEP": str(sleep),
            "SOURCE_DATE_EPOCH": "1700000000"}  # fmt: skip


def run(root: Path, *extra: str, sleep: float = 0.0) -> subprocess.CompletedProcess:
    (root / "calls.txt").unlink(missing_ok=True)
    return subprocess.run([sys.executable, "-m", "reportgen", "run", "review.yaml", *extra], cwd=root,
                          env=env(root, sleep), capture_output=True, text=True, timeout=300)  # fmt: skip


def start_slow_run(root: Path, sleep: float, cache_entries: int, output: int) -> subprocess.Popen:
    """A run in the background, returned once the item cache holds `cache_entries` entries (or after 2 minutes)."""
    process = subprocess.Popen([sys.executable, "-m", "reportgen", "run", "review.yaml"], cwd=root,
                               env=env(root, sleep), stdout=output, stderr=output, text=True)  # fmt: skip
    cache, deadline = root / "out" / ".cache", time.monotonic() + 120
    while len(list(cache.rglob("*.json"))) < cache_entries and time.monotonic() < deadline:
        time.sleep(0.05)
    return process


def calls(root: Path) -> int:
    path = root / "calls.txt"
    return len(path.read_text().splitlines()) if path.exists() else 0


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and ".cache" not in p.parts}  # fmt: skip


def fresh(root: Path) -> None:
    for leftover in list(root.glob("out")) + list(root.glob(".out.*")):
        shutil.rmtree(leftover) if leftover.is_dir() else leftover.unlink()


def test_resume_explains_only_what_is_missing_and_writes_the_same_report(project):
    fresh(project)
    configure(project, 3)
    first = run(project)
    assert first.returncode == 0, first.stderr
    assert calls(project) == 3 * CALLS_PER_ITEM

    configure(project, 4)  # one input added: only it is explained
    second = run(project)
    assert second.returncode == 0, second.stderr
    assert calls(project) == 1 * CALLS_PER_ITEM
    assert "4 of 4 inputs explained (3 from the item cache)" in second.stdout
    timings = json.loads((project / "out" / "timings.json").read_text())
    assert [t.get("cached", False) for t in timings.values()] == [True, True, True, False]
    resumed = snapshot(project / "out")

    again = run(project, "--no-cache")  # the same report from scratch
    assert again.returncode == 0 and calls(project) == 4 * CALLS_PER_ITEM
    scratch = snapshot(project / "out")
    resumed.pop("timings.json"), scratch.pop("timings.json")  # timings can never repeat
    assert resumed == scratch  # evidence.json, report.html, report.pdf and artifacts: byte for byte


def test_a_fully_cached_run_does_not_import_tensorflow(project):
    # Every item from the cache: no model is loaded, so TensorFlow (about 5 s to import) is never imported.
    fresh(project)
    configure(project, 2)
    assert run(project).returncode == 0
    code = ("import sys\nfrom reportgen.cli import main\nsys.argv = ['reportgen', 'run', 'review.yaml']\n"
            "try:\n    main()\nexcept SystemExit as exc:\n"
            "    print('exit', exc.code, 'tensorflow' in sys.modules, 'keras' in sys.modules)\n")  # fmt: skip
    (project / "calls.txt").unlink(missing_ok=True)
    cached = subprocess.run([sys.executable, "-c", code], cwd=project, env=env(project), capture_output=True,
                            text=True, timeout=300)  # fmt: skip
    assert "2 of 2 inputs explained (2 from the item cache)" in cached.stdout, cached.stderr
    assert cached.stdout.rstrip().endswith("exit 0 False False") and calls(project) == 0


def test_a_changed_input_is_explained_again_and_a_corrupt_entry_is_recomputed(project):
    fresh(project)
    configure(project, 3)
    assert run(project).returncode == 0
    before = snapshot(project / "out")
    Image.fromarray(colour_image((10, 10, 250))).save(project / "img1.png")  # one input changes
    assert run(project).returncode == 0 and calls(project) == CALLS_PER_ITEM
    Image.fromarray(colour_image(COLOURS[1])).save(project / "img1.png")  # back as it was: cached again
    assert run(project).returncode == 0 and calls(project) == 0
    assert snapshot(project / "out")["evidence.json"] == before["evidence.json"]

    entries = sorted((project / "out" / ".cache").rglob("*.json"))
    assert len(entries) == 4  # three items, plus the changed img1
    data = entries[0].read_bytes()
    entries[0].write_bytes(data[: len(data) // 2])  # truncated
    entries[1].write_bytes(data.replace(b'"weight":', b'"weight":1', 1))  # a number changed: the hash fails
    result = run(project)
    assert result.returncode == 0, result.stderr
    assert calls(project) in (CALLS_PER_ITEM, 2 * CALLS_PER_ITEM)  # entries[1] may be the stale img1 one
    assert snapshot(project / "out")["evidence.json"] == before["evidence.json"]


def test_sigkill_mid_run_leaves_the_previous_report_whole_and_the_next_run_resumes(project):
    fresh(project)
    configure(project, 2)
    assert run(project).returncode == 0
    previous = snapshot(project / "out")

    configure(project, 6)
    (project / "calls.txt").unlink(missing_ok=True)
    process = start_slow_run(project, 0.4, cache_entries=3, output=subprocess.DEVNULL)  # 2 old items + 1 new one
    cache = project / "out" / ".cache"
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert len(list(cache.rglob("*.json"))) >= 3, "the run never got going"

    assert snapshot(project / "out") == previous  # not a byte of the previous report changed
    assert list(project.glob(".out.tmp-*")) and (project / ".out.lock").exists()  # what the kill left

    result = run(project)
    assert result.returncode == 0, result.stderr
    assert "taking over the lock of a run that is no longer running" in result.stdout + result.stderr
    assert not list(project.glob(".out.tmp-*")) and not (project / ".out.lock").exists()
    assert calls(project) <= 3 * CALLS_PER_ITEM  # at least three of the six came from the cache
    evidence = json.loads((project / "out" / "evidence.json").read_text())
    assert [item["status"] for item in evidence["models"][0]["items"]] == ["ok"] * 6


def test_ctrl_c_stops_between_items_and_says_how_to_resume(project):
    fresh(project)
    configure(project, 1)
    assert run(project).returncode == 0
    previous = snapshot(project / "out")
    configure(project, 6)
    process = start_slow_run(project, 0.3, cache_entries=2, output=subprocess.PIPE)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("error: interrupted: ") and "of 6 items were explained and kept in the item cache" in last
    assert last.endswith("run the same command again to resume; the previous report in out is unchanged")
    assert "Traceback" not in stderr
    assert snapshot(project / "out") == previous
    assert not list(project.glob(".out.tmp-*")) and not (project / ".out.lock").exists()


def test_one_run_per_output_folder(project):
    fresh(project)
    configure(project, 1)
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (project / ".out.lock").write_text(f"{holder.pid}\n")
        result = run(project)
        assert result.returncode == 2
        assert result.stderr.strip() == (
            f"error: out: another reportgen run (PID {holder.pid}) is writing this report; wait for it to finish "
            "(its lock is .out.lock)"
        )
        assert not (project / "out").exists() and calls(project) == 0
    finally:
        holder.kill()
        holder.wait()
    # The holder is gone now: its lock is stale and is taken over.
    result = run(project)
    assert result.returncode == 0, result.stderr
    assert f"out: taking over the lock of a run that is no longer running (PID {holder.pid})" in result.stderr
    assert not (project / ".out.lock").exists()


def test_report_files_get_normal_permissions_under_a_strict_umask(project):
    fresh(project)
    configure(project, 1)
    result = subprocess.run(["sh", "-c", f"umask 077 && {sys.executable} -m reportgen run review.yaml"], cwd=project,
                            env=env(project), capture_output=True, text=True, timeout=300)  # fmt: skip
    assert result.returncode == 0, result.stderr
    out = project / "out"
    for path in [out, *out.rglob("*")]:
        if ".cache" in path.relative_to(project).parts:
            continue
        assert stat.S_IMODE(path.stat().st_mode) == (0o755 if path.is_dir() else 0o644), path
