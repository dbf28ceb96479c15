"""Confirm a backfill finding with one cheap closed-orders request through the connection-test engine."""

from __future__ import annotations

from nbsupport.audit import Actor
from nbsupport.conntest import ScopeAnswer, probe_scope
from nbsupport.console import Console
from nbsupport.diagnosis import Scope

# How `backfill-health --probe` names the engine's entry point that answered.
_ENTRY_POINTS = {"probe": "probe_scope", "retest": "run_retest"}


def probe_closed_orders(console: Console, key_id: int, *, actor: Actor, ticket: str = "",
                        ignore_cooldown: bool = False) -> ScopeAnswer:
    """Ask the engine about the Query Closed Orders & Trades scope of one key: one request, or the full
    test on venues that cannot probe one scope. Either way the engine's lease, cooldown and audit apply,
    as for any re-test."""
    return probe_scope(console, key_id, Scope.QUERY_CLOSED_ORDERS, actor=actor, ticket=ticket,
                       ignore_cooldown=ignore_cooldown)


def closed_orders_summary(answer: ScopeAnswer) -> dict[str, object]:
    """The `fleet backfill-health --probe --json` contract."""
    return {
        "key_id": answer.result.key_id,
        "closed_orders_scope": answer.state,
        "outcome": answer.result.outcome,
        "diagnosis": answer.result.diagnosis,
        "exchange_error": answer.result.exchange_error,
        "requests": answer.result.requests,
        "via": _ENTRY_POINTS[answer.via],
    }
