"""What a report.pdf carries: its attachments read back (evidence.json, signature, config, artifacts/)."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from reportgen.errors import EvidenceError, UsageError
from reportgen.evidence import ARTIFACTS_DIR, CONFIG_COPY, EVIDENCE_FILE, SIGNATURE_FILE
from reportgen.outdir import shown

INSTALL_HINT = "reading a report.pdf needs pypdf: pip install pypdf"


def safe_name(name: str) -> bool:
    """True for the names reportgen attaches: the three fixed files and plain relative paths under artifacts/."""
    if name in (EVIDENCE_FILE, SIGNATURE_FILE, CONFIG_COPY):
        return True
    path = PurePosixPath(name)
    return (
        len(path.parts) >= 2 and path.parts[0] == ARTIFACTS_DIR and not path.is_absolute()
        and ".." not in path.parts and "\\" not in name and "\0" not in name
    )  # fmt: skip


def read_attachments(pdf: Path) -> dict[str, bytes]:
    """Every attachment of the PDF reportgen would have written, by name; EvidenceError if the PDF is unreadable."""
    try:
        from pypdf import PdfReader
        from pypdf.errors import PdfReadError
    except ImportError:
        raise UsageError(INSTALL_HINT) from None
    try:
        reader = PdfReader(str(pdf))
        found = {name: contents for name, contents in reader.attachments.items()}
    except FileNotFoundError:
        raise UsageError(f"{shown(pdf)}: no such file") from None
    except (PdfReadError, OSError, ValueError, KeyError, TypeError) as exc:
        raise EvidenceError(f"{shown(pdf)}: cannot read the PDF's attachments: {exc}") from None
    out: dict[str, bytes] = {}
    for name, contents in found.items():
        if not safe_name(name):
            raise EvidenceError(f"{shown(pdf)}: attachment {name!r} is not one reportgen writes")
        if len(contents) != 1:
            raise EvidenceError(f"{shown(pdf)}: attachment {name!r} is there {len(contents)} times")
        out[name] = contents[0]
    if EVIDENCE_FILE not in out:
        raise EvidenceError(f"{shown(pdf)}: carries no {EVIDENCE_FILE} (not a reportgen report.pdf?)")
    return out


def unpack(pdf: Path, folder: Path) -> list[str]:
    """Write the PDF's attachments into folder as a report folder (evidence.json, artifacts/...); their names."""
    files = read_attachments(pdf)
    for name, data in files.items():
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return sorted(files)
