"""Binance's one message for three causes (-2015), told apart by the key's API restrictions.

The sandbox speaks Kraken only, so a few canned Binance answers are served from a loopback stub
(tests/venue_stub.py); the real ccxt binance client signs and sends the requests, and reads the answers, as
in production. The stub checks the `X-MBX-APIKEY` header and the HMAC signature of every request.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from nbsupport.config import Settings
from nbsupport.conntest import KeyMeta, check_credentials
from nbsupport.credentials import Credentials
from tests.venue_stub import Answer, CannedVenue, Request, canned_venue

API_KEY, SECRET = "k" * 64, "s" * 64
MINUS_2015 = (401, {"code": -2015, "msg": "Invalid API-key, IP, or permissions for action."})
ACCOUNT_OK = (200, {"balances": [{"asset": "BTC", "free": "0.1", "locked": "0"}], "canTrade": True})


def restrictions(**flags: Any) -> tuple[int, dict[str, Any]]:
    """An apiRestrictions answer in the documented shape
    (https://developers.binance.com/docs/wallet/account/api-key-permission)."""
    body = {"ipRestrict": False, "createTime": 1698645219000, "enableInternalTransfer": False,
            "enableFutures": False, "enablePortfolioMarginTrading": False, "enableVanillaOptions": False,
            "permitsUniversalTransfer": False, "enableReading": True, "enableSpotAndMarginTrading": True,
            "enableWithdrawals": False, "enableMargin": False}
    return 200, body | flags


def in_days(days: float) -> int:
    """`tradingAuthorityExpirationTime`: milliseconds since the epoch."""
    return int((datetime.now(UTC) + timedelta(days=days)).timestamp() * 1000)


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


def run(stub: CannedVenue, account: Answer, restricted: Answer, meta: KeyMeta | None = None,
        **settings: Any) -> Any:
    stub.serve({"/api/v3/account": account, "/sapi/v1/account/apiRestrictions": restricted})
    result = check_credentials("binance", Credentials(API_KEY, SECRET), meta or KeyMeta(exchange="binance"),
                              Settings(exchange_urls={"binance": stub.origin}, request_timeout_ms=2000,
                                       **settings))
    assert stub.auth_problems == []
    return result


@pytest.mark.parametrize("ip_restrict", [True, False])
def test_minus_2015_with_restrictions_that_grant_everything_is_an_honest_unknown(
    binance: CannedVenue, ip_restrict: bool
) -> None:
    # The restrictions call answered: the key is valid and the address allowed, and every permission is on.
    result = run(binance, MINUS_2015, restrictions(ipRestrict=ip_restrict))
    assert (result.diagnosis, result.outcome, result.requests) == ("unknown", "failed", 2)
    assert result.exchange_error == "-2015 Invalid API-key, IP, or permissions for action."
    assert result.missing_permissions == []
    assert result.permissions["query_funds"] == "unknown"
    assert "egress_mismatch" not in result.detail
    assert any("does not say why" in w for w in result.warnings)
    assert binance.paths == ["/api/v3/account", "/sapi/v1/account/apiRestrictions"]


def test_minus_2015_with_reading_disabled_is_a_missing_permission(binance: CannedVenue) -> None:
    result = run(binance, MINUS_2015, restrictions(enableReading=False))
    assert (result.diagnosis, result.requests) == ("missing_permission", 2)
    assert result.missing_permissions == ["query_funds", "query_open_orders", "query_closed_orders"]


def test_minus_2015_on_both_calls_with_a_stored_whitelist_is_ip_not_allowed(binance: CannedVenue) -> None:
    # Neither call answered: key, address and permission all remain; the whitelist the user gave us points
    # at the address.
    meta = KeyMeta(exchange="binance", ip_whitelist=("203.0.113.7",))
    result = run(binance, MINUS_2015, MINUS_2015, meta=meta)
    assert (result.diagnosis, result.requests) == ("ip_not_allowed", 2)


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
    assert (result.diagnosis, result.requests) == ("missing_permission", 2)
    assert result.missing_permissions == ["create_orders", "cancel_orders"]


def test_healthy_binance_key_is_ok_from_two_signed_requests(binance: CannedVenue) -> None:
    result = run(binance, ACCOUNT_OK, restrictions(ipRestrict=True))
    assert (result.diagnosis, result.outcome, result.requests) == ("ok", "ok", 2)
    assert result.detail["key_settings"]["ip_restricted"] is True


def test_binance_trading_permission_about_to_lapse_is_a_warning(binance: CannedVenue) -> None:
    result = run(binance, ACCOUNT_OK, restrictions(tradingAuthorityExpirationTime=in_days(3)))
    assert (result.diagnosis, result.outcome, result.requests) == ("ok", "warning", 2)
    assert any("trading permission lapses on" in w for w in result.warnings)


def test_binance_trading_permission_past_its_expiration_is_missing(binance: CannedVenue) -> None:
    result = run(binance, ACCOUNT_OK, restrictions(tradingAuthorityExpirationTime=in_days(-1)))
    assert (result.diagnosis, result.requests) == ("missing_permission", 2)
    assert result.missing_permissions == ["create_orders", "cancel_orders"]


def test_binance_403_waf_block_is_unknown_not_an_outage(binance: CannedVenue) -> None:
    page = (403, "<html><head><title>403 Forbidden</title></head><body>Request blocked</body></html>")
    result = run(binance, page, restrictions())
    assert (result.diagnosis, result.requests) == ("unknown", 1)
    assert result.exchange_error.startswith("HTTP 403 WAF block")


def test_binance_refusing_a_restricted_location_is_region_blocked(binance: CannedVenue) -> None:
    # HTTP 451 is read as a legal/geo block for every venue (nbsupport.venues.wire), Binance included.
    blocked = (451, {"code": 0, "msg": "Service unavailable from a restricted location according to 'b. "
                                       "Eligibility' in https://www.binance.com/en/terms."})
    result = run(binance, blocked, restrictions())
    assert (result.diagnosis, result.requests) == ("region_blocked", 1)
