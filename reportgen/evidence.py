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
SIGNATURE_FILE = "evidence.json.sig"  # base64 of the Ed25519 signature over evidence.json's exact bytes
CONFIG_COPY = "config.yaml"  # the config file's exact bytes, kept in the report folder (sha256: config_sha256)
TIMINGS_FILE = "timings.json"
ARTIFACTS_DIR = "artifacts"

# Keys that only exist for one kind of item, or for trust figures that were measured: left out of the JSON when unset.
_OPTIONAL_KEYS = {"image", "segments", "tokens", "text", "row", "positions", "spread",
                  "stability", "fidelity", "faithfulness", "agreement", "sanity", "verdict", "reasons",
                  "rank_correlation", "passed", "skipped", "command", "config_file", "config_folder"}  # fmt: skip


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
    spread: float | None = None  # standard deviation of the weight over the main and the stability runs


class Stability(_Record):
    runs: int  # extra explanations, each from its own derived seed
    seeds: list[int]
    k: int  # top-k compared: the model's num_features
    jaccard: float  # mean |top-k ∩ top-k of run| / |∪| over the runs
    rank_correlation: float  # mean Spearman correlation of the weights with each run's
    sign_flips: float  # share of the top-k features whose sign flips in any run


class Fidelity(_Record):
    in_sample_r2: float  # LIME's score: weighted R² on the samples the surrogate was fitted on
    fresh_r2: float  # weighted R² (LIME's kernel weights) on a held-out sample
    fresh_samples: int
    seed: int


class Faithfulness(_Record):
    x: list[float]  # share of features hidden (deletion) or revealed (insertion), 0..1
    deletion: list[float]  # the model's probability for the label, features hidden highest weight first
    insertion: list[float]  # the same, features revealed highest weight first from all hidden
    random_deletion: list[float]  # mean over random orders
    random_insertion: list[float]
    deletion_auc: float  # trapezoid areas over x in 0..1
    insertion_auc: float
    random_deletion_auc: float
    random_insertion_auc: float
    deletion_drop: float  # random_deletion_auc - deletion_auc: larger is more faithful
    insertion_gain: float  # insertion_auc - random_insertion_auc: larger is more faithful
    random_orders: int
    seed: int


class Agreement(_Record):
    local_prediction: float  # the surrogate's prediction at the input
    model_probability: float  # the model's probability for the label at the input
    gap: float  # |local_prediction - model_probability|
    flagged: bool  # gap above trust.max_agreement_gap


class Sanity(_Record):
    rank_correlation: float | None = None  # Spearman of the weights against a weight-randomised copy's
    passed: bool | None = None  # rank_correlation below trust.max_sanity_correlation
    skipped: str | None = None  # why the check that was asked for could not run (then the two above are absent)


class Metrics(_Record):
    """The trust figures of one explanation (docs/trust-metrics.md); a figure that was turned off is absent."""

    stability: Stability | None = None
    fidelity: Fidelity | None = None
    faithfulness: Faithfulness | None = None
    agreement: Agreement | None = None
    sanity: Sanity | None = None
    verdict: str | None = None  # a code: stable_faithful, unstable, poor_fit, not_faithful, disagrees, insensitive_to_model
    reasons: list[str] | None = None  # codes of every failed figure, most serious first

    def items(self) -> list[tuple[str, Any]]:
        """The figures that were measured, as (name, plain value) pairs."""
        return list(self.model_dump(mode="json", exclude_none=True).items())


class Explanation(_Record):
    label: str
    index: int
    intercept: float
    score: float
    local_prediction: float
    features: list[Feature]
    metrics: Metrics = Field(default_factory=Metrics)


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
    # Provenance (issue 9); absent in records written before, and when a run did not come from the command line.
    command: list[str] | None = None  # the command line as given, private paths reduced (docs/audit.md)
    config_file: str | None = None  # the config file's name in its folder
    config_folder: str | None = None  # the config's folder relative to the report folder ('/'-separated)

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


def evidence_sha256(evidence: Evidence) -> str:
    """The sha256 of evidence.json as written for this record (the hash the report and the model card quote)."""
    return sha256_bytes(to_json(evidence).encode("utf-8"))


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
