"""Kraken-spot-style per-key call counter: each call adds its cost, the counter decays over time, going over
the maximum is a violation, and enough violations lock the key out for a while."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum


@dataclass(frozen=True)
class RateLimitPolicy:
    # Kraken's Starter tier: counter max 15, decays by 0.33 per second.
    max_counter: float = 15.0
    decay_per_s: float = 0.33
    violations_before_lockout: int = 3
    lockout_s: float = 15.0


# Kraken Futures budgets its derivatives endpoints at 500 cost units per 10 seconds.
FUTURES_DEFAULT_POLICY = RateLimitPolicy(
    max_counter=500.0, decay_per_s=50.0, violations_before_lockout=1_000_000, lockout_s=0.0
)


class Verdict(StrEnum):
    ALLOWED = "allowed"
    LIMITED = "limited"
    LOCKED_OUT = "locked_out"


class RateLimiter:
    def __init__(self, policy: RateLimitPolicy, clock: Callable[[], float] = time.monotonic) -> None:
        self.policy = policy
        self._clock = clock
        self._lock = threading.Lock()
        self._counter = 0.0
        self._updated = clock()
        self._violations = 0
        self._locked_until = 0.0

    def charge(self, cost: float) -> Verdict:
        with self._lock:
            now = self._clock()
            if now < self._locked_until:
                return Verdict.LOCKED_OUT
            if self._locked_until:
                # A served lockout wipes the slate, as the venue's does.
                self._locked_until = 0.0
                self._violations = 0
                self._counter = 0.0
            elapsed = max(0.0, now - self._updated)
            self._counter = max(0.0, self._counter - elapsed * self.policy.decay_per_s)
            self._updated = now
            if self._counter + cost > self.policy.max_counter:
                self._violations += 1
                if self._violations >= self.policy.violations_before_lockout:
                    self._locked_until = now + self.policy.lockout_s
                return Verdict.LIMITED
            self._counter += cost
            return Verdict.ALLOWED

    @property
    def counter(self) -> float:
        with self._lock:
            return self._counter
