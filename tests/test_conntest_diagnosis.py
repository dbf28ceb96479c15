"""Every diagnosis code, reached by real ccxt clients against the sandbox venue, with its fix attached."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from test_conntest_support import (
    TIMEOUT_FAULT_S,
    make_key,
    paths,
    run_key,
    sandbox_settings,
)

from nbsupport.conntest import ConnectionOutcome, KeyMeta, check_credentials
from nbsupport.credentials import Credentials
from nbsupport.diagnosis import STRATEGY_SCOPES, Diagnosis, Scope
from nbsupport.replies import EGRESS_MISMATCH_FIX_ID
from nbsupport.sandbox import CastMember, EgressProxy, Fault, RateLimitPolicy, SandboxServer, demo_cast
from nbsupport.sandbox.cast import DEMO_EGRESS_IP, FOREIGN_IP

STRATEGY = frozenset(STRATEGY_SCOPES)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(timeout_fault_s=TIMEOUT_FAULT_S) as server:
        server.add_cast(demo_cast())
        yield server


@pytest.fixture(scope="module")
def proxy() -> Iterator[EgressProxy]:
    with EgressProxy(DEMO_EGRESS_IP) as egress:
        yield egress


def assert_fix_attached(result: ConnectionOutcome) -> None:
    assert set(result.fix) == {"id", "title", "steps", "customer_reply"}
    assert result.fix["id"] and result.fix["title"]


def assert_clean_run(server: SandboxServer) -> None:
    assert server.max_overlap_per_key() <= 1
    assert server.state_change_attempts == 0


@pytest.mark.parametrize("member", demo_cast(), ids=lambda m: m.name)
def test_demo_cast_member_gets_its_expected_diagnosis(
    sandbox: SandboxServer, proxy: EgressProxy, member: CastMember
) -> None:
    # The cast's allowlisted key is green only from the demo egress, so the cast runs through the proxy.
    settings = sandbox_settings(sandbox, egress_proxy=proxy.url, egress_ip=DEMO_EGRESS_IP)
    # The stored expiry, as the demo stores it (nbsupport.demo.cast): Kraken refuses an expired key as an
    # invalid one, so the stored expiry is what tells expiry apart.
    expires_at = member.key.expires_at if member.key is not None else None
    result = check_credentials(member.claimed_exchange, Credentials(member.api_key, member.secret),
                              KeyMeta(exchange=member.claimed_exchange, expires_at=expires_at), settings)
    assert result.diagnosis == member.expected_diagnosis
    assert result.outcome == ("ok" if member.expected_diagnosis == "ok" else
                              "warning" if member.expected_diagnosis == "withdraw_enabled" else "failed")
    assert_fix_attached(result)
    assert_clean_run(sandbox)


def test_healthy_spot_key_is_green_with_every_scope_granted(sandbox: SandboxServer) -> None:
    key = make_key(sandbox, "healthy")
    result = run_key(sandbox, key)
    assert (result.diagnosis, result.outcome, result.missing_permissions) == ("ok", "ok", [])
    assert result.permissions == {s.value: "granted" for s in STRATEGY_SCOPES} | {"withdraw": "missing"}
    assert result.exchange_error == ""
    assert result.fix["id"] == "kraken-ok"


def test_missing_closed_orders_is_named_from_key_info(sandbox: SandboxServer) -> None:
    key = make_key(sandbox, "no-closed", permissions=STRATEGY - {Scope.QUERY_CLOSED_ORDERS})
    result = run_key(sandbox, key)
    assert result.diagnosis == Diagnosis.MISSING_PERMISSION
    assert result.missing_permissions == ["query_closed_orders"]
    assert result.permissions["query_closed_orders"] == "missing"
    assert result.fix["id"] == "kraken-missing-permission"


def test_missing_closed_orders_is_found_by_probes_when_key_info_is_disabled(sandbox: SandboxServer) -> None:
    key = make_key(sandbox, "no-closed-probed", permissions=STRATEGY - {Scope.QUERY_CLOSED_ORDERS},
                   key_info_enabled=False)
    result = run_key(sandbox, key)
    assert result.diagnosis == Diagnosis.MISSING_PERMISSION
    assert result.missing_permissions == ["query_closed_orders"]
    assert result.exchange_error == "EGeneral:Permission denied"
    assert "ClosedOrders" in paths(sandbox, key)
    assert_clean_run(sandbox)


def test_missing_query_funds_is_told_apart_from_an_ip_block_by_key_info(sandbox: SandboxServer) -> None:
    key = make_key(sandbox, "no-funds", permissions=STRATEGY - {Scope.QUERY_FUNDS})
    result = run_key(sandbox, key)
    assert (result.diagnosis, result.missing_permissions) == ("missing_permission", ["query_funds"])


@pytest.mark.parametrize("key_info_enabled", [True, False], ids=["key-info", "probes"])
def test_withdraw_enabled_key_is_a_warning_even_when_all_else_is_green(
    sandbox: SandboxServer, key_info_enabled: bool
) -> None:
    key = make_key(sandbox, "withdraw", permissions=STRATEGY | {Scope.WITHDRAW},
                   key_info_enabled=key_info_enabled)
    result = run_key(sandbox, key)
    assert (result.diagnosis, result.outcome) == ("withdraw_enabled", "warning")
    assert result.permissions["withdraw"] == "granted"
    assert result.fix["id"] == "kraken-withdraw-enabled"
    assert_clean_run(sandbox)


def test_ip_block_of_a_direct_test_is_not_blamed_on_the_customer(sandbox: SandboxServer) -> None:
    key = make_key(sandbox, "allowlisted", ip_allowlist=(DEMO_EGRESS_IP,))
    result = run_key(sandbox, key, settings=sandbox_settings(sandbox, egress_ip=DEMO_EGRESS_IP))
    assert result.diagnosis == Diagnosis.IP_NOT_ALLOWED
    assert result.detail["egress_mismatch"] is True
    assert result.egress_ip == "direct"
    assert result.fix["id"] == EGRESS_MISMATCH_FIX_ID
    assert "nothing you need to change" in result.fix["customer_reply"]
    assert "whitelist" not in result.fix["customer_reply"].lower()
    assert any("allowlist was not tested" in w for w in result.warnings)


def test_allowlisted_key_is_green_through_the_egress_proxy(
    sandbox: SandboxServer, proxy: EgressProxy
) -> None:
    key = make_key(sandbox, "allowlisted-proxy", ip_allowlist=(DEMO_EGRESS_IP,))
    result = run_key(sandbox, key, settings=sandbox_settings(sandbox, egress_proxy=proxy.url,
                                                               egress_ip=DEMO_EGRESS_IP))
    assert (result.diagnosis, result.egress_ip) == ("ok", DEMO_EGRESS_IP)
    assert {entry.peer_ip for entry in sandbox.requests_for(key.api_key)} == {DEMO_EGRESS_IP}


def test_ip_block_through_the_egress_proxy_blames_the_customers_allowlist(
    sandbox: SandboxServer, proxy: EgressProxy
) -> None:
    key = make_key(sandbox, "foreign-allowlist", ip_allowlist=(FOREIGN_IP,))
    result = run_key(sandbox, key, settings=sandbox_settings(sandbox, egress_proxy=proxy.url,
                                                               egress_ip=DEMO_EGRESS_IP))
    assert result.diagnosis == Diagnosis.IP_NOT_ALLOWED
    assert result.detail["egress_mismatch"] is False
    assert result.fix["id"] == "kraken-ip-not-allowed"
    # Two requests: Balance refused, then GetApiKeyInfo (needs no permission) refused the same way.
    assert paths(sandbox, key) == ["Balance", "GetApiKeyInfo"]


def test_proxy_that_does_not_leave_from_the_configured_egress_is_flagged(
    sandbox: SandboxServer, proxy: EgressProxy
) -> None:
    key = make_key(sandbox, "proxy-elsewhere", ip_allowlist=(DEMO_EGRESS_IP,))
    result = run_key(sandbox, key, settings=sandbox_settings(sandbox, egress_proxy=proxy.url,
                                                               egress_ip="127.0.0.9"))
    assert result.diagnosis == Diagnosis.IP_NOT_ALLOWED
    assert result.detail["egress_mismatch"] is True
    assert result.fix["id"] == EGRESS_MISMATCH_FIX_ID


def test_otp_protected_key_is_diagnosed_otp_required(sandbox: SandboxServer) -> None:
    result = run_key(sandbox, make_key(sandbox, "otp", otp="123456"))
    assert (result.diagnosis, result.exchange_error) == ("otp_required", "EAPI:Invalid otp")
    assert result.requests == 1
    assert result.fix["id"] == "kraken-otp-required"


def test_stored_expiry_in_the_past_is_diagnosed_without_a_request(sandbox: SandboxServer) -> None:
    key = make_key(sandbox, "stored-expiry")
    result = run_key(sandbox, key, meta={"expires_at": datetime.now(UTC) - timedelta(days=1)})
    assert (result.diagnosis, result.requests) == ("key_expired", 0)
    assert sandbox.requests_for(key.api_key) == []
    assert result.fix["id"] == "kraken-key-expired"


def test_nonce_floor_ahead_of_us_is_nonce_rejected(sandbox: SandboxServer) -> None:
    key = make_key(sandbox, "nonce", nonce_floor=9_999_999_999_999)
    result = run_key(sandbox, key)
    assert (result.diagnosis, result.exchange_error) == ("nonce_rejected", "EAPI:Invalid nonce")
    assert result.fix["id"] == "kraken-invalid-nonce"


@pytest.mark.parametrize(
    ("fault", "product", "code", "error"),
    [
        (Fault.RATE_LIMITED, "spot", "rate_limited", "EAPI:Rate limit exceeded"),
        (Fault.LOCKOUT, "spot", "rate_limited", "EGeneral:Temporary lockout"),
        (Fault.HTTP_429, "spot", "rate_limited", "HTTP 429"),
        (Fault.RATE_LIMITED, "futures", "rate_limited", "apiLimitExceeded"),
        (Fault.SERVICE_UNAVAILABLE, "spot", "exchange_unavailable", "EService:Unavailable"),
        (Fault.BUSY, "spot", "exchange_unavailable", "EService:Busy"),
        (Fault.HTML_502, "spot", "exchange_unavailable", "HTTP 502 Bad Gateway (HTML page)"),
        (Fault.SERVICE_UNAVAILABLE, "futures", "exchange_unavailable", "Unavailable"),
        (Fault.REGION_BLOCKED, "spot", "region_blocked",
         "HTTP 451 Unavailable For Legal Reasons (HTML page)"),
        (Fault.TIMEOUT, "spot", "network_error", "timeout"),
        (Fault.DROP_CONNECTION, "spot", "network_error", "connection failed"),
        (Fault.GARBAGE, "spot", "unknown", "unparseable response (HTTP 200)"),
        (Fault.TRUNCATED_JSON, "futures", "unknown", "unparseable response (HTTP 200)"),
        (Fault.EMPTY_BODY, "spot", "unknown", "unparseable response (HTTP 200)"),
    ],
)
def test_venue_fault_is_diagnosed_from_its_raw_answer_after_one_request(
    sandbox: SandboxServer, fault: Fault, product: str, code: str, error: str
) -> None:
    key = make_key(sandbox, f"fault-{fault.value}", product=product, fault=fault)
    result = run_key(sandbox, key)
    assert (result.diagnosis, result.exchange_error, result.requests) == (code, error, 1)
    assert_fix_attached(result)


def test_real_rate_limiter_refusals_end_in_a_lockout_that_is_still_rate_limited() -> None:
    policy = RateLimitPolicy(max_counter=1.5, decay_per_s=0.001, violations_before_lockout=2, lockout_s=60)
    with SandboxServer(spot_rate_limit=policy) as server:
        key = make_key(server, "budget")
        first, second, third = (run_key(server, key) for _ in range(3))
    assert [r.diagnosis for r in (first, second, third)] == ["rate_limited"] * 3
    assert first.exchange_error == "EAPI:Rate limit exceeded"
    assert third.exchange_error == "EGeneral:Temporary lockout"


def test_connection_refused_is_a_network_error(sandbox: SandboxServer) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    key = make_key(sandbox, "refused")
    settings = sandbox_settings(sandbox, exchange_urls={"kraken": f"http://127.0.0.1:{closed_port}"})
    result = run_key(sandbox, key, settings=settings)
    assert (result.diagnosis, result.exchange_error, result.requests) == (
        "network_error", "connection refused", 1)


def test_unreachable_egress_proxy_is_a_network_error_not_a_credential_problem(sandbox: SandboxServer) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    key = make_key(sandbox, "proxy-down")
    result = run_key(sandbox, key, settings=sandbox_settings(sandbox, egress_proxy=f"http://127.0.0.1:{closed_port}"))
    assert (result.diagnosis, result.exchange_error) == ("network_error", "egress proxy unreachable")


def test_spot_key_saved_as_futures_is_wrong_product(sandbox: SandboxServer) -> None:
    key = make_key(sandbox, "spot-as-futures")
    result = run_key(sandbox, key, "krakenfutures")
    assert (result.diagnosis, result.detail["accepted_by"]) == ("wrong_product", "kraken")
    assert result.fix["id"] == "krakenfutures-wrong-product"


def test_futures_key_saved_as_spot_is_wrong_product(sandbox: SandboxServer) -> None:
    key = make_key(sandbox, "futures-as-spot", product="futures")
    result = run_key(sandbox, key, "kraken")
    assert (result.diagnosis, result.detail["accepted_by"]) == ("wrong_product", "krakenfutures")
    assert [e.step for e in result.steps][-1] == "sibling"
    assert result.requests == 2


def test_wrong_secret_is_credentials_rejected_after_one_sibling_check(sandbox: SandboxServer) -> None:
    key = make_key(sandbox, "typo")
    other = make_key(sandbox, "typo-other")
    result = run_key(sandbox, key, credentials=Credentials(key.api_key, other.secret))
    assert (result.diagnosis, result.exchange_error) == ("credentials_rejected", "EAPI:Invalid signature")
    assert result.requests == 2
    assert result.fix["id"] == "kraken-credentials-rejected"


def test_mangled_secret_is_malformed_without_a_request(sandbox: SandboxServer) -> None:
    key = make_key(sandbox, "mangled")
    lost_char = key.secret[:10] + key.secret[11:]
    result = run_key(sandbox, key, credentials=Credentials(key.api_key, lost_char))
    assert (result.diagnosis, result.requests) == ("secret_malformed", 0)
    assert sandbox.requests_for(key.api_key) == []
    assert result.fix["id"] == "kraken-secret-malformed"


def test_healthy_futures_key_reads_its_access_levels_in_two_requests(sandbox: SandboxServer) -> None:
    key = make_key(sandbox, "futures", product="futures")
    result = run_key(sandbox, key)
    assert (result.diagnosis, result.outcome, result.requests) == ("ok", "ok", 2)
    assert paths(sandbox, key) == ["accounts", "check"]


def test_read_only_futures_key_misses_the_trading_scopes(sandbox: SandboxServer) -> None:
    read_only = frozenset({Scope.QUERY_FUNDS, Scope.QUERY_OPEN_ORDERS, Scope.QUERY_CLOSED_ORDERS})
    key = make_key(sandbox, "futures-read", product="futures", permissions=read_only)
    result = run_key(sandbox, key)
    assert (result.diagnosis, result.missing_permissions) == ("missing_permission",
                                                              ["create_orders", "cancel_orders"])
    assert result.fix["id"] == "krakenfutures-missing-permission"


def test_read_only_futures_key_is_found_by_probes_when_the_key_check_is_off(sandbox: SandboxServer) -> None:
    read_only = frozenset({Scope.QUERY_FUNDS, Scope.QUERY_OPEN_ORDERS, Scope.QUERY_CLOSED_ORDERS})
    key = make_key(sandbox, "futures-read-probed", product="futures", permissions=read_only,
                   key_info_enabled=False)
    result = run_key(sandbox, key)
    assert (result.diagnosis, result.missing_permissions) == ("missing_permission",
                                                              ["create_orders", "cancel_orders"])
    assert paths(sandbox, key) == ["accounts", "check", "openorders", "fills", "cancelorder"]
    assert_clean_run(sandbox)


def test_futures_key_with_withdrawal_access_is_a_warning(sandbox: SandboxServer) -> None:
    key = make_key(sandbox, "futures-withdraw", product="futures", permissions=STRATEGY | {Scope.WITHDRAW})
    result = run_key(sandbox, key)
    assert (result.diagnosis, result.outcome) == ("withdraw_enabled", "warning")


def test_query_window_that_hides_history_is_flagged(sandbox: SandboxServer) -> None:
    key = make_key(sandbox, "window", query_window=(datetime(2025, 6, 1, tzinfo=UTC), None))
    result = run_key(sandbox, key)
    assert (result.diagnosis, result.outcome) == ("ok", "warning")
    assert any("query window starts 2025-06-01" in w for w in result.warnings)
