"""Whose key it is: customer, practice or internal, at creation and in migration 0005's backfill, and the
rollups that keep each kind apart."""

from __future__ import annotations

import importlib
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from test_fleet_data import add_test, at, make_key, make_user

from nbsupport.console import Console
from nbsupport.credentials import Credentials
from nbsupport.crypto import MasterKeyring
from nbsupport.db.migrate import upgrade
from nbsupport.fleet.kinds import INTERNAL_LIKE, PRACTICE_LIKE, kind_for_email
from nbsupport.fleet.stats.figures import failure_stats
from nbsupport.fleet.stats.rollups import rebuild_rollups
from nbsupport.keys import add_key
from tests.conftest import ON_POSTGRES

EMAILS = {
    "ann@example.com": "customer",
    "practice+expired@noonbarbari.local": "practice",
    "demo.agent@noonbarbari.local": "internal",
    "ops.lead@noonbarbari.com": "internal",
    "practice+x@noonbarbari.com": "internal",
    "someone@noonbarbari.example": "internal",
    "someone@notnoonbarbari.com": "customer",
    "practice+expired@gmail.example": "customer",
}


@pytest.mark.parametrize(("email", "kind"), EMAILS.items())
def test_kind_follows_the_email(email: str, kind: str) -> None:
    assert kind_for_email(email) == kind


def test_the_migrations_sql_rules_match_kind_for_email() -> None:
    migration = importlib.import_module("nbsupport.db.migrations.versions.0005_fleet_kind")
    assert (migration._PRACTICE_LIKE, migration._INTERNAL_LIKE) == (PRACTICE_LIKE, INTERNAL_LIKE)


def test_users_and_their_keys_get_their_kind_when_stored(console: Console, keyring: MasterKeyring) -> None:
    with console.session() as s:
        for i, email in enumerate(EMAILS):
            key = add_key(s, keyring, user_email=email, exchange="kraken",
                          credentials=Credentials(f"Key{i}" * 8, "c2VjcmV0" * 8))
            assert (key.kind, s.get(type(key), key.id).kind) == (EMAILS[email], EMAILS[email])


def test_practice_tests_are_counted_apart_and_left_out_by_default(console: Console) -> None:
    now = at("2026-03-10 12:00")
    with console.session() as s:
        customer = make_key(s, make_user(s))
        practice = make_key(s, make_user(s, "practice+lockout@noonbarbari.local"))
        # In time order, as the engine records them: an episode that went green, then one still open.
        add_test(s, practice, now - timedelta(days=2), "network_error")
        add_test(s, practice, now - timedelta(minutes=31), "ok")
        for minutes in range(29, -1, -1):
            add_test(s, practice, now - timedelta(minutes=minutes), "exchange_unavailable")
        add_test(s, customer, now - timedelta(hours=1), "ok")
    for rebuilt in (False, True):
        if rebuilt:
            rebuild_rollups(console)
        with console.session() as s:
            mine = failure_stats(s, days=7, now=now)
            everyone = failure_stats(s, days=7, now=now, include_non_customer=True)
        assert (mine.total.tests, mine.total.failed, mine.posture.keys) == (1, 0, 1)
        assert (everyone.total.tests, everyone.total.failed, everyone.posture.keys) == (33, 31, 2)
        assert mine.time_to_green.episodes == 0 and everyone.time_to_green.episodes == 1


@pytest.mark.skipif(ON_POSTGRES, reason="one SQLite file stands for any database here")
def test_migration_0005_backfills_kinds_and_moves_practice_counts(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'old.sqlite3'}")
    upgrade(engine, "0002")
    with engine.begin() as c:
        for uid, email in ((1, "ann@example.com"), (2, "practice+expired@noonbarbari.local"),
                           (3, "ops@noonbarbari.com")):
            c.execute(text("INSERT INTO users (id, email, display_name, strategy, created_at) "
                           "VALUES (:i, :e, '', '', '2026-01-01 00:00:00')"), {"i": uid, "e": email})
            c.execute(text(
                "INSERT INTO exchange_keys (id, user_id, exchange, product, label, key_prefix, key_suffix, "
                "fingerprint, has_passphrase, has_uid, created_at, ip_whitelist, required_scopes, status, "
                "last_permissions, credential_blob, credential_version) VALUES (:i, :i, 'kraken', 'spot', "
                "'', 'a', 'b', :f, 0, 0, '2026-01-01 00:00:00', '[]', '[]', 'active', '{}', x'00', 1)"),
                {"i": uid, "f": f"{uid:064x}"})
            for hour, diagnosis in enumerate(["network_error", "ok"]):
                c.execute(text(
                    "INSERT INTO connection_tests (key_id, exchange, started_at, trigger, actor, ticket, "
                    "outcome, diagnosis, missing_scopes, permissions, exchange_error, requests, duration_ms, "
                    "egress_ip, detail) VALUES (:k, 'kraken', :at, 'retest', '', '', :o, :d, '[]', '{}', '', "
                    "1, 1, '', '{}')"),
                    {"k": uid, "at": f"2026-03-01 0{hour}:00:00.000000", "d": diagnosis,
                     "o": "ok" if diagnosis == "ok" else "failed"})
    with engine.begin() as c:
        c.execute(text("INSERT INTO test_rollup_daily SELECT date(started_at), exchange, diagnosis, outcome, "
                       "count(*) FROM connection_tests GROUP BY 1, 2, 3, 4"))
        c.execute(text("INSERT INTO recovery_rollup_daily VALUES ('2026-03-01', 'kraken', 60, 3)"))
    upgrade(engine)
    with engine.connect() as c:
        assert dict(c.execute(text("SELECT email, kind FROM users")).all()) == {
            "ann@example.com": "customer", "practice+expired@noonbarbari.local": "practice",
            "ops@noonbarbari.com": "internal"}
        assert sorted(c.execute(text("SELECT id, kind FROM exchange_keys")).all()) == [
            (1, "customer"), (2, "practice"), (3, "internal")]
        daily = c.execute(text("SELECT key_kind, outcome, n FROM test_rollup_daily ORDER BY 1, 2")).all()
        assert daily == [("customer", "failed", 1), ("customer", "ok", 1), ("internal", "failed", 1),
                         ("internal", "ok", 1), ("practice", "failed", 1), ("practice", "ok", 1)]
        recovery = c.execute(text("SELECT key_kind, minutes, n FROM recovery_rollup_daily ORDER BY 1")).all()
        assert recovery == [("customer", 60, 1), ("internal", 60, 1), ("practice", 60, 1)]
        posture = c.execute(text("SELECT key_kind, sum(n) FROM key_posture_rollup WHERE kind = 'rotation' "
                                 "GROUP BY 1 ORDER BY 1")).all()
        assert posture == [("customer", 1), ("internal", 1), ("practice", 1)]
    engine.dispose()
