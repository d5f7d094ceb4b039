"""The evidence record (DESIGN.md contract 2): its schema, and reading and writing evidence.json."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from reportgen.errors import EvidenceError

SCHEMA_VERSION = 1
EVIDENCE_FILE = "evidence.json"
TIMINGS_FILE = "timings.json"
ARTIFACTS_DIR = "artifacts"

# Keys that only exist for one kind of item: left out of the JSON when unset.
_OPTIONAL_KEYS = {"image", "segments", "tokens", "text", "row", "positions"}


class _Record(BaseModel):
    # extra="allow": later schema additions by newer versions still load in older renderers.
    model_config = ConfigDict(extra="allow")


class Prediction(_Record):
    label: str
    index: int
    probability: float


class Feature(_Record):
    feature: Union[int, str]
    weight: float
    positions: list[int] | None = None  # text items: indices into tokens this feature covers


class Explanation(_Record):
    label: str
    index: int
    intercept: float
    score: float
    local_prediction: float
    features: list[Feature]
    metrics: dict[str, Any] = Field(default_factory=dict)


class InputRef(_Record):
    path: str | None
    sha256: str
    text: str | None = None
    row: int | None = None


class Token(_Record):
    text: str
    start: int
    end: int


class Item(_Record):
    id: str
    status: Literal["ok", "error"]
    error: str | None = None
    input: InputRef
    predictions: list[Prediction] = Field(default_factory=list)
    explanations: list[Explanation] = Field(default_factory=list)
    image: str | None = None
    segments: str | None = None
    tokens: list[Token] | None = None


class ModelRecord(_Record):
    name: str
    kind: Literal["image", "text"]
    path: str
    sha256: str | None
    classes: list[str]
    status: Literal["ok", "error"]
    error: str | None = None
    trusted: bool = False  # loaded with trust_model: true (a SavedModel folder, which can run any graph)
    items: list[Item] = Field(default_factory=list)


class Tool(_Record):
    name: str = "reportgen"
    version: str


class Evidence(_Record):
    schema_version: int = SCHEMA_VERSION
    title: str
    created: str
    tool: Tool
    environment: dict[str, str]
    config: dict[str, Any]
    config_sha256: str
    artifacts: dict[str, str] = Field(default_factory=dict)
    models: list[ModelRecord] = Field(default_factory=list)

    def failures(self) -> list[tuple[str, str | None, str]]:
        """Every failed model or item as (model name, item id or None, error message)."""
        out: list[tuple[str, str | None, str]] = []
        for model in self.models:
            if model.status == "error":
                out.append((model.name, None, model.error or "failed"))
            for item in model.items:
                if item.status == "error":
                    out.append((model.name, item.id, item.error or "failed"))
        return out


def _drop_unset(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_unset(v) for k, v in value.items() if not (k in _OPTIONAL_KEYS and v is None)}
    if isinstance(value, list):
        return [_drop_unset(v) for v in value]
    return value


def to_json(evidence: Evidence) -> str:
    """The canonical text of evidence.json: stable key order, UTF-8, a newline at the end."""
    data = _drop_unset(evidence.model_dump(mode="json"))
    return json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of some bytes."""
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256_tree(folder: Path) -> str:
    """Hex sha256 over a folder: each file's '/'-separated relative path and sha256, in sorted order."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(f"{path.relative_to(folder).as_posix()}\0{sha256_file(path)}\n".encode("utf-8"))
    return digest.hexdigest()


def hash_artifacts(report_dir: Path) -> dict[str, str]:
    """sha256 of every file under report_dir/artifacts, keyed by its path under artifacts/ ('/'-separated)."""
    root = report_dir / ARTIFACTS_DIR
    hashes: dict[str, str] = {}
    if not root.is_dir():
        return hashes
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            path = Path(dirpath) / name
            hashes[path.relative_to(root).as_posix()] = sha256_file(path)
    return dict(sorted(hashes.items()))


def load(report_dir: Path) -> Evidence:
    """Read and validate report_dir/evidence.json."""
    path = report_dir / EVIDENCE_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise EvidenceError(f"{path}: no evidence.json here (is this a report folder?)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise EvidenceError(f"{path}: cannot read: {exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise EvidenceError(f"{path}: not valid JSON: {exc.msg} at line {exc.lineno}") from None
    version = data.get("schema_version") if isinstance(data, dict) else None
    if version != SCHEMA_VERSION:
        raise EvidenceError(f"{path}: schema_version {version!r} is not supported (this reportgen reads {SCHEMA_VERSION})")
    try:
        return Evidence.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise EvidenceError(f"{path}: {where}: {first['msg']}") from None
