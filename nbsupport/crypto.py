"""Envelope encryption: master keyring -> per-user data keys (DEKs) -> sealed credentials.

* A random AES-256 DEK per user, stored only wrapped (AES-GCM) by a master key; the wrap's associated
  data binds the user id and master key version, so a wrapped DEK copied to another user fails to open.
* Credentials are sealed with AES-GCM under the DEK, a fresh 96-bit nonce each time, with associated data
  binding user id, key id, exchange and credential version: a blob moved to another row fails to open.
* Rotating the master key only rewraps DEKs; credential rows are never touched.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_FORMAT = b"\x01"  # version byte of the sealed-blob layout: format | nonce(12) | ciphertext+tag
_NONCE_BYTES = 12
_VERSION_RE = re.compile(r"^v\d{1,6}$")


class CryptoError(Exception):
    """Something could not be sealed or opened. Messages never contain key material."""


class MasterKeyMissing(CryptoError):
    pass


class UnknownMasterKeyVersion(CryptoError):
    pass


class DecryptionFailed(CryptoError):
    pass


@dataclass(frozen=True)
class MasterKeyring:
    """Ordered master keys; the first is the primary that wraps new and rewrapped DEKs."""

    keys: tuple[tuple[str, bytes], ...] = field(repr=False)

    @classmethod
    def parse(cls, text: str) -> MasterKeyring:
        """Parse `v2:<base64 32 bytes>,v1:<...>`. Errors name the entry, never its value."""
        entries: list[tuple[str, bytes]] = []
        for position, raw in enumerate(p.strip() for p in text.split(",") if p.strip()):
            version, sep, encoded = raw.partition(":")
            if not sep or not _VERSION_RE.match(version):
                raise CryptoError(f"master key #{position + 1}: expected 'v<N>:<base64 of 32 bytes>'")
            try:
                material = base64.b64decode(encoded, validate=True)
            except binascii.Error:
                raise CryptoError(f"master key {version}: not valid base64") from None
            if len(material) != 32:
                raise CryptoError(f"master key {version}: must decode to 32 bytes, got {len(material)}")
            if any(v == version for v, _ in entries):
                raise CryptoError(f"master key {version}: listed twice")
            entries.append((version, material))
        if not entries:
            raise MasterKeyMissing(
                "no master key configured: set NBSUPPORT_MASTER_KEYS (e.g. 'v1:<base64 of 32 bytes>')"
            )
        return cls(tuple(entries))

    @property
    def primary_version(self) -> str:
        return self.keys[0][0]

    @property
    def versions(self) -> list[str]:
        return [v for v, _ in self.keys]

    def key(self, version: str) -> bytes:
        for v, material in self.keys:
            if v == version:
                return material
        raise UnknownMasterKeyVersion(
            f"master key {version} is not in the keyring (known: {', '.join(self.versions)})"
        )


def generate_master_key(version: str) -> str:
    if not _VERSION_RE.match(version):
        raise CryptoError("version must look like v1, v2, ...")
    return f"{version}:{base64.b64encode(os.urandom(32)).decode()}"


def _seal(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    nonce = os.urandom(_NONCE_BYTES)
    return _FORMAT + nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def _open(key: bytes, blob: bytes, aad: bytes, what: str) -> bytes:
    if len(blob) < 1 + _NONCE_BYTES + 16 or blob[:1] != _FORMAT:
        raise DecryptionFailed(f"{what}: not a sealed blob of a known format")
    try:
        return AESGCM(key).decrypt(blob[1 : 1 + _NONCE_BYTES], blob[1 + _NONCE_BYTES :], aad)
    except InvalidTag:
        raise DecryptionFailed(f"{what}: authentication failed (tampered, moved or wrong key)") from None


def _dek_aad(user_id: int, master_version: str) -> bytes:
    return f"nbsupport/dek|user={user_id}|master={master_version}".encode()


def credential_aad(user_id: int, key_id: int, exchange: str, credential_version: int) -> bytes:
    return f"nbsupport/cred|user={user_id}|key={key_id}|exchange={exchange}|v={credential_version}".encode()


def new_dek() -> bytes:
    return AESGCM.generate_key(bit_length=256)


def wrap_dek(keyring: MasterKeyring, user_id: int, dek: bytes) -> tuple[bytes, str]:
    version = keyring.primary_version
    return _seal(keyring.key(version), dek, _dek_aad(user_id, version)), version


def unwrap_dek(keyring: MasterKeyring, user_id: int, wrapped: bytes, master_version: str) -> bytes:
    return _open(keyring.key(master_version), wrapped, _dek_aad(user_id, master_version), "data key")


def seal_credentials(dek: bytes, plaintext: bytes, aad: bytes) -> bytes:
    return _seal(dek, plaintext, aad)


def open_credentials(dek: bytes, blob: bytes, aad: bytes) -> bytes:
    return _open(dek, blob, aad, "credentials")


def rewrap(keyring: MasterKeyring, user_id: int, wrapped: bytes, master_version: str) -> tuple[bytes, str]:
    """Re-wrap one DEK under the primary master key (the DEK itself, and so every credential, is kept)."""
    return wrap_dek(keyring, user_id, unwrap_dek(keyring, user_id, wrapped, master_version))
