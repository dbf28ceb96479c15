"""The probe plan: preflight, one balance request, the key's settings or scope probes, the sibling check.

Requests per plan (every request for one key strictly after the previous one; nothing changes state):

================================================  ======  =============  =======  ======  ===================
case                                              kraken  krakenfutures  binance  bybit*  other ccxt venues
================================================  ======  =============  =======  ======  ===================
secret malformed, credential missing, expired     0       0              0        0       0
healthy key, key settings readable                2       2              2        2       1 + public loads
healthy key, key settings unavailable             7       5              2        2       -
credentials refused (sibling product tried once)  2       3              2        1       1
permission refused on balance, key settings read  2       2              2        2       1
... and key settings unavailable                  7       3              -        2       -
transient failure (rate limit, 5xx, network...)   1       1              1        1       1
================================================  ======  =============  =======  ======  ===================

bybit*: the same for okx and coinbase; no sibling product and no scope probes (unreadable settings
leave the scopes unknown).

Kraken spot: Balance, GetApiKeyInfo; without key info OpenOrders, ClosedOrders, AddOrder(validate),
CancelOrder(impossible txid), WithdrawInfo(impossible key) (nbsupport.venues.kraken). On Kraken's per-key
counter (Starter: 15, -0.33/s, shared with the user's strategy) that is 2 points, or 5 with the probes.
Futures: accounts, the key check; without it openorders, fills, cancelorder(impossible id). Binance:
account, apiRestrictions. Bybit: wallet-balance (UNIFIED), query-api. OKX: account/balance,
account/config. Coinbase: brokerage/accounts (limit 1), key_permissions. Other venues: ccxt's
fetch_balance (public market loading first, unsigned).
A full test costs one round trip per request: ccxt's rate limiter is off (nbsupport.venues.client); the
key's budget is protected by the per-key lease and cooldown (nbsupport.conntest.locks).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

from nbsupport.config import Settings
from nbsupport.conntest.classify import DIAGNOSIS_BY_KIND, Egress, Evidence, key_settings_findings, verdict
from nbsupport.conntest.fix import fix_payload, reply_facts
from nbsupport.conntest.outcome import ConnectionOutcome
from nbsupport.conntest.preflight import refuse_unserved_demo_venue, run_preflight
from nbsupport.conntest.result import KeyMeta, ProgressEvent, console_error_text
from nbsupport.credentials import Credentials
from nbsupport.diagnosis import Diagnosis, Scope, ScopeState
from nbsupport.venues.base import TERMINAL_KINDS, ErrorKind, KeyInfo, ProbeFailed, Venue, VenueError
from nbsupport.venues.client import build_client, guard_ccxt_logger
from nbsupport.venues.kraken import NONCES
from nbsupport.venues.registry import venue_for
from nbsupport.venues.wire import Wire

Progress = Callable[[ProgressEvent], None]

# What a sibling product may answer about credentials it was shown: it knows the key or it does not.
# Anything else (an outage, a timeout, a throttled or unreadable answer) leaves the sibling unchecked,
# and with it the chance that the key was saved under the wrong product.
_SIBLING_ANSWERS = frozenset({ErrorKind.AUTH, ErrorKind.AMBIGUOUS_AUTH, ErrorKind.DENIED, ErrorKind.IP_DENIED,
                              ErrorKind.EXPIRED, ErrorKind.OTP, ErrorKind.NONCE})
# A key-settings call that answered something unusable (an HTML 404, a 5xx, a garbage body) says nothing
# about the key: the state-free probes still can. The other terminal kinds stop the plan there.
_KEY_INFO_STOPS = TERMINAL_KINDS - {ErrorKind.UNAVAILABLE, ErrorKind.GARBAGE}


class ProbePlan:
    """One test of one key: the plan's steps, the evidence they gather, the outcome concluded from it.
    `run_plan` runs it; a narrower plan (nbsupport.conntest.scope_probe) overrides `plan`."""

    def __init__(self, credentials: Credentials, meta: KeyMeta, settings: Settings,
                 progress: Progress | None) -> None:
        self.credentials = credentials
        self.meta = meta
        self.settings = settings
        self.progress = progress
        self.venue = venue_for(meta.exchange)
        self.steps: list[ProgressEvent] = []
        self.requests = 0
        self.started = datetime.now(UTC)
        self.evidence = Evidence(
            required=[Scope(s) for s in meta.required_scopes],
            egress=Egress(via_proxy=bool(settings.egress_proxy), egress_ip=settings.egress_ip),
            now=self.started,
        )

    # --- reporting ---------------------------------------------------------------------------------------

    def emit(self, step: str, status: str, detail: str = "") -> None:
        event = ProgressEvent(step, status, detail)
        if status != "running":
            self.steps.append(event)
        if self.progress is not None:
            self.progress(event)

    def failed(self, step: str, error: VenueError) -> None:
        self.emit(step, "failed", f"{error.kind.value}: {error.code}")

    # --- the plan ----------------------------------------------------------------------------------------

    def run(self) -> None:
        if self.meta.shared_with:
            copies = ", ".join(f"key {s.key_id} (user {s.user_id})" for s in self.meta.shared_with)
            self.evidence.warnings.append(
                f"this API key is also stored as {copies}: two systems signing with one key clash on its "
                "nonces (rejected nonces, a locked-out strategy); keep one copy and delete the others")
        self.emit("preflight", "running")
        pre = run_preflight(self.credentials, self.meta, self.venue, self.started)
        self.evidence.warnings.extend(pre.warnings)
        if pre.fatal is not None:
            self.emit("preflight", "failed", pre.reason)
            self.evidence.detail["preflight"] = pre.reason
            self.evidence.fail(pre.fatal)
            return
        self.emit("preflight", "warning" if pre.warnings else "ok", "; ".join(pre.warnings))
        wire = self._wire(self.venue, self.meta.exchange)
        try:
            self.plan(wire)
        finally:
            self.requests += wire.requests
            wire.close()

    def _wire(self, venue: Venue, exchange_id: str) -> Wire:
        client = build_client(exchange_id, self.credentials, self.settings, venue)
        return Wire(client, venue, (self.credentials.api_key, self.credentials.secret,
                                    self.credentials.password or "", self.credentials.uid or ""))

    def plan(self, wire: Wire) -> None:
        self.emit("balance", "running")
        refused: VenueError | None = None
        try:
            self.venue.balance(wire)
        except ProbeFailed as failed:
            refused = failed.error
        if refused is not None:
            self.failed("balance", refused)
            self._balance_refused(wire, refused)
            return
        self.emit("balance", "ok")
        self.evidence.scopes[Scope.QUERY_FUNDS] = ScopeState.GRANTED
        info, error = self._key_info(wire)
        if error is not None and error.kind in _KEY_INFO_STOPS:
            self.evidence.fail(DIAGNOSIS_BY_KIND[error.kind], error)
            return
        if info is not None:
            self._apply_key_info(info, balance_ok=True)
        else:
            self._key_info_unavailable(error)
            self._probe_scopes(wire)

    def _key_info(self, wire: Wire) -> tuple[KeyInfo | None, VenueError | None]:
        self.emit("key_info", "running")
        try:
            info = self.venue.key_info(wire)
        except ProbeFailed as failed:
            if failed.error.kind is ErrorKind.NOT_SUPPORTED:
                # Neutral, not a failure: this key (or venue) does not expose its settings; probes follow.
                why = f"the key does not report its settings ({failed.error.code}); each permission is probed"
                self.emit("key_info", "skipped", why)
            else:
                self.failed("key_info", failed.error)
            return None, failed.error
        if info is None:
            self.emit("key_info", "skipped", f"{self.meta.exchange} reports no key settings")
            return None, None
        shown = ", ".join(f"{k}={v}" for k, v in info.summary.items() if k != "permissions")
        self.emit("key_info", "ok", shown)
        return info, None

    def _key_info_unavailable(self, error: VenueError | None) -> None:
        """Say so when the key's settings could not be read and probes stand in. A venue (or region) that
        has no such call (`not_supported`: Kraken's `EGeneral:Unknown method`) is the probes' normal case."""
        if error is not None and error.kind is not ErrorKind.NOT_SUPPORTED:
            self.evidence.warnings.append(
                f"key settings were unavailable ({error.kind.value}: {error.code}): the scopes were checked "
                "by state-free probes instead")

    def _apply_key_info(self, info: KeyInfo, *, balance_ok: bool | None) -> None:
        """`balance_ok` None: the balance was refused with an answer that does not say why (Binance -2015)."""
        self.evidence.key_info = info
        scopes = dict(info.scopes)
        if balance_ok is None:
            # Settings that grant reading cannot explain the refusal, nor can it prove reading missing.
            if scopes.get(Scope.QUERY_FUNDS) is ScopeState.GRANTED:
                scopes[Scope.QUERY_FUNDS] = ScopeState.UNKNOWN
        else:
            # What the balance call itself showed beats what the settings claim.
            scopes[Scope.QUERY_FUNDS] = ScopeState.GRANTED if balance_ok else ScopeState.MISSING
        self.evidence.scopes.update(scopes)
        self.evidence.detail["key_settings"] = {
            **info.summary,
            "ip_allowlist": info.ip_allowlist,
            "ip_restricted": info.ip_restricted,
            "nonce_window": info.nonce_window,
            "expires_at": info.expires_at.isoformat() if info.expires_at else None,
            "query_from": info.query_from.isoformat() if info.query_from else None,
            "query_to": info.query_to.isoformat() if info.query_to else None,
        }
        key_settings_findings(self.evidence, info)

    def _probe_scopes(self, wire: Wire) -> None:
        wanted = [s for s in self.venue.probe_scopes if s in self.evidence.required or s is Scope.WITHDRAW]
        for scope in wanted:
            step = f"scope:{scope.value}"
            self.emit(step, "running")
            try:
                state = self.venue.probe(wire, scope)
            except ProbeFailed as failed:
                self.failed(step, failed.error)
                if failed.error.kind in TERMINAL_KINDS:
                    self.evidence.fail(DIAGNOSIS_BY_KIND[failed.error.kind], failed.error)
                    return
                self.evidence.warnings.append(f"{scope.value}: unexpected answer {failed.error.code}")
                continue
            self.evidence.scopes[scope] = state
            required = scope in self.evidence.required
            if state is ScopeState.MISSING and required and self.evidence.error is None:
                self.evidence.error = wire.last_error
            # Withdraw is the scope a key must not have: missing is the good case, granted the warning.
            unwanted = scope is Scope.WITHDRAW and not required
            good = state is (ScopeState.MISSING if unwanted else ScopeState.GRANTED)
            self.emit(step, "ok" if good else "warning" if unwanted else "failed", state.value)
        for implied, source in self.venue.implied_scopes.items():
            if implied in self.evidence.required:
                self.evidence.scopes[implied] = self.evidence.scopes.get(source, ScopeState.UNKNOWN)
        if self.evidence.scopes.get(Scope.WITHDRAW, ScopeState.UNKNOWN) is ScopeState.UNKNOWN:
            self.evidence.warnings.append(self.venue.withdraw_note())

    # --- when the balance call was refused ---------------------------------------------------------------

    def _balance_refused(self, wire: Wire, error: VenueError) -> None:
        kind = error.kind
        ambiguous_auth = kind is ErrorKind.AUTH and self.venue.auth_is_ambiguous
        if kind is ErrorKind.DENIED or kind is ErrorKind.AMBIGUOUS_AUTH or ambiguous_auth:
            self._refused_differential(wire, error)
        elif kind is ErrorKind.AUTH:
            self._credentials_refused(error)
        elif kind is ErrorKind.IP_DENIED:
            self.evidence.fail_ip(error)
        else:
            self.evidence.fail(DIAGNOSIS_BY_KIND[kind], error)

    def _refused_differential(self, wire: Wire, error: VenueError) -> None:
        """Refused for key, address or permission: ask the key's settings (they need no permission)."""
        info, info_error = self._key_info(wire)
        if info is not None:
            # The settings answered, so the key is valid and (where the venue checks it per key) the address
            # allowed: an ambiguous refusal (Binance -2015) is left to the scopes the settings report.
            self._apply_key_info(info, balance_ok=None if error.kind is ErrorKind.AMBIGUOUS_AUTH else False)
            if self.evidence.failure is None:
                scopes, required = self.evidence.scopes, self.evidence.required
                missing = any(scopes.get(s) is ScopeState.MISSING for s in required)
                if not missing:
                    self.evidence.warnings.append(
                        "the key's settings answered and grant every required permission, yet the balance "
                        f"was refused ({error.code}): the venue's answer does not say why")
                # Settings that grant everything yet a refused balance: nothing here explains it.
                self.evidence.fail(Diagnosis.MISSING_PERMISSION if missing else Diagnosis.UNKNOWN, error)
            return
        if info_error is not None and info_error.kind in _KEY_INFO_STOPS:
            self.evidence.fail(DIAGNOSIS_BY_KIND[info_error.kind], info_error)
            return
        address_too = self.venue.denied_may_be_address
        if address_too and error.kind is ErrorKind.DENIED and info_error is not None and (
                info_error.kind is ErrorKind.DENIED):
            # A call that needs no permission was refused with the permission error: it is the address.
            self.evidence.fail_ip(error)
            return
        if error.kind is ErrorKind.DENIED:
            self.evidence.scopes[Scope.QUERY_FUNDS] = ScopeState.MISSING
            self._key_info_unavailable(info_error)
            self._probe_scopes(wire)
            if self.evidence.failure is not None:
                return
            probed = [self.evidence.scopes.get(s) for s in self.venue.probe_scopes]
            if address_too and probed and all(state is ScopeState.MISSING for state in probed):
                self.evidence.warnings.append("every scope was refused: either the address is outside the "
                                              "key's allowlist or the key has no permissions at all")
                self.evidence.fail_ip(error)
            else:
                self.evidence.fail(Diagnosis.MISSING_PERMISSION, error)
            return
        self._credentials_refused(error)

    def _credentials_refused(self, error: VenueError) -> None:
        sibling = self.venue.sibling
        if sibling is not None and self._sibling_accepts(sibling):
            self.evidence.detail["accepted_by"] = sibling
            self.evidence.fail(Diagnosis.WRONG_PRODUCT, error)
            return
        hint = self.venue.refusal_hint(error, self.credentials.secret)
        if hint:
            self.evidence.warnings.append(hint)
        if not self.venue.address_error_is_distinct and self.evidence.egress.stored_whitelist_points_at_ip(
                self.meta.ip_whitelist):
            self.evidence.warnings.append("the venue gives one answer for a wrong key and for an address "
                                          "outside the key's whitelist; the stored whitelist points at the "
                                          "address")
            self.evidence.fail_ip(error)
            return
        self.evidence.fail(Diagnosis.CREDENTIALS_REJECTED, error)

    def _sibling_accepts(self, sibling: str) -> bool:
        venue = venue_for(sibling)
        self.emit("sibling", "running", sibling)
        problem = venue.check_secret(self.credentials.secret)
        if problem:
            self.emit("sibling", "skipped", problem)
            return False
        wire = self._wire(venue, sibling)
        try:
            venue.balance(wire)
        except ProbeFailed as failed:
            error = failed.error
            self.failed("sibling", error)
            checked = error.kind in _SIBLING_ANSWERS
            self.evidence.detail["sibling"] = {"exchange": sibling, "error": error.code,
                                               "kind": error.kind.value, "checked": checked}
            if not checked:
                why = f"{error.kind.value}: {wire.scrub(error.code)}"
                self.evidence.warnings.append(
                    f"{sibling} could not be checked ({why}), so a key saved under the wrong product is not "
                    f"ruled out: re-test once {sibling} answers")
            return False
        finally:
            self.requests += wire.requests
            wire.close()
        self.emit("sibling", "ok", f"{sibling} accepts these credentials")
        return True

    # --- result ------------------------------------------------------------------------------------------

    def result(self, duration_ms: int) -> ConnectionOutcome:
        concluded = verdict(self.evidence)
        error = self.evidence.error
        ours = error if error is not None and error.source == "console" else None  # our side's failure
        return ConnectionOutcome(
            key_id=self.meta.key_id,
            test_id=None,
            outcome=concluded.outcome.value,
            diagnosis=concluded.diagnosis.value,
            missing_permissions=concluded.missing,
            permissions=concluded.permissions,
            exchange_error=concluded.exchange_error,
            requests=self.requests,
            duration_ms=duration_ms,
            fix=fix_payload(reply_facts(concluded, self.meta, self.evidence)),
            # A test that sent nothing took no route: claiming one would be a guess.
            egress_ip=self.evidence.egress.left_from if self.requests else "",
            warnings=list(dict.fromkeys(self.evidence.warnings)),
            steps=list(self.steps),
            started_at=self.started,
            detail=dict(self.evidence.detail),
            error_source=error.source if error is not None else None,
            error_text=console_error_text(ours.code, self.settings.request_timeout_ms) if ours else "",
        )


def check_credentials(
    exchange_id: str,
    credentials: Credentials,
    key_meta: KeyMeta | None,
    settings: Settings,
    progress: Progress | None = None,
) -> ConnectionOutcome:
    """Run the plan for one key without touching the database. Thread-safe; one key at a time per key."""
    guard_ccxt_logger()
    meta = key_meta or KeyMeta(exchange=exchange_id)
    if meta.exchange != exchange_id:
        meta = replace(meta, exchange=exchange_id)
    return run_plan(ProbePlan(credentials, meta, settings, progress))


def run_plan(run: ProbePlan) -> ConnectionOutcome:
    """Run a prepared plan (the full test, or a narrower one built on `ProbePlan`) and time it."""
    refuse_unserved_demo_venue(run.settings, run.meta.exchange)
    started = time.monotonic()
    try:
        run.run()
    finally:
        # Hand the key back only once the clock has passed our last nonce (see nbsupport.venues.kraken).
        NONCES.settle(NONCES.key_id(run.credentials.api_key))
    return run.result(int((time.monotonic() - started) * 1000))

