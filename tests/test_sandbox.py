"""The sandbox venue, exercised through the real ccxt clients (never mocked) and raw signed requests."""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import ccxt
import pytest
import requests

from nbsupport.diagnosis import STRATEGY_SCOPES, Diagnosis, Scope
from nbsupport.sandbox import EgressProxy, Fault, RateLimitPolicy, SandboxKey, SandboxServer, demo_cast
from nbsupport.sandbox.cast import DEMO_EGRESS_IP, cast_by_name
from nbsupport.sandbox.ratelimit import RateLimiter, Verdict
from nbsupport.sandbox.requestlog import RecordedRequest, RequestLog
from nbsupport.sandbox.signing import futures_endpoint_path, futures_signature, spot_signature
from nbsupport.sandbox.state import KeyState, NonceVerdict
from nbsupport.venues.urls import rewrite_urls
from tests.sandbox_fixtures import FAST_CLIENT_TIMEOUT_MS, ccxt_client, client_for, running_sandbox

CAST = cast_by_name()


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    with running_sandbox() as server:
        yield server


def spot(name: str, origin: str, **options: Any) -> ccxt.Exchange:
    return client_for(CAST[name], origin, **options)


def raw_spot(origin: str, key: SandboxKey, method: str, nonce: int, **params: str) -> dict[str, Any]:
    path = f"/0/private/{method}"
    body = "&".join(f"{k}={v}" for k, v in {"nonce": str(nonce), **params}.items())
    headers = {
        "API-Key": key.api_key,
        "API-Sign": spot_signature(key.secret, path, str(nonce), body),
        "Content-Type": "application/x-www-form-urlencoded",
    }
    return requests.post(origin + path, data=body, headers=headers, timeout=5).json()


def raw_futures(origin: str, key: SandboxKey, path: str, nonce: str = "") -> requests.Response:
    headers = {
        "APIKey": key.api_key,
        "Authent": futures_signature(key.secret, futures_endpoint_path(path), "", nonce),
    }
    if nonce:
        headers["Nonce"] = nonce
    return requests.get(origin + path, headers=headers, timeout=5)


def expect_error(call: Callable[[], object], error: type[Exception], text: str) -> None:
    with pytest.raises(error) as caught:
        call()
    assert text in str(caught.value)


# --- URL rewriting -----------------------------------------------------------------------------------------


def test_rewrite_urls_replaces_scheme_and_host_everywhere_and_keeps_paths() -> None:
    futures = ccxt.krakenfutures().urls["api"]
    rewritten = rewrite_urls(futures, "http://127.0.0.1:9000")
    assert rewritten["private"] == "http://127.0.0.1:9000/derivatives/api/"
    assert rewritten["history"] == "http://127.0.0.1:9000/api/history/"
    nested = {"a": ["https://api.kraken.com/0/private/Balance?x=1", {"b": "wss://ws.kraken.com/v2"}]}
    assert rewrite_urls(nested, "http://127.0.0.1:9000/") == {
        "a": ["http://127.0.0.1:9000/0/private/Balance?x=1", {"b": "ws://127.0.0.1:9000/v2"}]
    }


def test_rewrite_urls_leaves_non_urls_alone_and_never_modifies_its_input() -> None:
    urls = {"public": "https://api.kraken.com", "note": "not a url", "n": ["relative/path"]}
    before = json.dumps(urls)
    assert rewrite_urls(urls, "http://h:1")["note"] == "not a url"
    assert rewrite_urls("https://api.kraken.com/0", "https://gw.example:8443") == "https://gw.example:8443/0"
    assert json.dumps(urls) == before


@pytest.mark.parametrize("origin", ["127.0.0.1:9000", "http://127.0.0.1:9000/base", "ftp://host"])
def test_rewrite_urls_rejects_anything_but_a_bare_origin(origin: str) -> None:
    with pytest.raises(ValueError):
        rewrite_urls("https://api.kraken.com", origin)


# --- spot: authentication ----------------------------------------------------------------------------------


def test_healthy_spot_key_reads_balances_raw_and_through_fetch_balance(sandbox: SandboxServer) -> None:
    client = spot("healthy-spot", sandbox.origin)
    assert client.privatePostBalance()["result"]["XXBT"] == "0.0421000000"
    balance = client.fetch_balance()
    assert balance["total"]["BTC"] == pytest.approx(0.0421)
    assert balance["total"]["USD"] == pytest.approx(1250.0)


def test_wrong_secret_is_answered_invalid_signature(sandbox: SandboxServer) -> None:
    # ccxt has no mapping for this string, so it surfaces as a plain ExchangeError carrying the venue text.
    expect_error(
        spot("wrong-secret", sandbox.origin).privatePostBalance, ccxt.ExchangeError, "EAPI:Invalid signature"
    )


def test_unknown_key_and_a_futures_key_on_spot_are_answered_invalid_key(sandbox: SandboxServer) -> None:
    for name in ("unknown-key", "futures-key-saved-as-spot"):
        expect_error(
            spot(name, sandbox.origin).privatePostBalance, ccxt.AuthenticationError, "EAPI:Invalid key"
        )


def test_nonce_below_what_another_process_used_is_rejected(sandbox: SandboxServer) -> None:
    expect_error(
        spot("nonce-ahead", sandbox.origin).privatePostBalance, ccxt.InvalidNonce, "EAPI:Invalid nonce"
    )


def test_a_repeated_or_older_nonce_is_rejected_per_key(sandbox: SandboxServer) -> None:
    key = CAST["healthy-spot"].key
    assert key is not None
    assert raw_spot(sandbox.origin, key, "Balance", 1000)["error"] == []
    assert raw_spot(sandbox.origin, key, "Balance", 1000)["error"] == ["EAPI:Invalid nonce"]
    assert raw_spot(sandbox.origin, key, "Balance", 999)["error"] == ["EAPI:Invalid nonce"]
    assert raw_spot(sandbox.origin, key, "Balance", 1001)["error"] == []


def test_nonce_window_admits_late_unseen_nonces_only() -> None:
    key = SandboxKey(api_key="k", secret=base64.b64encode(bytes(64)).decode(), nonce_window=10)
    state = KeyState(key=key, limiter=RateLimiter(RateLimitPolicy()))
    assert state.accept_nonce(100) is NonceVerdict.ACCEPTED
    assert state.accept_nonce(95) is NonceVerdict.ACCEPTED
    assert state.accept_nonce(95) is NonceVerdict.DUPLICATE
    assert state.accept_nonce(90) is NonceVerdict.BELOW


def test_missing_permission_denies_only_the_calls_that_need_it(sandbox: SandboxServer) -> None:
    client = spot("missing-closed-orders", sandbox.origin)
    assert client.privatePostBalance()["error"] == []
    expect_error(client.privatePostClosedOrders, ccxt.PermissionDenied, "EGeneral:Permission denied")
    expect_error(client.privatePostTradesHistory, ccxt.PermissionDenied, "EGeneral:Permission denied")


def test_expired_key_is_refused_as_an_invalid_key(sandbox: SandboxServer) -> None:
    # Kraken answers a disabled or expired key like an unknown one (nbsupport.venues.kraken_facts).
    client = spot("expired", sandbox.origin)
    expect_error(client.privatePostBalance, ccxt.AuthenticationError, "EAPI:Invalid key")


def test_key_requiring_two_factor_needs_the_otp_parameter(sandbox: SandboxServer) -> None:
    client = spot("otp-required", sandbox.origin)
    expect_error(client.privatePostBalance, ccxt.ExchangeError, "EAPI:Invalid otp")
    assert client.privatePostBalance({"otp": "482913"})["error"] == []


def test_ip_allowlist_blocks_direct_calls_but_passes_through_the_egress_proxy(sandbox: SandboxServer) -> None:
    member = CAST["egress-allowlisted"]
    expect_error(
        client_for(member, sandbox.origin).privatePostBalance,
        ccxt.PermissionDenied,
        "EGeneral:Permission denied",
    )
    with EgressProxy(DEMO_EGRESS_IP) as proxy:
        assert proxy.egress_ip == DEMO_EGRESS_IP
        assert client_for(member, sandbox.origin, httpProxy=proxy.url).privatePostBalance()["error"] == []
    peers = [r.peer_ip for r in sandbox.requests_for(member.api_key)]
    assert peers == ["127.0.0.1", DEMO_EGRESS_IP]


# --- spot: endpoints ---------------------------------------------------------------------------------------


def test_add_order_validates_without_state_change_and_a_real_order_is_refused_and_counted(
    sandbox: SandboxServer,
) -> None:
    client = spot("healthy-spot", sandbox.origin)
    order = client.create_order("BTC/USD", "limit", "buy", 0.001, 50000, {"validate": True})
    assert order["id"] is None
    assert "buy 0.00100000 XBTUSD @ limit" in order["info"]["descr"]["order"]
    assert sandbox.state_change_attempts == 0
    expect_error(
        lambda: client.create_order("BTC/USD", "limit", "buy", 0.001, 50000),
        ccxt.ExchangeError,
        "sandbox refuses state changes",
    )
    assert sandbox.state_change_attempts == 1


def test_cancel_of_an_unknown_order_is_unknown_order_but_permission_comes_first(
    sandbox: SandboxServer,
) -> None:
    expect_error(
        lambda: spot("healthy-spot", sandbox.origin).cancel_order("OABCDE-12345-FGHIJ"),
        ccxt.InvalidOrder,
        "EOrder:Unknown order",
    )
    no_cancel = SandboxKey(
        api_key="no-cancel",
        secret=CAST["healthy-spot"].secret,
        permissions=frozenset(STRATEGY_SCOPES) - {Scope.CANCEL_ORDERS},
    )
    sandbox.add_key(no_cancel)
    client = ccxt_client("kraken", no_cancel.api_key, no_cancel.secret, sandbox.origin)
    expect_error(
        lambda: client.privatePostCancelOrder({"txid": "OABCDE-12345-FGHIJ"}),
        ccxt.PermissionDenied,
        "EGeneral:Permission denied",
    )
    assert sandbox.state_change_attempts == 0


def test_withdraw_endpoints_need_the_withdraw_permission(sandbox: SandboxServer) -> None:
    assert spot("withdraw-enabled", sandbox.origin).privatePostWithdrawMethods()["result"]
    expect_error(
        lambda: spot("withdraw-enabled", sandbox.origin).privatePostWithdrawInfo(
            {"asset": "XBT", "key": "x", "amount": "1"}
        ),
        ccxt.InvalidAddress,
        "EFunding:Unknown withdraw key",
    )
    expect_error(
        spot("healthy-spot", sandbox.origin).privatePostWithdrawMethods,
        ccxt.PermissionDenied,
        "EGeneral:Permission denied",
    )


def test_history_endpoints_answer_in_shapes_ccxt_parses(sandbox: SandboxServer) -> None:
    client = spot("healthy-spot", sandbox.origin)
    assert [o["status"] for o in client.fetch_closed_orders()] == ["closed"]
    assert client.fetch_open_orders() == []
    assert client.fetch_my_trades()[0]["symbol"] == "BTC/USD"
    assert {e["currency"] for e in client.fetch_ledger()} == {"USD", "BTC"}


def test_query_window_hides_history_outside_it(sandbox: SandboxServer) -> None:
    key = SandboxKey(
        api_key="windowed",
        secret=CAST["healthy-spot"].secret,
        query_window=(datetime(2025, 6, 1, tzinfo=UTC), None),
    )
    sandbox.add_key(key)
    client = ccxt_client("kraken", key.api_key, key.secret, sandbox.origin)
    assert client.privatePostClosedOrders()["result"] == {"closed": {}, "count": 0}
    assert client.privatePostTradesHistory()["result"]["count"] == 0


def test_get_api_key_info_describes_the_key_in_krakens_schema(sandbox: SandboxServer) -> None:
    info = spot("withdraw-enabled", sandbox.origin).privatePostGetApiKeyInfo()["result"]
    assert set(info) == {
        "apiKeyName",
        "apiKey",
        "nonce",
        "nonceWindow",
        "permissions",
        "iban",
        "validUntil",
        "queryFrom",
        "queryTo",
        "createdTime",
        "modifiedTime",
        "ipAllowlist",
        "lastUsed",
    }
    assert info["apiKeyName"] == "withdraw-enabled"
    assert "withdraw-funds" in info["permissions"]
    assert {
        "query-funds",
        "query-open-trades",
        "query-closed-trades",
        "modify-trades",
        "close-trades",
    } <= set(info["permissions"])
    assert info["validUntil"] == "0"
    assert int(info["nonce"]) > 0
    expired = spot("expired", sandbox.origin)
    expect_error(expired.privatePostGetApiKeyInfo, ccxt.AuthenticationError, "EAPI:Invalid key")
    restricted = SandboxKey(
        api_key="restricted",
        secret=CAST["healthy-spot"].secret,
        ip_allowlist=("127.0.0.1",),
        expires_at=datetime(2099, 1, 1, tzinfo=UTC),
        permissions=frozenset(),
    )
    sandbox.add_key(restricted)
    info = ccxt_client("kraken", "restricted", restricted.secret, sandbox.origin).privatePostGetApiKeyInfo()
    assert info["result"]["ipAllowlist"] == ["127.0.0.1"]
    assert info["result"]["validUntil"] == str(int(datetime(2099, 1, 1, tzinfo=UTC).timestamp()))
    assert info["result"]["permissions"] == []


def test_get_api_key_info_can_be_unavailable_so_callers_must_probe(sandbox: SandboxServer) -> None:
    client = spot("healthy-spot-no-key-info", sandbox.origin)
    expect_error(client.privatePostGetApiKeyInfo, ccxt.ExchangeError, "EGeneral:Unknown method")
    assert client.privatePostBalance()["error"] == []


# --- spot: rate limits -------------------------------------------------------------------------------------


def test_rate_limit_is_exceeded_then_repeated_violations_lock_the_key_out() -> None:
    policy = RateLimitPolicy(max_counter=3, decay_per_s=0.0, violations_before_lockout=2, lockout_s=60)
    with running_sandbox(spot_rate_limit=policy) as server:
        client = spot("healthy-spot", server.origin)
        for _ in range(3):
            client.privatePostBalance()
        expect_error(client.privatePostBalance, ccxt.DDoSProtection, "EAPI:Rate limit exceeded")
        expect_error(client.privatePostBalance, ccxt.DDoSProtection, "EAPI:Rate limit exceeded")
        expect_error(client.privatePostBalance, ccxt.DDoSProtection, "EGeneral:Temporary lockout")
        # The counter is per key: another key is unaffected.
        assert spot("withdraw-enabled", server.origin).privatePostBalance()["error"] == []


def test_rate_limit_counter_decays_and_history_calls_cost_double() -> None:
    now = [0.0]
    limiter = RateLimiter(RateLimitPolicy(max_counter=4, decay_per_s=1.0), clock=lambda: now[0])
    assert limiter.charge(2) is Verdict.ALLOWED
    assert limiter.charge(2) is Verdict.ALLOWED
    assert limiter.charge(1) is Verdict.LIMITED
    now[0] = 2.0
    assert limiter.charge(2) is Verdict.ALLOWED
    with running_sandbox(spot_rate_limit=RateLimitPolicy(max_counter=3, decay_per_s=0.0)) as server:
        client = spot("healthy-spot", server.origin)
        client.privatePostTradesHistory()
        expect_error(client.privatePostLedgers, ccxt.DDoSProtection, "EAPI:Rate limit exceeded")
        assert client.privatePostBalance()["error"] == []


# --- faults ------------------------------------------------------------------------------------------------

# fault -> (what a ccxt spot call raises, what a futures call raises, text in it); None = no raise.
FAULT_OUTCOMES: dict[Fault, tuple[type[Exception] | None, type[Exception] | None, str]] = {
    Fault.SERVICE_UNAVAILABLE: (ccxt.ExchangeNotAvailable, ccxt.ExchangeNotAvailable, "navailable"),
    Fault.BUSY: (ccxt.ExchangeNotAvailable, ccxt.ExchangeNotAvailable, ""),
    Fault.HTML_502: (ccxt.ExchangeNotAvailable, ccxt.ExchangeNotAvailable, "502 Bad Gateway"),
    Fault.HTML_404: (ccxt.ExchangeNotAvailable, ccxt.ExchangeNotAvailable, "404 Not Found"),
    Fault.HTTP_429: (ccxt.RateLimitExceeded, ccxt.RateLimitExceeded, "429"),
    Fault.REGION_BLOCKED: (ccxt.ExchangeNotAvailable, ccxt.ExchangeNotAvailable, "451"),
    Fault.TIMEOUT: (ccxt.RequestTimeout, ccxt.RequestTimeout, ""),
    Fault.DROP_CONNECTION: (ccxt.NetworkError, ccxt.NetworkError, ""),
    Fault.RATE_LIMITED: (ccxt.DDoSProtection, ccxt.DDoSProtection, ""),
    Fault.LOCKOUT: (ccxt.DDoSProtection, ccxt.DDoSProtection, ""),
    # A 200 that is not JSON raises nothing in ccxt: the raw call hands back the text as it came.
    Fault.TRUNCATED_JSON: (None, None, ""),
    Fault.EMPTY_BODY: (None, None, ""),
    Fault.GARBAGE: (None, None, ""),
}


@pytest.mark.parametrize("fault", list(Fault))
def test_every_fault_reaches_the_client_as_ccxt_reports_it(sandbox: SandboxServer, fault: Fault) -> None:
    spot_error, futures_error, text = FAULT_OUTCOMES[fault]
    sandbox.set_fault(fault)
    calls = [
        (spot_error, spot("healthy-spot", sandbox.origin, timeout=FAST_CLIENT_TIMEOUT_MS).privatePostBalance),
        (
            futures_error,
            client_for(
                CAST["healthy-futures"], sandbox.origin, timeout=FAST_CLIENT_TIMEOUT_MS
            ).privateGetAccounts,
        ),
    ]
    for error, call in calls:
        if error is None:
            assert isinstance(call(), str)
        else:
            expect_error(call, error, text)
    sandbox.set_fault(None)
    assert spot("healthy-spot", sandbox.origin).privatePostBalance()["error"] == []


def test_a_key_fault_touches_only_that_key(sandbox: SandboxServer) -> None:
    expect_error(spot("html-502", sandbox.origin).privatePostBalance, ccxt.ExchangeNotAvailable, "502")
    assert spot("healthy-spot", sandbox.origin).privatePostBalance()["error"] == []


def test_a_hanging_request_does_not_hold_up_shutdown() -> None:
    with running_sandbox(timeout_fault_s=30.0) as server:
        client = spot("timeout", server.origin, timeout=FAST_CLIENT_TIMEOUT_MS)
        expect_error(client.privatePostBalance, ccxt.RequestTimeout, "")
        started = time.monotonic()
    assert time.monotonic() - started < 3.0


def test_latency_is_added_to_every_request() -> None:
    with running_sandbox(latency_ms=150) as server:
        started = time.monotonic()
        requests.get(server.origin + "/0/public/Time", timeout=5)
        assert time.monotonic() - started >= 0.15


# --- futures -----------------------------------------------------------------------------------------------


def test_healthy_futures_key_reads_balances(sandbox: SandboxServer) -> None:
    client = client_for(CAST["healthy-futures"], sandbox.origin)
    accounts = client.privateGetAccounts()
    assert accounts["result"] == "success"
    assert accounts["accounts"]["cash"]["balances"]["usd"] == "5000.00"
    assert client.fetch_balance()["total"]["BTC"] == pytest.approx(0.05)
    assert client.fetch_open_orders() == []
    assert client.fetch_my_trades()[0]["symbol"] == "BTC/USD:USD"
    assert client.fetch_closed_orders() == []


def test_futures_wrong_secret_and_spot_key_get_futures_authentication_error(sandbox: SandboxServer) -> None:
    futures = CAST["healthy-futures"]
    wrong = ccxt_client("krakenfutures", futures.api_key, CAST["healthy-spot"].secret, sandbox.origin)
    expect_error(wrong.privateGetAccounts, ccxt.AuthenticationError, '"error":"authenticationError"')
    spot_key = client_for(CAST["spot-key-saved-as-futures"], sandbox.origin)
    expect_error(spot_key.privateGetAccounts, ccxt.AuthenticationError, "authenticationError")
    assert sandbox.log.entries()[-1].status == 401


def test_futures_read_only_key_reads_but_cannot_trade(sandbox: SandboxServer) -> None:
    secret = CAST["healthy-futures"].secret
    sandbox.add_key(
        SandboxKey(api_key="ro", secret=secret, product="futures", permissions=frozenset({Scope.QUERY_FUNDS}))
    )
    read_only = ccxt_client("krakenfutures", "ro", secret, sandbox.origin)
    assert read_only.privateGetAccounts()["result"] == "success"
    expect_error(
        lambda: read_only.privatePostCancelorder({"order_id": "x"}),
        ccxt.AuthenticationError,
        "authenticationError",
    )
    full = client_for(CAST["healthy-futures"], sandbox.origin)
    assert full.privatePostCancelorder({"order_id": "x"})["cancelStatus"]["status"] == "notFound"
    expect_error(lambda: full.cancel_order("x"), ccxt.OrderNotFound, "notFound")
    assert sandbox.state_change_attempts == 0


def test_futures_sendorder_has_no_validate_so_it_is_refused_and_counted(sandbox: SandboxServer) -> None:
    client = client_for(CAST["healthy-futures"], sandbox.origin)
    expect_error(
        lambda: client.create_order("BTC/USD:USD", "limit", "buy", 1, 50000),
        ccxt.BadRequest,
        "invalidArgument",
    )
    assert sandbox.state_change_attempts == 1


def test_futures_key_check_reports_access_levels_and_allowed_addresses(sandbox: SandboxServer) -> None:
    member = CAST["healthy-futures"]
    assert member.key is not None
    body = raw_futures(sandbox.origin, member.key, "/api/auth/v1/api-keys/v3/check").json()
    # CheckedV3ApiKeyDetails (kraken_facts.FUTURES_KEY_CHECK_DOC).
    assert set(body) == {"apiKey", "accountUid", "iiban", "createdAt", "permissions", "allowedCidrBlock",
                         "allowedCidrBlocks"}
    assert body["apiKey"] == member.api_key
    assert body["permissions"] == {"general": "FULL_ACCESS", "transfer": "NO_ACCESS"}
    assert body["allowedCidrBlocks"] == []
    assert body["allowedCidrBlock"] is None
    wrong = SandboxKey(api_key=member.api_key, secret=CAST["healthy-spot"].secret, product="futures")
    refused = raw_futures(sandbox.origin, wrong, "/api/auth/v1/api-keys/v3/check")
    # The documented Error schema, not the derivatives API's {"result": "error", ...}.
    assert refused.status_code == 401
    assert set(refused.json()) == {"error", "message", "suberror"}
    unknown = SandboxKey(api_key="nobody", secret=CAST["healthy-spot"].secret, product="futures")
    assert raw_futures(sandbox.origin, unknown, "/api/auth/v1/api-keys/v3/check").json()["suberror"] == (
        "apiKeyNotFound")


def test_futures_key_check_reports_transfer_full_access_for_a_withdrawal_key(sandbox: SandboxServer) -> None:
    key = SandboxKey(api_key="fut-transfer", secret=CAST["healthy-futures"].secret, product="futures",
                     permissions=frozenset({Scope.QUERY_FUNDS, Scope.WITHDRAW}))
    sandbox.add_key(key)
    body = raw_futures(sandbox.origin, key, "/api/auth/v1/api-keys/v3/check").json()
    assert body["permissions"] == {"general": "READ_ONLY", "transfer": "FULL_ACCESS"}


def test_key_info_fault_strikes_only_the_key_settings_call(sandbox: SandboxServer) -> None:
    key = SandboxKey(api_key="info-404", secret=CAST["healthy-spot"].secret, key_info_fault=Fault.HTML_404)
    sandbox.add_key(key)
    client = ccxt_client("kraken", key.api_key, key.secret, sandbox.origin)
    assert client.privatePostBalance()["error"] == []
    expect_error(client.privatePostGetApiKeyInfo, ccxt.ExchangeNotAvailable, "404")


def test_futures_nonce_header_when_sent_must_increase(sandbox: SandboxServer) -> None:
    key = CAST["healthy-futures"].key
    assert key is not None
    assert raw_futures(sandbox.origin, key, "/derivatives/api/v3/openorders", nonce="500").status_code == 200
    again = raw_futures(sandbox.origin, key, "/derivatives/api/v3/openorders", nonce="500").json()
    assert again["error"] == "nonceDuplicate"
    older = raw_futures(sandbox.origin, key, "/derivatives/api/v3/openorders", nonce="400").json()
    assert older["error"] == "nonceBelowThreshold"


# --- request log -------------------------------------------------------------------------------------------


def test_requests_are_logged_with_key_nonce_and_outcome_but_never_a_secret(sandbox: SandboxServer) -> None:
    member = CAST["wrong-secret"]
    expect_error(client_for(member, sandbox.origin).privatePostBalance, ccxt.ExchangeError, "signature")
    client_for(CAST["healthy-spot"], sandbox.origin).privatePostBalance()
    (entry,) = sandbox.requests_for(member.api_key)
    assert (entry.product, entry.method, entry.path) == ("spot", "POST", "/0/private/Balance")
    assert entry.error == "EAPI:Invalid signature" and entry.status == 200
    assert entry.nonce is not None and entry.finished_at is not None and entry.finished_at >= entry.started_at
    everything = repr(sandbox.log.entries())
    for member in CAST.values():
        assert member.secret not in everything
    sandbox.clear()
    assert sandbox.log.entries() == []


def test_a_bounded_log_keeps_recent_requests_and_exact_state_change_counts() -> None:
    log = RequestLog(max_entries=2)
    for index in range(5):
        log.begin(
            RecordedRequest("k", "spot", "POST", f"/{index}", None, "127.0.0.1", 0.0, 1.0, 200, None, True)
        )
    assert [e.path for e in log.entries()] == ["/3", "/4"]
    assert log.state_change_attempts == 5


def test_naive_expiry_dates_are_taken_as_utc(sandbox: SandboxServer) -> None:
    key = SandboxKey(api_key="naive", secret=CAST["healthy-spot"].secret, expires_at=datetime(2020, 1, 1))
    sandbox.add_key(key)
    client = ccxt_client("kraken", key.api_key, key.secret, sandbox.origin)
    expect_error(client.privatePostBalance, ccxt.AuthenticationError, "EAPI:Invalid key")


def test_sequential_use_of_a_key_never_overlaps(sandbox: SandboxServer) -> None:
    client = spot("healthy-spot", sandbox.origin)
    for _ in range(5):
        client.privatePostBalance()
    assert sandbox.max_overlap_per_key() == 1


def test_parallel_requests_for_one_key_are_detected_as_overlap() -> None:
    with running_sandbox(latency_ms=300) as server:
        clients = [spot("healthy-spot", server.origin) for _ in range(3)]
        threads = [threading.Thread(target=_swallow(c.privatePostBalance)) for c in clients]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert server.max_overlap_per_key() >= 2


def _swallow(call: Callable[[], object]) -> Callable[[], None]:
    def run() -> None:
        # Parallel nonces may collide; the overlap is what this test is about.
        with contextlib.suppress(ccxt.InvalidNonce):
            call()

    return run


# --- the demo cast -----------------------------------------------------------------------------------------


def test_demo_cast_is_deterministic_with_unique_names_and_keys() -> None:
    first, second = demo_cast(), demo_cast()
    assert [(m.name, m.api_key, m.secret) for m in first] == [(m.name, m.api_key, m.secret) for m in second]
    assert len({m.name for m in first}) == len(first)
    # Unique API keys, except the one the cast stores twice on purpose (a shared key).
    shared = [m.name for m in first if m.api_key == CAST["shared-key"].api_key]
    assert shared == ["healthy-spot", "shared-key"]
    assert len({m.api_key for m in first}) == len(first) - 1
    assert {Diagnosis(m.expected_diagnosis) for m in first} == set(Diagnosis) - {Diagnosis.UNKNOWN}


def test_cast_secrets_are_kraken_shaped_except_the_clipboard_mangled_one() -> None:
    for member in demo_cast():
        if member.name == "clipboard-mangled-secret":
            assert member.key is not None and "+" in member.key.secret
            assert member.secret == member.key.secret.replace("+", " ")
            with pytest.raises(binascii.Error):
                base64.b64decode(member.secret, validate=True)
            continue
        assert len(base64.b64decode(member.secret, validate=True)) == 64
        assert len(member.api_key) == 56


def test_wrong_product_cases_carry_both_the_registered_and_the_claimed_product() -> None:
    assert CAST["spot-key-saved-as-futures"].key.product == "spot"  # type: ignore[union-attr]
    assert CAST["spot-key-saved-as-futures"].claimed_exchange == "krakenfutures"
    assert CAST["futures-key-saved-as-spot"].key.product == "futures"  # type: ignore[union-attr]
    assert CAST["futures-key-saved-as-spot"].claimed_exchange == "kraken"
    assert CAST["unknown-key"].key is None


# name -> (the call a connection test would make, the ccxt error it meets, text in it); None = it works.
CAST_PROBES: dict[str, tuple[str, type[Exception] | None, str]] = {
    "healthy-spot": ("privatePostBalance", None, ""),
    "shared-key": ("privatePostBalance", None, ""),
    "healthy-futures": ("privateGetAccounts", None, ""),
    "healthy-spot-no-key-info": ("privatePostGetApiKeyInfo", ccxt.ExchangeError, "EGeneral:Unknown method"),
    "egress-allowlisted": ("privatePostBalance", ccxt.PermissionDenied, "Permission denied"),
    "missing-closed-orders": ("privatePostClosedOrders", ccxt.PermissionDenied, "EGeneral:Permission denied"),
    "missing-create-orders": ("privatePostAddOrder", ccxt.PermissionDenied, "EGeneral:Permission denied"),
    "withdraw-enabled": ("privatePostWithdrawMethods", None, ""),
    "ip-restricted": ("privatePostBalance", ccxt.PermissionDenied, "EGeneral:Permission denied"),
    "otp-required": ("privatePostBalance", ccxt.ExchangeError, "EAPI:Invalid otp"),
    "expired": ("privatePostBalance", ccxt.AuthenticationError, "EAPI:Invalid key"),
    "nonce-ahead": ("privatePostBalance", ccxt.InvalidNonce, "EAPI:Invalid nonce"),
    "rate-limited": ("privatePostBalance", ccxt.DDoSProtection, "EAPI:Rate limit exceeded"),
    "lockout": ("privatePostBalance", ccxt.DDoSProtection, "EGeneral:Temporary lockout"),
    "service-unavailable": ("privatePostBalance", ccxt.ExchangeNotAvailable, "EService:Unavailable"),
    "html-502": ("privatePostBalance", ccxt.ExchangeNotAvailable, "502"),
    "timeout": ("privatePostBalance", ccxt.RequestTimeout, ""),
    "region-blocked": ("privatePostBalance", ccxt.ExchangeNotAvailable, "451"),
    "spot-key-saved-as-futures": ("privateGetAccounts", ccxt.AuthenticationError, "authenticationError"),
    "futures-key-saved-as-spot": ("privatePostBalance", ccxt.AuthenticationError, "EAPI:Invalid key"),
    "wrong-secret": ("privatePostBalance", ccxt.ExchangeError, "EAPI:Invalid signature"),
    "unknown-key": ("privatePostBalance", ccxt.AuthenticationError, "EAPI:Invalid key"),
}


@pytest.mark.parametrize("name", sorted(CAST_PROBES))
def test_each_cast_member_meets_the_venue_answer_its_diagnosis_rests_on(
    sandbox: SandboxServer, name: str
) -> None:
    method, error, text = CAST_PROBES[name]
    call = getattr(client_for(CAST[name], sandbox.origin, timeout=FAST_CLIENT_TIMEOUT_MS), method)
    params = (
        {
            "pair": "XBTUSD",
            "type": "buy",
            "ordertype": "limit",
            "volume": "0.001",
            "price": "1",
            "validate": "true",
        }
        if method == "privatePostAddOrder"
        else {}
    )
    if error is None:
        call(params)
    else:
        expect_error(lambda: call(params), error, text)
    assert sandbox.state_change_attempts == 0


def test_every_cast_member_with_a_probe_or_a_preflight_reason() -> None:
    assert set(CAST) - set(CAST_PROBES) == {"clipboard-mangled-secret"}


# --- the command line --------------------------------------------------------------------------------------


def test_module_entry_point_prints_its_origin_and_serves_the_demo_cast() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "nbsupport.sandbox", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        origin = process.stdout.readline().strip()
        assert origin.startswith("http://127.0.0.1:")
        assert (
            requests.get(origin + "/0/public/SystemStatus", timeout=5).json()["result"]["status"] == "online"
        )
        assert spot("healthy-spot", origin).privatePostBalance()["error"] == []
    finally:
        process.terminate()
        assert process.wait(timeout=5) == 0
