"""The output folder: one run at a time (a lock file), built in a staging folder beside it, swapped in whole.

Whatever happens (an error, Ctrl-C, SIGKILL, a full disk), the previous report stays complete until the new
one is; the next run takes over a stale lock and clears what a killed run left behind.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterator, Optional

from reportgen import evidence as ev
from reportgen.errors import ConfigError, UsageError

CACHE_DIR = ".cache"  # the default item cache, inside the output folder and outside artifacts/


def shown(path: Path) -> str:
    """A path as a user is told it: relative to where they are ("../out/report.pdf"), unless that climbs to the root."""
    relative = Path(os.path.relpath(path)).as_posix()
    return path.as_posix() if relative.startswith("../../../") else relative


def lock_path(out: Path) -> Path:
    """The lock file of an output folder: beside it, since the folder itself is swapped."""
    return out.parent / f".{out.name}.lock"


def _leftovers(out: Path, kind: str) -> list[Path]:
    return sorted(out.parent.glob(f".{out.name}.{kind}-*"))


def _holder(path: Path) -> Optional[int]:
    try:
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return int(text) if text.isdigit() else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


@contextlib.contextmanager
def locked(out: Path, shown: str, notice: Callable[[str], None]) -> Iterator[None]:
    """Hold the output folder's lock while inside; a live holder is a UsageError (exit 2)."""
    path = lock_path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    for _attempt in range(5):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            holder = _holder(path)
            if holder is None and time.time() - _mtime(path) < 5:
                time.sleep(0.2)  # just created by another run, which has not written its PID yet
                continue
            if holder is not None and _alive(holder):
                raise UsageError(
                    f"{shown}: another reportgen run (PID {holder}) is writing this report; wait for it to finish "
                    f"(its lock is {lock_path(Path(shown)).as_posix()})"
                ) from None
            notice(f"{shown}: taking over the lock of a run that is no longer running (PID {holder or '?'})")
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            continue
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(f"{os.getpid()}\n")
        break
    else:
        raise UsageError(f"{shown}: could not take the lock {path.name}")
    try:
        yield
    finally:
        if _holder(path) == os.getpid():
            path.unlink(missing_ok=True)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def clear_leftovers(out: Path) -> None:
    """Remove what killed runs left beside `out` (called with the lock held), saving their caches and reports."""
    if not out.exists():
        # Killed between the two renames of the fallback swap: the previous report is in an .old- folder.
        for old in _leftovers(out, "old"):
            if (old / out.name).is_dir():
                os.replace(old / out.name, out)
                break
    for leftover in _leftovers(out, "tmp") + _leftovers(out, "old"):
        for cache in (leftover / CACHE_DIR, leftover / out.name / CACHE_DIR):
            # Killed just after a swap: the cache had not moved into the new report yet.
            if cache.is_dir() and not (out / CACHE_DIR).exists() and out.is_dir():
                os.replace(cache, out / CACHE_DIR)
        shutil.rmtree(leftover, ignore_errors=True)


def check_output_dir(out: Path) -> None:
    """Refuse to replace a folder that is not a report: the run swaps the whole folder in."""
    if not out.exists():
        return
    if not out.is_dir():
        raise ConfigError(f"{out}: exists and is not a folder; refusing to replace it")
    contents = {p.name for p in out.iterdir()} - {CACHE_DIR}
    if contents and ev.EVIDENCE_FILE not in contents:
        raise ConfigError(f"{out}: exists and is not a reportgen report folder; refusing to replace it")


def staging_folder(out: Path) -> Path:
    """A new, empty folder beside `out` to build the report in."""
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    staging.chmod(0o755)
    return staging


def normal_permissions(folder: Path) -> None:
    """Files 0644 and folders 0755 whatever the umask: a report is meant to be shared."""
    folder.chmod(0o755)
    for path in folder.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one atomic step (Linux renameat2 RENAME_EXCHANGE); False where unavailable."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    return renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0


def publish(staging: Path, out: Path) -> None:
    """Put the finished report in place of the previous one, keeping the item cache."""
    if not out.exists():
        os.replace(staging, out)
        return
    if _exchange(staging, out):
        old = staging  # now holds the previous report
    else:
        holder = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
        os.replace(out, holder / out.name)
        os.replace(staging, out)
        old = holder / out.name
    if (old / CACHE_DIR).is_dir() and not (out / CACHE_DIR).exists():
        os.replace(old / CACHE_DIR, out / CACHE_DIR)
    shutil.rmtree(old if old == staging else old.parent, ignore_errors=True)
