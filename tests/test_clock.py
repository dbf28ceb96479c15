from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from nbsupport.clock import utc_day, utc_text, utcnow


def test_now_is_an_aware_utc_moment() -> None:
    now = utcnow()
    assert now.tzinfo is UTC
    assert abs(datetime.now(UTC) - now) < timedelta(seconds=5)


def test_every_moment_is_shown_in_utc_to_the_minute_and_says_so() -> None:
    tehran = timezone(timedelta(hours=3, minutes=30))
    assert utc_text(datetime(2026, 12, 3, 22, 15, 59, tzinfo=tehran)) == "2026-12-03 18:45 UTC"
    assert utc_text(datetime(2026, 12, 3, 18, 45)) == "2026-12-03 18:45 UTC"  # naive: stored UTC already
    assert utc_text(None) == "never" and utc_text(None, empty="—") == "—"


def test_a_day_is_shown_without_a_time() -> None:
    assert utc_day(datetime(2026, 12, 3, 23, 59, tzinfo=UTC)) == "2026-12-03"
    assert utc_day(None) == "—"
