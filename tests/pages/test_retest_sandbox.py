"""The key page's Re-test with the real connection-test engine against the loopback sandbox venue."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select
from streamlit.testing.v1 import AppTest

from nbsupport import config
from nbsupport.audit import Action
from nbsupport.console import Console
from nbsupport.credentials import Credentials
from nbsupport.crypto import MasterKeyring
from nbsupport.db.models import ConnectionTest, ExchangeKey
from nbsupport.diagnosis import PLATFORM_EGRESS_IP
from nbsupport.keys import add_key
from nbsupport.sandbox import CastMember, EgressProxy, SandboxServer, demo_cast
from nbsupport.sandbox.cast import DEMO_EGRESS_IP
from nbsupport.ui.links import key_url
from tests.pages.support import (
    EMAILS,
    audit_rows,
    finish_retests,
    messages,
    open_app,
    rendered,
    set_ticket,
)
from tests.sandbox_fixtures import running_sandbox

pytestmark = pytest.mark.usefixtures("app_env")


@pytest.fixture
def sandbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[SandboxServer]:
    with running_sandbox() as server:
        origins = {"kraken": server.origin, "krakenfutures": server.origin}
        monkeypatch.setenv("NBSUPPORT_EXCHANGE_URLS", json.dumps(origins))
        config.get_settings.cache_clear()
        yield server


def store(console: Console, keyring: MasterKeyring, case: str) -> tuple[int, CastMember]:
    member = next(m for m in demo_cast() if m.name == case)
    with console.session() as s:
        row = add_key(s, keyring, user_email=f"{case}@example.com", exchange=member.claimed_exchange,
                      credentials=Credentials(member.api_key, member.secret), label=case)
        return row.id, member


def test_real_retest_reaches_the_casts_diagnosis_and_is_audited_once(
    sandbox: SandboxServer, console: Console, keyring: MasterKeyring
) -> None:
    key_id, member = store(console, keyring, "missing-closed-orders")
    at = open_app("pages/key_detail.py", {"key": str(key_id)})
    set_ticket(at, "ZD-500")
    next(b for b in at.button if b.label == "Re-test").click()
    at.run(timeout=60)
    finish_retests(console, at)
    assert not at.exception
    assert any("Red: the key does not work" in e.value and "missing_permission" in e.value for e in at.error)
    text = rendered(at)
    assert "✅ **Preflight" in text and "✅ **Key info" in text
    assert "⏳" not in text  # every step that started also finished
    assert member.api_key not in text and member.secret not in text
    rows = audit_rows(console, Action.KEY_RETEST)
    assert [(r.actor, r.ticket, r.subject_key_id, r.result) for r in rows] == [
        (EMAILS["agent"], "ZD-500", key_id, "missing_permission")]
    # The refreshed card shows what the test saw.
    assert ":red-badge[query closed orders missing]" in text

    next(b for b in at.button if b.label == "Re-test").click()
    at.run(timeout=60)
    finish_retests(console, at)
    assert "Re-test refused" in messages(at)
    assert messages(at).count("Try again in") == 1
    assert any("Red: the key does not work" in e.value for e in at.error)  # the verdict stays
    assert [r.result for r in audit_rows(console, Action.KEY_RETEST)][1:] == ["refused: cooldown"]


def retest_key(console: Console, key_id: int, ticket: str) -> AppTest:
    at = open_app("pages/key_detail.py", {"key": str(key_id)})
    set_ticket(at, ticket)
    next(b for b in at.button if b.label == "Re-test").click()
    at.run(timeout=60)
    finish_retests(console, at)
    assert not at.exception
    return at


def verdict_box(at: AppTest) -> str:
    boxes = [e.value for kind in ("success", "warning", "error") for e in getattr(at, kind)
             if "the key" in e.value and ("Green" in e.value or "Amber" in e.value or "Red" in e.value)]
    assert len(boxes) == 1, boxes
    return boxes[0]


def codes(at: AppTest) -> list[str]:
    """Code blocks other than the key's copy-link address."""
    return [c.value for c in at.code if "/key_detail?key=" not in c.value]


@pytest.fixture
def routed(monkeypatch: pytest.MonkeyPatch, sandbox: SandboxServer) -> Iterator[str]:
    """Re-tests leave through an egress proxy on 127.0.0.2, the configured egress address (as scripts/run)."""
    with EgressProxy(DEMO_EGRESS_IP) as proxy:
        monkeypatch.setenv("NBSUPPORT_EGRESS_PROXY", proxy.url)
        monkeypatch.setenv("NBSUPPORT_EGRESS_IP", DEMO_EGRESS_IP)
        config.get_settings.cache_clear()
        yield DEMO_EGRESS_IP


def test_a_green_retest_without_key_info_lists_its_steps_in_words_without_red_marks(
    sandbox: SandboxServer, console: Console, keyring: MasterKeyring
) -> None:
    key_id, _ = store(console, keyring, "healthy-spot-no-key-info")
    at = retest_key(console, key_id, "ZD-401")
    assert verdict_box(at).startswith("**Green")
    text = rendered(at)
    assert "❌" not in text
    assert "**Scope withdraw** · off — not needed \\\\(good\\\\)" in text
    assert "**Key info \\\\(permissions the venue reports\\\\)** · not available here" in text
    assert "**Scope query closed orders** · granted" in text
    assert any(c.startswith("Hi! Good news: your Kraken key works") for c in codes(at))


def test_an_ip_refusal_shows_the_configured_egress_address_in_verdict_fix_and_reply(
    routed: str, console: Console, keyring: MasterKeyring
) -> None:
    key_id, _ = store(console, keyring, "ip-restricted")
    at = retest_key(console, key_id, "ZD-601")
    said = verdict_box(at)
    assert "ip_not_allowed" in said and f"via {routed}" in said.replace("\\", "")
    text = rendered(at)
    assert PLATFORM_EGRESS_IP not in text
    assert codes(at) and all(routed in c for c in codes(at))


@pytest.mark.parametrize("case", ["expired", "clipboard-mangled-secret"])
def test_a_result_without_requests_claims_no_route(
    routed: str, console: Console, keyring: MasterKeyring, case: str
) -> None:
    key_id, _ = store(console, keyring, case)
    if case == "expired":  # as the demo stores it: with its expiry, so preflight stops before a request
        with console.session() as s:
            s.get(ExchangeKey, key_id).expires_at = datetime(2024, 6, 30, tzinfo=UTC)  # type: ignore[union-attr]
    said = verdict_box(retest_key(console, key_id, "ZD-602"))
    assert "0 requests" in said and "via" not in said


def test_a_timeout_is_named_as_ours_not_quoted_as_the_exchange(
    sandbox: SandboxServer, console: Console, keyring: MasterKeyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NBSUPPORT_REQUEST_TIMEOUT_MS", "700")
    config.get_settings.cache_clear()
    key_id, _ = store(console, keyring, "timeout")
    said = verdict_box(retest_key(console, key_id, "ZD-501")).replace("\\", "")
    assert "Exchange said" not in said
    assert "No answer from the exchange within 0.7 s" in said and "our side" in said


def test_a_venue_error_is_quoted_as_the_exchange(
    sandbox: SandboxServer, console: Console, keyring: MasterKeyring
) -> None:
    key_id, _ = store(console, keyring, "service-unavailable")
    assert "Exchange said: `EService:Unavailable`" in verdict_box(retest_key(console, key_id, "ZD-502"))


def test_a_missing_permission_reply_names_only_the_missing_permission(
    sandbox: SandboxServer, console: Console, keyring: MasterKeyring
) -> None:
    key_id, _ = store(console, keyring, "missing-create-orders")
    at = retest_key(console, key_id, "ZD-701")
    replies = [c for c in codes(at) if "Create & Modify Orders" in c]
    # The reply under the verdict and the one on the latest diagnosis's fix card are both the result's own.
    assert len(replies) == 2
    assert all("tick: Create & Modify Orders." in r and "Query Funds" not in r for r in replies)
    assert any(c.value.endswith(key_url(key_id)) for c in at.code)  # "Copy link for the ticket"


def test_a_demo_key_of_a_venue_the_sandbox_does_not_serve_is_refused_and_nothing_recorded(
    sandbox: SandboxServer, console: Console, keyring: MasterKeyring
) -> None:
    with console.session() as s:
        key_id = add_key(s, keyring, user_email="demo-binance@example.com", exchange="binance",
                         credentials=Credentials("b" * 64, "c" * 64), label="binance demo").id
    at = retest_key(console, key_id, "ZD-503")
    text = messages(at)
    assert "the demo sandbox does not serve binance" in text and "nothing is recorded" in text
    assert "Exchange said" not in rendered(at) and "Red: the key" not in text
    with console.session() as s:
        assert s.scalar(select(func.count()).select_from(ConnectionTest)) == 0
    assert [(r.result, r.ticket) for r in audit_rows(console, Action.KEY_RETEST)] == [
        ("refused: venue_not_served", "ZD-503")]
