"""The pure parts of the shared widgets: badge rules, URL validation, the progress worker."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from nbsupport.conntest import ConnectionOutcome
from nbsupport.keys import KeyView
from nbsupport.ui import badges
from nbsupport.ui.params import ParamError, parse_id
from nbsupport.ui.timeline import error_line, progress_line
from nbsupport.ui.worker import WorkerTimeout, run_with_events

NOW = datetime(2026, 3, 1, tzinfo=UTC)
VIEW = KeyView(
    id=1, user_id=1, exchange="kraken", product="spot", label="", masked_key="abcd…wxyz",
    fingerprint="ab" * 8,
    has_passphrase=False, has_uid=False, created_at=NOW, rotated_at=NOW, rotation_age_days=0,
    rotation_overdue=False, expires_at=None, days_to_expiry=None, ip_whitelist=[], required_scopes=[],
    permissions={}, withdraw_granted=False, status="active", last_test_at=None, last_outcome=None,
    last_diagnosis=None, envelope_version="v1",
)


@pytest.mark.parametrize(
    ("age", "overdue", "color"),
    [(None, False, "gray"), (10, False, "green"), (80, False, "orange"), (91, True, "red")],
)
def test_rotation_badge_turns_orange_two_weeks_before_90_days_and_red_after(
    age: int | None, overdue: bool, color: str
) -> None:
    view = replace(VIEW, rotation_age_days=age, rotation_overdue=overdue)
    assert badges.rotation_badge(view).color == color


@pytest.mark.parametrize(
    ("days", "color"), [(None, "gray"), (-2, "red"), (3, "red"), (20, "orange"), (200, "green")]
)
def test_expiry_badge_counts_down(days: int | None, color: str) -> None:
    expires = None if days is None else NOW + timedelta(days=days)
    badge = badges.expiry_badge(replace(VIEW, expires_at=expires, days_to_expiry=days))
    assert badge.color == color
    if days is not None and days < 0:
        assert badge.label == "expired 2 d ago"


def test_withdraw_granted_is_the_one_red_grant() -> None:
    permissions = {"query_funds": "granted", "withdraw": "granted", "create_orders": "missing"}
    found = {b.label: b.color for b in badges.scope_badges(permissions, ["query_funds", "create_orders"])}
    assert found["withdraw ENABLED"] == "red"
    assert found["query funds ✓ granted"] == "green" and found["create orders missing"] == "red"
    assert found["cancel orders not checked"] == "gray"
    assert badges.withdraw_text(permissions) == "🔴 ENABLED" and badges.withdraw_text({}) == "not checked"
    assert badges.withdraw_text({"withdraw": "missing"}) == "off (good)"
    off = badges.scope_badges({"withdraw": "missing"}, [])
    assert ("withdraw off", "green") in [(b.label, b.color) for b in off]


def test_a_badge_label_cannot_close_its_badge() -> None:
    assert badges.markdown([badges.Badge("a]b", "red")]) == ":red-badge[a\\]b]"


@pytest.mark.parametrize(
    ("value", "expected"), [(None, None), ("", None), ([], None), ("42", 42), (["7"], 7), (" 9 ", 9)]
)
def test_ids_from_links_are_plain_positive_integers(value: object, expected: int | None) -> None:
    assert parse_id("key", value) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ["0", "-1", "1.0", "1e3", "0x10", "1 OR 1=1", "9" * 19, ["1", "2"], "١٢"])
def test_anything_else_in_an_id_is_refused(value: object) -> None:
    with pytest.raises(ParamError, match=r"\?key="):
        parse_id("key", value)  # type: ignore[arg-type]


def test_worker_delivers_events_in_order_on_the_calling_thread() -> None:
    caller = threading.get_ident()
    seen: list[tuple[int, bool]] = []

    def work(report: object) -> str:
        for n in range(5):
            report(n)  # type: ignore[operator]
        return "done"

    def on_event(n: int) -> None:
        seen.append((n, threading.get_ident() == caller))

    result = run_with_events(work, on_event, idle_timeout_s=5)
    assert result == "done" and seen == [(n, True) for n in range(5)]


def test_worker_reraises_the_works_exception_here() -> None:
    def work(report: object) -> None:
        raise KeyError("boom")

    with pytest.raises(KeyError, match="boom"):
        run_with_events(work, print, idle_timeout_s=5)


def test_worker_gives_up_waiting_on_silent_work() -> None:
    release = threading.Event()

    def work(report: object) -> None:
        release.wait(5)

    try:
        with pytest.raises(WorkerTimeout):
            run_with_events(work, print, idle_timeout_s=0.2)
    finally:
        release.set()


def test_a_step_says_its_status_in_words_and_withdraw_off_is_the_good_case() -> None:
    assert progress_line("scope:withdraw", "ok", "missing").endswith("· off — not needed \\(good\\)")
    assert progress_line("scope:withdraw", "warning", "granted").startswith("⚠️")
    assert progress_line("scope:create_orders", "failed", "missing") == "❌ **Scope create orders** · missing"
    assert "· not available here — " in progress_line("key_info", "skipped", "the key does not say")
    assert progress_line("balance", "ok") == "✅ **Balance \\(authenticated request\\)** · passed"


def _failed(exchange_error: str, error_source: str | None = None, error_text: str = "") -> ConnectionOutcome:
    return ConnectionOutcome(
        key_id=1, test_id=1, outcome="failed", diagnosis="unknown", missing_permissions=[], permissions={},
        exchange_error=exchange_error, requests=1, duration_ms=10, fix={}, egress_ip="", warnings=[],
        steps=[], started_at=datetime.now(UTC), error_source=error_source, error_text=error_text)


def test_the_error_line_quotes_only_the_venue() -> None:
    assert error_line(_failed("EAPI:Invalid key", "venue")) == "Exchange said: `EAPI:Invalid key`"
    ours = error_line(_failed("timeout", "console", "No answer from the exchange within 10 s"))
    assert "Exchange said" not in ours and ours.startswith("No answer from the exchange within 10 s")
    assert error_line(_failed("timeout")) == "Error: `timeout`"
    assert error_line(_failed("")) == ""
