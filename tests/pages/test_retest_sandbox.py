"""The key page's Re-test with the real connection-test engine against the loopback sandbox venue."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from nbsupport import config
from nbsupport.console import Console
from nbsupport.credentials import Credentials
from nbsupport.crypto import MasterKeyring
from nbsupport.keys import add_key
from nbsupport.sandbox import CastMember, SandboxServer, demo_cast
from tests.pages.support import EMAILS, audit_rows, finish_retests, messages, open_app, rendered, set_ticket
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
    rows = audit_rows(console, "key.retest")
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
    assert [r.result for r in audit_rows(console, "key.retest")][1:] == ["refused: cooldown"]
