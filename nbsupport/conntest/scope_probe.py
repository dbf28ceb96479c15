"""One scope of a stored key, asked with one request: a cheap confirmation, not a connection test.

`probe_scope()` keeps every guarantee of a re-test (preflight first, the per-key lease, the cooldown,
credentials only in memory, the real ccxt client, settled nonces, one audit row) but runs a one-request
plan: the venue's probe for that scope (Kraken spot `ClosedOrders`, Futures `fills`, ...). It writes no
connection_tests row and leaves the key's last_* fields and the statistics alone: one scope's answer says
nothing about the rest of the key. Venues that cannot probe the scope get the full `run_retest` instead,
and the result says so.

What one answer can and cannot tell:

* granted / missing: the venue's own answer. On a venue that refuses a wrong key, a blocked address and a
  missing access level alike (Kraken Futures' `authenticationError`), a refusal proves nothing about the
  scope: it is reported `unknown`, with a warning to run the full test, which tells them apart.
* Kraken spot answers a missing scope and an address outside the allowlist with the same error; when the
  key's stored whitelist points at the address, a warning says so.
* a credential rejection is not tried on the sibling product (that is a second request): a warning says a
  full test would.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from nbsupport import audit
from nbsupport.audit import Action, Actor
from nbsupport.config import Settings
from nbsupport.conntest.classify import DIAGNOSIS_BY_KIND
from nbsupport.conntest.leased import leased_key
from nbsupport.conntest.outcome import ConnectionOutcome
from nbsupport.conntest.result import KeyMeta
from nbsupport.conntest.retest import run_retest
from nbsupport.conntest.runner import ProbePlan, Progress, run_plan
from nbsupport.console import Console
from nbsupport.credentials import Credentials
from nbsupport.db.models import ExchangeKey
from nbsupport.diagnosis import Diagnosis, Scope, ScopeState
from nbsupport.keys import KeyInputError
from nbsupport.venues.base import ErrorKind, ProbeFailed, VenueError
from nbsupport.venues.client import guard_ccxt_logger
from nbsupport.venues.registry import venue_for
from nbsupport.venues.wire import Wire

# Refusals of the key as a whole, which some venues also give for a missing permission.
_KEY_REFUSALS = frozenset({ErrorKind.AUTH, ErrorKind.AMBIGUOUS_AUTH})


@dataclass(frozen=True)
class ScopeAnswer:
    """The answer about one scope: its state, and the outcome narrowed to that scope."""

    scope: str
    state: str  # granted | missing | unknown
    via: str  # "probe": one request; "retest": the venue cannot probe the scope, the full test ran
    # Only this scope in `permissions` and `missing_permissions`; a `test_id` only when the full test ran.
    result: ConnectionOutcome
    fallback_reason: str = ""

    @classmethod
    def from_test(cls, key_id: int, scope: Scope, test: ConnectionOutcome, *, via: str,
                  fallback_reason: str = "") -> ScopeAnswer:
        state = test.permissions.get(scope.value, ScopeState.UNKNOWN.value)
        narrowed = replace(test, key_id=key_id, permissions={scope.value: state},
                           missing_permissions=[scope.value] if state == ScopeState.MISSING else [])
        return cls(scope=scope.value, state=state, via=via, result=narrowed, fallback_reason=fallback_reason)

    def as_dict(self) -> dict[str, object]:
        """Flat: the outcome's fields (without its detail and error source; the egress as recorded), then
        the scope's."""
        result = self.result.as_dict()
        for dropped in ("detail", "error_source", "error_text"):
            del result[dropped]
        return {**result, "egress_ip": self.result.egress_ip, "scope": self.scope, "state": self.state,
                "via": self.via, "fallback_reason": self.fallback_reason}


class ScopePlan(ProbePlan):
    """The runner's plan (preflight, client, request counting, verdict) with one probe as its only step."""

    def __init__(self, credentials: Credentials, meta: KeyMeta, settings: Settings, scope: Scope,
                 progress: Progress | None) -> None:
        super().__init__(credentials, meta, settings, progress)
        self.scope = scope
        # Judge only the scope asked about: the key's other needs were not asked.
        self.evidence.required = [scope]

    def plan(self, wire: Wire) -> None:
        step = f"scope:{self.scope.value}"
        self.emit(step, "running")
        try:
            state = self.venue.probe(wire, self.scope)
        except ProbeFailed as failed:
            self.failed(step, failed.error)
            self._refused(failed.error)
            return
        if state is ScopeState.MISSING:
            self._missing(wire.last_error)
        else:
            self.evidence.scopes[self.scope] = state
        shown = self.evidence.scopes.get(self.scope, ScopeState.UNKNOWN)
        self.emit(step, "ok" if shown is ScopeState.GRANTED else "failed", shown.value)

    def _missing(self, error: VenueError | None) -> None:
        if error is not None and error.kind in _KEY_REFUSALS:
            # The venue's probe read a refusal of the key itself as the missing scope (Kraken Futures'
            # `authenticationError`); after a balance call that is fair, on its own it is not.
            self._ambiguous(error)
            return
        self.evidence.scopes[self.scope] = ScopeState.MISSING
        self.evidence.error = error
        if self.evidence.egress.stored_whitelist_points_at_ip(self.meta.ip_whitelist):
            self.evidence.warnings.append(
                f"{self.meta.exchange} may refuse an address outside the key's allowlist with this same "
                "error, and the stored whitelist points at the address; the full re-test tells them apart")

    def _ambiguous(self, error: VenueError) -> None:
        self.evidence.warnings.append(
            f"{self.meta.exchange} answers a wrong key, a blocked address and a missing permission alike "
            f"({error.code}): one request cannot tell them apart; run the full re-test")
        self.evidence.fail(Diagnosis.UNKNOWN, error)

    def _refused(self, error: VenueError) -> None:
        kind = error.kind
        if kind is ErrorKind.AMBIGUOUS_AUTH or (kind is ErrorKind.AUTH and self.venue.auth_is_ambiguous):
            self._ambiguous(error)
        elif kind is ErrorKind.IP_DENIED:
            self.evidence.fail_ip(error)
        elif kind is ErrorKind.DENIED:
            self._missing(error)
        elif kind is ErrorKind.AUTH:
            if self.venue.sibling is not None:
                self.evidence.warnings.append(
                    f"not tried on {self.venue.sibling}: the full re-test checks whether the key was saved "
                    "under the wrong product")
            self.evidence.fail(Diagnosis.CREDENTIALS_REJECTED, error)
        else:
            self.evidence.fail(DIAGNOSIS_BY_KIND[kind], error)


def _full_retest(console: Console, key_id: int, scope: Scope, reason: str, *, actor: Actor, ticket: str,
                 progress: Progress | None, ignore_cooldown: bool) -> ScopeAnswer:
    test = run_retest(console, key_id, actor=actor, ticket=ticket, trigger="retest", progress=progress,
                      ignore_cooldown=ignore_cooldown)
    return ScopeAnswer.from_test(key_id, scope, test, via="retest", fallback_reason=reason)


def probe_scope(
    console: Console,
    key_id: int,
    scope: str | Scope,
    *,
    actor: Actor,
    ticket: str = "",
    progress: Progress | None = None,
    ignore_cooldown: bool = False,
) -> ScopeAnswer:
    """Ask the venue about one scope of a stored key; record one audit row and nothing else.

    Raises KeyInputError (no such key or scope), CryptoError (no master key; nothing recorded) or
    RetestRefused (a test or probe of this key is running, or one ran less than `retest_cooldown_s` ago).
    """
    try:
        wanted = Scope(scope)
    except ValueError:
        raise KeyInputError(f"unknown scope {str(scope)[:40]!r}") from None
    with console.session() as session:
        row = session.get(ExchangeKey, key_id)
        if row is None:
            raise KeyInputError(f"no exchange key with id {key_id}")
        exchange = row.exchange
    if wanted not in venue_for(exchange).probe_scopes:
        reason = f"{exchange} cannot check {wanted.value} with one request: ran the full connection test"
        return _full_retest(console, key_id, wanted, reason, actor=actor, ticket=ticket, progress=progress,
                            ignore_cooldown=ignore_cooldown)
    guard_ccxt_logger()
    with leased_key(console, key_id, ignore_cooldown=ignore_cooldown) as key:
        test = run_plan(ScopePlan(key.take_credentials(), key.meta, console.settings, wanted, progress))
        answer = ScopeAnswer.from_test(key_id, wanted, test, via="probe")
        key.record(lambda session, _row: audit.record(
            session, actor, Action.KEY_PROBE, ticket=ticket, subject_user_id=key.user_id,
            subject_key_id=key_id, result=test.diagnosis,
            detail={"scope": answer.scope, "state": answer.state, "outcome": test.outcome,
                    "requests": test.requests, "egress_ip": test.egress_ip},
        ))
    return answer
