"""What a leak scan looks for, and where: every form a stored credential could take in an artifact.

For each credential: the API key, the secret and the passphrase/uid verbatim, URL-quoted and
JSON-escaped; the middle of the API key (a masked `abcd…wxyz` shows only its ends); 16-character windows
of the key and the secret every 8 characters (so any copy of 23 or more consecutive characters is found: a
truncated copy is still a leak); and the raw bytes the key and the secret decode to when they are base64
(what a careless `b64decode` would write into a binary file), also as hex.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, quote_plus

from sqlalchemy import inspect, text

from nbsupport.console import Console
from nbsupport.credentials import Credentials

WINDOW = 16
WINDOW_STEP = 8
# Below this, a "secret" fragment could occur by chance (a test's own short strings); nothing stored is
# this short, but the scan must not report coincidences.
MIN_NEEDLE = 10


def _decoded(value: str) -> bytes | None:
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if len(raw) >= MIN_NEEDLE else None


def _windows(value: str) -> Iterator[str]:
    for start in range(0, max(len(value) - WINDOW, 0) + 1, WINDOW_STEP):
        yield value[start : start + WINDOW]


@dataclass
class Needles:
    """Byte patterns per credential; a hit names the credential and the form, never the value."""

    patterns: dict[bytes, str] = field(default_factory=dict)

    def add(self, name: str, credentials: Credentials) -> None:
        values = {
            "api key": credentials.api_key,
            "secret": credentials.secret,
            "passphrase": credentials.password or "",
            "uid": credentials.uid or "",
        }
        for what, value in values.items():
            if len(value) < MIN_NEEDLE:
                continue
            forms = {
                "verbatim": value,
                "url-quoted": quote(value, safe=""),
                "form-quoted": quote_plus(value),
                "json-escaped": json.dumps(value)[1:-1],
            }
            for form, shown in forms.items():
                self._put(shown.encode(), f"{what} of {name} ({form})")
            decoded = _decoded(value)
            if decoded is not None:
                self._put(decoded, f"{what} of {name} (base64-decoded bytes)")
                self._put(decoded.hex().encode(), f"{what} of {name} (base64-decoded, hex)")
        for what, value in (("api key", credentials.api_key), ("secret", credentials.secret)):
            if len(value) >= WINDOW + 8:
                self._put(value[4:-4].encode(), f"{what} of {name} (middle)")
            for piece in _windows(value):
                if len(piece) >= MIN_NEEDLE:
                    self._put(piece.encode(), f"{what} of {name} (16-character window)")

    def _put(self, pattern: bytes, label: str) -> None:
        if len(pattern) >= MIN_NEEDLE:
            self.patterns.setdefault(pattern, label)

    def __len__(self) -> int:
        return len(self.patterns)

    def scan(self, data: bytes | str, where: str) -> list[str]:
        blob = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
        return [f"{label} in {where}" for pattern, label in self.patterns.items() if pattern in blob]


def files_under(roots: Iterable[Path]) -> list[Path]:
    found: list[Path] = []
    for root in roots:
        if root.is_file():
            found.append(root)
        elif root.is_dir():
            found.extend(p for p in sorted(root.rglob("*")) if p.is_file())
    return found


def scan_files(needles: Needles, roots: Iterable[Path]) -> tuple[list[str], int]:
    """Hits in every file under `roots` (database files, -wal/-shm, logs, caches), and the bytes read."""
    hits: list[str] = []
    read = 0
    for path in files_under(roots):
        try:
            data = path.read_bytes()
        except OSError:
            continue  # a file removed while we walked (a WAL checkpoint)
        read += len(data)
        hits.extend(needles.scan(data, str(path)))
    return hits, read


def database_contents(console: Console) -> bytes:
    """Every row of every table, as bytes: the PostgreSQL counterpart of reading the SQLite file."""
    chunks: list[bytes] = []
    with console.engine.connect() as conn:
        for table in inspect(conn).get_table_names():
            for row in conn.execute(text(f'SELECT * FROM "{table}"')):  # table names from the catalog
                for value in row:
                    if isinstance(value, bytes | bytearray | memoryview):
                        chunks.append(bytes(value))
                    else:
                        chunks.append(json.dumps(value, default=str, ensure_ascii=False).encode())
                        chunks.append(str(value).encode())
    return b"\n".join(chunks)


def database_files(console: Console) -> list[Path]:
    """The SQLite database file and its -wal/-shm companions; empty on a server database."""
    if not console.settings.is_sqlite:
        return []
    path = Path(console.engine.url.database or "")
    companions = (path, Path(f"{path}-wal"), Path(f"{path}-shm"), Path(f"{path}-journal"))
    return [p for p in companions if p.exists()]


def scan_database(needles: Needles, console: Console) -> tuple[list[str], int]:
    """The raw files on SQLite (free pages and the WAL included) and every row on any backend."""
    hits, read = scan_files(needles, database_files(console))
    rows = database_contents(console)
    hits.extend(needles.scan(rows, f"database rows ({console.engine.dialect.name})"))
    return hits, read + len(rows)
