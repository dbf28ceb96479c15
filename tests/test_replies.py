"""Customer replies drafted from a result: exactly the missing permissions in the venue's own labels, the
configured egress address, "your key works" plus each warning for a working key, nothing asked of the user
when our own egress was at fault."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from nbsupport.diagnosis import KRAKEN_SCOPE_LABELS, PLATFORM_EGRESS_IP, STRATEGY_SCOPES, Diagnosis, Scope
from nbsupport.guide import fix_for
from nbsupport.replies import ReplyFacts, customer_reply, guide_row, with_egress_ip
from nbsupport.venues.labels import GENERIC, PERMISSION_LABELS, permission_labels

EGRESS = "198.51.100.23"
VENUES = ["kraken", "krakenfutures", "binance", "bybit", "okx", "coinbase", "kucoin"]
ALL_SCOPES = [s.value for s in STRATEGY_SCOPES]


def reply(diagnosis: str, exchange: str = "kraken", **facts: object) -> str:
    return customer_reply(ReplyFacts(diagnosis, exchange, egress_ip=EGRESS, **facts))  # type: ignore[arg-type]


@pytest.mark.parametrize("exchange", VENUES)
@pytest.mark.parametrize("diagnosis", [d.value for d in Diagnosis])
def test_every_diagnosis_has_a_reply_that_names_only_the_configured_egress(
    diagnosis: str, exchange: str
) -> None:
    text = reply(diagnosis, exchange)
    assert text.startswith("Hi!") and PLATFORM_EGRESS_IP not in text


@pytest.mark.parametrize("exchange", VENUES)
def test_an_ip_reply_asks_for_the_configured_egress_address(exchange: str) -> None:
    assert EGRESS in reply("ip_not_allowed", exchange)


@pytest.mark.parametrize("exchange", ["kraken", "krakenfutures"])
def test_a_kraken_region_refusal_reply_names_the_region_not_a_wrong_product_or_an_order(
    exchange: str,
) -> None:
    # A connection test sends no order; its region refusal is about where the account is, not the key.
    text = reply("region_blocked", exchange)
    assert "region" in text or "country" in text
    wrong = ("Futures key", "Spot key", "separate keys", "order was refused")
    assert not [words for words in wrong if words in text], text


def test_an_ip_refusal_that_did_not_leave_from_our_egress_asks_nothing_of_the_customer() -> None:
    text = reply("ip_not_allowed", egress_mismatch=True)
    assert text == guide_row("ip_not_allowed", "kraken", egress_mismatch=True).customer_reply
    assert EGRESS not in text and "nothing you need to change" in text


@pytest.mark.parametrize("scope", STRATEGY_SCOPES)
def test_a_kraken_missing_permission_reply_names_exactly_the_missing_one(scope: Scope) -> None:
    text = reply("missing_permission", missing=(scope.value,))
    named = [label for s, label in KRAKEN_SCOPE_LABELS.items() if s in STRATEGY_SCOPES and label in text]
    assert named == [KRAKEN_SCOPE_LABELS[scope]]


def test_two_missing_permissions_are_both_named_and_nothing_else() -> None:
    text = reply("missing_permission", missing=("query_closed_orders", "create_orders"))
    assert "tick: Query Closed Orders & Trades, Create & Modify Orders." in text
    assert "Query Funds" not in text and "Cancel/Close Orders" not in text


@pytest.mark.parametrize(
    ("exchange", "missing", "named", "absent"),
    [
        ("binance", ("create_orders", "cancel_orders"), "Enable Spot & Margin Trading", "Enable Reading"),
        ("binance", ("query_closed_orders",), "Enable Reading", "Enable Spot & Margin Trading"),
        ("okx", ("create_orders",), "turn on: Trade.", "Read,"),
        ("coinbase", ("query_funds",), "turn on: View.", "Trade"),
        ("bybit", ("cancel_orders",), "Read-Write with Orders and SPOT Trade", "Read-Only"),
        ("kucoin", ("create_orders",), "turn on: trading.", "reading"),
        ("krakenfutures", ("cancel_orders",), "General API: Full Access", "Withdrawal API: Full"),
    ],
)
def test_other_venues_name_the_missing_permission_in_their_own_labels(
    exchange: str, missing: tuple[str, ...], named: str, absent: str
) -> None:
    text = reply("missing_permission", exchange, missing=missing)
    assert named in text and absent not in text


@pytest.mark.parametrize("exchange", ["kraken", "krakenfutures", "binance"])
def test_each_guides_missing_permission_reply_lists_every_permission_so_a_result_can_narrow_it(
    exchange: str,
) -> None:
    row = fix_for("missing_permission", exchange)
    assert ", ".join(permission_labels(row.venue, ALL_SCOPES)) in row.customer_reply


def test_a_missing_permission_without_a_known_scope_keeps_the_guides_full_list() -> None:
    assert reply("missing_permission") == fix_for("missing_permission", "kraken").customer_reply


def test_a_green_key_gets_a_your_key_works_reply_and_nothing_more() -> None:
    assert reply("ok") == fix_for("ok", "kraken").customer_reply
    assert all("works" in reply("ok", venue) for venue in VENUES)


def test_withdraw_enabled_says_the_key_works_then_asks_to_turn_withdraw_off() -> None:
    text = reply("withdraw_enabled")
    works, withdraw = text.split("\n\n")
    assert "works" in works and "Withdraw Funds permission switched on" in withdraw
    assert not withdraw.startswith("Hi!")


@pytest.mark.parametrize(
    ("facts", "words"),
    [
        ({"withdraw_enabled": True}, "Withdraw Funds permission switched on"),
        ({"rotated_days_ago": 120}, "last replaced 120 days ago"),
        ({"expires_at": datetime(2026, 12, 10, 8, 0, tzinfo=UTC)}, "expires on 2026-12-10"),
        ({"query_from": datetime(2025, 6, 1, tzinfo=UTC)}, "query window starts on 2025-06-01"),
        ({"query_to": datetime(2026, 1, 31, tzinfo=UTC)}, "query window ends on 2026-01-31"),
    ],
)
def test_each_warning_of_a_working_key_adds_its_own_paragraph(facts: dict[str, object], words: str) -> None:
    text = reply("ok", **facts)
    first, *rest = text.split("\n\n")
    assert "works" in first and len(rest) == 1 and words in rest[0]


def test_warnings_are_not_added_to_a_failed_result() -> None:
    guide = fix_for("credentials_rejected", "kraken").customer_reply
    assert reply("credentials_rejected", rotated_days_ago=200) == guide


def test_a_guide_row_is_shown_in_the_configured_egress_address() -> None:
    row = fix_for("ip_not_allowed", "kraken")
    local = with_egress_ip(row, EGRESS)
    text = " ".join([local.title, local.cause, *local.steps, local.customer_reply])
    assert PLATFORM_EGRESS_IP not in text and EGRESS in text
    assert with_egress_ip(row, PLATFORM_EGRESS_IP) is row


def test_labels_are_named_once_and_unknown_venues_use_plain_words() -> None:
    assert permission_labels("binance", ALL_SCOPES) == ["Enable Reading", "Enable Spot & Margin Trading"]
    assert permission_labels("some-venue", ["withdraw"]) == [PERMISSION_LABELS[GENERIC][Scope.WITHDRAW]]
    assert permission_labels("kraken", ["not_a_scope"]) == ["not_a_scope"]
