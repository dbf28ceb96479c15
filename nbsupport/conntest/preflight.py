"""Checks that need no network: a key that fails one is diagnosed without sending a single request; and the
demo's refusal of a venue its sandbox does not serve, before any request is sent or anything recorded."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache

import ccxt
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization

from nbsupport.clock import utc_day
from nbsupport.config import Settings
from nbsupport.conntest.classify import EXPIRY_WARNING_DAYS
from nbsupport.conntest.result import KeyMeta, RetestRefused
from nbsupport.credentials import Credentials
from nbsupport.diagnosis import Diagnosis
from nbsupport.keys import ROTATION_DAYS
from nbsupport.venues.base import Venue

VENUE_NOT_SERVED = "venue_not_served"

# ccxt credential names -> what the user calls them; the console stores only these four.
_STORED = {"apiKey": "API key", "secret": "secret", "password": "passphrase", "uid": "user id"}


@dataclass
class Preflight:
    fatal: Diagnosis | None = None
    reason: str = ""
    warnings: list[str] = field(default_factory=list)


@cache
def required_credentials(exchange_id: str) -> tuple[str, ...]:
    required = getattr(ccxt, exchange_id)().requiredCredentials
    return tuple(name for name, needed in required.items() if needed)


def _pem_problem(secret: str) -> str | None:
    """A PEM private key (Coinbase's ES256 keys) is multi-line by design: it must parse, not be one line."""
    try:
        serialization.load_pem_private_key(secret.strip().encode(), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        return "the secret is a PEM private key that does not parse: a line was lost or altered when pasting"
    return None


def _whitespace_problem(credentials: Credentials) -> str | None:
    if any(c.isspace() for c in credentials.api_key):
        return "the API key contains whitespace: it was pasted with a space or line break"
    if credentials.secret.lstrip().startswith("-----BEGIN "):
        return _pem_problem(credentials.secret)
    if any(c.isspace() for c in credentials.secret):
        inner = credentials.secret.strip() != credentials.secret or " " in credentials.secret.strip()
        hint = " (a '+' turned into a space by a clipboard is the classic cause)" if inner else ""
        return f"the secret contains whitespace{hint}"
    return None


def run_preflight(credentials: Credentials, meta: KeyMeta, venue: Venue, now: datetime) -> Preflight:
    result = Preflight()
    values = {"apiKey": credentials.api_key, "secret": credentials.secret, "password": credentials.password,
              "uid": credentials.uid}
    needed = required_credentials(meta.exchange)
    missing = [_STORED.get(name, name) for name in needed if not values.get(name)]
    if missing:
        result.fatal = Diagnosis.SECRET_MALFORMED
        result.reason = f"{meta.exchange} needs a {', '.join(missing)} and none is stored"
        return result
    problem = _whitespace_problem(credentials) or venue.check_secret(credentials.secret)
    if problem:
        result.fatal, result.reason = Diagnosis.SECRET_MALFORMED, problem
        return result
    if credentials.password is not None and credentials.password != credentials.password.strip():
        result.warnings.append("the passphrase starts or ends with whitespace; check it was pasted exactly")
    if meta.expires_at is not None:
        if meta.expires_at <= now:
            result.fatal = Diagnosis.KEY_EXPIRED
            result.reason = f"the key expired on {utc_day(meta.expires_at)} (stored expiry)"
            return result
        if meta.expires_at - now < timedelta(days=EXPIRY_WARNING_DAYS):
            result.warnings.append(f"the key expires on {utc_day(meta.expires_at)}; ask for a new one now")
    if meta.rotated_at is not None:
        age = (now - meta.rotated_at).days
        if age > ROTATION_DAYS:
            result.warnings.append(
                f"the key was last rotated {age} days ago (policy: every {ROTATION_DAYS} days)")
    return result


def refuse_unserved_demo_venue(settings: Settings, exchange: str) -> None:
    """In demo mode only the venues in NBSUPPORT_EXCHANGE_URLS (the bundled sandbox) can answer; any other
    venue's request would reach our egress proxy or the internet and fail as if the key were bad. Refuse
    before a request is sent, so nothing is recorded against the key."""
    if not settings.demo or exchange in settings.exchange_urls:
        return
    served = ", ".join(sorted(settings.exchange_urls)) or "no venue"
    raise RetestRefused(
        VENUE_NOT_SERVED, 0,
        f"the demo sandbox does not serve {exchange} (it serves {served}): nothing was sent to the venue and "
        "nothing is recorded against the key. Try a practice key (practice+…@noonbarbari.local) instead")
