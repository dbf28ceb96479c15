"""OKX: one balance read, then the key's own permissions and bound IPs from `/api/v5/account/config`.

Canned OKX answers from a loopback stub; the real ccxt okx client signs and sends every request, and the
stub checks the `OK-ACCESS-*` headers (passphrase included) and the HMAC signature against the test's secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterator
from typing import Any

import pytest

from nbsupport.config import Settings
from nbsupport.conntest import ConnectionOutcome, KeyMeta, check_credentials
from nbsupport.credentials import Credentials
from nbsupport.diagnosis import PLATFORM_EGRESS_IP
from tests.venue_stub import Answer, CannedVenue, Request, canned_venue, leaked

API_KEY = "5d1f9c3e-7a2b-4c8d-9e0f-a1b2c3d4e5f6"
SECRET = "8F3C2A9D7B1E4F6A0C5D8E2B9A7F1C3D"
PASSPHRASE = "Nb-Passphrase-42"
BALANCE_PATH = "/api/v5/account/balance"
CONFIG_PATH = "/api/v5/account/config"

BALANCE_OK: Answer = (200, {"code": "0", "msg": "", "data": [
    {"totalEq": "41624.32", "details": [{"ccy": "BTC", "eq": "0.1", "availBal": "0.1"}]}]})
INVALID_SIGN: Answer = (401, {"msg": "Invalid signature.", "code": "50113"})
UNKNOWN_KEY: Answer = (200, {"msg": "API key doesn't exist", "code": "50119", "data": []})


def account_config(**fields: Any) -> Answer:
    config = {"uid": "44705892343619584", "acctLv": "2", "posMode": "long_short_mode", "autoLoan": False,
              "perm": "read_only,trade", "ip": "", "label": "noon barbari", "level": "Lv1",
              "roleType": "0", "kycLv": "2", "mainUid": "44705892343619584"}
    return 200, {"code": "0", "msg": "", "data": [config | fields]}


def verify_okx(request: Request) -> str | None:
    """OKX v5 signing: base64 HMAC-SHA256 of timestamp + method + path (+ ?query) + body."""
    headers = request.headers
    missing = [h for h in ("ok-access-key", "ok-access-sign", "ok-access-timestamp", "ok-access-passphrase")
               if h not in headers]
    if missing:
        return f"missing {', '.join(missing)}"
    if (headers["ok-access-key"], headers["ok-access-passphrase"]) != (API_KEY, PASSPHRASE):
        return "unexpected key or passphrase"
    target = request.path + (f"?{request.query}" if request.query else "")
    message = headers["ok-access-timestamp"] + request.method + target + request.body
    expected = base64.b64encode(hmac.new(SECRET.encode(), message.encode(), hashlib.sha256).digest()).decode()
    return None if hmac.compare_digest(expected, headers["ok-access-sign"]) else "signature does not verify"


@pytest.fixture(scope="module")
def okx() -> Iterator[CannedVenue]:
    with canned_venue(verify_okx, rejected=INVALID_SIGN) as stub:
        yield stub


def run(stub: CannedVenue, balance: Answer, config: Answer, *, secret: str = SECRET,
        passphrase: str | None = PASSPHRASE, exchange: str = "okx",
        meta: KeyMeta | None = None) -> ConnectionOutcome:
    stub.serve({BALANCE_PATH: balance, CONFIG_PATH: config})
    credentials = Credentials(API_KEY, secret, passphrase)
    result = check_credentials(exchange, credentials, meta or KeyMeta(exchange=exchange),
                              Settings(exchange_urls={exchange: stub.origin}, request_timeout_ms=2000))
    assert leaked(result, API_KEY, SECRET, secret, PASSPHRASE) == []
    return result


def test_healthy_okx_key_is_ok_from_two_signed_requests(okx: CannedVenue) -> None:
    result = run(okx, BALANCE_OK, account_config(ip=PLATFORM_EGRESS_IP))
    assert (result.diagnosis, result.outcome, result.requests) == ("ok", "ok", 2)
    assert okx.auth_problems == []
    assert okx.paths == [BALANCE_PATH, CONFIG_PATH]
    assert result.permissions["create_orders"] == result.permissions["query_closed_orders"] == "granted"
    assert result.permissions["withdraw"] == "missing"
    settings = result.detail["key_settings"]
    assert (settings["key_name"], settings["permissions"], settings["ip_restricted"], settings["site"]) == (
        "noon barbari", ["read_only", "trade"], True, "www.okx.com")


def test_okx_trade_key_bound_to_no_address_is_warned_it_will_be_deleted_when_idle(okx: CannedVenue) -> None:
    result = run(okx, BALANCE_OK, account_config(ip=""))
    assert (result.diagnosis, result.outcome, result.requests) == ("ok", "warning", 2)
    assert result.detail["key_settings"]["ip_restricted"] is False
    assert any("14 days" in w for w in result.warnings)


def test_read_only_okx_key_bound_to_no_address_is_not_warned_about_deletion(okx: CannedVenue) -> None:
    result = run(okx, BALANCE_OK, account_config(perm="read_only", ip=""))
    assert not any("14 days" in w for w in result.warnings)


def test_okx_key_with_withdraw_is_flagged_withdraw_enabled(okx: CannedVenue) -> None:
    result = run(okx, BALANCE_OK, account_config(perm="read_only,withdraw,trade", ip=PLATFORM_EGRESS_IP))
    assert (result.diagnosis, result.outcome, result.requests) == ("withdraw_enabled", "warning", 2)


def test_read_only_okx_key_is_missing_create_and_cancel(okx: CannedVenue) -> None:
    result = run(okx, BALANCE_OK, account_config(perm="read_only"))
    assert (result.diagnosis, result.requests) == ("missing_permission", 2)
    assert result.missing_permissions == ["create_orders", "cancel_orders"]


def test_okx_key_bound_to_other_addresses_is_ip_not_allowed(okx: CannedVenue) -> None:
    result = run(okx, BALANCE_OK, account_config(ip="203.0.113.7,198.51.100.0/24"))
    assert (result.diagnosis, result.requests) == ("ip_not_allowed", 2)
    assert result.detail["key_settings"]["ip_allowlist"] == ["203.0.113.7", "198.51.100.0/24"]
    assert result.detail["allowlist_excludes_egress"] is True


def test_okx_key_bound_to_the_platform_egress_passes_the_allowlist_check(okx: CannedVenue) -> None:
    result = run(okx, BALANCE_OK, account_config(ip="203.0.113.7,51.38.112.198"))
    assert (result.diagnosis, result.requests) == ("ok", 2)
    assert result.detail["key_settings"]["ip_restricted"] is True


def test_okx_refusing_the_address_outright_is_ip_not_allowed(okx: CannedVenue) -> None:
    refused = (401, {"msg": "Your IP 192.0.2.1 is not included in your API key's IP whitelist.",
                     "code": "50110"})
    result = run(okx, refused, account_config())
    assert (result.diagnosis, result.requests) == ("ip_not_allowed", 1)


@pytest.mark.parametrize(("secret", "answer", "code"), [
    ("0" * len(SECRET), BALANCE_OK, "50113"),  # wrong secret: the stub's signature check refuses it
    (SECRET, UNKNOWN_KEY, "50119"),
], ids=["wrong-secret", "unknown-key"])
def test_rejected_okx_key_is_credentials_rejected(okx: CannedVenue, secret: str, answer: Answer,
                                                  code: str) -> None:
    result = run(okx, answer, account_config(), secret=secret)
    assert (result.diagnosis, result.requests) == ("credentials_rejected", 1)
    assert result.exchange_error.startswith(f"{code} ")


def test_okx_key_unknown_on_www_is_pointed_at_the_eea_and_us_sites(okx: CannedVenue) -> None:
    # Officially HTTP 200 with code 50119; a key made on my.okx.com exists only there.
    meta = KeyMeta(exchange="okx", ip_whitelist=("203.0.113.7",))
    result = run(okx, UNKNOWN_KEY, account_config(), meta=meta)
    assert (result.diagnosis, result.requests) == ("credentials_rejected", 1)
    hint = next(w for w in result.warnings if "site" in w)
    assert "tested on www.okx.com" in hint and "myokx" in hint and "okxus" in hint


@pytest.mark.parametrize(("exchange", "site"), [("myokx", "my.okx.com (EEA)"), ("okxus", "app.okx.com (US)")])
def test_regional_okx_key_is_tested_on_and_told_its_own_site(okx: CannedVenue, exchange: str,
                                                             site: str) -> None:
    result = run(okx, BALANCE_OK, account_config(ip=PLATFORM_EGRESS_IP), exchange=exchange)
    assert (result.diagnosis, result.requests) == ("ok", 2)
    assert okx.auth_problems == []
    assert result.detail["key_settings"]["site"] == site


@pytest.mark.parametrize(("code", "message"), [
    ("50030", "You don't have permission to use this API endpoint"),
    ("50120", "This API key doesn't have permission to use this function"),
])
def test_okx_permission_refusal_is_missing_permission(okx: CannedVenue, code: str, message: str) -> None:
    refused = (200, {"code": code, "msg": message, "data": []})
    result = run(okx, refused, refused)
    # Both calls refused for permission: OKX has its own code for the address (50110): the permission.
    assert (result.diagnosis, result.requests) == ("missing_permission", 2)
    assert result.missing_permissions == ["query_funds"]
    assert result.exchange_error == f"{code} {message}"


def test_okx_refusing_the_address_for_its_location_is_region_blocked(okx: CannedVenue) -> None:
    blocked = (200, {"code": "50121", "data": [],
                     "msg": "You can't access our services through the IP address (192.0.2.1)"})
    result = run(okx, blocked, account_config())
    assert (result.diagnosis, result.requests) == ("region_blocked", 1)


def test_frozen_okx_key_is_credentials_rejected_with_the_way_out(okx: CannedVenue) -> None:
    frozen = (400, {"code": "50100", "msg": "API frozen, please contact customer service.", "data": []})
    result = run(okx, frozen, account_config())
    assert (result.diagnosis, result.requests) == ("credentials_rejected", 1)
    assert any("froze" in w for w in result.warnings)


def test_okx_key_without_a_passphrase_is_malformed_before_any_request(okx: CannedVenue) -> None:
    result = run(okx, BALANCE_OK, account_config(), passphrase=None)
    assert (result.diagnosis, result.requests) == ("secret_malformed", 0)
    assert okx.seen == []


def test_okx_clock_skew_is_nonce_rejected(okx: CannedVenue) -> None:
    result = run(okx, (401, {"msg": "Timestamp request expired", "code": "50102"}), account_config())
    assert (result.diagnosis, result.requests) == ("nonce_rejected", 1)


@pytest.mark.parametrize("answer", [
    (200, "<html><body>maintenance</body></html>"),
    (200, {"unexpected": True}),
    (200, {"code": "0", "msg": "", "data": []}),
], ids=["html", "not-okx-json", "empty-data"])
def test_garbage_okx_key_settings_still_conclude(okx: CannedVenue, answer: Answer) -> None:
    result = run(okx, BALANCE_OK, answer)
    assert (result.diagnosis, result.outcome, result.requests) == ("ok", "warning", 2)
    assert result.permissions["create_orders"] == "unknown"
