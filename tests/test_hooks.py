"""Preprocessing hooks: found by module:function or file.py:function, called with clear one-line errors."""

from __future__ import annotations

import sys
import textwrap
import uuid
from pathlib import Path

import numpy as np
import pytest

from reportgen.errors import ConfigError, ModelError
from reportgen.hooks import call_image_hook, load_hook

PREP = """
import numpy as np

def fn(batch):
    return batch.astype(np.float32) / 255.0

def flat(batch):
    return batch[..., 0].astype(np.float32)

def boom(batch):
    raise RuntimeError("no GPU here")

def in_place(batch):
    batch += 1
    return batch

def nothing(batch):
    return None

def nan(batch):
    return np.full(batch.shape, np.nan, np.float32)

class Scaler:
    @staticmethod
    def scale(batch):
        return batch * 2.0

NOT_CALLABLE = 3
"""

BATCH = np.random.default_rng(0).integers(0, 256, (4, 8, 8, 3), dtype=np.uint8)


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


@pytest.fixture
def package(tmp_path, monkeypatch) -> str:
    """An importable package with a prep module, under a name no other test uses."""
    name = f"hookpkg_{uuid.uuid4().hex[:8]}"
    write(tmp_path / "site", f"{name}/__init__.py", "")
    write(tmp_path / "site", f"{name}/prep.py", PREP)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    yield name
    for module in [m for m in sys.modules if m.startswith(name)]:
        del sys.modules[module]


def test_module_function(package, tmp_path):
    fn = load_hook(f"{package}.prep:fn", tmp_path, "review.yaml")
    out = call_image_hook(fn, BATCH, f"{package}.prep:fn", (8, 8, 3))
    assert out.dtype == np.float32 and out.shape == (4, 8, 8, 3)
    np.testing.assert_allclose(out, BATCH / 255.0, rtol=1e-6)


def test_file_function_relative_to_the_config_folder(tmp_path):
    write(tmp_path, "hooks/helpers.py", "FACTOR = 0.5\n")
    write(
        tmp_path,
        "hooks/prep.py",
        "import numpy as np\nfrom helpers import FACTOR\n\ndef fn(b):\n    return b * FACTOR\n",
    )
    fn = load_hook("hooks/prep.py:fn", tmp_path, "review.yaml")
    np.testing.assert_allclose(call_image_hook(fn, BATCH, "hooks/prep.py:fn", (8, 8, 3)), BATCH * 0.5)
    assert str(tmp_path / "hooks") not in sys.path  # only while the file ran
    assert load_hook("hooks/prep.py:fn", tmp_path, "review.yaml").__module__ == fn.__module__


def test_two_files_of_the_same_name_do_not_clash(tmp_path):
    write(tmp_path, "a/prep.py", "def fn(b):\n    return 'a'\n")
    write(tmp_path, "b/prep.py", "def fn(b):\n    return 'b'\n")
    assert load_hook("a/prep.py:fn", tmp_path, "c.yaml")(None) == "a"
    assert load_hook("b/prep.py:fn", tmp_path, "c.yaml")(None) == "b"


def test_dotted_attribute(package, tmp_path):
    fn = load_hook(f"{package}.prep:Scaler.scale", tmp_path, "review.yaml")
    assert call_image_hook(fn, BATCH, "s", (8, 8, 3)).max() == BATCH.max() * 2.0


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            "no_such_module_xyz.prep:fn",
            "review.yaml: hook no_such_module_xyz.prep:fn: no module named 'no_such_module_xyz'",
        ),
        ("missing.py:fn", "review.yaml: hook missing.py:fn: missing.py does not exist"),
        ("{pkg}.prep:absent", "review.yaml: hook {pkg}.prep:absent: module {pkg}.prep has no 'absent'"),
        (
            "{pkg}.prep:NOT_CALLABLE",
            "review.yaml: hook {pkg}.prep:NOT_CALLABLE: 'NOT_CALLABLE' in module {pkg}.prep is an int, not a function",
        ),
        ("{pkg}.prep", "review.yaml: hook {pkg}.prep: expected module:function or path/to/file.py:function"),
        ("{pkg}.prep:fn()", "review.yaml: hook {pkg}.prep:fn(): 'fn()' is not a function name"),
        ("my pkg:fn", "review.yaml: hook my pkg:fn: 'my pkg' is neither a module name nor a .py file"),
    ],
)
def test_lookup_errors_are_one_line_config_errors(package, tmp_path, spec, message):
    spec, message = spec.format(pkg=package), message.format(pkg=package)
    with pytest.raises(ConfigError) as info:
        load_hook(spec, tmp_path, "review.yaml")
    assert str(info.value).startswith(message)
    assert "\n" not in str(info.value)


def test_file_that_raises_while_importing(tmp_path):
    write(tmp_path, "bad.py", "import numpy\nraise ImportError('needs torch')\n")
    write(tmp_path, "syntax.py", "def fn(:\n")
    write(tmp_path, "exits.py", "import sys\nsys.exit(3)\n")
    with pytest.raises(ConfigError, match=r"^c\.yaml: hook bad\.py:fn: importing it raised ImportError: needs torch$"):
        load_hook("bad.py:fn", tmp_path, "c.yaml")
    with pytest.raises(ConfigError, match=r"^c\.yaml: hook syntax\.py:fn: importing it raised SyntaxError: .*line 1"):
        load_hook("syntax.py:fn", tmp_path, "c.yaml")
    with pytest.raises(ConfigError, match=r"^c\.yaml: hook exits\.py:fn: importing it raised SystemExit: 3$"):
        load_hook("exits.py:fn", tmp_path, "c.yaml")
    assert not [m for m in sys.modules.values() if getattr(m, "__file__", None) == str(tmp_path / "bad.py")]


def test_module_that_raises_while_importing(tmp_path, monkeypatch):
    name = f"brokenmod_{uuid.uuid4().hex[:8]}"
    write(tmp_path, f"{name}.py", "import not_installed_dependency_xyz\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ConfigError) as info:
        load_hook(f"{name}:fn", tmp_path, "c.yaml")
    # The module exists; what is missing is its dependency, and the message says so.
    assert str(info.value) == (
        f"c.yaml: hook {name}:fn: importing it raised ModuleNotFoundError: No module named 'not_installed_dependency_xyz'"
    )


def test_raising_hook(package, tmp_path):
    fn = load_hook(f"{package}.prep:boom", tmp_path, "c.yaml")
    with pytest.raises(ModelError) as info:
        call_image_hook(fn, BATCH, f"{package}.prep:boom", (8, 8, 3))
    assert str(info.value) == f"hook {package}.prep:boom raised RuntimeError: no GPU here"


def test_wrong_shape(package, tmp_path):
    fn = load_hook(f"{package}.prep:flat", tmp_path, "c.yaml")
    with pytest.raises(ModelError) as info:
        call_image_hook(fn, BATCH, "mypkg.prep:fn", (8, 8, 3))
    assert str(info.value) == "hook mypkg.prep:fn returned shape (4, 8, 8) but the model takes (4, 8, 8, 3)"


def test_expected_shape_may_leave_sizes_open(package, tmp_path):
    fn = load_hook(f"{package}.prep:fn", tmp_path, "c.yaml")
    assert call_image_hook(fn, BATCH, "s", (None, None, 3)).shape == (4, 8, 8, 3)
    with pytest.raises(ModelError, match=r"returned shape \(4, 8, 8, 3\) but the model takes \(4, any, any, 1\)"):
        call_image_hook(fn, BATCH, "s", (None, None, 1))


def test_hook_cannot_change_the_batch(package, tmp_path):
    fn = load_hook(f"{package}.prep:in_place", tmp_path, "c.yaml")
    before = BATCH.copy()
    with pytest.raises(ModelError, match=r"raised ValueError: .*read-only.*work on a copy"):
        call_image_hook(fn, BATCH, "s", (8, 8, 3))
    np.testing.assert_array_equal(BATCH, before)
    assert BATCH.flags.writeable  # the caller's array keeps its own flags


@pytest.mark.parametrize(
    ("attr", "message"),
    [("nothing", "hook s returned None, not an array"), ("nan", "hook s returned NaN or infinite values")],
)
def test_bad_results(package, tmp_path, attr, message):
    fn = load_hook(f"{package}.prep:{attr}", tmp_path, "c.yaml")
    with pytest.raises(ModelError) as info:
        call_image_hook(fn, BATCH, "s", (8, 8, 3))
    assert str(info.value) == message


def test_tensor_results_are_accepted():
    class Tensor:  # anything with __array__, as TensorFlow's and JAX's arrays have
        def __init__(self, value: np.ndarray) -> None:
            self.value = value

        def __array__(self, dtype=None, copy=None):
            return self.value if dtype is None else self.value.astype(dtype)

    out = call_image_hook(lambda b: Tensor(b.astype(np.float64)), BATCH, "s", (8, 8, 3))
    assert out.dtype == np.float32 and out.shape == BATCH.shape
