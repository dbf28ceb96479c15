"""The connection-test engine: re-test a stored key and say exactly what is wrong and what to do.

`run_retest()` is what pages, the CLI and bulk re-tests call; `test_credentials()` runs the same plan
without the database (tests, benchmarks). The probe plan and its request cost are documented in
`nbsupport.conntest.runner`, the diagnosis rules in `nbsupport.conntest.classify`.

Thread-safe: each call builds and closes its own ccxt client; calls for different keys run in parallel,
calls for one key are serialised by the lease in `retest_leases` (others get `RetestRefused`).
"""

from __future__ import annotations

from collections.abc import Callable

from nbsupport.audit import Actor
from nbsupport.conntest.locks import retest_lease
from nbsupport.conntest.persist import TestRecord, key_meta, record_result, test_history
from nbsupport.conntest.result import KeyMeta, ProgressEvent, RetestRefused, TestResult
from nbsupport.conntest.runner import test_credentials
from nbsupport.console import Console
from nbsupport.db.models import ExchangeKey
from nbsupport.keys import KeyInputError, open_credentials
from nbsupport.venues.client import guard_ccxt_logger


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
    with console.session() as session:
        row = session.get(ExchangeKey, key_id)
        if row is None:
            raise KeyInputError(f"no exchange key with id {key_id}")
        meta = key_meta(row)
    keyring = console.keyring()
    guard_ccxt_logger()
    with retest_lease(console, key_id, ignore_cooldown=ignore_cooldown):
        with console.session() as session:
            credentials = open_credentials(session, keyring, key_id)
        try:
            result = test_credentials(meta.exchange, credentials, meta, console.settings, progress)
        finally:
            del credentials
        with console.session() as session:
            row = session.get(ExchangeKey, key_id)
            if row is None:
                raise KeyInputError(f"exchange key {key_id} was deleted during its test")
            test = record_result(session, row, result, actor=actor, ticket=ticket, trigger=trigger)
            result.test_id = test.id
    return result


__all__ = [
    "KeyMeta",
    "ProgressEvent",
    "RetestRefused",
    "TestRecord",
    "TestResult",
    "run_retest",
    "test_credentials",
    "test_history",
]
