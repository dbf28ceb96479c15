"""The connection-test engine: re-test a stored key and say exactly what is wrong and what to do.

`run_retest()` is what pages, the CLI and bulk re-tests call; `test_credentials()` runs the same plan
without the database (tests, benchmarks). The probe plan and its request cost are documented in
`nbsupport.conntest.runner`, the diagnosis rules in `nbsupport.conntest.classify`.

Thread-safe: each test has a ccxt client to itself (nbsupport.venues.client); calls for different keys run
in parallel, calls for one key are serialised by the lease in `retest_leases` (others get `RetestRefused`;
nbsupport.conntest.leased).
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session

from nbsupport.audit import Actor
from nbsupport.conntest.leased import leased_key
from nbsupport.conntest.persist import TestRecord, record_result, test_history
from nbsupport.conntest.result import KeyMeta, ProgressEvent, RetestRefused, TestResult
from nbsupport.conntest.runner import test_credentials
from nbsupport.conntest.scope_probe import ScopeProbeResult, probe_scope
from nbsupport.console import Console
from nbsupport.db.models import ExchangeKey
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
    on_record: Callable[[Session, TestResult], None] | None = None,
) -> TestResult:
    """Test a stored key; record the result (test row, key's last_* fields, audit event) in one transaction.

    Raises KeyInputError (no such key), CryptoError (no master key / cannot decrypt; nothing recorded) or
    RetestRefused (a test of this key is running, or ran less than `retest_cooldown_s` ago).
    `on_record(session, result)` writes more in the result's own transaction (a console run's end state:
    nbsupport.conntest.runs), so the test and what follows it are recorded together or not at all.
    """
    guard_ccxt_logger()
    with leased_key(console, key_id, ignore_cooldown=ignore_cooldown) as key:
        result = test_credentials(key.meta.exchange, key.take_credentials(), key.meta, console.settings,
                                  progress)

        def write(session: Session, row: ExchangeKey) -> None:
            result.test_id = record_result(session, row, result, actor=actor, ticket=ticket,
                                           trigger=trigger).id
            if on_record is not None:
                on_record(session, result)

        key.record(write)
    return result


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
