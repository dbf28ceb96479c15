"""Time in the console is UTC: the current moment, and the one way a moment is shown to a person (UTC,
minute precision, said so)."""

from __future__ import annotations

from datetime import UTC, datetime

NEVER = "never"


def utcnow() -> datetime:
    """Now, timezone-aware: the database stores every moment in UTC."""
    return datetime.now(UTC)


def utc_text(moment: datetime | None, *, empty: str = NEVER) -> str:
    """`2026-12-03 18:45 UTC`; naive datetimes are UTC already (the database stores UTC)."""
    if moment is None:
        return empty
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def utc_day(moment: datetime | None, *, empty: str = "—") -> str:
    """`2026-12-03`, for dates without a time of day (expiry, daily series)."""
    return moment.strftime("%Y-%m-%d") if moment is not None else empty
