"""Bybit: one wallet read, then the key's own settings (`/v5/user/query-api`) instead of guessing.

Canned Bybit answers from a loopback stub; the real ccxt bybit client signs and sends every request, and
the stub checks the `X-BAPI-*` headers and the HMAC signature against the test's secret.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from nbsupport.config import Settings
from nbsupport.conntest import ConnectionOutcome, KeyMeta, check_credentials
from nbsupport.credentials import Credentials
from nbsupport.diagnosis import PLATFORM_EGRESS_IP
from tests.venue_stub import Answer, CannedVenue, Request, canned_venue, leaked

API_KEY = "bK7q2XLp9Vt4mRw1Zc"
SECRET = "s3Q9vLx2Kp7Rt5Wm8Nz4Bc6Hd1Jf0Gy3Ua5E"
BALANCE_PATH = "/v5/account/wallet-balance"
KEY_PATH = "/v5/user/query-api"

BALANCE_OK: Answer = (200, {"retCode": 0, "retMsg": "OK", "result": {"list": [
    {"accountType": "UNIFIED", "totalEquity": "3.31", "coin": [{"coin": "BTC", "walletBalance": "0.1"}]}]},
    "retExtInfo": {}, "time": 1700000000000})
SIGN_ERROR: Answer = (200, {"retCode": 10004, "retMsg": "error sign! origin_string[...]", "result": {},
                            "retExtInfo": {}, "time": 1700000000000})


# What an IP-bound key answers for its (absent) expiry: the official query-api example.
NO_EXPIRY: dict[str, Any] = {"deadlineDay": -2, "expiredAt": "1970-01-01T00:00:00Z"}
REGION_MESSAGE = ("Service Restricted: Access is currently unavailable for your region. Please contact our "
                  "support team for further assistance")
INVALID_KEY_MESSAGE = ("API key is invalid. Check whether the key and domain are matched, there are 4 env: "
                       "mainnet, testnet, mainnet-demo, testnet-demo")


def failure(code: int, message: str) -> Answer:
    return 200, {"retCode": code, "retMsg": message, "result": {}, "retExtInfo": {}, "time": 1700000000000}


def key_settings(**fields: Any) -> Answer:
    """A `query-api` answer as Bybit sends it, `apiKey` included (it must never reach the result)."""
    expires = datetime.now(UTC) + timedelta(days=80)
    result = {
        "id": "13770661", "note": "noon barbari", "apiKey": API_KEY, "readOnly": 0, "secret": "",
        "permissions": {"ContractTrade": [], "Spot": ["SpotTrade"], "Wallet": ["AccountTransfer"],
                        "Options": [], "Derivatives": [], "Exchange": [], "NFT": []},
        "ips": ["*"], "type": 1, "deadlineDay": 80, "expiredAt": expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "createdAt": "2024-10-16T02:24:40Z", "unified": 0, "uta": 1, "userID": 24600000, "isMaster": True,
    }
    return 200, {"retCode": 0, "retMsg": "", "result": result | fields, "retExtInfo": {},
                 "time": 1700000000000}


def verify_bybit(request: Request) -> str | None:
    """Bybit v5 signing: HMAC-SHA256 hex of timestamp + key + recv_window + query string."""
    headers = request.headers
    missing = [h for h in ("x-bapi-api-key", "x-bapi-timestamp", "x-bapi-recv-window", "x-bapi-sign")
               if h not in headers]
    if missing:
        return f"missing {', '.join(missing)}"
    if headers["x-bapi-api-key"] != API_KEY:
        return "unexpected X-BAPI-API-KEY"
    payload = headers["x-bapi-timestamp"] + API_KEY + headers["x-bapi-recv-window"] + request.query
    expected = hmac.new(SECRET.encode(), payload.encode(), hashlib.sha256).hexdigest()
    return None if hmac.compare_digest(expected, headers["x-bapi-sign"]) else "signature does not verify"


@pytest.fixture(scope="module")
def bybit() -> Iterator[CannedVenue]:
    with canned_venue(verify_bybit, rejected=SIGN_ERROR) as stub:
        yield stub


def run(stub: CannedVenue, balance: Answer, settings: Answer, *, secret: str = SECRET,
        meta: KeyMeta | None = None, exchange: str = "bybit") -> ConnectionOutcome:
    stub.serve({BALANCE_PATH: balance, KEY_PATH: settings})
    result = check_credentials(exchange, Credentials(API_KEY, secret), meta or KeyMeta(exchange=exchange),
                              Settings(exchange_urls={exchange: stub.origin}, request_timeout_ms=2000))
    assert leaked(result, API_KEY, SECRET, secret) == []
    return result


def test_healthy_bybit_key_is_ok_from_two_signed_requests(bybit: CannedVenue) -> None:
    result = run(bybit, BALANCE_OK, key_settings())
    assert (result.diagnosis, result.outcome, result.requests) == ("ok", "ok", 2)
    assert bybit.auth_problems == []
    assert bybit.paths == [BALANCE_PATH, KEY_PATH]
    assert bybit.seen[0].query == "accountType=UNIFIED"
    assert set(result.permissions.values()) == {"granted", "missing"}
    assert result.permissions["create_orders"] == result.permissions["cancel_orders"] == "granted"
    assert result.permissions["withdraw"] == "missing"
    settings = result.detail["key_settings"]
    assert (settings["key_name"], settings["ip_restricted"], settings["ip_allowlist"]) == (
        "noon barbari", False, None)
    assert settings["expires_at"] is not None


def test_bybit_key_with_withdraw_is_flagged_withdraw_enabled(bybit: CannedVenue) -> None:
    permissions = {"Spot": ["SpotTrade"], "Wallet": ["AccountTransfer", "Withdraw"]}
    result = run(bybit, BALANCE_OK, key_settings(permissions=permissions))
    assert (result.diagnosis, result.outcome, result.requests) == ("withdraw_enabled", "warning", 2)
    assert result.permissions["withdraw"] == "granted"


@pytest.mark.parametrize(("fields", "trade_products"), [
    ({"readOnly": 1, "permissions": {"Spot": [], "Wallet": []}}, []),
    # Trades derivatives only: spot orders are refused.
    ({"permissions": {"Spot": [], "ContractTrade": ["Order", "Position"]}}, ["ContractTrade"]),
])
def test_bybit_key_that_cannot_trade_spot_is_missing_create_and_cancel(
    bybit: CannedVenue, fields: dict[str, Any], trade_products: list[str]
) -> None:
    result = run(bybit, BALANCE_OK, key_settings(**fields))
    assert (result.diagnosis, result.requests) == ("missing_permission", 2)
    assert result.missing_permissions == ["create_orders", "cancel_orders"]
    assert result.detail["key_settings"]["trade_products"] == trade_products


def test_bybit_key_bound_to_another_address_is_ip_not_allowed(bybit: CannedVenue) -> None:
    result = run(bybit, BALANCE_OK, key_settings(ips=["203.0.113.7"], **NO_EXPIRY))
    assert (result.diagnosis, result.requests) == ("ip_not_allowed", 2)
    assert result.detail["allowlist_excludes_egress"] is True
    assert result.detail["key_settings"]["ip_allowlist"] == ["203.0.113.7"]


def test_bybit_refusing_the_address_outright_is_ip_not_allowed(bybit: CannedVenue) -> None:
    result = run(bybit, failure(10010, "Unmatched IP, please check your API key's bound IP addresses."),
                 key_settings())
    assert (result.diagnosis, result.requests) == ("ip_not_allowed", 1)
    assert result.exchange_error.startswith("10010 ")


def test_bybit_key_signed_with_the_wrong_secret_is_credentials_rejected(bybit: CannedVenue) -> None:
    result = run(bybit, BALANCE_OK, key_settings(), secret="w" * len(SECRET))
    assert (result.diagnosis, result.requests) == ("credentials_rejected", 1)
    assert result.exchange_error.startswith("10004 ")
    assert bybit.auth_problems == [f"{BALANCE_PATH}: signature does not verify"]


@pytest.mark.parametrize(("code", "message"), [
    (33004, "(Derivatives) Your api key has expired"),
    (-2015, "(Spot) Your api key has expired"),
])
def test_expired_bybit_key_is_key_expired(bybit: CannedVenue, code: int, message: str) -> None:
    result = run(bybit, failure(code, message), key_settings())
    assert (result.diagnosis, result.requests) == ("key_expired", 1)
    assert result.exchange_error == f"{code} {message}"


def test_bybit_key_past_its_expiry_date_is_key_expired(bybit: CannedVenue) -> None:
    # A key with no IP bound expires (docs: deadlineDay/expiredAt "Only for those api key with no IP bound").
    result = run(bybit, BALANCE_OK, key_settings(expiredAt="2026-01-02T00:00:00Z", deadlineDay=0))
    assert (result.diagnosis, result.requests) == ("key_expired", 2)


def test_ip_bound_bybit_key_answering_the_epoch_expiry_is_ok(bybit: CannedVenue) -> None:
    # The official query-api example of an IP-bound key: deadlineDay -2, expiredAt 1970-01-01T00:00:00Z.
    result = run(bybit, BALANCE_OK, key_settings(ips=[PLATFORM_EGRESS_IP], **NO_EXPIRY))
    assert (result.diagnosis, result.outcome, result.requests) == ("ok", "ok", 2)
    settings = result.detail["key_settings"]
    assert (settings["expires_at"], settings["ip_allowlist"]) == (None, [PLATFORM_EGRESS_IP])
    assert "days_left" not in settings


@pytest.mark.parametrize("status", [200, 403])
def test_bybit_service_restricted_for_the_region_is_region_blocked(bybit: CannedVenue, status: int) -> None:
    restricted = (status, failure(10009, REGION_MESSAGE)[1])
    result = run(bybit, restricted, key_settings())
    assert (result.diagnosis, result.requests) == ("region_blocked", 1)
    assert result.exchange_error.startswith("10009 Service Restricted")


def test_bybit_403_without_its_envelope_is_the_documented_country_block(bybit: CannedVenue) -> None:
    page = (403, "<html><head><title>403 Forbidden</title></head><body>Forbidden</body></html>")
    result = run(bybit, page, key_settings())
    assert (result.diagnosis, result.requests) == ("region_blocked", 1)
    assert result.exchange_error == "HTTP 403 Forbidden (HTML page)"


def test_bybit_403_access_too_frequent_is_a_rate_limit_ban(bybit: CannedVenue) -> None:
    result = run(bybit, (403, "access too frequent"), key_settings())
    assert (result.diagnosis, result.requests) == ("rate_limited", 1)


def test_bybit_401_without_its_envelope_is_credentials_rejected(bybit: CannedVenue) -> None:
    result = run(bybit, (401, "Unauthorized"), key_settings())
    assert (result.diagnosis, result.requests) == ("credentials_rejected", 1)
    assert result.exchange_error == "HTTP 401"


@pytest.mark.parametrize(("code", "message"), [
    (10008, "Common banned, please check your account mode"),
    (10024, "Compliance rules triggered"),
])
def test_bybit_refusal_whose_cause_the_docs_do_not_give_is_unknown_with_bybits_words(
    bybit: CannedVenue, code: int, message: str
) -> None:
    result = run(bybit, failure(code, message), key_settings())
    assert (result.diagnosis, result.outcome, result.requests) == ("unknown", "failed", 1)
    assert result.exchange_error == f"{code} {message}"


def test_unknown_bybit_key_is_not_blamed_on_the_stored_whitelist(bybit: CannedVenue) -> None:
    # Bybit has its own code for an address outside the binding (10010): 10003 is the key, and the
    # other Bybit sites and environments are named.
    meta = KeyMeta(exchange="bybit", ip_whitelist=("203.0.113.7",))
    result = run(bybit, failure(10003, INVALID_KEY_MESSAGE), key_settings(), meta=meta)
    assert (result.diagnosis, result.requests) == ("credentials_rejected", 1)
    assert any("bybit.eu" in w and "api.bybit.com" in w for w in result.warnings)


def test_bybit_eu_key_is_tested_on_and_told_its_own_host(bybit: CannedVenue) -> None:
    result = run(bybit, BALANCE_OK, key_settings(), exchange="bybiteu")
    assert (result.diagnosis, result.requests) == ("ok", 2)
    assert bybit.auth_problems == []
    assert result.detail["key_settings"]["api_host"] == "api.bybit.eu"
    assert any("API-broker" in w for w in result.warnings)


def test_bybit_indonesia_key_is_tested_on_its_own_host(bybit: CannedVenue) -> None:
    result = run(bybit, BALANCE_OK, key_settings(), exchange="bybitid")
    assert (result.diagnosis, result.requests) == ("ok", 2)
    assert result.detail["key_settings"]["api_host"] == "api.bybit.id"


def test_bybit_key_expiring_within_two_weeks_is_a_warning(bybit: CannedVenue) -> None:
    soon = (datetime.now(UTC) + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    result = run(bybit, BALANCE_OK, key_settings(expiredAt=soon, deadlineDay=3))
    assert (result.diagnosis, result.outcome, result.requests) == ("ok", "warning", 2)
    assert any("expires on" in w for w in result.warnings)


@pytest.mark.parametrize("answer", [
    (200, "<html><body>maintenance</body></html>"),
    (200, {"unexpected": True}),
    (200, {"retCode": 0, "retMsg": "", "result": "nope"}),
], ids=["html", "not-bybit-json", "no-settings"])
def test_garbage_bybit_key_settings_still_conclude(bybit: CannedVenue, answer: Answer) -> None:
    result = run(bybit, BALANCE_OK, answer)
    assert (result.diagnosis, result.requests) == ("ok", 2)
    assert result.outcome == "warning"  # nothing beyond the balance was verified
    assert result.permissions["create_orders"] == "unknown"
    assert [s.status for s in result.steps if s.step == "key_info"] == ["failed"]
