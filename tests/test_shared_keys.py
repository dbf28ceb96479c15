"""One API key stored for two users, or twice: found by fingerprint, shown on the key views, warned about
in the re-test (two systems signing with one key clash on its nonces) and counted in the security posture.
Runs on SQLite and, with NBSUPPORT_DATABASE_URL set, on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import delete, inspect, select, update
from test_conntest_support import credentials_of, make_key, sandbox_settings

from nbsupport.audit import Actor
from nbsupport.conntest import run_retest
from nbsupport.console import Console
from nbsupport.credentials import Credentials
from nbsupport.crypto import MasterKeyring
from nbsupport.db.models import ExchangeKey, KeyFingerprintCount
from nbsupport.fleet.stats.figures import security_posture
from nbsupport.keys import SharedKey, add_key, rebuild_fingerprint_counts, shared_with
from nbsupport.lookup import lookup
from nbsupport.sandbox import SandboxServer

API_KEY = "Sh4r3dK3yQz2LmN4pR7sT1vW3yA5bC8dE0gH2jK4mP6rS9uV1xZ3aa"
SECRET = "kQ7w+Zr2/9pLmXbT4vYc1sE8dF0gHjK3nM5qR7tU9wZ2aB4cD6eF8gH0iJ2kL4mN6oP8qR0sT2uV4wX6yZ8aB+/cd=="
AGENT = Actor("agent@noonbarbari.test", "agent")


def store(console: Console, keyring: MasterKeyring, email: str, api_key: str = API_KEY,
          exchange: str = "kraken", credentials: Credentials | None = None) -> tuple[int, int]:
    with console.session() as session:
        row = add_key(session, keyring, user_email=email, exchange=exchange,
                      credentials=credentials or Credentials(api_key, SECRET))
        return row.id, row.user_id


def test_a_key_stored_for_two_users_and_twice_names_every_other_copy(
    console: Console, keyring: MasterKeyring
) -> None:
    first, ann = store(console, keyring, "ann@example.com")
    second, bob = store(console, keyring, "bob@example.com")
    third, _ = store(console, keyring, "ann@example.com")
    alone, _ = store(console, keyring, "ann@example.com", api_key=API_KEY[::-1])
    with console.session() as session:
        assert shared_with(session, first) == [SharedKey(second, bob), SharedKey(third, ann)]
        assert shared_with(session, second) == [SharedKey(first, ann), SharedKey(third, ann)]
        assert shared_with(session, alone) == []
        assert shared_with(session, 999_999) == []


def test_a_revoked_copy_is_no_longer_shared(console: Console, keyring: MasterKeyring) -> None:
    first, _ = store(console, keyring, "ann@example.com")
    second, _ = store(console, keyring, "bob@example.com")
    with console.session() as session:
        session.execute(update(ExchangeKey).where(ExchangeKey.id == second).values(status="revoked"))
    with console.session() as session:
        assert shared_with(session, first) == []


def test_the_fingerprint_lookup_has_its_index_on_this_backend(console: Console) -> None:
    indexes = inspect(console.engine).get_indexes("exchange_keys")
    assert any(ix["column_names"][:1] == ["fingerprint"] for ix in indexes)


def test_lookup_results_carry_the_other_copies(console: Console, keyring: MasterKeyring) -> None:
    store(console, keyring, "ann@example.com")
    second, bob = store(console, keyring, "bob@example.com")
    with console.session() as session:
        found = lookup(session, "ann@example.com")
    (view,) = found.keys
    assert view.shared_with == (SharedKey(second, bob),)
    assert view.as_dict()["shared_with"] == [{"key_id": second, "user_id": bob}]
    assert API_KEY not in repr(view.as_dict())


def test_posture_counts_every_key_whose_api_key_is_stored_more_than_once(
    console: Console, keyring: MasterKeyring
) -> None:
    store(console, keyring, "ann@example.com")
    store(console, keyring, "bob@example.com")
    store(console, keyring, "bob@example.com", exchange="krakenfutures")
    store(console, keyring, "cy@example.com", api_key=API_KEY[::-1])
    today = datetime.now(UTC).date()
    with console.session() as session:
        assert security_posture(session, today).shared == 3
        assert security_posture(session, today, "krakenfutures").shared == 1
        assert security_posture(session, today, "binance").shared == 0


def test_practice_copies_of_a_shared_key_count_only_when_asked_for(
    console: Console, keyring: MasterKeyring
) -> None:
    store(console, keyring, "practice+shared-key@noonbarbari.local")
    store(console, keyring, "practice+shared-key-2@noonbarbari.local")
    today = datetime.now(UTC).date()
    with console.session() as session:
        assert security_posture(session, today).shared == 0
        assert security_posture(session, today, include_non_customer=True).shared == 2


# --- the re-test warns -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer() as server:
        yield server


def test_retest_of_a_shared_key_warns_that_the_copies_clash_on_nonces(
    console: Console, keyring: MasterKeyring, sandbox: SandboxServer
) -> None:
    console.settings = console.settings.model_copy(
        update={"exchange_urls": sandbox_settings(sandbox).exchange_urls, "retest_cooldown_s": 0})
    key = make_key(sandbox, "shared-retest")
    first, _ = store(console, keyring, "ann@example.com", credentials=credentials_of(key))
    second, bob = store(console, keyring, "bob@example.com", credentials=credentials_of(key))
    result = run_retest(console, first, actor=AGENT)
    assert (result.diagnosis, result.outcome) == ("ok", "warning")
    (warning,) = [w for w in result.warnings if "also stored" in w]
    assert f"key {second} (user {bob})" in warning and "nonces" in warning
    alone = make_key(sandbox, "alone-retest")
    single, _ = store(console, keyring, "cy@example.com", credentials=credentials_of(alone))
    assert not any("also stored" in w for w in run_retest(console, single, actor=AGENT).warnings)


def _counts(console: Console) -> dict[str, int]:
    with console.session() as session:
        rows = session.execute(select(KeyFingerprintCount.fingerprint, KeyFingerprintCount.n))
        return {fp: n for fp, n in rows}


def test_fingerprint_counts_kept_by_triggers_equal_a_rebuild(
    console: Console, keyring: MasterKeyring
) -> None:
    first, _ = store(console, keyring, "ann@example.com")
    second, _ = store(console, keyring, "bob@example.com")
    store(console, keyring, "cy@example.com", api_key=API_KEY[::-1])
    gone, _ = store(console, keyring, "dee@example.com", api_key="X" + API_KEY[1:])
    with console.session() as session:
        session.execute(update(ExchangeKey).where(ExchangeKey.id == second).values(status="revoked"))
        session.execute(update(ExchangeKey).where(ExchangeKey.id == first).values(last_outcome="ok"))
        session.execute(delete(ExchangeKey).where(ExchangeKey.id == gone))
    kept = _counts(console)
    assert sorted(kept.values()) == [1, 1]
    with console.session() as session:
        session.execute(update(ExchangeKey).where(ExchangeKey.id == second).values(status="active"))
    assert sorted(_counts(console).values()) == [1, 2]
    with console.session() as session:
        rebuild_fingerprint_counts(session)
    assert sorted(_counts(console).values()) == [1, 2]
