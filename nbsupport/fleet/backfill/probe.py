"""Confirm a backfill finding with one cheap closed-orders request through the connection-test engine."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from nbsupport.audit import Actor
from nbsupport.diagnosis import Scope


@dataclass(frozen=True)
class ProbeResult:
    key_id: int
    closed_orders_scope: str  # granted | missing | unknown
    outcome: str
    diagnosis: str
    exchange_error: str
    requests: int
    via: str  # which engine entry point answered

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _get(result: Any, name: str, default: Any = None) -> Any:
    value = result.get(name, default) if isinstance(result, dict) else getattr(result, name, default)
    return getattr(value, "value", value)


def probe_closed_orders(
    console: Any, key_id: int, *, actor: Actor, ticket: str = "", engine: Any = None
) -> ProbeResult:
    """Ask the engine about the Query Closed Orders & Trades scope of one key.

    Uses the engine's single-scope probe (`probe_scope`) when it offers one, which costs one request; else
    a full re-test, whose permissions include the scope. Either way the engine's lease, cooldown and
    audit apply, as for any re-test.
    """
    if engine is None:
        try:
            import nbsupport.conntest as engine
        except ImportError as exc:
            raise RuntimeError("the connection-test engine (nbsupport.conntest) is not installed") from exc
    scope = Scope.QUERY_CLOSED_ORDERS.value
    probe: Callable[..., Any] | None = getattr(engine, "probe_scope", None)
    if probe is not None:
        result = probe(console, key_id, scope, actor=actor, ticket=ticket)
        # The engine falls back to the full test on venues that cannot probe one scope; say which ran.
        via = "probe_scope" if _get(result, "via", "probe") == "probe" else "run_retest"
    else:
        result, via = (
            engine.run_retest(console, key_id, actor=actor, ticket=ticket, trigger="retest"),
            "run_retest",
        )
    permissions = _get(result, "permissions", {}) or {}
    state = permissions.get(scope, "unknown") if isinstance(permissions, dict) else "unknown"
    missing = _get(result, "missing_permissions", None) or _get(result, "missing_scopes", None) or []
    if scope in missing:
        state = "missing"
    return ProbeResult(
        key_id=key_id,
        closed_orders_scope=str(getattr(state, "value", state)),
        outcome=str(_get(result, "outcome", "unknown")),
        diagnosis=str(_get(result, "diagnosis", "unknown")),
        exchange_error=str(_get(result, "exchange_error", "") or ""),
        requests=int(_get(result, "requests", 0) or 0),
        via=via,
    )
