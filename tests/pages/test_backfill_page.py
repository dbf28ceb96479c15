"""Backfill health page: one user's flagged keys with evidence and fix, fleet-wide list, bad input."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from streamlit.testing.v1 import AppTest

from nbsupport.console import Console
from nbsupport.db.models import BackfillRun, PlacedOrdersDay
from tests.pages.support import EMAILS, Seeded, assert_no_secret, audit_rows, messages, open_app, text_field

BACKFILL = "pages/backfill.py"


@pytest.fixture
def empty_backfills(console: Console, seeded: Seeded) -> Seeded:
    """Ann's spot key (closed-orders scope missing) fetched nothing for three weeks of orders."""
    now = datetime.now(UTC)
    with console.session() as s:
        for week in range(3):
            end = now - timedelta(days=7 * week + 1)
            start = end - timedelta(days=7)
            s.add(BackfillRun(key_id=seeded.key_id, window_start=start, window_end=end, started_at=end,
                              closed_orders_rows=0, trades_rows=0, status="ok", error=""))
        for day in range(1, 22):
            s.add(PlacedOrdersDay(key_id=seeded.key_id, day=(now - timedelta(days=day)).date(),
                                  orders_placed=12, orders_filled=9))
            s.add(PlacedOrdersDay(key_id=seeded.other_key_id, day=(now - timedelta(days=day)).date(),
                                  orders_placed=5, orders_filled=5))
        s.add(BackfillRun(key_id=seeded.other_key_id, window_start=now - timedelta(days=8),
                          window_end=now - timedelta(days=1), started_at=now - timedelta(days=1),
                          closed_orders_rows=40, trades_rows=35, status="ok", error=""))
    return seeded


def backfill_page(params: dict[str, str] | None = None) -> AppTest:
    at = open_app(BACKFILL, params)
    assert not at.exception
    return at


@pytest.mark.usefixtures("app_env")
def test_a_users_empty_backfills_are_flagged_with_evidence_and_the_fix(
    empty_backfills: Seeded, console: Console
) -> None:
    at = backfill_page()
    text_field(at, "User").set_value("ann@example.com").run()
    assert not at.exception
    frame = at.dataframe[0].value
    row = frame.iloc[0]
    assert (row["key id"], row["cause"]) == (empty_backfills.key_id, "missing_permission")
    assert row["orders placed in windows"] > 0 and row["closed orders fetched"] == 0
    assert at.code and at.code[0].value  # the copy-ready customer reply
    assert "Likely missing Query Closed Orders" in "".join(m.value for m in at.markdown)
    rows = audit_rows(console, "fleet.backfill_health")
    assert [(r.actor, r.subject_user_id, r.result) for r in rows] == [
        (EMAILS["agent"], empty_backfills.user_id, "1 flagged")]
    assert_no_secret(at)


@pytest.mark.usefixtures("app_env")
def test_deep_link_opens_the_users_findings(empty_backfills: Seeded) -> None:
    at = backfill_page({"user": str(empty_backfills.user_id)})
    assert text_field(at, "User").value == f"user:{empty_backfills.user_id}"
    assert list(at.dataframe[0].value["key id"]) == [empty_backfills.key_id]


@pytest.mark.usefixtures("app_env")
def test_a_healthy_user_gets_a_clean_bill(empty_backfills: Seeded) -> None:
    at = backfill_page({"user": str(empty_backfills.other_user_id)})
    assert "No flagged backfills in the last 30 days for this user's keys." in messages(at)


@pytest.mark.usefixtures("app_env")
def test_fleet_wide_lists_every_flagged_key(empty_backfills: Seeded, console: Console) -> None:
    at = backfill_page()
    at.button_group[0].set_value("Fleet-wide").run()
    assert not at.exception
    assert list(at.dataframe[0].value["key id"]) == [empty_backfills.key_id]
    assert audit_rows(console, "fleet.backfill_health")[0].subject_user_id is None


@pytest.mark.usefixtures("app_env", "seeded")
@pytest.mark.parametrize(
    ("query", "expected"),
    [("' OR 1=1 --", "unrecognised search"), ("y" * 10_000, "the limit is"),
     ("ghost@example.com", "No user")],
)
def test_bad_or_unknown_users_get_a_plain_message(query: str, expected: str) -> None:
    at = backfill_page()
    text_field(at, "User").set_value(query).run()
    assert not at.exception and expected in messages(at)
    assert not at.dataframe


@pytest.mark.usefixtures("app_env", "seeded")
def test_a_malformed_link_is_refused() -> None:
    assert "This link is not valid" in messages(backfill_page({"user": "1 OR 1=1"}))


@pytest.mark.usefixtures("app_env")
def test_analysts_cannot_see_per_key_backfills(
    sign_in: Callable[[str], str], empty_backfills: Seeded
) -> None:
    sign_in("analyst")
    at = AppTest.from_file("../../pages/backfill.py", default_timeout=30)
    at.query_params["user"] = str(empty_backfills.user_id)
    at.run()
    assert "cannot open this page" in at.error[0].value and not at.dataframe
