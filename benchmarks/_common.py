"""What every benchmark script shares: best-of timing and a description of the machine it ran on."""

from __future__ import annotations

import datetime
import os
import platform
import time
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any


def best_of(repeats: int, fn: Callable[[], Any]) -> tuple[float, Any]:
    """(best seconds, result of the best run)."""
    best, kept = float("inf"), None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        dt = time.perf_counter() - t
        if dt < best:
            best, kept = dt, out
    return best, kept


def machine(packages: tuple[str, ...]) -> list[str]:
    """Date, CPU, load and package versions, as markdown list items."""
    cpu = "?"
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))  # fmt: skip
    except (OSError, StopIteration):
        pass
    found = []
    for name in packages:
        try:
            found.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            pass
    return [
        f"- date: {datetime.datetime.now(datetime.UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- machine: {os.cpu_count()} cores, {cpu}, Python {platform.python_version()}",
        f"- versions: {', '.join(found)}",
        f"- load average before the run (1, 5, 15 min): {', '.join(f'{x:.2f}' for x in os.getloadavg())}",
    ]
