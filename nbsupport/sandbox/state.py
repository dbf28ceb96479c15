"""Mutable per-key venue state (nonces, limiter, last use) and the registry of keys per product."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from nbsupport.sandbox.keys import Fault, Product, SandboxKey
from nbsupport.sandbox.ratelimit import RateLimiter, RateLimitPolicy

_RECENT_NONCES = 256


class NonceVerdict(StrEnum):
    ACCEPTED = "accepted"
    BELOW = "below"
    DUPLICATE = "duplicate"


@dataclass
class KeyState:
    key: SandboxKey
    limiter: RateLimiter
    highest_nonce: int = 0
    last_used: float | None = None  # wall-clock seconds
    lock: threading.Lock = field(default_factory=threading.Lock)
    _recent: deque[int] = field(default_factory=lambda: deque(maxlen=_RECENT_NONCES))

    def __post_init__(self) -> None:
        self.highest_nonce = max(self.highest_nonce, self.key.nonce_floor)

    def accept_nonce(self, nonce: int) -> NonceVerdict:
        """Strictly increasing per key, except that the key's nonce window admits late, unseen nonces."""
        with self.lock:
            if nonce in self._recent:
                return NonceVerdict.DUPLICATE
            if nonce <= self.highest_nonce and not (
                self.key.nonce_window > 0 and nonce > self.highest_nonce - self.key.nonce_window
            ):
                return NonceVerdict.BELOW
            self.highest_nonce = max(self.highest_nonce, nonce)
            self._recent.append(nonce)
            return NonceVerdict.ACCEPTED

    def touch(self) -> None:
        with self.lock:
            self.last_used = time.time()


class KeyRegistry:
    """Keys per product: a spot key id is unknown to the futures API and vice versa, as on the real venues."""

    def __init__(self, policies: dict[Product, RateLimitPolicy]) -> None:
        self._policies = policies
        self._lock = threading.Lock()
        self._keys: dict[tuple[Product, str], KeyState] = {}

    def add(self, key: SandboxKey) -> KeyState:
        state = KeyState(key=key, limiter=RateLimiter(self._policies[key.product]))
        with self._lock:
            self._keys[(key.product, key.api_key)] = state
        return state

    def remove(self, product: Product, api_key: str) -> None:
        with self._lock:
            self._keys.pop((product, api_key), None)

    def get(self, product: Product, api_key: str | None) -> KeyState | None:
        if not api_key:
            return None
        with self._lock:
            return self._keys.get((product, api_key))

    def fault_for(self, api_key: str | None) -> Fault | None:
        """A key's fault, whichever product holds it: faults happen at the edge, before routing."""
        if not api_key:
            return None
        with self._lock:
            for product in ("spot", "futures"):
                state = self._keys.get((product, api_key))
                if state is not None and state.key.fault is not None:
                    return state.key.fault
        return None

    def all(self) -> list[KeyState]:
        with self._lock:
            return list(self._keys.values())


FaultSource = Callable[[], Fault | None]
