"""Every config key is documented in docs/config.md, and the README's commands are the ones CI runs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from reportgen import config as cfg

ROOT = Path(__file__).resolve().parent.parent


def _documented() -> set[str]:
    text = (ROOT / "docs" / "config.md").read_text(encoding="utf-8")
    return set(re.findall(r"^\| `([a-z0-9_]+)` \|", text, flags=re.MULTILINE))


@pytest.mark.parametrize("model", [cfg.Config, cfg.ModelEntry, cfg.Preprocess, cfg.Explain, cfg.Segmentation, cfg.TableInput, cfg.FileInput, cfg.Trust, cfg.Thresholds, cfg.Limits])
def test_every_config_key_is_documented(model):
    missing = set(model.model_fields) - _documented()
    assert not missing, f"document these {model.__name__} keys in docs/config.md: {sorted(missing)}"


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    blocks = re.findall(r"```sh\n(.*?)\n```", readme, flags=re.DOTALL)
    test_command = next(b for b in blocks if "pytest" in b)
    assert test_command.strip() in ci.splitlines()
