"""Every request the sandbox served, recorded thread-safely. Never holds a secret or a signature."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, replace

from nbsupport.sandbox.keys import Product


@dataclass(frozen=True)
class RecordedRequest:
    # The public key id exactly as the client sent it; None for public (unsigned) calls.
    api_key: str | None
    product: Product
    method: str
    path: str
    nonce: int | None
    peer_ip: str
    started_at: float  # time.monotonic()
    finished_at: float | None  # None while in flight
    status: int | None  # None when no complete HTTP response was sent
    # The venue error string answered (e.g. "EAPI:Invalid key"), or the fault name; None on success.
    error: str | None
    # True for calls that would change account state (orders, cancels of everything, withdrawals).
    state_change: bool = False


class RequestLog:
    def __init__(self, max_entries: int | None = None) -> None:
        """`max_entries` keeps only the most recent requests (long benchmark runs); counts stay exact."""
        self._lock = threading.Lock()
        # Keyed by a token, not a list index, so clear() during in-flight requests cannot misfile updates.
        self._entries: dict[int, RecordedRequest] = {}
        self._next_token = 0
        self._max_entries = max_entries
        self._state_changes = 0

    def begin(self, entry: RecordedRequest) -> int:
        with self._lock:
            token = self._next_token
            self._next_token += 1
            self._entries[token] = entry
            self._state_changes += int(entry.state_change)
            if self._max_entries is not None and len(self._entries) > self._max_entries:
                del self._entries[next(iter(self._entries))]
            return token

    def finish(self, token: int, status: int | None, error: str | None) -> None:
        with self._lock:
            if token in self._entries:
                self._entries[token] = replace(self._entries[token], finished_at=time.monotonic(),
                                               status=status, error=error)

    def entries(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._entries.values())

    def requests_for(self, api_key: str) -> list[RecordedRequest]:
        return [e for e in self.entries() if e.api_key == api_key]

    @property
    def state_change_attempts(self) -> int:
        with self._lock:
            return self._state_changes

    def max_overlap_per_key(self) -> int:
        """The largest number of requests for one key that were in flight at the same moment."""
        now = time.monotonic()
        by_key: dict[str, list[tuple[float, int]]] = {}
        for e in self.entries():
            if e.api_key is None:
                continue
            events = by_key.setdefault(e.api_key, [])
            events.append((e.started_at, 1))
            events.append((e.finished_at if e.finished_at is not None else now, -1))
        best = 0
        for events in by_key.values():
            # At equal timestamps the end sorts first: a request that starts as another ends does not overlap.
            events.sort(key=lambda ev: (ev[0], ev[1]))
            current = 0
            for _, delta in events:
                current += delta
                best = max(best, current)
        return best

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._state_changes = 0

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)
