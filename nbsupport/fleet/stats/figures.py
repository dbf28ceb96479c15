"""Failure statistics over the rollup tables: rates, top diagnoses, incidents, time-to-green, posture.

Every figure comes from a GROUP BY over a rollup table (a few thousand rows for 30 days), so the cost does
not grow with the number of connection tests or keys.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TypeVarTuple

from sqlalchemy import ColumnElement, Select, case, func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from nbsupport.clock import utcnow
from nbsupport.db.models import ExchangeKey, KeyFingerprintCount
from nbsupport.db.rollup_models import DailyTestRollup, KeyPostureRollup, RecoveryRollupDaily
from nbsupport.fleet.kinds import CUSTOMER_ONLY, kinds_counted
from nbsupport.fleet.stats.incidents import Incident, IncidentRule, detect_incidents
from nbsupport.fleet.stats.rollups import FAILED, utc_day
from nbsupport.keys import GONE_STATUSES, ROTATION_DAYS
from nbsupport.plain import plain_dict

EXPIRY_WARNING_DAYS = 14
TOP_DIAGNOSES = 5


@dataclass(frozen=True)
class Rate:
    """Tests and failures in one group (a day, a venue): `rate` is failed / tests."""

    name: str
    tests: int
    failed: int
    warnings: int

    @property
    def rate(self) -> float:
        return self.failed / self.tests if self.tests else 0.0

    def as_dict(self) -> dict[str, object]:
        return {**plain_dict(self), "rate": round(self.rate, 6)}


@dataclass(frozen=True)
class DiagnosisShare:
    diagnosis: str
    failed: int
    share_of_failures: float
    rate_of_tests: float

    def as_dict(self) -> dict[str, object]:
        return plain_dict(self)


@dataclass(frozen=True)
class TimeToGreen:
    """Failure episodes opened in the window that turned green; hours at the rollup's bucket resolution."""

    episodes: int
    median_hours: float | None
    p90_hours: float | None

    def as_dict(self) -> dict[str, object]:
        return plain_dict(self)


@dataclass(frozen=True)
class SecurityPosture:
    keys: int  # stored keys whose credentials are still in use (not revoked or deleted)
    can_withdraw: int
    no_ip_whitelist: int
    rotation_overdue: int  # last rotated (or created) more than ROTATION_DAYS ago
    expiring_soon: int  # expires today or within EXPIRY_WARNING_DAYS
    expired: int
    shared: int = 0  # keys in use whose API key is stored more than once (for another user, or twice)

    def as_dict(self) -> dict[str, object]:
        return plain_dict(self)


@dataclass(frozen=True)
class FleetStats:
    first_day: date
    last_day: date
    exchange: str | None
    total: Rate
    by_day: list[Rate]
    by_venue: list[Rate]
    by_diagnosis: list[DiagnosisShare]
    incidents: list[Incident]
    time_to_green: TimeToGreen
    time_to_green_by_venue: dict[str, TimeToGreen]
    posture: SecurityPosture
    daily_by_venue: list[tuple[date, str, int, int]] = field(
        default_factory=list
    )  # day, venue, tests, failed
    include_non_customer: bool = False  # practice and internal keys counted too

    @property
    def top_diagnoses(self) -> list[DiagnosisShare]:
        return self.by_diagnosis[:TOP_DIAGNOSES]

    def as_dict(self) -> dict[str, object]:
        return plain_dict({
            "first_day": self.first_day,
            "last_day": self.last_day,
            "exchange": self.exchange,
            "include_non_customer": self.include_non_customer,
            "total": self.total.as_dict(),
            "by_day": [r.as_dict() for r in self.by_day],
            "by_venue": [r.as_dict() for r in self.by_venue],
            "by_diagnosis": [d.as_dict() for d in self.by_diagnosis],
            "top_diagnoses": [d.as_dict() for d in self.top_diagnoses],
            "incidents": [i.as_dict() for i in self.incidents],
            "time_to_green": self.time_to_green.as_dict(),
            "time_to_green_by_venue": {k: v.as_dict() for k, v in self.time_to_green_by_venue.items()},
            "posture": self.posture.as_dict(),
            "daily_by_venue": [
                {"day": d, "exchange": e, "tests": t, "failed": f} for d, e, t, f in self.daily_by_venue
            ],
        })


def _counts() -> tuple[ColumnElement[int], ColumnElement[int], ColumnElement[int]]:
    r = DailyTestRollup
    return (
        func.sum(r.n),
        func.sum(case((r.outcome == FAILED, r.n), else_=0)),
        func.sum(case((r.outcome == "warning", r.n), else_=0)),
    )


@dataclass(frozen=True)
class Scope:
    """Which rollup rows a figure reads: a day range, one venue or all, and the key kinds counted."""

    first: date
    last: date
    exchange: str | None
    kinds: tuple[str, ...] = CUSTOMER_ONLY


Row = TypeVarTuple("Row")  # the columns a query selects


def _in_window(query: Select[*Row], scope: Scope) -> Select[*Row]:
    r = DailyTestRollup
    query = query.where(r.day >= scope.first, r.day <= scope.last, r.key_kind.in_(scope.kinds))
    return query.where(r.exchange == scope.exchange) if scope.exchange else query


def _rates(
    session: Session, column: InstrumentedAttribute[date] | InstrumentedAttribute[str], scope: Scope
) -> list[Rate]:
    query = _in_window(select(column, *_counts()).group_by(column).order_by(column), scope)
    return [
        Rate(name.isoformat() if isinstance(name, date) else str(name), int(t), int(f), int(w))
        for name, t, f, w in session.execute(query)
    ]


def _by_diagnosis(session: Session, scope: Scope, tests: int) -> list[DiagnosisShare]:
    r = DailyTestRollup
    query = _in_window(
        select(r.diagnosis, func.sum(r.n)).where(r.outcome == FAILED).group_by(r.diagnosis), scope
    )
    rows = sorted(((str(d), int(n)) for d, n in session.execute(query)), key=lambda dn: (-dn[1], dn[0]))
    failures = sum(n for _, n in rows)
    return [DiagnosisShare(d, n, n / failures, n / tests if tests else 0.0) for d, n in rows]


def _daily_by_venue(session: Session, scope: Scope) -> list[tuple[date, str, int, int]]:
    r = DailyTestRollup
    total, failed, _ = _counts()
    query = _in_window(
        select(r.day, r.exchange, total, failed).group_by(r.day, r.exchange).order_by(r.day, r.exchange),
        scope,
    )
    return [(d, e, int(t), int(f)) for d, e, t, f in session.execute(query)]


def _incident_counts(
    session: Session, scope: Scope, diagnoses: tuple[str, ...]
) -> list[tuple[date, str, int, int]]:
    r = DailyTestRollup
    hits = func.sum(case((r.diagnosis.in_(diagnoses), r.n), else_=0))
    query = _in_window(select(r.day, r.exchange, func.sum(r.n), hits).group_by(r.day, r.exchange), scope)
    return [(d, e, int(t), int(h)) for d, e, t, h in session.execute(query)]


def percentile_from_histogram(buckets: list[tuple[int, int]], p: float) -> int | None:
    """Nearest-rank percentile of (value, count) pairs sorted by value: the smallest value whose
    cumulative count reaches ceil(p * total)."""
    total = sum(n for _, n in buckets)
    if total == 0:
        return None
    rank, seen = max(math.ceil(p * total), 1), 0
    for value, n in buckets:
        seen += n
        if seen >= rank:
            return value
    return buckets[-1][0]


def _time_to_green(session: Session, scope: Scope) -> tuple[TimeToGreen, dict[str, TimeToGreen]]:
    r = RecoveryRollupDaily
    query = (
        select(r.exchange, r.minutes, func.sum(r.n))
        .where(r.day >= scope.first, r.day <= scope.last, r.key_kind.in_(scope.kinds))
        .group_by(r.exchange, r.minutes)
        .order_by(r.exchange, r.minutes)
    )
    if scope.exchange:
        query = query.where(r.exchange == scope.exchange)
    per_venue: dict[str, list[tuple[int, int]]] = defaultdict(list)
    overall: dict[int, int] = defaultdict(int)
    for venue, minutes, n in session.execute(query):
        per_venue[venue].append((int(minutes), int(n)))
        overall[int(minutes)] += int(n)

    def summarise(buckets: list[tuple[int, int]]) -> TimeToGreen:
        median, p90 = percentile_from_histogram(buckets, 0.5), percentile_from_histogram(buckets, 0.9)
        return TimeToGreen(
            sum(n for _, n in buckets),
            None if median is None else round(median / 60, 3),
            None if p90 is None else round(p90 / 60, 3),
        )

    return summarise(sorted(overall.items())), {v: summarise(b) for v, b in sorted(per_venue.items())}


def security_posture(
    session: Session, today: date, exchange: str | None = None, *, include_non_customer: bool = False
) -> SecurityPosture:
    k = KeyPostureRollup
    rotation, expiry = k.kind == "rotation", k.kind == "expiry"
    overdue_before = today - timedelta(days=ROTATION_DAYS)

    def total(condition: ColumnElement[bool]) -> ColumnElement[int]:
        return func.coalesce(func.sum(case((condition, k.n), else_=0)), 0)

    query = select(
        total(rotation),
        total(rotation & k.can_withdraw),
        total(rotation & k.no_whitelist),
        total(rotation & (k.day < overdue_before)),
        total(expiry & (k.day >= today) & (k.day <= today + timedelta(days=EXPIRY_WARNING_DAYS))),
        total(expiry & (k.day < today)),
    )
    query = query.where(k.key_kind.in_(kinds_counted(include_non_customer)))
    if exchange:
        query = query.where(k.exchange == exchange)
    row = session.execute(query).one()
    shared = _shared_keys(session, exchange, kinds_counted(include_non_customer))
    # int(): PostgreSQL's sums come back as Decimal.
    keys, can_withdraw, no_whitelist, overdue, expiring, expired = (int(v) for v in row)
    return SecurityPosture(keys, can_withdraw, no_whitelist, overdue, expiring, expired, shared)


def _shared_keys(session: Session, exchange: str | None, kinds: Sequence[str]) -> int:
    """Keys in use whose API key another key in use holds too: the fingerprint counts kept by triggers
    (migration 0006) with n > 1 sit in a small partial index, and those few fingerprints are joined back to
    their keys for the venue and kind filters."""
    counts = KeyFingerprintCount
    repeated = select(counts.fingerprint).where(counts.n > 1)
    query = select(func.count()).select_from(ExchangeKey).where(
        ExchangeKey.fingerprint.in_(repeated), ExchangeKey.status.not_in(GONE_STATUSES),
        ExchangeKey.kind.in_(kinds))
    if exchange:
        query = query.where(ExchangeKey.exchange == exchange)
    return int(session.scalar(query) or 0)


def failure_stats(
    session: Session,
    *,
    days: int = 30,
    exchange: str | None = None,
    now: datetime | None = None,
    incident_rule: IncidentRule | None = None,
    include_non_customer: bool = False,
) -> FleetStats:
    """Fleet failure statistics for the last `days` UTC days, today included; customers' keys only
    unless `include_non_customer` (practice and internal keys would fake incidents and failures)."""
    if days < 1:
        raise ValueError("days must be at least 1")
    rule = incident_rule or IncidentRule()
    last = utc_day(now or utcnow())
    first = last - timedelta(days=days - 1)
    scope = Scope(first, last, exchange, kinds_counted(include_non_customer))
    by_day = _rates(session, DailyTestRollup.day, scope)
    by_venue = _rates(session, DailyTestRollup.exchange, scope)
    total = Rate(
        "total", sum(r.tests for r in by_day), sum(r.failed for r in by_day), sum(r.warnings for r in by_day)
    )
    baseline = Scope(first - timedelta(days=rule.baseline_days), last, exchange, scope.kinds)
    counts = _incident_counts(session, baseline, rule.diagnoses)
    ttg, ttg_by_venue = _time_to_green(session, scope)
    return FleetStats(
        first_day=first,
        last_day=last,
        exchange=exchange,
        total=total,
        by_day=by_day,
        by_venue=by_venue,
        by_diagnosis=_by_diagnosis(session, scope, total.tests),
        incidents=detect_incidents(counts, first, rule),
        time_to_green=ttg,
        time_to_green_by_venue=ttg_by_venue,
        posture=security_posture(session, last, exchange, include_non_customer=include_non_customer),
        daily_by_venue=_daily_by_venue(session, scope),
        include_non_customer=include_non_customer,
    )
