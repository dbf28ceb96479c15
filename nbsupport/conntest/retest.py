"""A re-test of a stored key: the plan under the key's lease, recorded in one transaction."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from sqlalchemy.orm import Session

from nbsupport.audit import Actor
from nbsupport.conntest.leased import leased_key
from nbsupport.conntest.outcome import ConnectionOutcome
from nbsupport.conntest.persist import record_result
from nbsupport.conntest.result import ProgressEvent
from nbsupport.conntest.runner import check_credentials
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
    on_record: Callable[[Session, ConnectionOutcome], None] | None = None,
) -> ConnectionOutcome:
    """Test a stored key; record the result (test row, key's last_* fields, audit event) in one transaction.

    Raises KeyInputError (no such key), CryptoError (no master key / cannot decrypt; nothing recorded) or
    RetestRefused (a test of this key is running, or ran less than `retest_cooldown_s` ago).
    `on_record(session, result)` writes more in the result's own transaction (a console run's end state:
    nbsupport.conntest.runs), so the test and what follows it are recorded together or not at all.
    """
    guard_ccxt_logger()
    with leased_key(console, key_id, ignore_cooldown=ignore_cooldown) as key:
        tested = check_credentials(key.meta.exchange, key.take_credentials(), key.meta, console.settings,
                                   progress)

        def write(session: Session, row: ExchangeKey) -> ConnectionOutcome:
            test = record_result(session, row, tested, actor=actor, ticket=ticket, trigger=trigger)
            recorded = replace(tested, test_id=test.id)
            if on_record is not None:
                on_record(session, recorded)
            return recorded

        return key.record(write)
