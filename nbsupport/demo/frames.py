"""Column batches handed from the generators to the bulk writers, and the generators' clock.

Times are int64 microseconds since the Unix epoch (UTC) while generating: plain integer arithmetic on numpy
arrays. The writers turn them into each backend's storage form in one vectorised pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import numpy as np

SECOND = 1_000_000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE
DAY = 24 * HOUR
WEEK = 7 * DAY
# "Never" for open-ended intervals (an unresolved problem); far below numpy's datetime64 limits.
FOREVER = np.int64(2**62)
NAT = np.iinfo(np.int64).min  # numpy's NaT: a NULL timestamp


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_us(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(microseconds=1)


def from_us(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=int(us))


def day_of(us: np.ndarray) -> np.ndarray:
    """Days since the epoch (floor), for day-grained history."""
    days: np.ndarray = np.floor_divide(us, DAY)  # annotated: numpy's ufuncs are Any to the checker
    return days


@dataclass
class Timestamps:
    """A column of UTC instants (int64 µs, NAT for NULL)."""

    us: np.ndarray


@dataclass
class Days:
    """A column of calendar days (days since the epoch)."""

    days: np.ndarray


Column = np.ndarray | Sequence[object] | Timestamps | Days


@dataclass
class Frame:
    """Rows of one table as named columns of equal length, in the table's column order of choice."""

    table: str
    columns: dict[str, Column] = field(default_factory=dict)

    def __len__(self) -> int:
        if not self.columns:
            return 0
        first = next(iter(self.columns.values()))
        if isinstance(first, Timestamps):
            return len(first.us)
        if isinstance(first, Days):
            return len(first.days)
        return len(first)


def epoch_day(day: date) -> int:
    return (day - date(1970, 1, 1)).days
