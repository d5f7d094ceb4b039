"""Ed25519 signatures over evidence.json's exact bytes: who made a report, not only that it is unchanged."""

from __future__ import annotations

import base64
import binascii
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reportgen.errors import EvidenceError, UsageError
from reportgen.outdir import shown

INSTALL_HINT = "signing needs the cryptography package: pip install cryptography"


def _crypto() -> Any:
    try:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ed25519
    except ImportError:
        raise UsageError(INSTALL_HINT) from None
    return serialization, ed25519


@dataclass(frozen=True)
class Signer:
    """An Ed25519 private key, loaded and checked before any model runs."""

    key: Any

    def sign(self, data: bytes) -> bytes:
        """The signature file's bytes: base64 of the 64-byte signature, then a newline."""
        return base64.b64encode(self.key.sign(data)) + b"\n"


def load_signer(path: Path) -> Signer:
    """The private key in a PEM file (unencrypted PKCS#8, as `reportgen keygen` writes); UsageError if unusable."""
    serialization, ed25519 = _crypto()
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise UsageError(f"--sign {shown(Path(path))}: cannot read the key: {exc.strerror or exc}") from None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        why = "it is encrypted (give an unencrypted key)" if isinstance(exc, TypeError) else "not a PEM private key"
        raise UsageError(f"--sign {shown(Path(path))}: {why}") from None
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise UsageError(f"--sign {shown(Path(path))}: not an Ed25519 key (make one with `reportgen keygen`)")
    return Signer(key)


def load_public_key(path: Path) -> Any:
    """The Ed25519 public key in a PEM file; UsageError if unusable."""
    serialization, ed25519 = _crypto()
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise UsageError(f"--public-key {shown(Path(path))}: cannot read: {exc.strerror or exc}") from None
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError:
        raise UsageError(f"--public-key {shown(Path(path))}: not a PEM public key") from None
    if not isinstance(key, ed25519.Ed25519PublicKey):
        raise UsageError(f"--public-key {shown(Path(path))}: not an Ed25519 key")
    return key


def decode_signature(data: bytes, where: str) -> bytes:
    """The raw signature from a signature file's bytes (base64, surrounding whitespace allowed)."""
    try:
        raw = base64.b64decode(data.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise EvidenceError(f"{where}: not base64") from None
    if len(raw) != 64:
        raise EvidenceError(f"{where}: {len(raw)} bytes, an Ed25519 signature has 64")
    return raw


def signature_valid(public_key: Any, signature: bytes, data: bytes) -> bool:
    """True if signature (raw) is public_key's signature over data."""
    from cryptography.exceptions import InvalidSignature

    try:
        public_key.verify(signature, data)
    except InvalidSignature:
        return False
    return True


def keygen(private_path: Path, public_path: Path) -> None:
    """Write a new Ed25519 key pair as PEM files (private 0600); refuse to overwrite either."""
    serialization, ed25519 = _crypto()
    for path in (private_path, public_path):
        if path.exists():
            raise UsageError(f"{shown(path)} exists; keygen never overwrites a key (remove it or choose another name)")
    key = ed25519.Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(private)
    try:
        fd = os.open(public_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        with os.fdopen(fd, "wb") as handle:
            handle.write(public)
    except OSError:
        private_path.unlink(missing_ok=True)  # a private key without its public half is of no use
        raise
