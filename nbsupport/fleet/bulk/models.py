"""What a bulk re-test takes and gives: venue budgets, progress events, each key's outcome, the report."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from nbsupport.conntest import ConnectionOutcome
from nbsupport.plain import plain_dict

RetestFn = Callable[..., ConnectionOutcome]  # run_retest's signature
Progress = Callable[["BulkProgress"], None]


@dataclass(frozen=True)
class VenueBudget:
    """How hard a batch may push one venue: parallel tests and tests started per second."""

    concurrency: int = 8
    tests_per_second: float = 100.0


DEFAULT_BUDGET = VenueBudget()


class BulkError(ValueError):
    """A bulk re-test request that cannot run (unknown batch, conflicting options)."""


RUNNING = "running"


@dataclass(frozen=True)
class BulkProgress:
    """A key started (`outcome` RUNNING, `done` unchanged) or finished its test."""

    done: int
    total: int
    key_id: int
    outcome: str  # running | ok | warning | failed | refused | error
    exchange: str = ""
    diagnosis: str = ""


@dataclass(frozen=True)
class KeyOutcome:
    """One key's test in the batch: what it found, or why it was not tested (`reason`)."""

    key_id: int
    exchange: str
    outcome: str  # ok | warning | failed | refused | error
    diagnosis: str = ""
    reason: str = ""
    seconds: float = 0.0


@dataclass
class BulkReport:
    batch_id: str
    dry_run: bool
    exchange: str | None
    diagnosis: str | None
    since_at: datetime
    selected_at: datetime
    cohort: int
    already_done: int = 0
    tested: int = 0
    interrupted: bool = False
    outcomes: dict[str, int] = field(default_factory=dict)
    diagnoses: dict[str, int] = field(default_factory=dict)
    by_venue: dict[str, int] = field(default_factory=dict)
    refused: dict[int, str] = field(default_factory=dict)  # key id -> reason
    errors: dict[int, str] = field(default_factory=dict)  # key id -> exception type
    key_ids: list[int] = field(default_factory=list)  # the cohort (dry run) or the keys tested now
    duration_s: float = 0.0
    results: list[KeyOutcome] = field(default_factory=list)  # every key this run tried, in finish order

    def as_dict(self) -> dict[str, object]:
        return plain_dict(self)
