"""One test-outcome model: the engine's answer, a stored test row and a console run's JSON read back as the
same `ConnectionOutcome`, with every JSON contract keeping its keys; one serialiser behind every as_dict."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from test_fleet_data import add_test, make_key, make_user

from nbsupport.audit import Actor
from nbsupport.clock import utcnow
from nbsupport.conntest import ConnectionOutcome, ProgressEvent, RetestRefused, ScopeAnswer, recorded_tests
from nbsupport.conntest.persist import record_result
from nbsupport.console import Console
from nbsupport.diagnosis import Scope, ScopeState
from nbsupport.fleet.backfill.probe import closed_orders_summary
from nbsupport.fleet.bulk.batch import bulk_retest
from nbsupport.plain import plain, plain_dict

AGENT = Actor("agent@noonbarbari.com", "agent")
STARTED = datetime(2026, 12, 3, 9, 30, 15, 123456, tzinfo=UTC)

# The `retest --json` contract and the history row's (triage's `latest_test`), as documented before the
# model was unified: a consumer's keys must not move.
OUTCOME_KEYS = {"key_id", "outcome", "diagnosis", "missing_permissions", "permissions", "exchange_error",
                "requests", "duration_ms", "fix", "test_id", "egress_ip", "warnings", "steps", "started_at",
                "detail", "error_source", "error_text"}
RECORD_KEYS = {"id", "key_id", "started_at", "trigger", "actor", "ticket", "outcome", "diagnosis",
               "missing_permissions", "permissions", "exchange_error", "requests", "duration_ms", "egress_ip",
               "warnings", "egress_mismatch", "fix_id", "error_source", "error_text", "customer_reply"}
SCOPE_KEYS = {"key_id", "scope", "state", "outcome", "diagnosis", "permissions", "missing_permissions",
              "exchange_error", "requests", "duration_ms", "fix", "egress_ip", "started_at", "via",
              "fallback_reason", "test_id", "warnings", "steps"}


def outcome(key_id: int | None = 7, **changes: Any) -> ConnectionOutcome:
    found = ConnectionOutcome(
        key_id=key_id, test_id=None, outcome="failed", diagnosis="missing_permission",
        missing_permissions=["query_closed_orders"],
        permissions={"query_funds": "granted", "query_closed_orders": "missing"},
        exchange_error="EGeneral:Permission denied", requests=2, duration_ms=812,
        fix={"id": "kraken-missing-permission", "title": "Grant it", "steps": ["Open API settings"],
             "customer_reply": "Hello, your key lacks Query Closed Orders & Trades."},
        egress_ip="51.38.112.198", warnings=["withdrawal is enabled"],
        steps=[ProgressEvent("preflight", "ok"), ProgressEvent("balance", "failed", "denied: EGeneral")],
        started_at=STARTED, detail={"egress_mismatch": True, "key_info": {"nonce_window": 0}},
        error_source="venue",
    )
    return replace(found, **changes)


def test_a_console_runs_json_reads_back_as_the_same_outcome() -> None:
    found = outcome(test_id=41)
    stored = json.loads(json.dumps(found.as_dict()))  # as the run row's JSON column keeps it
    assert ConnectionOutcome.from_dict(stored) == found
    assert set(stored) == OUTCOME_KEYS and stored["started_at"] == STARTED.isoformat()
    assert stored["steps"][1] == {"step": "balance", "status": "failed", "detail": "denied: EGeneral"}


def test_an_outcome_that_sent_nothing_claims_no_route() -> None:
    assert outcome(egress_ip="", requests=0).as_dict()["egress_ip"] is None


def test_a_recorded_test_reads_back_what_the_engine_found(console: Console) -> None:
    found = outcome()
    with console.session() as session:
        key = make_key(session, make_user(session))
        found = replace(found, key_id=key.id)
        row = record_result(session, key, found, actor=AGENT, ticket="ZD-5", trigger="retest")
        (recorded,) = recorded_tests(session, key.id)
    assert (recorded.id, recorded.trigger, recorded.actor, recorded.ticket) == (row.id, "retest", AGENT.email,
                                                                                "ZD-5")
    # A row keeps the fix's id and reply, not the guide's steps; everything else comes back as it was.
    kept_fix = {"id": found.fix_id, "customer_reply": found.customer_reply}
    assert recorded.result == replace(found, test_id=row.id, fix=kept_fix)
    assert recorded.result.egress_mismatch and recorded.result.customer_reply.startswith("Hello")
    listed = recorded.as_dict()
    assert set(listed) == RECORD_KEYS
    assert (listed["fix_id"], listed["missing_permissions"], listed["started_at"]) == (
        "kraken-missing-permission", ["query_closed_orders"], STARTED.isoformat())


def test_a_scope_answer_narrows_the_outcome_to_its_scope_and_keeps_its_contract() -> None:
    answer = ScopeAnswer.from_test(7, Scope.QUERY_CLOSED_ORDERS, outcome(), via="retest",
                                   fallback_reason="binance cannot check query_closed_orders")
    assert answer.state == ScopeState.MISSING
    assert answer.result.permissions == {"query_closed_orders": "missing"}
    payload = answer.as_dict()
    assert set(payload) == SCOPE_KEYS and payload["egress_ip"] == "51.38.112.198"
    assert closed_orders_summary(answer) == {
        "key_id": 7, "closed_orders_scope": "missing", "outcome": "failed", "diagnosis": "missing_permission",
        "exchange_error": "EGeneral:Permission denied", "requests": 2, "via": "run_retest"}
    granted = ScopeAnswer.from_test(7, Scope.QUERY_FUNDS, outcome(), via="probe")
    assert (granted.state, granted.result.missing_permissions) == ("granted", [])
    assert closed_orders_summary(granted)["via"] == "probe_scope"


class _Unexpected(Exception):
    """An engine failure that happens to carry a retry hint: still a failure, not a refusal."""

    retry_after_s = 5
    reason = "lookalike"


def test_only_the_engines_refusal_counts_as_refused_in_a_bulk_run(console: Console) -> None:
    with console.session() as session:
        user = make_user(session)
        keys = [make_key(session, user), make_key(session, user)]
        for key in keys:
            add_test(session, key, utcnow() - timedelta(hours=1), "exchange_unavailable")
        refused_key, failing_key = (key.id for key in keys)

    def engine(_console: Console, key_id: int, **_: Any) -> ConnectionOutcome:
        if key_id == refused_key:
            raise RetestRefused("cooldown", 30, "this key was re-tested moments ago. Try again in 30 s.")
        raise _Unexpected("boom")

    report = bulk_retest(console, actor=AGENT, exchange="kraken", retest_fn=engine)
    assert report.refused == {refused_key: "cooldown"}
    assert report.errors == {failing_key: "_Unexpected"}


@dataclass(frozen=True)
class _Figures:
    day: date
    at: datetime
    scope: Scope
    span: tuple[int, int]
    by_key: dict[int, str]
    steps: list[ProgressEvent]


def test_plain_makes_every_field_a_json_value() -> None:
    figures = _Figures(date(2026, 12, 3), STARTED, Scope.QUERY_FUNDS, (1, 4), {7: "cooldown"},
                       [ProgressEvent("preflight", "ok")])
    expected = {"day": "2026-12-03", "at": STARTED.isoformat(), "scope": "query_funds", "span": [1, 4],
                "by_key": {"7": "cooldown"}, "steps": [{"step": "preflight", "status": "ok", "detail": ""}]}
    assert plain_dict(figures) == expected
    assert json.loads(json.dumps(plain(figures))) == expected
