"""What a result claims, through real ccxt clients against the sandbox: who wrote the error (the venue, or our
proxy, client timeout or network), which route it took (none without a request), what each step's status
means (withdraw off is good, key info unavailable is neutral), the reply it carries, and the demo's refusal
of a venue its sandbox does not serve."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select
from test_conntest_support import TIMEOUT_FAULT_S, credentials_of, make_key, run_key, sandbox_settings

from nbsupport.audit import Actor
from nbsupport.conntest import RetestRefused, check_credentials, recorded_tests, run_retest
from nbsupport.console import Console
from nbsupport.credentials import Credentials
from nbsupport.crypto import MasterKeyring
from nbsupport.db.models import ConnectionTest
from nbsupport.diagnosis import KRAKEN_SCOPE_LABELS, PLATFORM_EGRESS_IP, STRATEGY_SCOPES, Scope
from nbsupport.keys import add_key
from nbsupport.sandbox import EgressProxy, Fault, SandboxServer
from nbsupport.sandbox.cast import DEMO_EGRESS_IP, FOREIGN_IP, derived_secret

STRATEGY = frozenset(STRATEGY_SCOPES)
AGENT = Actor("agent@noonbarbari.test", "agent")


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(timeout_fault_s=TIMEOUT_FAULT_S) as server:
        yield server


@pytest.fixture(scope="module")
def proxy() -> Iterator[EgressProxy]:
    with EgressProxy(DEMO_EGRESS_IP) as egress:
        yield egress


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# --- who wrote the error --------------------------------------------------------------------------------


def test_a_venue_error_is_the_venues_own_text(sandbox: SandboxServer) -> None:
    result = run_key(sandbox, make_key(sandbox, "venue-words", fault=Fault.SERVICE_UNAVAILABLE))
    assert (result.exchange_error, result.error_source) == ("EService:Unavailable", "venue")
    assert result.error_text == ""
    assert result.as_dict()["error_source"] == "venue"


def test_a_refused_key_is_quoted_from_the_venue(sandbox: SandboxServer) -> None:
    key = make_key(sandbox, "wrong-secret-words")
    result = run_key(sandbox, key, credentials=Credentials(key.api_key, derived_secret("another")))
    assert result.diagnosis == "credentials_rejected"
    assert (result.exchange_error, result.error_source) == ("EAPI:Invalid signature", "venue")


def test_an_unreachable_egress_proxy_is_named_as_ours(sandbox: SandboxServer) -> None:
    settings = sandbox_settings(sandbox, egress_proxy=f"http://127.0.0.1:{closed_port()}")
    result = run_key(sandbox, make_key(sandbox, "proxy-words"), settings=settings)
    assert (result.exchange_error, result.error_source) == ("egress proxy unreachable", "console")
    assert result.error_text == "Our egress proxy could not connect to the exchange"


def test_a_client_timeout_is_named_as_ours_with_the_configured_wait(sandbox: SandboxServer) -> None:
    result = run_key(sandbox, make_key(sandbox, "timeout-words", fault=Fault.TIMEOUT))
    assert (result.exchange_error, result.error_source) == ("timeout", "console")
    assert result.error_text.startswith("No answer from the exchange within 0.7 s")


def test_a_refused_connection_is_named_as_ours(sandbox: SandboxServer) -> None:
    settings = sandbox_settings(sandbox, exchange_urls={"kraken": f"http://127.0.0.1:{closed_port()}"})
    result = run_key(sandbox, make_key(sandbox, "refused-words"), settings=settings)
    assert (result.exchange_error, result.error_source) == ("connection refused", "console")
    assert "Our connection" in result.error_text


def test_a_result_without_an_error_has_no_source(sandbox: SandboxServer) -> None:
    result = run_key(sandbox, make_key(sandbox, "no-error"))
    assert (result.exchange_error, result.error_source, result.error_text) == ("", None, "")


# --- route ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", ["mangled", "expired"])
def test_a_result_without_requests_claims_no_route(
    sandbox: SandboxServer, proxy: EgressProxy, case: str
) -> None:
    key = make_key(sandbox, f"no-route-{case}")
    settings = sandbox_settings(sandbox, egress_proxy=proxy.url, egress_ip=DEMO_EGRESS_IP)
    if case == "mangled":
        result = run_key(sandbox, key, settings=settings,
                         credentials=Credentials(key.api_key, key.secret[:-4] + " " + key.secret[-3:]))
    else:
        expired = {"expires_at": datetime(2024, 1, 1, tzinfo=UTC)}
        result = run_key(sandbox, key, settings=settings, meta=expired)
    assert result.requests == 0
    assert result.egress_ip == "" and result.as_dict()["egress_ip"] is None


def test_a_test_that_left_through_the_proxy_names_the_configured_egress(
    sandbox: SandboxServer, proxy: EgressProxy
) -> None:
    settings = sandbox_settings(sandbox, egress_proxy=proxy.url, egress_ip=DEMO_EGRESS_IP)
    result = run_key(sandbox, make_key(sandbox, "routed"), settings=settings)
    assert result.requests == 2 and result.as_dict()["egress_ip"] == DEMO_EGRESS_IP


# --- step statuses --------------------------------------------------------------------------------------


def steps_of(result: object) -> dict[str, tuple[str, str]]:
    return {s.step: (s.status, s.detail) for s in result.steps}  # type: ignore[attr-defined]


def test_a_healthy_key_without_key_info_has_no_failed_step(sandbox: SandboxServer) -> None:
    result = run_key(sandbox, make_key(sandbox, "no-key-info", key_info_enabled=False))
    assert (result.outcome, result.diagnosis) == ("ok", "ok")
    steps = steps_of(result)
    assert [step for step, (status, _) in steps.items() if status == "failed"] == []
    assert steps["key_info"][0] == "skipped" and "does not report its settings" in steps["key_info"][1]
    assert steps["scope:withdraw"] == ("ok", "missing")
    assert steps["scope:query_closed_orders"] == ("ok", "granted")


def test_withdraw_found_by_a_probe_is_a_warning_step(sandbox: SandboxServer) -> None:
    key = make_key(sandbox, "probe-withdraw", key_info_enabled=False, permissions=STRATEGY | {Scope.WITHDRAW})
    result = run_key(sandbox, key)
    assert result.diagnosis == "withdraw_enabled"
    assert steps_of(result)["scope:withdraw"] == ("warning", "granted")


def test_a_missing_required_scope_found_by_a_probe_is_a_failed_step(sandbox: SandboxServer) -> None:
    scopes = STRATEGY - {Scope.CREATE_ORDERS}
    key = make_key(sandbox, "probe-missing", key_info_enabled=False, permissions=scopes)
    result = run_key(sandbox, key)
    assert result.diagnosis == "missing_permission"
    assert steps_of(result)["scope:create_orders"] == ("failed", "missing")


# --- the fix and the reply a result carries -------------------------------------------------------------


def test_an_ip_refusal_speaks_of_the_configured_egress_address(
    sandbox: SandboxServer, proxy: EgressProxy
) -> None:
    key = make_key(sandbox, "ip-words", ip_allowlist=(FOREIGN_IP,))
    settings = sandbox_settings(sandbox, egress_proxy=proxy.url, egress_ip=DEMO_EGRESS_IP)
    result = run_key(sandbox, key, settings=settings)
    assert result.diagnosis == "ip_not_allowed"
    fix_text = " ".join([result.fix["title"], *result.fix["steps"], result.fix["customer_reply"]])
    assert DEMO_EGRESS_IP in result.fix["customer_reply"] and PLATFORM_EGRESS_IP not in fix_text


def test_a_missing_permission_reply_names_only_what_is_missing(sandbox: SandboxServer) -> None:
    key = make_key(sandbox, "missing-words", permissions=STRATEGY - {Scope.QUERY_CLOSED_ORDERS})
    reply = run_key(sandbox, key).fix["customer_reply"]
    assert KRAKEN_SCOPE_LABELS[Scope.QUERY_CLOSED_ORDERS] in reply
    assert [KRAKEN_SCOPE_LABELS[s] for s in STRATEGY_SCOPES if KRAKEN_SCOPE_LABELS[s] in reply] == [
        KRAKEN_SCOPE_LABELS[Scope.QUERY_CLOSED_ORDERS]]


def test_a_green_result_carries_a_your_key_works_reply(sandbox: SandboxServer) -> None:
    result = run_key(sandbox, make_key(sandbox, "green-words"))
    assert result.outcome == "ok" and "works" in result.fix["customer_reply"]


# --- demo honesty ---------------------------------------------------------------------------------------


def test_demo_mode_refuses_a_venue_its_sandbox_does_not_serve_before_any_request(
    sandbox: SandboxServer
) -> None:
    settings = sandbox_settings(sandbox, demo=True)
    with pytest.raises(RetestRefused) as refused:
        check_credentials("binance", Credentials("a" * 64, "b" * 64), None, settings)
    assert refused.value.reason == "venue_not_served" and refused.value.retry_after_s == 0
    assert "the demo sandbox does not serve binance" in str(refused.value)


def test_demo_mode_still_tests_the_venues_it_serves(sandbox: SandboxServer) -> None:
    result = run_key(sandbox, make_key(sandbox, "demo-served"), settings=sandbox_settings(sandbox, demo=True))
    assert result.diagnosis == "ok"


def test_outside_demo_mode_every_venue_is_tested(sandbox: SandboxServer) -> None:
    settings = sandbox_settings(sandbox, exchange_urls={"binance": f"http://127.0.0.1:{closed_port()}"})
    result = check_credentials("binance", Credentials("a" * 64, "b" * 64), None, settings)
    assert (result.diagnosis, result.error_source) == ("network_error", "console")


def test_a_demo_refusal_records_nothing_against_the_key(
    console: Console, keyring: MasterKeyring, sandbox: SandboxServer
) -> None:
    served = sandbox_settings(sandbox).model_dump(include={"exchange_urls", "request_timeout_ms",
                                                           "retest_cooldown_s"})
    console.settings = console.settings.model_copy(update={"demo": True, **served})
    with console.session() as session:
        binance = add_key(session, keyring, user_email="demo@example.com", exchange="binance",
                          credentials=Credentials("a" * 64, "b" * 64)).id
        kraken = add_key(session, keyring, user_email="demo@example.com", exchange="kraken",
                         credentials=credentials_of(make_key(sandbox, "demo-db"))).id
    with pytest.raises(RetestRefused):
        run_retest(console, binance, actor=AGENT, ticket="ZD-1")
    assert run_retest(console, kraken, actor=AGENT, ticket="ZD-1").diagnosis == "ok"
    with console.session() as session:
        query = select(ConnectionTest.key_id, func.count()).group_by(ConnectionTest.key_id)
        rows = {key: n for key, n in session.execute(query).all()}
    assert rows == {kraken: 1}
    # The lease was given back: a second attempt is refused for the venue again, not as "already running".
    with pytest.raises(RetestRefused) as again:
        run_retest(console, binance, actor=AGENT, ticket="ZD-1")
    assert again.value.reason == "venue_not_served"


def test_a_recorded_result_keeps_who_spoke_its_route_and_its_reply(
    console: Console, keyring: MasterKeyring, sandbox: SandboxServer
) -> None:
    console.settings = console.settings.model_copy(update=sandbox_settings(sandbox).model_dump(
        include={"exchange_urls", "request_timeout_ms", "retest_cooldown_s"}))
    key = make_key(sandbox, "recorded-timeout", fault=Fault.TIMEOUT)
    with console.session() as session:
        key_id = add_key(session, keyring, user_email="rec@example.com", exchange="kraken",
                         credentials=credentials_of(key)).id
    live = run_retest(console, key_id, actor=AGENT, ticket="ZD-2")
    with console.session() as session:
        (record,) = recorded_tests(session, key_id)
    assert (record.result.error_source, record.result.error_text) == ("console", live.error_text)
    assert record.result.customer_reply == live.fix["customer_reply"] and "Kraken" in live.customer_reply
