"""Provenance that names places (the command line, where the config was): recorded with nothing private in it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Optional, Sequence

HOME_SIGN = "~"
PROGRAM = "reportgen"
# Options that cannot change a byte of the report, left out of the record so that the same report made with
# and without them has the same evidence (the item cache is tested to give byte-identical reports).
NOT_RECORDED = ("--no-cache",)


def _home() -> Optional[Path]:
    try:
        return Path.home().resolve()
    except (RuntimeError, KeyError, OSError):
        return None


def _reduce_path(text: str, home: Optional[Path]) -> str:
    """An absolute path with the home folder written as '~', or, outside home, just as given."""
    if not os.path.isabs(text):
        return text
    path = Path(os.path.normpath(text))
    if home is not None and (path == home or path.is_relative_to(home)):
        rest = path.relative_to(home).as_posix()
        return HOME_SIGN if rest == "." else f"{HOME_SIGN}/{rest}"
    # Outside home an absolute path can still name a user (/Users/alice on another mount, /tmp/alice-x):
    # keep only its last part, which is what the report folder is usually called.
    return f".../{path.name}" if path.name else text


def command_line(argv: Sequence[str], home: Optional[Path] = None) -> list[str]:
    """The arguments as the user gave them, the program shown as 'reportgen' and absolute paths reduced.

    An absolute path under the home folder becomes '~/...'; any other absolute path keeps only its last
    part ('.../name'). Relative paths and options are kept as they are, but for --no-cache, which does
    not change the report. Both '--out PATH' and '--out=PATH' are handled.
    """
    home = home if home is not None else _home()
    out = [PROGRAM]
    for arg in list(argv)[1:]:
        if arg in NOT_RECORDED:
            continue
        if arg.startswith("-") and "=" in arg:
            option, value = arg.split("=", 1)
            out.append(f"{option}={_reduce_path(value, home)}")
        else:
            out.append(_reduce_path(arg, home))
    return out


# Keys of the recorded config that hold a path (top level; and of each model), reduced like the command line.
CONFIG_PATH_KEYS = ("output", "cache")
MODEL_PATH_KEYS = ("path", "weights", "classes_file")


def recorded_config(config: dict[str, Any], home: Optional[Path] = None) -> dict[str, Any]:
    """The effective config to record, its absolute paths reduced as command_line reduces them.

    `--out /home/alice/reports/x` lands in the config's `output`; an absolute model path written in the
    config would show the home folder too. config.yaml keeps the file's own bytes (its hash is checked).
    """
    home = home if home is not None else _home()

    def reduce(value: Any) -> Any:
        return _reduce_path(value, home) if isinstance(value, str) else value

    out = {key: reduce(value) if key in CONFIG_PATH_KEYS else value for key, value in config.items()}
    if isinstance(out.get("models"), list):
        out["models"] = [
            {key: reduce(value) if key in MODEL_PATH_KEYS else value for key, value in model.items()}
            if isinstance(model, dict) else model
            for model in out["models"]
        ]  # fmt: skip
    return out


def config_folder(config_dir: Path, report_dir: Path, home: Optional[Path] = None) -> Optional[str]:
    """The config's folder relative to the report folder ('../..'), or None where that would name a user.

    The relative path climbs from the report folder to the nearest folder both share, then descends to
    the config's folder. Descending from above the home folder into it would spell the user name
    ('../../home/alice/project'), so then nothing is recorded and `verify` needs --root.
    """
    home = home if home is not None else _home()
    config_dir, report_dir = Path(config_dir).resolve(), Path(report_dir).resolve()
    common = Path(os.path.commonpath([config_dir, report_dir]))
    if home is not None and home != common and home.is_relative_to(common) and config_dir.is_relative_to(home):
        return None
    return Path(os.path.relpath(config_dir, report_dir)).as_posix()


def default_root(report_dir: Path, recorded: Optional[str]) -> Optional[Path]:
    """Where verify looks for the model and input files by default: the config's folder as recorded at run time."""
    if recorded is None:
        return None
    return (Path(report_dir) / recorded).resolve()
