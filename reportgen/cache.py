"""The per-item cache: an explained item is kept, so a re-run (after a crash, a kill or Ctrl-C) only does the rest.

An entry is keyed by everything that shapes the explanation: the model file's sha256, the input's sha256, the
model's whole config entry (preprocessing and explanation settings), the seed, and the versions of reportgen
and of the libraries that compute. It holds the item's evidence fields, its artifact files and its timings,
with its own sha256, so a corrupt or truncated entry is detected and explained again.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any, Optional

from reportgen import __version__

FORMAT = 1
# Libraries whose version can change an explanation's numbers.
KEY_PACKAGES = ("lime", "keras", "tensorflow", "tensorflow-cpu", "numpy", "scikit-image", "scikit-learn", "pillow")


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _versions() -> dict[str, str]:
    found = {"reportgen": __version__}
    for name in KEY_PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return found


class ItemCache:
    """Cache entries in one folder; `ItemCache(None)` is a cache that never hits and never writes."""

    def __init__(self, folder: Optional[Path]) -> None:
        self.folder = folder
        self.hits = self.misses = self.corrupt = 0
        self._versions = _versions() if folder is not None else {}

    @property
    def enabled(self) -> bool:
        """False for --no-cache."""
        return self.folder is not None

    def key(self, model_sha256: Optional[str], input_sha256: str, entry: dict[str, Any], seed: int) -> str:
        """The entry's name: sha256 over everything that shapes the explanation."""
        # The entry's name and its list of inputs do not change how one item is explained.
        settings = {k: v for k, v in entry.items() if k not in ("name", "inputs")}
        parts = {"format": FORMAT, "model": model_sha256, "input": input_sha256, "entry": settings, "seed": seed,
                 "versions": self._versions}  # fmt: skip
        return hashlib.sha256(_canonical(parts)).hexdigest()

    def _path(self, key: str) -> Path:
        assert self.folder is not None
        return self.folder / key[:2] / f"{key}.json"

    def get(self, key: str) -> Optional[dict[str, Any]]:
        """The cached payload, or None (missing, disabled, or corrupt: a corrupt entry is removed)."""
        if self.folder is None:
            return None
        path = self._path(key)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            self.misses += 1
            return None
        try:
            entry = json.loads(raw)
            payload = entry["payload"]
            if entry.get("format") != FORMAT or hashlib.sha256(_canonical(payload)).hexdigest() != entry["sha256"]:
                raise ValueError("hash mismatch")
            payload["artifacts"] = {name: base64.b64decode(data, validate=True) for name, data in payload["artifacts"].items()}
        except (ValueError, KeyError, TypeError, AttributeError):
            self.corrupt += 1
            path.unlink(missing_ok=True)
            return None
        self.hits += 1
        return payload

    def put(self, key: str, fields: dict[str, Any], artifacts: dict[str, bytes], extra: dict[str, Any]) -> None:
        """Store an explained item; written to a temporary file and renamed, so an entry is whole or absent."""
        if self.folder is None:
            return
        payload = {"fields": fields, "artifacts": {n: base64.b64encode(b).decode("ascii") for n, b in artifacts.items()},
                   **extra}  # fmt: skip
        entry = {"format": FORMAT, "sha256": hashlib.sha256(_canonical(payload)).hexdigest(), "payload": payload}
        # Written in its own key order (the hash is over the sorted form), so dicts come back as they went in.
        data = json.dumps(entry, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(prefix=".entry-", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.chmod(temporary, 0o644)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
