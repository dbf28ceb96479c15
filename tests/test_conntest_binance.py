"""Binance's one message for three causes (-2015), told apart by the key's API restrictions.

The sandbox speaks Kraken only, so a few canned Binance answers are served from a loopback stub
(tests/venue_stub.py); the real ccxt binance client signs and sends the requests, and reads the answers, as
in production. The stub checks the `X-MBX-APIKEY` header and the HMAC signature of every request.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from typing import Any

import pytest

from nbsupport.config import Settings
from nbsupport.conntest import KeyMeta, test_credentials
from nbsupport.credentials import Credentials
from tests.venue_stub import Answer, CannedVenue, Request, canned_venue

API_KEY, SECRET = "k" * 64, "s" * 64
MINUS_2015 = (401, {"code": -2015, "msg": "Invalid API-key, IP, or permissions for action."})
ACCOUNT_OK = (200, {"balances": [{"asset": "BTC", "free": "0.1", "locked": "0"}], "canTrade": True})


def restrictions(**flags: bool) -> tuple[int, dict[str, Any]]:
    body = {"ipRestrict": False, "enableReading": True, "enableSpotAndMarginTrading": True,
            "enableWithdrawals": False, "createTime": 1735689600000}
    return 200, body | flags


def verify_binance(request: Request) -> str | None:
    """Binance signing: HMAC-SHA256 hex of the query string up to `&signature=`."""
    if request.headers.get("x-mbx-apikey") != API_KEY:
        return "missing or unexpected X-MBX-APIKEY"
    signed, _, signature = request.query.rpartition("&signature=")
    expected = hmac.new(SECRET.encode(), signed.encode(), hashlib.sha256).hexdigest()
    return None if signed and hmac.compare_digest(expected, signature) else "signature does not verify"


@pytest.fixture(scope="module")
def binance() -> Iterator[CannedVenue]:
    with canned_venue(verify_binance, rejected=(401, {"code": -1022, "msg": "Signature invalid."})) as stub:
        yield stub


def run(stub: CannedVenue, account: Answer, restricted: Answer, **settings: Any) -> Any:
    stub.serve({"/api/v3/account": account, "/sapi/v1/account/apiRestrictions": restricted})
    result = test_credentials("binance", Credentials(API_KEY, SECRET), KeyMeta(exchange="binance"),
                              Settings(exchange_urls={"binance": stub.origin}, request_timeout_ms=2000,
                                       **settings))
    assert stub.auth_problems == []
    return result


def test_minus_2015_with_an_ip_restricted_key_is_ip_not_allowed(binance: CannedVenue) -> None:
    result = run(binance, MINUS_2015, restrictions(ipRestrict=True))
    assert result.diagnosis == "ip_not_allowed"
    assert result.exchange_error == "-2015 Invalid API-key, IP, or permissions for action."
    # The test went direct: the customer's IP list is not to blame.
    assert result.detail["egress_mismatch"] is True
    assert binance.paths == ["/api/v3/account", "/sapi/v1/account/apiRestrictions"]


def test_minus_2015_with_reading_disabled_is_a_missing_permission(binance: CannedVenue) -> None:
    result = run(binance, MINUS_2015, restrictions(enableReading=False))
    assert result.diagnosis == "missing_permission"
    assert result.missing_permissions == ["query_funds", "query_open_orders", "query_closed_orders"]


def test_minus_2015_on_both_calls_is_credentials_rejected(binance: CannedVenue) -> None:
    result = run(binance, MINUS_2015, MINUS_2015)
    assert (result.diagnosis, result.requests) == ("credentials_rejected", 2)


def test_healthy_binance_key_with_withdrawals_is_a_warning(binance: CannedVenue) -> None:
    result = run(binance, ACCOUNT_OK, restrictions(enableWithdrawals=True))
    assert (result.diagnosis, result.outcome, result.requests) == ("withdraw_enabled", "warning", 2)
    assert result.permissions["create_orders"] == "granted"
    assert set(result.fix) == {"id", "title", "steps", "customer_reply"}


def test_binance_key_without_trading_is_missing_create_and_cancel(binance: CannedVenue) -> None:
    result = run(binance, ACCOUNT_OK, restrictions(enableSpotAndMarginTrading=False))
    assert result.missing_permissions == ["create_orders", "cancel_orders"]
