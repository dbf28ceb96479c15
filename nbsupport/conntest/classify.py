"""Differential diagnosis: from what each request said (`ErrorKind`) and the pattern across them to one code.

How each code is decided (the runner gathers the evidence, `verdict()` concludes):

* secret_malformed / key_expired (stored expiry): preflight, before any request.
* credentials_rejected: the balance call was refused as an unknown key or bad signature and the same
  credentials were also refused by the sibling product (Kraken spot <-> Kraken Futures), or the sibling
  could not be asked (an outage, a timeout): then a warning says a wrong product is not ruled out.
* wrong_product: refused as above, accepted by the sibling product.
* missing_permission: a required scope is `missing`, read from the key's own settings (GetApiKeyInfo,
  the Futures key check, Binance API restrictions, ...) or from a scope probe refused with a permission
  error; a trading permission past its own expiry (Binance) is missing too.
* ip_not_allowed: the key's reported allowlist does not contain the platform egress, or a venue says so
  in words (Bybit 10010, OKX 50110). Inferences from a pattern of refusals apply only to venues whose docs
  support them (`nbsupport.venues.base.Venue`): `denied_may_be_address` (Kraken spot: the address gets the
  same `EGeneral:Permission denied` as a missing scope, so GetApiKeyInfo, which needs no permission,
  refused too, or every probe refused, means the address); a refused key whose stored whitelist points at
  the address, unless the venue has its own address error (`address_error_is_distinct`). A -2015 after
  Binance's restrictions answered is never the address: that call is checked like any other, so the key is
  valid and the address allowed (`unknown` when the restrictions grant everything). Evidence from the
  venue's own report of the allowlist (it lacks `settings.egress_ip`) blames the customer's list even on
  a direct test, since it does not depend on where the test left from.
  **Egress mismatch**: when a refused test did not leave from the platform egress (no proxy configured),
  the venue reports an allowlist that contains our egress address and still refused us, or it accepted
  us through the proxy although its allowlist lacks our egress address, the code stays
  `ip_not_allowed` but `detail.egress_mismatch` is true, a warning says the customer's allowlist was not
  tested, and the fix speaks to support instead of the customer.
* withdraw_enabled: everything required is granted but so is withdraw (outcome `warning`).
* otp_required, nonce_rejected, rate_limited (incl. lockout), exchange_unavailable, network_error,
  region_blocked: the venue's own words (raw error code or HTTP status), whichever request met them; the
  test stops there, since further requests cannot help and may extend a lockout.
* unknown: a response that is not the venue's format, or an error no rule recognises.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from nbsupport.diagnosis import Diagnosis, Outcome, Scope, ScopeState
from nbsupport.venues.base import ErrorKind, KeyInfo, VenueError
from nbsupport.vocabulary import CAUSES_BY_KIND

# The classifier's first answer for each reading is the most likely cause of the one vocabulary table
# (nbsupport.vocabulary), the same one the error guide ranks first for a pasted error.
DIAGNOSIS_BY_KIND: dict[ErrorKind, Diagnosis] = {kind: causes[0] for kind, causes in CAUSES_BY_KIND.items()}

# Codes that mean the key cannot be used as it is; the rest of the vocabulary is ok or a warning.
FAILED_DIAGNOSES = frozenset(Diagnosis) - {Diagnosis.OK, Diagnosis.WITHDRAW_ENABLED}

EXPIRY_WARNING_DAYS = 14


def covers(allowlist: list[str] | tuple[str, ...], address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    for entry in allowlist:
        try:
            if ip in ipaddress.ip_network(str(entry).strip(), strict=False):
                return True
        except ValueError:
            continue
    return False


@dataclass(frozen=True)
class Egress:
    via_proxy: bool
    egress_ip: str  # the address users whitelist (settings.egress_ip)

    @property
    def left_from(self) -> str:
        return self.egress_ip if self.via_proxy else "direct"

    def mismatch(self, reported_allowlist: list[str] | None) -> bool:
        """Whether an IP refusal says nothing about the customer's allowlist."""
        if not self.via_proxy:
            return True
        return bool(reported_allowlist) and covers(reported_allowlist or [], self.egress_ip)

    def stored_whitelist_points_at_ip(self, whitelist: tuple[str, ...]) -> bool:
        """The user told us they restrict the key to addresses, and the test did not come from one."""
        return bool(whitelist) and (not self.via_proxy or not covers(whitelist, self.egress_ip))


@dataclass
class Evidence:
    required: list[Scope]
    egress: Egress
    now: datetime
    scopes: dict[Scope, ScopeState] = field(default_factory=dict)
    failure: Diagnosis | None = None
    error: VenueError | None = None
    key_info: KeyInfo | None = None
    warnings: list[str] = field(default_factory=list)
    detail: dict[str, object] = field(default_factory=dict)

    def fail(self, diagnosis: Diagnosis, error: VenueError | None = None) -> None:
        if self.failure is None:
            self.failure, self.error = diagnosis, error

    def fail_ip(self, error: VenueError | None, reported_allowlist: list[str] | None = None) -> None:
        mismatch = self.egress.mismatch(reported_allowlist)
        self.detail["egress_mismatch"] = mismatch
        if mismatch:
            self.warnings.append(
                f"the key refused a test that left from {self.egress.left_from}, not from the platform "
                f"egress {self.egress.egress_ip}: the customer's allowlist was not tested"
            )
        self.fail(Diagnosis.IP_NOT_ALLOWED, error)


@dataclass(frozen=True)
class Verdict:
    diagnosis: Diagnosis
    outcome: Outcome
    permissions: dict[str, str]
    missing: list[str]
    exchange_error: str


def key_settings_findings(evidence: Evidence, info: KeyInfo) -> None:
    """What the key's own settings reveal beyond scopes: allowlist, query window, expiry."""
    if info.ip_allowlist and not covers(info.ip_allowlist, evidence.egress.egress_ip):
        evidence.detail["allowlist_excludes_egress"] = True
        if evidence.egress.via_proxy:
            # Accepted through our proxy although its configured address is not listed: the proxy does not
            # leave from the address users are told to whitelist. The customer's list is fine.
            evidence.detail["egress_mismatch"] = True
            evidence.warnings.append(
                f"the key accepted a test through the egress proxy although its allowlist lacks "
                f"{evidence.egress.egress_ip}: the proxy does not leave from the configured egress address")
        else:
            evidence.detail["egress_mismatch"] = False
        evidence.fail(Diagnosis.IP_NOT_ALLOWED)
    if info.query_from is not None:
        evidence.warnings.append(f"the key's query window starts {info.query_from:%Y-%m-%d}: older orders "
                                 "and trades are hidden from the API (backfills will come back short)")
    if info.query_to is not None:
        evidence.warnings.append(f"the key's query window ends {info.query_to:%Y-%m-%d}: newer orders and "
                                 "trades are hidden from the API")
    if info.expires_at is not None:
        if info.expires_at <= evidence.now:
            evidence.fail(Diagnosis.KEY_EXPIRED)
        elif info.expires_at - evidence.now < timedelta(days=EXPIRY_WARNING_DAYS):
            evidence.warnings.append(f"the key expires on {info.expires_at:%Y-%m-%d} (venue setting)")
    if info.trading_expires_at is not None:
        if info.trading_expires_at <= evidence.now:
            # The venue lifts the permission itself at that moment, whatever the flag still says.
            evidence.scopes[Scope.CREATE_ORDERS] = evidence.scopes[Scope.CANCEL_ORDERS] = ScopeState.MISSING
            evidence.warnings.append(
                f"the key's trading permission lapsed on {info.trading_expires_at:%Y-%m-%d}")
        elif info.trading_expires_at - evidence.now < timedelta(days=EXPIRY_WARNING_DAYS):
            evidence.warnings.append(
                f"the key's trading permission lapses on {info.trading_expires_at:%Y-%m-%d} (venue setting)")
    evidence.warnings.extend(info.notes)


def verdict(evidence: Evidence) -> Verdict:
    shown = [*evidence.required, *([Scope.WITHDRAW] if Scope.WITHDRAW not in evidence.required else [])]
    states = {s: evidence.scopes.get(s, ScopeState.UNKNOWN) for s in shown}
    missing = [s.value for s in evidence.required if states[s] is ScopeState.MISSING]
    withdraw = states[Scope.WITHDRAW] is ScopeState.GRANTED and Scope.WITHDRAW not in evidence.required
    if evidence.failure is not None:
        diagnosis = evidence.failure
    elif missing:
        diagnosis = Diagnosis.MISSING_PERMISSION
    elif withdraw:
        diagnosis = Diagnosis.WITHDRAW_ENABLED
    else:
        diagnosis = Diagnosis.OK
    if diagnosis is not Diagnosis.MISSING_PERMISSION and missing:
        evidence.warnings.append(f"also missing: {', '.join(missing)}")
        missing = []
    if withdraw and diagnosis is not Diagnosis.WITHDRAW_ENABLED:
        evidence.warnings.append("withdraw is enabled on this key; Noon Barbari never needs it")
    unverified = [s.value for s in evidence.required if states[s] is ScopeState.UNKNOWN]
    if diagnosis is Diagnosis.OK and unverified:
        evidence.warnings.append(f"not verified on this venue: {', '.join(unverified)}")
    if diagnosis in FAILED_DIAGNOSES:
        outcome = Outcome.FAILED
    elif diagnosis is Diagnosis.WITHDRAW_ENABLED or evidence.warnings:
        outcome = Outcome.WARNING
    else:
        outcome = Outcome.OK
    return Verdict(
        diagnosis=diagnosis,
        outcome=outcome,
        permissions={s.value: states[s].value for s in shown},
        missing=missing,
        exchange_error=evidence.error.code if evidence.error is not None else "",
    )
