"""Where the templates and the demo's sample files live, installed or in a source checkout."""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def _find(name: str) -> Path:
    # In a wheel, hatchling's force-include puts templates/ and samples/ inside the package;
    # in a source checkout (or an editable install) they sit beside it at the repository root.
    packaged = Path(str(resources.files("reportgen"))) / name
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / name


def templates_dir() -> Path:
    """The folder of Jinja2 templates and stylesheets."""
    return _find("templates")


def samples_dir() -> Path:
    """The folder of sample models, inputs and configs used by `reportgen demo`."""
    return _find("samples")
