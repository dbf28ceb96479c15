"""Bulk re-test: the cohort, one test per key, never two at once on a key, resumption, one audit row."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from test_fleet_data import add_test, make_key, make_user

from nbsupport.audit import Action, Actor
from nbsupport.clock import utcnow
from nbsupport.conntest import ConnectionOutcome, RetestRefused
from nbsupport.console import Console
from nbsupport.db.models import AuditEvent, ConnectionTest
from nbsupport.fleet.bulk.batch import bulk_retest
from nbsupport.fleet.bulk.models import RUNNING, BulkError, BulkProgress, VenueBudget

ADMIN = Actor("lead@noonbarbari.com", "admin")


class FakeEngine:
    """Stands in for run_retest: records calls, overlap per key, and stores a test row as the engine does."""

    def __init__(
        self,
        *,
        stop_after: int | None = None,
        stop: threading.Event | None = None,
        refuse: set[int] | None = None,
        meet: int = 1,
    ) -> None:
        self.calls: list[int] = []
        self.kwargs: list[dict[str, Any]] = []
        self.max_in_flight_per_key = 0
        self._in_flight: Counter[int] = Counter()
        self._lock = threading.Lock()
        self._stop_after, self._stop = stop_after, stop
        self._refuse = refuse or set()
        # The first `meet` tests wait until all of them are in flight: proves tests of different keys overlap.
        self._meet, self._arrived, self._met = meet, 0, threading.Event()
        self.overlapped = False

    def __call__(self, console: Console, key_id: int, **kwargs: Any) -> ConnectionOutcome:
        with self._lock:
            self.calls.append(key_id)
            self.kwargs.append(kwargs)
            self._in_flight[key_id] += 1
            self._arrived += 1
            arrived = self._arrived
            self.max_in_flight_per_key = max(self.max_in_flight_per_key, self._in_flight[key_id])
            if self._stop_after is not None and len(self.calls) >= self._stop_after and self._stop:
                self._stop.set()
        try:
            if key_id in self._refuse:
                raise RetestRefused("cooldown", 30, "this key was re-tested moments ago. Try again in 30 s.")
            if arrived == self._meet:
                self._met.set()
            if self._meet > 1 and arrived <= self._meet and self._met.wait(timeout=10):
                self.overlapped = True
            with console.session() as session:
                key_exchange = session.scalar(
                    select(ConnectionTest.exchange).where(ConnectionTest.key_id == key_id).limit(1)
                )
                session.add(
                    ConnectionTest(
                        key_id=key_id,
                        exchange=key_exchange or "kraken",
                        started_at=utcnow(),
                        trigger=kwargs["trigger"],
                        actor=kwargs["actor"].email,
                        ticket=kwargs["ticket"],
                        outcome="ok",
                        diagnosis="ok",
                    )
                )
            return ConnectionOutcome(
                key_id=key_id, test_id=None, outcome="ok", diagnosis="ok", missing_permissions=[],
                permissions={}, exchange_error="", requests=2, duration_ms=5, fix={}, egress_ip="",
                warnings=[], steps=[], started_at=utcnow())
        finally:
            with self._lock:
                self._in_flight[key_id] -= 1


@pytest.fixture
def fleet(console: Console) -> dict[str, list[int]]:
    """Kraken and OKX keys that failed in the last day, plus keys that must stay out of any cohort."""
    now = utcnow()
    ids: dict[str, list[int]] = {"kraken": [], "okx": [], "outside": []}
    with console.session() as session:
        user = make_user(session)
        for i in range(12):
            key = make_key(session, user)
            add_test(session, key, now - timedelta(hours=5), "exchange_unavailable")
            add_test(
                session, key, now - timedelta(hours=4), "exchange_unavailable" if i % 2 else "network_error"
            )
            ids["kraken"].append(key.id)
        for _ in range(4):
            key = make_key(session, user, exchange="okx")
            add_test(session, key, now - timedelta(hours=3), "credentials_rejected")
            ids["okx"].append(key.id)
        green = make_key(session, user)
        add_test(session, green, now - timedelta(hours=2))
        old = make_key(session, user)
        add_test(session, old, now - timedelta(days=3), "exchange_unavailable")
        revoked = make_key(session, user, status="revoked")
        add_test(session, revoked, now - timedelta(hours=2), "exchange_unavailable")
        ids["outside"] = [green.id, old.id, revoked.id]
    return ids


def audit_rows(console: Console, action: Action) -> list[AuditEvent]:
    with console.session() as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def test_every_key_that_failed_in_the_period_is_retested_once_never_two_at_once(
    console: Console, fleet: dict[str, list[int]]
) -> None:
    engine = FakeEngine(meet=3)
    seen: list[BulkProgress] = []
    report = bulk_retest(
        console, actor=ADMIN, ticket="INC-42", concurrency=4, retest_fn=engine, progress=seen.append
    )
    assert sorted(engine.calls) == sorted(fleet["kraken"] + fleet["okx"])
    assert engine.max_in_flight_per_key == 1 and engine.overlapped
    assert all(
        kw["trigger"] == "bulk" and kw["ticket"] == f"INC-42 [{report.batch_id}]" for kw in engine.kwargs
    )
    assert (report.cohort, report.tested, report.interrupted) == (16, 16, False)
    assert report.outcomes == {"ok": 16} and report.by_venue == {"kraken": 12, "okx": 4}
    finished = [p for p in seen if p.outcome != RUNNING]
    assert sorted(p.done for p in finished) == list(range(1, 17)) and {p.total for p in seen} == {16}
    # Every key is announced when its test starts, before it finishes.
    assert sorted(p.key_id for p in seen if p.outcome == RUNNING) == sorted(p.key_id for p in finished)
    assert sorted(r.key_id for r in report.results) == sorted(p.key_id for p in finished)
    assert {(r.outcome, r.exchange in ("kraken", "okx")) for r in report.results} == {("ok", True)}


def test_batch_writes_one_audit_row_with_its_plan(console: Console, fleet: dict[str, list[int]]) -> None:
    report = bulk_retest(console, actor=ADMIN, ticket="INC-42", exchange="kraken", retest_fn=FakeEngine())
    rows = audit_rows(console, Action.FLEET_BULK_RETEST)
    assert len(rows) == 1
    assert (rows[0].actor, rows[0].ticket, rows[0].result) == (ADMIN.email, "INC-42", report.batch_id)
    assert rows[0].detail["cohort"] == 12 and rows[0].detail["exchange"] == "kraken"


def test_exchange_and_diagnosis_filters_choose_the_cohort(
    console: Console, fleet: dict[str, list[int]]
) -> None:
    kraken = bulk_retest(console, actor=ADMIN, exchange="kraken", dry_run=True)
    assert sorted(kraken.key_ids) == sorted(fleet["kraken"])
    network = bulk_retest(console, actor=ADMIN, diagnosis="network_error", dry_run=True)
    assert sorted(network.key_ids) == sorted(fleet["kraken"][0::2])
    wider = bulk_retest(console, actor=ADMIN, exchange="kraken", since=timedelta(days=4), dry_run=True)
    assert set(wider.key_ids) == set(fleet["kraken"]) | {fleet["outside"][1]}


def test_dry_run_tests_nothing_and_writes_no_audit_row(console: Console, fleet: dict[str, list[int]]) -> None:
    engine = FakeEngine()
    report = bulk_retest(console, actor=ADMIN, dry_run=True, retest_fn=engine)
    assert report.cohort == 16 and engine.calls == [] and audit_rows(console, Action.FLEET_BULK_RETEST) == []


def test_interrupted_batch_resumes_without_testing_any_key_twice(
    console: Console, fleet: dict[str, list[int]]
) -> None:
    stop = threading.Event()
    first = FakeEngine(stop_after=5, stop=stop)
    report = bulk_retest(console, actor=ADMIN, ticket="INC-7", concurrency=2, retest_fn=first, stop=stop)
    assert report.interrupted and 5 <= report.tested < 16

    second = FakeEngine()
    resumed = bulk_retest(
        console,
        actor=Actor("other@noonbarbari.com", "admin"),
        batch_id=report.batch_id,
        exchange="okx",
        retest_fn=second,
    )  # the batch's own filters win over new ones
    assert not resumed.interrupted and resumed.already_done == report.tested
    assert sorted(first.calls + second.calls) == sorted(fleet["kraken"] + fleet["okx"])
    assert {kw["ticket"] for kw in first.kwargs + second.kwargs} == {f"INC-7 [{report.batch_id}]"}
    assert len(audit_rows(console, Action.FLEET_BULK_RETEST)) == 1
    assert len(audit_rows(console, Action.FLEET_BULK_RETEST_RESUME)) == 1

    third = FakeEngine()
    assert bulk_retest(console, actor=ADMIN, batch_id=report.batch_id, retest_fn=third).tested == 0
    assert third.calls == []


def test_refused_keys_are_reported_and_picked_up_by_a_resume(
    console: Console, fleet: dict[str, list[int]]
) -> None:
    refused = fleet["okx"][0]
    report = bulk_retest(console, actor=ADMIN, retest_fn=FakeEngine(refuse={refused}))
    assert report.refused == {refused: "cooldown"} and report.tested == 15
    retry = FakeEngine()
    bulk_retest(console, actor=ADMIN, batch_id=report.batch_id, retest_fn=retry)
    assert retry.calls == [refused]


def test_venue_budget_caps_parallel_tests_on_that_venue(
    console: Console, fleet: dict[str, list[int]]
) -> None:
    in_flight: Counter[str] = Counter()
    peak: Counter[str] = Counter()
    lock = threading.Lock()
    venue_of = {k: "kraken" for k in fleet["kraken"]} | {k: "okx" for k in fleet["okx"]}
    engine = FakeEngine()

    def tracked(console: Console, key_id: int, **kwargs: Any) -> dict[str, str]:
        with lock:
            in_flight[venue_of[key_id]] += 1
            peak[venue_of[key_id]] = max(peak[venue_of[key_id]], in_flight[venue_of[key_id]])
        try:
            return engine(console, key_id, **kwargs)
        finally:
            with lock:
                in_flight[venue_of[key_id]] -= 1

    bulk_retest(
        console,
        actor=ADMIN,
        concurrency=6,
        retest_fn=tracked,
        budgets={"okx": VenueBudget(concurrency=1), "*": VenueBudget(concurrency=6)},
    )
    assert peak["okx"] == 1 and len(engine.calls) == 16


def test_unknown_batch_and_bad_concurrency_are_refused(console: Console) -> None:
    with pytest.raises(BulkError):
        bulk_retest(console, actor=ADMIN, batch_id="bulk-20260101T000000-deadbeef", retest_fn=FakeEngine())
    with pytest.raises(BulkError):
        bulk_retest(console, actor=ADMIN, batch_id="nonsense", retest_fn=FakeEngine())
    with pytest.raises(BulkError):
        bulk_retest(console, actor=ADMIN, concurrency=0, retest_fn=FakeEngine())


# --- against the real connection-test engine and the sandbox venue ----------------------------------------


@pytest.fixture
def sandbox_console(database_url: str, master_keys: str, tmp_path: Any) -> Any:
    """A console whose Kraken API is a sandbox with 15 ms latency, holding 10 keys that failed an hour ago."""
    from nbsupport.config import Settings
    from nbsupport.credentials import Credentials
    from nbsupport.crypto import MasterKeyring
    from nbsupport.keys import add_key
    from nbsupport.sandbox import SandboxKey, SandboxServer
    from nbsupport.sandbox.cast import derived_api_key, derived_secret

    with SandboxServer(latency_ms=15) as server:
        settings = Settings(
            home=tmp_path / "home",
            database_url=database_url,
            master_keys=master_keys,
            exchange_urls={"kraken": server.origin},
            retest_cooldown_s=0,
        )
        console = Console(settings)
        console.migrate()
        keyring = MasterKeyring.parse(master_keys)
        with console.session() as session:
            for i in range(10):
                name = f"fleet-bulk-{i}"
                sandbox_key = SandboxKey(
                    api_key=derived_api_key(name), secret=derived_secret(name), name=name
                )
                server.add_key(sandbox_key)
                row = add_key(
                    session,
                    keyring,
                    user_email=f"bulk{i}@example.com",
                    exchange="kraken",
                    credentials=Credentials(sandbox_key.api_key, sandbox_key.secret),
                )
                add_test(session, row, utcnow() - timedelta(hours=1), "exchange_unavailable")
        try:
            yield console, server
        finally:
            console.close()


def test_real_engine_bulk_retest_sends_no_overlapping_requests_per_key(sandbox_console: Any) -> None:
    console, server = sandbox_console
    report = bulk_retest(console, actor=ADMIN, ticket="INC-9", concurrency=5)
    assert (report.tested, report.refused, report.errors) == (10, {}, {})
    assert report.outcomes.get("failed", 0) == 0
    assert server.max_overlap_per_key() == 1
    with console.session() as session:
        bulk_tests = list(session.scalars(select(ConnectionTest).where(ConnectionTest.trigger == "bulk")))
        per_key = list(session.scalars(select(AuditEvent).where(AuditEvent.action == Action.KEY_RETEST)))
    assert len(bulk_tests) == 10 and len({t.key_id for t in bulk_tests}) == 10
    assert len(per_key) == 10 and len(audit_rows(console, Action.FLEET_BULK_RETEST)) == 1


def test_worker_processes_share_the_cohort_and_report_as_one_batch(sandbox_console: Any) -> None:
    console, server = sandbox_console
    seen: list[BulkProgress] = []
    report = bulk_retest(
        console, actor=ADMIN, ticket="INC-10", concurrency=4, processes=2, progress=seen.append
    )
    assert (report.tested, report.refused, report.errors, report.interrupted) == (10, {}, {}, False)
    assert sorted(report.key_ids) == sorted(set(report.key_ids)) and len(report.key_ids) == 10
    assert sum(report.outcomes.values()) == 10 and report.outcomes.get("failed", 0) == 0
    assert sorted(p.done for p in seen) == list(range(1, 11)) and {p.total for p in seen} == {10}
    assert len(report.results) == 10
    assert server.max_overlap_per_key() == 1
    with console.session() as session:
        bulk_tests = list(session.scalars(select(ConnectionTest).where(ConnectionTest.trigger == "bulk")))
    assert len(bulk_tests) == 10 and len({t.key_id for t in bulk_tests}) == 10
    (batch,) = audit_rows(console, Action.FLEET_BULK_RETEST)
    assert batch.detail["processes"] == 2


def test_worker_processes_split_each_venue_budget_without_exceeding_it() -> None:
    from nbsupport.fleet.bulk.processes import shard_budgets

    shares = shard_budgets({"kraken": VenueBudget(concurrency=8, tests_per_second=10.0)}, 3)
    assert shares["kraken"].concurrency * 3 <= 8 and shares["kraken"].concurrency >= 1
    assert shares["kraken"].tests_per_second * 3 == pytest.approx(10.0)


def test_processes_must_be_positive_and_run_the_real_engine_only(console: Console) -> None:
    with pytest.raises(BulkError):
        bulk_retest(console, actor=ADMIN, processes=0, retest_fn=FakeEngine())
    with pytest.raises(BulkError):
        bulk_retest(console, actor=ADMIN, processes=2, retest_fn=FakeEngine())
