"""Backfill health page: one user's flagged keys with evidence and fix, fleet-wide list, bad input."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update
from streamlit.testing.v1 import AppTest

from nbsupport.audit import Action
from nbsupport.console import Console
from nbsupport.credentials import Credentials
from nbsupport.crypto import MasterKeyring
from nbsupport.db.models import BackfillRun, ExchangeKey, PlacedOrdersDay
from nbsupport.keys import add_key
from nbsupport.ui.links import key_url, user_url
from tests.pages.support import (
    EMAILS,
    SECRET,
    Seeded,
    assert_no_secret,
    audit_rows,
    messages,
    open_app,
    set_ticket,
    text_field,
)

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
    assert (row["key"], row["cause"]) == (key_url(empty_backfills.key_id), "missing_permission")
    assert row["user"] == user_url(empty_backfills.user_id)
    assert row["orders placed in windows"] > 0 and row["closed orders fetched"] == 0
    assert at.code and at.code[0].value  # the copy-ready customer reply
    text = "".join(m.value for m in at.markdown)
    assert "#### Grant Query Closed Orders \\& Trades" in text  # the heading names the fix
    assert "Likely missing Query Closed Orders" in text
    rows = audit_rows(console, Action.FLEET_BACKFILL_HEALTH)
    assert [(r.actor, r.subject_user_id, r.result) for r in rows] == [
        (EMAILS["agent"], empty_backfills.user_id, "1 flagged")]
    assert_no_secret(at)


@pytest.mark.usefixtures("app_env")
def test_downloading_the_flagged_keys_is_audited_with_the_ticket_and_the_user(
    empty_backfills: Seeded, console: Console
) -> None:
    at = set_ticket(backfill_page({"user": str(empty_backfills.user_id)}), "#4242")
    next(b for b in at.download_button if b.label == "Download every flagged key (CSV)").click()
    at.run()
    assert not at.exception
    rows = audit_rows(console, Action.DATA_EXPORT)
    assert [(r.actor, r.ticket, r.subject_user_id, r.detail["table"], r.detail["rows"]) for r in rows] == [
        (EMAILS["agent"], "ZD-4242", empty_backfills.user_id, "backfill_health", 1)]


@pytest.mark.usefixtures("app_env")
def test_deep_link_opens_the_users_findings(empty_backfills: Seeded) -> None:
    at = backfill_page({"user": str(empty_backfills.user_id)})
    assert text_field(at, "User").value == f"user:{empty_backfills.user_id}"
    assert list(at.dataframe[0].value["key"]) == [key_url(empty_backfills.key_id)]


@pytest.mark.usefixtures("app_env")
def test_a_healthy_user_gets_a_clean_bill(empty_backfills: Seeded) -> None:
    at = backfill_page({"user": str(empty_backfills.other_user_id)})
    assert "No flagged backfills in the last 30 days for this user's keys." in messages(at)


@pytest.mark.usefixtures("app_env")
def test_fleet_wide_lists_every_flagged_key(empty_backfills: Seeded, console: Console) -> None:
    at = backfill_page()
    at.button_group[0].set_value("Fleet-wide").run()
    assert not at.exception
    assert list(at.dataframe[0].value["key"]) == [key_url(empty_backfills.key_id)]
    assert audit_rows(console, Action.FLEET_BACKFILL_HEALTH)[0].subject_user_id is None


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


@pytest.mark.usefixtures("app_env")
def test_keys_with_one_cause_share_one_card_with_one_reply(
    empty_backfills: Seeded, console: Console, keyring: MasterKeyring
) -> None:
    now = datetime.now(UTC)
    with console.session() as s:
        twins = [add_key(s, keyring, user_email=f"twin{i}@example.com", exchange="kraken",
                         credentials=Credentials(f"TwinKey{i}" * 6, SECRET), now=now - timedelta(days=60)).id
                 for i in range(3)]
        for key_id in twins:
            s.execute(update(ExchangeKey).where(ExchangeKey.id == key_id)
                      .values(last_permissions={"query_closed_orders": "missing"}))
            for week in range(3):
                end = now - timedelta(days=7 * week + 1)
                s.add(BackfillRun(key_id=key_id, window_start=end - timedelta(days=7), window_end=end,
                                  started_at=end, closed_orders_rows=0, trades_rows=0, status="ok", error=""))
            for day in range(1, 22):
                s.add(PlacedOrdersDay(key_id=key_id, day=(now - timedelta(days=day)).date(),
                                      orders_placed=12, orders_filled=9))
    at = backfill_page()
    at.button_group[0].set_value("Fleet-wide").run()
    assert not at.exception
    assert len(at.code) == 1  # one customer reply for the four keys
    assert len(at.dataframe) == 1
    expected = sorted(key_url(k) for k in [empty_backfills.key_id, *twins])
    assert sorted(at.dataframe[0].value["key"]) == expected
    assert "**4 keys**" in "".join(m.value for m in at.markdown)


@pytest.mark.usefixtures("app_env")
def test_a_practice_users_backfills_stay_out_of_the_fleet_view_unless_included(
    console: Console, keyring: MasterKeyring
) -> None:
    now = datetime.now(UTC)
    with console.session() as s:
        key = add_key(s, keyring, user_email="practice+empty@noonbarbari.local", exchange="kraken",
                      credentials=Credentials("PracticeKey" * 5, SECRET), now=now - timedelta(days=60))
        key.last_permissions = {"query_closed_orders": "missing"}
        end = now - timedelta(days=1)
        s.add(BackfillRun(key_id=key.id, window_start=end - timedelta(days=7), window_end=end, started_at=end,
                          closed_orders_rows=0, trades_rows=0, status="ok", error=""))
        for day in range(1, 8):
            s.add(PlacedOrdersDay(key_id=key.id, day=(now - timedelta(days=day)).date(), orders_placed=12,
                                  orders_filled=9))
    at = backfill_page()
    at.button_group[0].set_value("Fleet-wide").run()
    assert "No flagged backfills in the last 30 days across the fleet." in messages(at)
    next(t for t in at.toggle if t.label == "Include practice and internal keys").set_value(True).run()
    assert list(at.dataframe[0].value["key"]) == [key_url(key.id)]
