"""The connection-test engine: re-test a stored key and say exactly what is wrong and what to do.

`run_retest()` is what pages, the CLI and bulk re-tests call; `test_credentials()` runs the same plan
without the database (tests, benchmarks). The probe plan and its request cost are documented in
`nbsupport.conntest.runner`, the diagnosis rules in `nbsupport.conntest.classify`.

Thread-safe: each call builds and closes its own ccxt client; calls for different keys run in parallel,
calls for one key are serialised by the lease in `retest_leases` (others get `RetestRefused`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import suppress

from nbsupport.audit import Actor
from nbsupport.conntest.locks import drop_lease, new_holder, release, running, take_lease
from nbsupport.conntest.persist import TestRecord, key_meta, record_result, test_history
from nbsupport.conntest.result import KeyMeta, ProgressEvent, RetestRefused, TestResult
from nbsupport.conntest.runner import test_credentials
from nbsupport.conntest.scope_probe import ScopeProbeResult, probe_scope
from nbsupport.console import Console
from nbsupport.db.engine import DatabaseUnavailable
from nbsupport.db.models import ExchangeKey
from nbsupport.keys import KeyInputError, open_credentials
from nbsupport.venues.client import guard_ccxt_logger

# Writing a result: attempts when another writer holds the lock, and the pause before the next one.
RECORD_ATTEMPTS = 3
RECORD_RETRY_S = 0.2


def run_retest(
    console: Console,
    key_id: int,
    *,
    actor: Actor,
    ticket: str = "",
    trigger: str = "retest",
    progress: Callable[[ProgressEvent], None] | None = None,
    ignore_cooldown: bool = False,
) -> TestResult:
    """Test a stored key; record the result (test row, key's last_* fields, audit event) in one transaction.

    Raises KeyInputError (no such key), CryptoError (no master key / cannot decrypt; nothing recorded) or
    RetestRefused (a test of this key is running, or ran less than `retest_cooldown_s` ago).
    """
    guard_ccxt_logger()
    settings = console.settings
    with running(new_holder()) as holder:
        # One transaction takes the lease and opens the credentials; one records the result and frees it.
        with console.session() as session:
            row = session.get(ExchangeKey, key_id)
            if row is None:
                raise KeyInputError(f"no exchange key with id {key_id}")
            meta = key_meta(row)
            keyring = console.keyring()
            take_lease(session, settings, key_id, holder, ignore_cooldown=ignore_cooldown)
            credentials = open_credentials(session, keyring, key_id)
        try:
            try:
                result = test_credentials(meta.exchange, credentials, meta, settings, progress)
            finally:
                del credentials
            test_id = _record(console, key_id, holder, result, actor=actor, ticket=ticket, trigger=trigger)
        except BaseException:
            # Nothing was recorded, so the lease is still held; if the database is down this release fails
            # too, and the next caller takes the lease over (its holder is no longer running).
            with suppress(Exception):
                release(console, key_id, holder)
            raise
        result.test_id = test_id
    return result


def _record(console: Console, key_id: int, holder: str, result: TestResult, *, actor: Actor, ticket: str,
            trigger: str) -> int:
    """Store the result and free the lease in one transaction. The venue was already asked, so a write
    that only waited too long for another writer's lock is tried again rather than the test lost."""
    for attempt in range(1, RECORD_ATTEMPTS + 1):
        try:
            with console.session() as session:
                row = session.get(ExchangeKey, key_id)
                if row is None:
                    raise KeyInputError(f"exchange key {key_id} was deleted during its test")
                test = record_result(session, row, result, actor=actor, ticket=ticket, trigger=trigger)
                drop_lease(session, key_id, holder)
                return test.id
        except DatabaseUnavailable as exc:
            if not exc.busy or attempt == RECORD_ATTEMPTS:
                raise
            time.sleep(RECORD_RETRY_S * attempt)
    raise AssertionError("unreachable")


__all__ = [
    "KeyMeta",
    "ProgressEvent",
    "RetestRefused",
    "ScopeProbeResult",
    "TestRecord",
    "TestResult",
    "probe_scope",
    "run_retest",
    "test_credentials",
    "test_history",
]
