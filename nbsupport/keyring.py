"""Where the master keyring comes from: the setting, or (demo on SQLite only) a generated local file."""

from __future__ import annotations

import os
from pathlib import Path

from nbsupport.config import Settings
from nbsupport.crypto import CryptoError, MasterKeyMissing, MasterKeyring, generate_master_key


def read_or_create_key_file(path: Path) -> str:
    """The master key entry kept in a local 0600 file (demo, benchmarks), created on first use."""
    if path.is_file():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    # O_EXCL: two processes starting at once must not both write a different key.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as fh:
        fh.write(generate_master_key("v1") + "\n")
    return path.read_text().strip()


def load_keyring(settings: Settings) -> MasterKeyring:
    """The configured keyring; raises MasterKeyMissing / CryptoError with a message fit for a page."""
    if settings.master_keys.strip():
        return MasterKeyring.parse(settings.master_keys)
    if settings.demo:
        if not settings.is_sqlite:
            raise MasterKeyMissing(
                "demo mode generates a local master key only for the embedded SQLite database; "
                "set NBSUPPORT_MASTER_KEYS for any other database"
            )
        try:
            return MasterKeyring.parse(read_or_create_key_file(settings.demo_master_key_file))
        except CryptoError as exc:
            raise CryptoError(f"demo master key file {settings.demo_master_key_file}: {exc}") from None
    raise MasterKeyMissing(
        "no master key configured: set NBSUPPORT_MASTER_KEYS ('v1:<base64 of 32 bytes>'); "
        "key metadata stays viewable, connection tests need the key"
    )
