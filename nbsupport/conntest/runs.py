"""A console re-test as recorded work: started once, run in the background, followed by anyone.

`start()` records a run row (`retest_runs`) and hands the test to a process-level executor, so the test
belongs to no script run, browser tab or agent: a second start while it is live attaches to it, and any
page that reads the row (`follow`, `live_run`, `latest_finished`) sees its steps so far, then its end.
The engine (`run_retest`) writes the run's `done` state in the test's own transaction; refusals and
errors are written (and audited, since they leave no test row) when the engine gives up.

A run lives while `live_key_id` holds its key id: a unique column, so two starts racing for one key
insert one row between them. A run whose worker died (the process exited, or the row outlived the
longest possible plan) is ended as `error` the next time anyone reads it, using the same proof of death
as the key's lease (nbsupport.conntest.locks.holder_is_gone): it never shows "running" forever.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

import nbsupport.conntest as conntest
from nbsupport import audit
from nbsupport.audit import Action, Actor
from nbsupport.clock import utcnow
from nbsupport.conntest.locks import claim, holder_is_gone, lease_seconds, new_holder, unclaim
from nbsupport.conntest.outcome import ConnectionOutcome
from nbsupport.conntest.result import ProgressEvent, RetestRefused
from nbsupport.console import Console
from nbsupport.crypto import CryptoError
from nbsupport.db.engine import DatabaseUnavailable
from nbsupport.db.models import ConnectionTest, ExchangeKey, RetestRun
from nbsupport.keys import KeyInputError

log = logging.getLogger(__name__)

QUEUED, RUNNING, DONE, REFUSED, ERROR = "queued", "running", "done", "refused", "error"
LIVE = (QUEUED, RUNNING)
# Re-tests of different keys at once in one console process; more wait in the executor's queue.
WORKERS = 8
# A queued run may wait for a worker before its test starts; it expires after that and the plan.
QUEUE_MARGIN_S = 60
DIED = ("the process running this re-test stopped before it finished (a restart or a crash); nothing "
        "was recorded against the key. Start it again.")

_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


@dataclass(frozen=True)
class RunView:
    """One run as pages show it; never a secret."""

    id: int
    key_id: int
    actor: str
    ticket: str
    state: str
    steps: list[ProgressEvent]
    result: ConnectionOutcome | None  # once the run is done
    test_id: int | None
    reason: str
    message: str
    retry_after_s: int | None
    created_at: datetime
    finished_at: datetime | None

    @property
    def live(self) -> bool:
        return self.state in LIVE


@dataclass(frozen=True)
class Started:
    run: RunView
    # True when a run of this key was already live and the caller now follows that one.
    attached: bool


def _view(row: RetestRun) -> RunView:
    return RunView(
        id=row.id, key_id=row.key_id, actor=row.actor, ticket=row.ticket, state=row.state,
        steps=[ProgressEvent(**step) for step in row.steps or []],
        result=ConnectionOutcome.from_dict(row.result) if row.result is not None else None,
        test_id=row.test_id, reason=row.reason, message=row.message, retry_after_s=row.retry_after_s,
        created_at=row.created_at, finished_at=row.finished_at,
    )


def executor() -> ThreadPoolExecutor:
    """The console process's re-test workers, created on first use and shared by every session."""
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="nbsupport-retest")
        return _executor


# --- starting -------------------------------------------------------------------------------------------


def _insert_live(session: Session, values: dict[str, object]) -> int | None:
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(RetestRun).values(**values).on_conflict_do_nothing(index_elements=["live_key_id"])
    # RETURNING, not rowcount: SQLAlchemy reports rowcount -1 for INSERTs on psycopg.
    return session.execute(statement.returning(RetestRun.id)).scalar()


def start(console: Console, key_id: int, *, actor: Actor, ticket: str) -> Started:
    """Start a re-test of the key in the background, or attach to the one that is live.

    Raises KeyInputError when the key does not exist. Refusals (cooldown, a test run by another entry
    point) and errors end the run; they are read back with `follow`."""
    for _ in range(2):  # a second round only when the live run found first was a dead one
        holder = new_holder()
        now = utcnow()
        expires = now + timedelta(seconds=lease_seconds(console.settings) + QUEUE_MARGIN_S)
        claim(holder)  # live from now on: a reader must not take the queued run for a dead one
        with console.session() as session:
            if session.get(ExchangeKey, key_id) is None:
                unclaim(holder)
                raise KeyInputError(f"no exchange key with id {key_id}")
            run_id = _insert_live(session, {
                "key_id": key_id, "live_key_id": key_id, "actor": actor.email[:320], "role": actor.role[:20],
                "ticket": ticket[:200], "state": QUEUED, "holder": holder, "steps": [], "reason": "",
                "message": "", "created_at": now, "expires_at": expires,
            })
        if run_id is not None:
            try:
                executor().submit(_execute, console, run_id, holder, key_id, actor, ticket)
            except BaseException:
                _end(console, run_id, ERROR, message="the console could not start the re-test")
                unclaim(holder)
                raise
            return Started(_read(console, run_id), attached=False)
        unclaim(holder)
        live = live_run(console, key_id)
        if live is not None:
            return Started(live, attached=True)
    raise RuntimeError(f"key {key_id} has a live re-test that could not be read")  # two races in a row


# --- the background work --------------------------------------------------------------------------------


def _execute(console: Console, run_id: int, holder: str, key_id: int, actor: Actor, ticket: str) -> None:
    steps: dict[str, dict[str, object]] = {}

    def report(event: ProgressEvent) -> None:
        # One entry per step, "running" replaced by the step's result; a lost progress write costs
        # nothing but a late line on screen, so it never stops the test.
        steps[event.step] = event.as_dict()
        with suppress(DatabaseUnavailable):
            _write(console, run_id, steps=list(steps.values()))

    def finished(session: Session, result: ConnectionOutcome) -> None:
        session.execute(update(RetestRun).where(RetestRun.id == run_id).values(
            state=DONE, live_key_id=None, steps=list(steps.values()), result=result.as_dict(),
            test_id=result.test_id, finished_at=utcnow()))

    try:
        _write(console, run_id, state=RUNNING, started_at=utcnow())
        conntest.run_retest(console, key_id, actor=actor, ticket=ticket, trigger="retest", progress=report,
                            on_record=finished)
    except RetestRefused as exc:
        # The engine's message is the whole sentence for the agent, retry hint included.
        _give_up(console, run_id, actor, REFUSED, str(exc) or exc.reason, reason=exc.reason,
                 retry_after_s=exc.retry_after_s, steps=list(steps.values()))
    except (CryptoError, KeyInputError) as exc:
        # No master key, a key that does not open, or a key deleted meanwhile: the messages are the library's.
        _give_up(console, run_id, actor, ERROR, str(exc), steps=list(steps.values()))
    except DatabaseUnavailable as exc:
        _give_up(console, run_id, actor, ERROR, f"the database failed during the re-test ({exc})",
                 steps=list(steps.values()))
    except Exception as exc:
        # Only the type: an unexpected exception's text is not vetted for secrets.
        log.error("re-test run %s of key %s failed: %s", run_id, key_id, type(exc).__name__)
        _give_up(console, run_id, actor, ERROR, f"the re-test failed unexpectedly ({type(exc).__name__})",
                 steps=list(steps.values()))
    finally:
        unclaim(holder)


def _write(console: Console, run_id: int, **values: object) -> None:
    with console.session() as session:
        session.execute(update(RetestRun).where(RetestRun.id == run_id, RetestRun.state.in_(LIVE))
                        .values(**values))


def _end(console: Console, run_id: int, state: str, **values: object) -> bool:
    """End a live run; False when it had already ended."""
    with console.session() as session:
        ended = session.execute(
            update(RetestRun).where(RetestRun.id == run_id, RetestRun.state.in_(LIVE))
            .values(state=state, live_key_id=None, finished_at=utcnow(), **values)
            .returning(RetestRun.id)
        ).first()
    return ended is not None


def _give_up(console: Console, run_id: int, actor: Actor, state: str, message: str, **values: object) -> None:
    """End the run as refused or error and audit the attempt: it left no test row to audit it."""
    try:
        with console.session() as session:
            row = session.get(RetestRun, run_id)
            if row is None or row.state not in LIVE:
                return
            row.state, row.live_key_id, row.finished_at, row.message = state, None, utcnow(), message[:500]
            for name, value in values.items():
                setattr(row, name, value)
            refused = f"refused: {values.get('reason') or 'refused'}"
            _audit_attempt(session, row, actor, refused if state == REFUSED else f"error: {message}")
    except DatabaseUnavailable:
        # The row stays live until its holder is gone from this process; then a reader ends it.
        log.error("re-test run %s: could not record its end (database unavailable)", run_id)


def _audit_attempt(session: Session, run: RetestRun, actor: Actor, result: str) -> None:
    """A run that ended without a test leaves no test row for the engine to audit: the attempt is."""
    key = session.get(ExchangeKey, run.key_id)
    audit.record(session, actor, Action.KEY_RETEST, ticket=run.ticket, subject_key_id=run.key_id,
                 subject_user_id=key.user_id if key is not None else None, result=result,
                 detail={"ran": False, "run_id": run.id})


# --- following ------------------------------------------------------------------------------------------


def _ended_if_dead(console: Console, row: RetestRun) -> RetestRun:
    """A live row whose worker is provably gone, or that outlived any plan, is ended as an error."""
    if row.state not in LIVE or not (holder_is_gone(row.holder) or row.expires_at < utcnow()):
        return row
    with console.session() as session:
        ended = session.execute(
            update(RetestRun).where(RetestRun.id == row.id, RetestRun.holder == row.holder,
                                    RetestRun.state.in_(LIVE))
            .values(state=ERROR, live_key_id=None, finished_at=utcnow(), message=DIED, reason="died")
            .returning(RetestRun.id)
        ).first()
        if ended is not None:
            _audit_attempt(session, row, Actor(row.actor, row.role), "error: died")
        fresh = session.get(RetestRun, row.id)
        return fresh if fresh is not None else row


def _read(console: Console, run_id: int) -> RunView:
    followed = follow(console, run_id)
    if followed is None:
        raise KeyInputError(f"re-test run {run_id} is gone (its key was deleted)")
    return followed


def follow(console: Console, run_id: int) -> RunView | None:
    """The run as it stands now (None when its key was deleted with it)."""
    with console.session() as session:
        row = session.get(RetestRun, run_id)
    return _view(_ended_if_dead(console, row)) if row is not None else None


def live_run(console: Console, key_id: int) -> RunView | None:
    """The key's queued or running re-test, if any."""
    with console.session() as session:
        row = session.scalar(select(RetestRun).where(RetestRun.live_key_id == key_id))
    if row is None:
        return None
    view = _view(_ended_if_dead(console, row))
    return view if view.live else None


def latest_finished(console: Console, key_id: int) -> RunView | None:
    """The key's most recent run that ended with a test (state done)."""
    with console.session() as session:
        row = session.scalar(
            select(RetestRun).where(RetestRun.key_id == key_id, RetestRun.state == DONE)
            .order_by(RetestRun.created_at.desc(), RetestRun.id.desc()).limit(1))
    return _view(row) if row is not None else None


def latest_activity(console: Console, key_id: int) -> tuple[int, int]:
    """(the key's newest run id, its newest test id), 0 for none: one indexed query that an open page
    polls to notice a re-test started anywhere else (another agent, the CLI, a bulk batch)."""
    newest_run = select(func.max(RetestRun.id)).where(RetestRun.key_id == key_id).scalar_subquery()
    newest_test = select(func.max(ConnectionTest.id)).where(ConnectionTest.key_id == key_id).scalar_subquery()
    with console.session() as session:
        run_id, test_id = session.execute(select(newest_run, newest_test)).one()
    return int(run_id or 0), int(test_id or 0)


def wait(console: Console, run_id: int, timeout_s: float, poll_s: float = 0.1) -> RunView:
    """Follow a run until it ends (the CLI and tests; pages poll with a fragment instead)."""
    deadline = time.monotonic() + timeout_s
    while True:
        view = _read(console, run_id)
        if not view.live:
            return view
        if time.monotonic() >= deadline:
            raise TimeoutError(f"re-test run {run_id} still {view.state} after {timeout_s:.0f} s")
        time.sleep(poll_s)
