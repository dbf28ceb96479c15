"""Kraken's documented shapes, read by the real ccxt clients against the sandbox: the Futures key check's
`{general, transfer}` access levels, GetApiKeyInfo's encodings, and key settings that cannot be read after
the balance call worked."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from test_conntest_support import TIMEOUT_FAULT_S, make_key, paths, run_key

from nbsupport.conntest.classify import Egress, Evidence, key_settings_findings, verdict
from nbsupport.credentials import Credentials
from nbsupport.diagnosis import STRATEGY_SCOPES, Diagnosis, Scope, ScopeState
from nbsupport.sandbox import Fault, SandboxServer, demo_cast, wire
from nbsupport.venues import kraken_facts as facts
from nbsupport.venues.base import ErrorKind
from nbsupport.venues.kraken import kraken_error_kind, parse_key_info
from nbsupport.venues.krakenfutures import ERROR_KINDS, parse_key_check

STRATEGY = frozenset(STRATEGY_SCOPES)
READ_ONLY = frozenset({Scope.QUERY_FUNDS, Scope.QUERY_OPEN_ORDERS, Scope.QUERY_CLOSED_ORDERS})
NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(timeout_fault_s=TIMEOUT_FAULT_S) as server:
        server.add_cast(demo_cast())
        yield server


def check_body(general: str, transfer: str, blocks: list[str] | None = None) -> dict[str, object]:
    """CheckedV3ApiKeyDetails as documented (facts.FUTURES_KEY_CHECK_DOC)."""
    return {
        "apiKey": "pub", "accountUid": "8a4b6c1e-0000-4000-8000-000000000000", "iiban": "AA12 3456 7890 ABCD",
        "createdAt": "2025-01-15T09:30:00Z", "permissions": {"general": general, "transfer": transfer},
        "allowedCidrBlock": (blocks or [None])[0], "allowedCidrBlocks": blocks or [],
    }


# --- the Futures key check ----------------------------------------------------------------------------------


def test_futures_transfer_full_access_reads_as_withdraw_granted() -> None:
    info = parse_key_check(check_body("FULL_ACCESS", "FULL_ACCESS"))
    assert info.scopes[Scope.WITHDRAW] is ScopeState.GRANTED
    assert {info.scopes[s] for s in STRATEGY_SCOPES} == {ScopeState.GRANTED}


@pytest.mark.parametrize("transfer", ["NO_ACCESS", "READ_ONLY"])
def test_futures_transfer_below_full_access_reads_as_withdraw_missing(transfer: str) -> None:
    assert parse_key_check(check_body("FULL_ACCESS", transfer)).scopes[Scope.WITHDRAW] is ScopeState.MISSING


def test_futures_general_read_only_grants_reading_and_misses_trading() -> None:
    scopes = parse_key_check(check_body("READ_ONLY", "NO_ACCESS")).scopes
    assert {s for s, state in scopes.items() if state is ScopeState.GRANTED} == READ_ONLY
    assert scopes[Scope.CREATE_ORDERS] is scopes[Scope.CANCEL_ORDERS] is ScopeState.MISSING


def test_futures_general_no_access_misses_every_scope() -> None:
    scopes = parse_key_check(check_body("NO_ACCESS", "NO_ACCESS")).scopes
    assert set(scopes.values()) == {ScopeState.MISSING}


def test_futures_access_level_outside_the_documented_enum_is_unknown_not_missing() -> None:
    scopes = parse_key_check(check_body("SOMETHING_NEW", "NO_ACCESS")).scopes
    assert scopes[Scope.CREATE_ORDERS] is ScopeState.UNKNOWN
    assert scopes[Scope.WITHDRAW] is ScopeState.MISSING


def test_futures_allowed_cidr_blocks_are_the_allowlist() -> None:
    info = parse_key_check(check_body("FULL_ACCESS", "NO_ACCESS", ["203.0.113.0/24"]))
    assert (info.ip_allowlist, info.ip_restricted) == (["203.0.113.0/24"], True)


def test_futures_key_with_transfer_full_access_is_withdraw_enabled(sandbox: SandboxServer) -> None:
    key = make_key(sandbox, "fut-transfer", product="futures", permissions=STRATEGY | {Scope.WITHDRAW})
    result = run_key(sandbox, key)
    assert (result.diagnosis, result.outcome) == ("withdraw_enabled", "warning")
    assert result.permissions["withdraw"] == "granted"
    assert result.detail["key_settings"]["transfer_access"] == "FULL_ACCESS"
    assert paths(sandbox, key) == ["accounts", "check"]


def test_futures_key_with_general_read_only_misses_the_trade_scopes(sandbox: SandboxServer) -> None:
    key = make_key(sandbox, "fut-read-only", product="futures", permissions=READ_ONLY)
    result = run_key(sandbox, key)
    assert (result.diagnosis, result.missing_permissions) == ("missing_permission",
                                                              ["create_orders", "cancel_orders"])
    assert result.detail["key_settings"]["general_access"] == "READ_ONLY"
    assert paths(sandbox, key) == ["accounts", "check"]


def test_futures_key_check_refusal_in_the_documented_401_shape_reads_as_refused_credentials(
    sandbox: SandboxServer,
) -> None:
    key = make_key(sandbox, "fut-known", product="futures")
    stranger = make_key(sandbox, "fut-other-secret", product="futures")
    # The key exists, the secret is another key's: accounts and the key check both refuse it.
    result = run_key(sandbox, key, credentials=Credentials(key.api_key, stranger.secret))
    assert result.diagnosis == Diagnosis.CREDENTIALS_REJECTED
    key_info = next(s for s in result.steps if s.step == "key_info")
    assert (key_info.status, key_info.detail) == ("failed", "auth: authenticationError (invalidSignature)")
    check = next(e for e in sandbox.requests_for(key.api_key) if e.path.endswith("/check"))
    assert (check.status, check.error) == (401, facts.FUTURES_KEY_CHECK_401_ERROR)


# --- key settings that cannot be read after a good balance --------------------------------------------------

UNREADABLE = [Fault.HTML_404, Fault.HTML_502, Fault.SERVICE_UNAVAILABLE, Fault.GARBAGE, Fault.TRUNCATED_JSON]


@pytest.mark.parametrize("fault", UNREADABLE, ids=[f.value for f in UNREADABLE])
def test_unreadable_spot_key_info_after_a_good_balance_falls_back_to_probes(
    sandbox: SandboxServer, fault: Fault
) -> None:
    key = make_key(sandbox, f"spot-info-{fault.value}", key_info_fault=fault)
    result = run_key(sandbox, key)
    assert (result.diagnosis, result.outcome) == ("ok", "warning")
    assert result.permissions == {s.value: "granted" for s in STRATEGY_SCOPES} | {"withdraw": "missing"}
    assert paths(sandbox, key) == ["Balance", "GetApiKeyInfo", "OpenOrders", "ClosedOrders", "AddOrder",
                                   "CancelOrder", "WithdrawInfo"]
    assert any(w.startswith("key settings were unavailable") for w in result.warnings), result.warnings


@pytest.mark.parametrize("fault", UNREADABLE, ids=[f.value for f in UNREADABLE])
def test_unreadable_futures_key_check_after_a_good_balance_falls_back_to_probes(
    sandbox: SandboxServer, fault: Fault
) -> None:
    key = make_key(sandbox, f"fut-info-{fault.value}", product="futures", key_info_fault=fault)
    result = run_key(sandbox, key)
    assert (result.diagnosis, result.outcome) == ("ok", "warning")
    assert paths(sandbox, key) == ["accounts", "check", "openorders", "fills", "cancelorder"]
    assert any(w.startswith("key settings were unavailable") for w in result.warnings), result.warnings


def test_unreadable_key_info_still_finds_a_missing_permission_by_probing(sandbox: SandboxServer) -> None:
    key = make_key(sandbox, "spot-info-missing", key_info_fault=Fault.HTML_404,
                   permissions=STRATEGY - {Scope.CANCEL_ORDERS})
    result = run_key(sandbox, key)
    assert (result.diagnosis, result.missing_permissions) == ("missing_permission", ["cancel_orders"])


def test_spot_unknown_method_on_key_info_is_probed_without_alarm(sandbox: SandboxServer) -> None:
    # Some regions answer GetApiKeyInfo with EGeneral:Unknown method: probing is the plan there.
    key = make_key(sandbox, "spot-unknown-method", key_info_enabled=False)
    result = run_key(sandbox, key)
    assert (result.diagnosis, result.outcome) == ("ok", "ok")
    key_info = next(s for s in result.steps if s.step == "key_info")
    # Neutral, not failed: the region has no such call, and each permission is probed instead.
    assert key_info.status == "skipped" and facts.SPOT_UNKNOWN_METHOD in key_info.detail
    assert "OpenOrders" in paths(sandbox, key)


def test_a_rate_limit_on_key_info_still_stops_the_plan(sandbox: SandboxServer) -> None:
    key = make_key(sandbox, "spot-info-429", key_info_fault=Fault.HTTP_429)
    result = run_key(sandbox, key)
    assert (result.diagnosis, paths(sandbox, key)) == ("rate_limited", ["Balance", "GetApiKeyInfo"])


# --- GetApiKeyInfo's documented encodings and the expiry it implies -----------------------------------------


def _evidence() -> Evidence:
    return Evidence(required=list(STRATEGY_SCOPES), egress=Egress(via_proxy=True, egress_ip="51.38.112.198"),
                    now=NOW)


def test_valid_until_in_the_past_is_key_expired() -> None:
    info = parse_key_info({"permissions": [], "validUntil": str(int((NOW - timedelta(hours=1)).timestamp()))})
    evidence = _evidence()
    key_settings_findings(evidence, info)
    assert verdict(evidence).diagnosis is Diagnosis.KEY_EXPIRED


def test_zero_valid_until_and_query_window_mean_unset() -> None:
    info = parse_key_info({"permissions": ["query-funds"], "validUntil": "0", "queryFrom": "0",
                           "queryTo": "0", "ipAllowlist": [], "nonceWindow": 0})
    assert (info.expires_at, info.query_from, info.query_to) == (None, None, None)
    assert (info.ip_allowlist, info.ip_restricted, info.nonce_window) == ([], False, 0)


def test_documented_permission_names_map_to_scopes() -> None:
    names = ["query-funds", "query-open-trades", "query-closed-trades", "modify-trades", "close-trades",
             "withdraw-funds"]
    assert set(parse_key_info({"permissions": names}).scopes.values()) == {ScopeState.GRANTED}


def test_expired_spot_key_is_refused_as_an_invalid_key_and_told_only_by_the_stored_expiry(
    sandbox: SandboxServer,
) -> None:
    past = datetime(2024, 6, 30, tzinfo=UTC)
    key = make_key(sandbox, "spot-expired", expires_at=past)
    unknown_expiry = run_key(sandbox, key)
    assert (unknown_expiry.diagnosis, unknown_expiry.exchange_error) == ("credentials_rejected",
                                                                         facts.SPOT_INVALID_KEY)
    stored_expiry = run_key(sandbox, key, meta={"expires_at": past})
    assert (stored_expiry.diagnosis, stored_expiry.requests) == ("key_expired", 0)


# --- one table per venue, read by the engine and answered by the sandbox -----------------------------------


def test_every_documented_futures_error_name_has_a_kind() -> None:
    assert set(facts.FUTURES_ERROR_NAMES) - set(ERROR_KINDS) == set()
    assert ERROR_KINDS[facts.FUTURES_AUTHENTICATION_ERROR] is ErrorKind.AUTH
    assert ERROR_KINDS[facts.FUTURES_UNAVAILABLE] is ErrorKind.UNAVAILABLE


def test_spot_reads_what_the_sandbox_answers_for_each_documented_refusal() -> None:
    assert kraken_error_kind(wire.SPOT_KEY_EXPIRED) is ErrorKind.AUTH  # expired = invalid key
    assert wire.SPOT_IP_NOT_ALLOWED == facts.SPOT_IP_NOT_ALLOWED_ANSWER  # the one unconfirmed fact
    assert kraken_error_kind(wire.SPOT_IP_NOT_ALLOWED) is ErrorKind.DENIED
    assert kraken_error_kind(facts.SPOT_UNKNOWN_METHOD) is ErrorKind.NOT_SUPPORTED
    assert kraken_error_kind(facts.SPOT_TEMPORARY_LOCKOUT) is ErrorKind.LOCKOUT
