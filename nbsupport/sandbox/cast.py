"""The demo cast: one deterministic key per failure mode, with the diagnosis the console should reach.

Credentials are derived from a fixed seed and the case name, so every run (and every machine) produces the
same keys: the demo database, the sandbox and the tests agree without sharing state.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from nbsupport.diagnosis import STRATEGY_SCOPES, Diagnosis, Scope
from nbsupport.sandbox.keys import Fault, Product, SandboxKey

ClaimedExchange = Literal["kraken", "krakenfutures"]

_SEED = b"noon-barbari/sandbox-cast/v1"
# The address the demo's egress proxy leaves from; keys allowlisting it pass only through that proxy.
DEMO_EGRESS_IP = "127.0.0.2"
# A documentation address (TEST-NET-3): the user's home IP, which the platform never sends from.
FOREIGN_IP = "203.0.113.7"
# A nonce another process already reached: milliseconds far beyond any clock the console will see.
NONCE_FAR_AHEAD = 9_999_999_999_999


@dataclass(frozen=True)
class CastMember:
    name: str
    # What the sandbox registers; None when the venue does not know the key at all.
    key: SandboxKey | None
    claimed_exchange: ClaimedExchange
    # The credential as the user stored it (it may differ from what the venue holds).
    api_key: str
    secret: str = field(repr=False)
    expected_diagnosis: str = Diagnosis.OK.value


def _derive(name: str, purpose: str, size: int) -> bytes:
    out = b""
    counter = 0
    while len(out) < size:
        out += hmac.new(_SEED, f"{name}/{purpose}/{counter}".encode(), hashlib.sha512).digest()
        counter += 1
    return out[:size]


def derived_api_key(name: str) -> str:
    # 42 bytes encode to 56 characters, the length of Kraken's public keys.
    return base64.b64encode(_derive(name, "api-key", 42)).decode()


def derived_secret(name: str, *, must_contain: str = "") -> str:
    """Base64 of 64 bytes, like Kraken's private keys; `must_contain` picks a variant holding that text."""
    for variant in range(1000):
        secret = base64.b64encode(_derive(name, f"secret/{variant}", 64)).decode()
        if must_contain in secret:
            return secret
    raise RuntimeError(f"no derived secret for {name!r} contains {must_contain!r}")


def _member(
    name: str,
    expected: Diagnosis,
    *,
    product: Product = "spot",
    claimed: ClaimedExchange | None = None,
    **key_settings: object,
) -> CastMember:
    api_key, secret = derived_api_key(name), derived_secret(name)
    # `key_settings` are SandboxKey's own optional fields; a TypedDict for them would be a second copy of
    # that list, so the checker takes the dataclass's word at run time.
    key = SandboxKey(api_key=api_key, secret=secret, product=product, name=name, **key_settings)  # type: ignore[arg-type]
    claimed_exchange: ClaimedExchange = claimed or ("kraken" if product == "spot" else "krakenfutures")
    return CastMember(name, key, claimed_exchange, api_key, secret, expected.value)


def demo_cast() -> list[CastMember]:
    strategy = frozenset(STRATEGY_SCOPES)
    members = [
        _member("healthy-spot", Diagnosis.OK),
        _member(
            "healthy-futures", Diagnosis.OK, product="futures", balances={"USD": "5000.00", "XBT": "0.0500"}
        ),
        _member("healthy-spot-no-key-info", Diagnosis.OK, key_info_enabled=False),
        _member("egress-allowlisted", Diagnosis.OK, ip_allowlist=(DEMO_EGRESS_IP,)),
        _member(
            "missing-closed-orders",
            Diagnosis.MISSING_PERMISSION,
            permissions=strategy - {Scope.QUERY_CLOSED_ORDERS},
        ),
        _member(
            "missing-create-orders",
            Diagnosis.MISSING_PERMISSION,
            permissions=strategy - {Scope.CREATE_ORDERS},
        ),
        _member("withdraw-enabled", Diagnosis.WITHDRAW_ENABLED, permissions=strategy | {Scope.WITHDRAW}),
        _member("ip-restricted", Diagnosis.IP_NOT_ALLOWED, ip_allowlist=(FOREIGN_IP,)),
        _member("otp-required", Diagnosis.OTP_REQUIRED, otp="482913"),
        _member("expired", Diagnosis.KEY_EXPIRED, expires_at=datetime(2024, 6, 30, tzinfo=UTC)),
        _member("nonce-ahead", Diagnosis.NONCE_REJECTED, nonce_floor=NONCE_FAR_AHEAD),
        _member("rate-limited", Diagnosis.RATE_LIMITED, fault=Fault.RATE_LIMITED),
        _member("lockout", Diagnosis.RATE_LIMITED, fault=Fault.LOCKOUT),
        _member("service-unavailable", Diagnosis.EXCHANGE_UNAVAILABLE, fault=Fault.SERVICE_UNAVAILABLE),
        _member("html-502", Diagnosis.EXCHANGE_UNAVAILABLE, fault=Fault.HTML_502),
        _member("timeout", Diagnosis.NETWORK_ERROR, fault=Fault.TIMEOUT),
        _member("region-blocked", Diagnosis.REGION_BLOCKED, fault=Fault.REGION_BLOCKED),
        _member("spot-key-saved-as-futures", Diagnosis.WRONG_PRODUCT, claimed="krakenfutures"),
        _member("futures-key-saved-as-spot", Diagnosis.WRONG_PRODUCT, product="futures", claimed="kraken"),
    ]
    # The venue holds the real secret; the user stored a different, well-formed one.
    wrong = _member("wrong-secret", Diagnosis.CREDENTIALS_REJECTED)
    members.append(
        CastMember(
            wrong.name,
            wrong.key,
            "kraken",
            wrong.api_key,
            derived_secret("wrong-secret/typo"),
            wrong.expected_diagnosis,
        )
    )
    # A clipboard turned '+' into ' ': preflight rejects it before any request, so the venue never sees it.
    real = derived_secret("clipboard-mangled-secret", must_contain="+")
    mangled_key = SandboxKey(
        api_key=derived_api_key("clipboard-mangled-secret"), secret=real, name="clipboard-mangled-secret"
    )
    members.append(
        CastMember(
            "clipboard-mangled-secret",
            mangled_key,
            "kraken",
            mangled_key.api_key,
            real.replace("+", " "),
            Diagnosis.SECRET_MALFORMED.value,
        )
    )
    # The healthy spot key stored a second time, for another practice user: one API key, two copies, which
    # the lookup and key pages show and a re-test warns about (two systems signing with one key clash on
    # its nonces). The venue knows it once.
    healthy = members[0]
    members.append(CastMember("shared-key", healthy.key, "kraken", healthy.api_key, healthy.secret,
                              Diagnosis.OK.value))
    members.append(
        CastMember(
            "unknown-key",
            None,
            "kraken",
            derived_api_key("unknown-key"),
            derived_secret("unknown-key"),
            Diagnosis.CREDENTIALS_REJECTED.value,
        )
    )
    return members


def cast_by_name() -> dict[str, CastMember]:
    return {m.name: m for m in demo_cast()}
