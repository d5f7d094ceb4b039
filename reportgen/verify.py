"""`reportgen verify`: check a report folder or report.pdf against its own hashes, the files it names, a signature."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from pydantic import ValidationError

from reportgen import evidence as ev
from reportgen.errors import EvidenceError, UsageError
from reportgen.evidence import ARTIFACTS_DIR, CONFIG_COPY, EVIDENCE_FILE, SIGNATURE_FILE, Evidence, sha256_bytes
from reportgen.outdir import shown
from reportgen.provenance import default_root
from reportgen.render.carried import safe_name

PDF_FILE = "report.pdf"


@dataclass(frozen=True)
class Check:
    """One line of verify's output: passed (True), failed (False) or not checked (None), and what it was about."""

    passed: Optional[bool]
    what: str
    detail: str

    def line(self) -> str:
        """The check as one line of output."""
        status = {True: "ok", False: "FAILED", None: "skipped"}[self.passed]
        return f"{status:<8}{self.what}: {self.detail}"


class _Source:
    """The files of a report, read either from its folder or from a report.pdf's attachments."""

    def __init__(self, target: Path):
        from reportgen.render.carried import read_attachments

        self.target = target
        if target.is_dir():
            self.folder: Optional[Path] = target
            self.attached: Optional[dict[str, bytes]] = None
            self.pdf = target / PDF_FILE if (target / PDF_FILE).is_file() else None
            self.base = target
        elif target.is_file():
            self.folder, self.pdf, self.base = None, target, target.parent
            self.attached = read_attachments(target)
        else:
            raise UsageError(f"{shown(target)}: no such report folder or PDF")

    def read(self, name: str) -> Optional[bytes]:
        """The bytes of a report file by its name in the report ('artifacts/x/input.png'), None if absent."""
        if self.attached is not None:
            return self.attached.get(name)
        folder = self.folder.resolve()  # type: ignore[union-attr]
        path = (folder / name).resolve()
        if not safe_name(name) or not path.is_relative_to(folder):
            raise EvidenceError(f"{shown(self.target)}: {name!r} is not a file of a report folder")
        return path.read_bytes() if path.is_file() else None

    def artifact_names(self) -> set[str]:
        """Every file under artifacts/ that the report holds, by its path under artifacts/."""
        prefix = ARTIFACTS_DIR + "/"
        if self.attached is not None:
            return {name[len(prefix):] for name in self.attached if name.startswith(prefix)}
        root = self.folder / ARTIFACTS_DIR  # type: ignore[operator]
        return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()} if root.is_dir() else set()


def _parse(data: bytes, where: str) -> Evidence:
    try:
        return Evidence.model_validate(json.loads(data.decode("utf-8")))
    except (UnicodeDecodeError, json.JSONDecodeError, ValidationError) as exc:
        raise EvidenceError(f"{where}: not a readable evidence record ({type(exc).__name__})") from None


def _match(what: str, actual: str, recorded: Optional[str]) -> Check:
    if recorded is None:
        return Check(None, what, "no sha256 recorded")
    if actual == recorded:
        return Check(True, what, f"sha256 matches ({actual[:16]}...)")
    return Check(False, what, f"sha256 is {actual[:16]}..., the evidence records {recorded[:16]}...")


def _own_hashes(source: _Source, evidence: Evidence) -> list[Check]:
    checks = []
    for name, recorded in sorted(evidence.artifacts.items()):
        data = source.read(f"{ARTIFACTS_DIR}/{name}")
        what = f"{ARTIFACTS_DIR}/{name}"
        checks.append(Check(False, what, "missing") if data is None else _match(what, sha256_bytes(data), recorded))
    for name in sorted(source.artifact_names() - set(evidence.artifacts)):
        checks.append(Check(False, f"{ARTIFACTS_DIR}/{name}", "not named in the evidence"))
    config = source.read(CONFIG_COPY)
    if config is None:
        checks.append(Check(None, CONFIG_COPY, "not in the report (written by reportgen 0.1 runs after issue 9)"))
    else:
        checks.append(_match(f"{CONFIG_COPY} (the config the run used)", sha256_bytes(config), evidence.config_sha256))
    for model in evidence.models:
        for item in model.items:
            if item.input.text is not None:  # the hash of inline text, or of a text file's contents, is of the text
                what = f"{model.name}/{item.id} input text"
                checks.append(_match(what, sha256_bytes(item.input.text.encode("utf-8")), item.input.sha256))
    return checks


def _pdf_matches_folder(source: _Source, evidence_bytes: bytes) -> list[Check]:
    """A folder's report.pdf must carry the same evidence (and artifacts) as the folder."""
    from reportgen.render.carried import read_attachments

    if source.folder is None or source.pdf is None:
        return []
    try:
        attached = read_attachments(source.pdf)
    except EvidenceError as exc:
        return [Check(False, PDF_FILE, str(exc))]
    checks = [Check(attached.get(EVIDENCE_FILE) == evidence_bytes, f"{PDF_FILE} {EVIDENCE_FILE}",
                    "the same bytes as the folder's" if attached.get(EVIDENCE_FILE) == evidence_bytes
                    else "differs from the folder's evidence.json")]  # fmt: skip
    differing = sorted(n for n, data in attached.items() if n != EVIDENCE_FILE and source.read(n) != data)
    checks.append(Check(not differing, f"{PDF_FILE} attachments",
                        f"{len(attached)} match the folder's files" if not differing
                        else f"differ from the folder's: {', '.join(differing[:5])}"))  # fmt: skip
    return checks


def _signature(source: _Source, evidence_bytes: bytes, public_key: Optional[Path]) -> list[Check]:
    from reportgen import signing

    data = source.read(SIGNATURE_FILE)
    if public_key is None:
        if data is None:
            return [Check(None, "signature", "the report is not signed")]
        return [Check(None, "signature", "present, not checked (give --public-key)")]
    key = signing.load_public_key(public_key)
    if data is None:
        return [Check(False, "signature", f"no {SIGNATURE_FILE} in the report")]
    try:
        raw = signing.decode_signature(data, SIGNATURE_FILE)
    except EvidenceError as exc:
        return [Check(False, "signature", str(exc))]
    if signing.signature_valid(key, raw, evidence_bytes):
        return [Check(True, "signature", f"valid Ed25519 signature over {EVIDENCE_FILE} by {shown(public_key)}")]
    return [Check(False, "signature", f"does not match {EVIDENCE_FILE} and {shown(public_key)}")]


def _file_hash(path: Path) -> str:
    return ev.sha256_tree(path) if path.is_dir() else ev.sha256_file(path)


def _sources(evidence: Evidence, root: Path) -> list[Check]:
    """Model, input and config files found under root, against the hashes recorded at run time."""
    checks = []
    wanted: list[tuple[str, Optional[str], Optional[str]]] = [
        (f"config {evidence.config_file}", evidence.config_file, evidence.config_sha256)
    ] if evidence.config_file else []  # fmt: skip
    for model in evidence.models:
        if not model.path.startswith("imagenet:"):
            wanted.append((f"model {model.name}", model.path, model.sha256))
        for item in model.items:
            if item.input.path is not None and item.input.text is None and item.input.row is None:
                wanted.append((f"input {model.name}/{item.id}", item.input.path, item.input.sha256))
    for what, rel, recorded in wanted:
        path = root / rel  # type: ignore[operator]
        if not path.exists():
            checks.append(Check(None, what, f"{rel} not found under the root"))
            continue
        checks.append(_match(f"{what} ({rel})", _file_hash(path), recorded))
    return checks


def verify(target: Path, root: Optional[Path] = None, public_key: Optional[Path] = None) -> list[Check]:
    """Every check of a report folder or report.pdf, in order; a failed one has passed=False."""
    source = _Source(target)
    where = shown(target) + ("" if source.folder is None else f"/{EVIDENCE_FILE}")
    evidence_bytes = source.read(EVIDENCE_FILE)
    if evidence_bytes is None:
        raise UsageError(f"{where}: no {EVIDENCE_FILE} (is this a report folder?)")
    checks = [Check(True, EVIDENCE_FILE, f"sha256 {sha256_bytes(evidence_bytes)}")]
    try:
        evidence = _parse(evidence_bytes, where)
    except EvidenceError as exc:
        checks.append(Check(False, EVIDENCE_FILE, str(exc)))
        checks += _signature(source, evidence_bytes, public_key)
        return checks
    checks += _signature(source, evidence_bytes, public_key)
    checks += _own_hashes(source, evidence)
    checks += _pdf_matches_folder(source, evidence_bytes)
    found_root = root if root is not None else default_root(source.base, evidence.config_folder)
    if found_root is None:
        checks.append(Check(None, "model and input files", "no --root given and none recorded"))
    elif not found_root.is_dir():
        checks.append(Check(None, "model and input files", f"root {shown(found_root)} is not a folder"))
    else:
        checks += _sources(evidence, found_root)
    return checks


def summary(checks: list[Any]) -> str:
    """One closing line: how many checks passed, failed, were skipped."""
    failed = sum(c.passed is False for c in checks)
    passed = sum(c.passed is True for c in checks)
    skipped = sum(c.passed is None for c in checks)
    verdict = "verified" if not failed else "NOT verified"
    return f"{verdict}: {passed} ok, {failed} failed, {skipped} skipped"
