"""Binance's one message for three causes (-2015), told apart by the key's API restrictions.

The sandbox speaks Kraken only, so a few canned Binance answers are served from a tiny loopback server;
the real ccxt binance client signs and sends the requests, and reads the answers, as in production.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest

from nbsupport.config import Settings
from nbsupport.conntest import KeyMeta, test_credentials
from nbsupport.credentials import Credentials

MINUS_2015 = (401, {"code": -2015, "msg": "Invalid API-key, IP, or permissions for action."})
ACCOUNT_OK = (200, {"balances": [{"asset": "BTC", "free": "0.1", "locked": "0"}], "canTrade": True})


def restrictions(**flags: bool) -> tuple[int, dict[str, Any]]:
    body = {"ipRestrict": False, "enableReading": True, "enableSpotAndMarginTrading": True,
            "enableWithdrawals": False, "createTime": 1735689600000}
    return 200, body | flags


class _Binance(BaseHTTPRequestHandler):
    answers: ClassVar[dict[str, tuple[int, dict[str, Any]]]] = {}
    seen: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        self.seen.append(path)
        status, body = self.answers.get(path, (404, {"code": -5, "msg": "no such path"}))
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture(scope="module")
def binance() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Binance)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def run(origin: str, account: tuple[int, dict[str, Any]], restricted: tuple[int, dict[str, Any]],
        **settings: Any) -> Any:
    _Binance.answers = {"/api/v3/account": account, "/sapi/v1/account/apiRestrictions": restricted}
    _Binance.seen.clear()
    credentials = Credentials("k" * 64, "s" * 64)
    return test_credentials("binance", credentials, KeyMeta(exchange="binance"),
                            Settings(exchange_urls={"binance": origin}, request_timeout_ms=2000, **settings))


def test_minus_2015_with_an_ip_restricted_key_is_ip_not_allowed(binance: str) -> None:
    result = run(binance, MINUS_2015, restrictions(ipRestrict=True))
    assert result.diagnosis == "ip_not_allowed"
    assert result.exchange_error == "-2015 Invalid API-key, IP, or permissions for action."
    # The test went direct: the customer's IP list is not to blame.
    assert result.detail["egress_mismatch"] is True
    assert _Binance.seen == ["/api/v3/account", "/sapi/v1/account/apiRestrictions"]


def test_minus_2015_with_reading_disabled_is_a_missing_permission(binance: str) -> None:
    result = run(binance, MINUS_2015, restrictions(enableReading=False))
    assert result.diagnosis == "missing_permission"
    assert result.missing_permissions == ["query_funds", "query_open_orders", "query_closed_orders"]


def test_minus_2015_on_both_calls_is_credentials_rejected(binance: str) -> None:
    result = run(binance, MINUS_2015, MINUS_2015)
    assert (result.diagnosis, result.requests) == ("credentials_rejected", 2)


def test_healthy_binance_key_with_withdrawals_is_a_warning(binance: str) -> None:
    result = run(binance, ACCOUNT_OK, restrictions(enableWithdrawals=True))
    assert (result.diagnosis, result.outcome, result.requests) == ("withdraw_enabled", "warning", 2)
    assert result.permissions["create_orders"] == "granted"
    assert set(result.fix) == {"id", "title", "steps", "customer_reply"}


def test_binance_key_without_trading_is_missing_create_and_cancel(binance: str) -> None:
    result = run(binance, ACCOUNT_OK, restrictions(enableSpotAndMarginTrading=False))
    assert result.missing_permissions == ["create_orders", "cancel_orders"]
