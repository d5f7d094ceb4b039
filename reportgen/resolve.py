"""Find every file a validated config names: models, inputs (files, globs, inline texts, table rows)."""

from __future__ import annotations

import csv
import glob
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from reportgen.applications import APPLICATIONS, keras_models_dir
from reportgen.config import MODEL_SUFFIXES, Config, FileInput, InputEntry, ModelEntry, TableInput, TextInput, parse
from reportgen.errors import ConfigError
from reportgen.evidence import sha256_bytes, sha256_file
from reportgen.safety import file_problem, is_remote, is_saved_model


@dataclass(frozen=True)
class InputSpec:
    """One input the config names: a file, an inline text, or one row of a table."""

    name: str  # what the item id is made from
    rel: Optional[str]  # the file, relative to the config folder (None for inline text)
    path: Optional[Path] = None  # the file's absolute path
    text: Optional[str] = None  # inline text, or a table row's text
    row: Optional[int] = None  # table rows: 1 for the first data row


def input_sha256(spec: InputSpec) -> str:
    """sha256 of a file input's bytes, or of an inline text's or a table row's UTF-8 text."""
    if spec.text is None and spec.path is not None:
        return sha256_file(spec.path)
    return sha256_bytes((spec.text or "").encode("utf-8"))


@dataclass(frozen=True)
class ResolvedModel:
    """A model entry with its files found: absolute paths and the expanded list of inputs."""

    entry: ModelEntry
    path: Path
    rel_path: str
    classes: Optional[list[str]]
    inputs: list[InputSpec]
    folder: Path  # the config file's folder: other files the entry names are relative to it


@dataclass(frozen=True)
class LoadedConfig:
    """A validated config, with where it came from and every file it names."""

    config: Config
    path: Path
    folder: Path
    sha256: str
    models: list[ResolvedModel]
    output_dir: Path


def _rel(path: Path, folder: Path) -> str:
    # Relative even outside the config's folder ("../data/x.png"): no absolute path reaches a shared report.
    return Path(os.path.relpath(path, folder)).as_posix()


def local_file(given: str, folder: Path, where: str) -> Path:
    """The regular local file a config names; a URL, a missing file, a device or a FIFO is a ConfigError."""
    if is_remote(given):
        raise ConfigError(f"{where}: '{given}' is a URL; reportgen reads local files only (download it and name the copy)")
    path = folder / given
    problem = file_problem(path)
    if problem is not None:
        raise ConfigError(f"{where}: '{given}' {problem}")
    return path


def _files(pattern: str, folder: Path, where: str) -> list[Path]:
    if glob.has_magic(pattern) and not is_remote(pattern):
        matches = sorted(Path(p) for p in glob.glob(str(folder / pattern), recursive=True))
        matches = [p for p in matches if file_problem(p) is None]  # regular files only
        if not matches:
            raise ConfigError(f"{where}: '{pattern}' matches no file")
        return matches
    return [local_file(pattern, folder, where)]


def _decode(data: bytes, rel: str, where: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{where}: {rel}: not valid UTF-8 (byte offset {exc.start})") from None


def _table_rows(path: Path, rel: str, table: TableInput, where: str) -> list[InputSpec]:
    text = _decode(path.read_bytes(), rel, where)
    columns = [table.column] + ([table.id_column] if table.id_column else [])
    rows: list[dict] = []
    if path.suffix.lower() == ".jsonl":
        for number, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise ConfigError(f"{where}: {rel}: line {number} is not valid JSON: {exc.msg}") from None
                if not isinstance(record, dict):
                    raise ConfigError(f"{where}: {rel}: line {number} is not a JSON object")
                rows.append(record)
    elif path.suffix.lower() == ".csv":
        reader = csv.DictReader(io.StringIO(text, newline=""))
        rows = list(reader)
        for column in columns:
            if reader.fieldnames is None or column not in reader.fieldnames:
                have = ", ".join(reader.fieldnames or []) or "none"
                raise ConfigError(f"{where}: {rel}: no column '{column}' (its columns: {have})")
    else:
        raise ConfigError(f"{where}: {rel}: a table is a .csv or .jsonl file")
    if not rows:
        raise ConfigError(f"{where}: {rel}: the table has no rows")
    specs = []
    for number, record in enumerate(rows[: table.limit], start=1):
        for column in columns:
            if column not in record:
                raise ConfigError(f"{where}: {rel}: row {number} has no '{column}'")
        value = record[table.column]
        name = str(record[table.id_column]) if table.id_column else f"{path.stem}-{number}"
        specs.append(InputSpec(name, rel, path.resolve(), "" if value is None else str(value), number))
    return specs


def expand_inputs(entries: list[InputEntry], folder: Path, where: str) -> list[InputSpec]:
    """Every input of one model, in config order, files found and tables read; duplicates dropped."""
    found: list[InputSpec] = []
    seen: set[Path] = set()
    inline = 0
    for i, entry in enumerate(entries):
        here = f"{where}.inputs[{i}]"
        if isinstance(entry, TextInput):
            inline += 1
            found.append(InputSpec(f"text-{inline}", None, text=entry.text))
            continue
        if isinstance(entry, TableInput):
            (path,) = _files(entry.table, folder, f"{here}.table")
            found.extend(_table_rows(path, _rel(path, folder), entry, here))
            continue
        pattern = entry.file if isinstance(entry, FileInput) else entry
        for match in _files(pattern, folder, here):
            absolute = match.resolve()
            if absolute not in seen:
                seen.add(absolute)
                found.append(InputSpec(match.stem, _rel(match, folder), absolute))
    return found


def _read_classes_file(path: Path, where: str) -> list[str]:
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except FileNotFoundError:
        raise ConfigError(f"{where}.classes_file: '{path.name}' does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{where}.classes_file: cannot read: {exc}") from None
    classes = [line.strip() for line in lines if line.strip()]
    if not classes:
        raise ConfigError(f"{where}.classes_file: the file lists no classes")
    return classes


def _model_file(entry: ModelEntry, folder: Path, where: str) -> tuple[Path, str]:
    if entry.application is not None and entry.weights == "imagenet":
        # Looked for (and verified) when the model is built: a missing file fails that model only.
        file_name = APPLICATIONS[entry.application].file_name
        return keras_models_dir() / file_name, f"imagenet:{file_name}"
    given, what = (entry.weights, "weights") if entry.application is not None else (entry.path, "path")
    assert given is not None  # the config's validator requires one of them
    if is_remote(given):
        raise ConfigError(f"{where}.{what}: '{given}' is a URL; reportgen never downloads models (download it and name the copy)")
    model_path = folder / given
    if entry.path is not None and is_saved_model(model_path):
        return model_path.resolve(), _rel(model_path, folder)  # refused when loaded unless trust_model is set
    if model_path.suffix.lower() not in MODEL_SUFFIXES:
        raise ConfigError(f"{where}.{what}: '{given}' is not a .keras or .h5 file (or a SavedModel folder)")
    local_file(given, folder, f"{where}.{what}")
    return model_path.resolve(), _rel(model_path, folder)


def resolve(config: Config, path: Path) -> list[ResolvedModel]:
    """Find every file the config names; a missing file or an empty glob is a ConfigError."""
    folder = path.parent
    models = []
    for i, entry in enumerate(config.models):
        where = f"{path.name}: models[{i}]"
        hook_file = (entry.preprocess.hook or "").rpartition(":")[0]
        if hook_file.endswith(".py"):
            local_file(hook_file, folder, f"{where}.preprocess.hook")
        if entry.vocabulary is not None:
            local_file(entry.vocabulary, folder, f"{where}.vocabulary")
        model_path, rel_path = _model_file(entry, folder, where)
        classes = entry.classes
        if entry.classes_file is not None:
            classes = _read_classes_file(local_file(entry.classes_file, folder, f"{where}.classes_file"), where)
        inputs = expand_inputs(entry.inputs, folder, where)
        models.append(ResolvedModel(entry, model_path, rel_path, classes, inputs, folder))
    return models


def load(path: Path, output: Optional[Path] = None, language: Optional[str] = None) -> LoadedConfig:
    """Read, validate and resolve a config file; `output` and `language` override its keys of those names."""
    name = path.name
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{name}: not valid UTF-8 (byte offset {exc.start})") from None
    config = parse(text, name)
    if language is not None:
        config = config.model_copy(update={"language": language})
    folder = path.resolve().parent
    # The config's own output is relative to its folder; one given on the command line, to the cwd.
    if output is not None:
        config = config.model_copy(update={"output": str(output)})
        output_dir = output.resolve()
    else:
        output_dir = (folder / config.output).resolve()
    models = resolve(config, folder / path.name)
    return LoadedConfig(config, folder / path.name, folder, sha256_bytes(raw), models, output_dir)
