"""Coinbase Advanced Trade: one accounts read, then the key's own permissions (`key_permissions`).

Canned Coinbase answers from a loopback stub. The credentials are a throwaway CDP key as Coinbase issues it
for Advanced Trade: a key name `organizations/{org}/apiKeys/{id}` and an ECDSA P-256 private key in PEM
("Ed25519 (EdDSA) keys are NOT supported",
https://docs.cdp.coinbase.com/coinbase-app/authentication-authorization/api-key-authentication). The real ccxt
coinbase client mints an ES256 JWT for every request, and the stub verifies its signature with the key's
public half, its key name and the method and path it is bound to; any other JWT gets Coinbase's bare 401.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

from nbsupport.config import Settings
from nbsupport.conntest import ConnectionOutcome, KeyMeta, check_credentials
from nbsupport.credentials import Credentials
from tests.venue_stub import Answer, CannedVenue, Request, canned_venue, leaked

ACCOUNTS_PATH = "/api/v3/brokerage/accounts"
PERMISSIONS_PATH = "/api/v3/brokerage/key_permissions"
API_KEY = (f"organizations/{uuid.UUID('5e3b9a71-2c4d-4f8e-a1b0-7d6c5e4f3a21')}/apiKeys/"
           f"{uuid.UUID('0b7e1c52-3f4a-4d8e-9a61-5c2f7e9d1a34')}")

ACCOUNTS_OK: Answer = (200, {"accounts": [{"uuid": "8bfc20d7-f7c6-4422-bf07-8243ca4169fe", "currency": "BTC",
                                           "available_balance": {"value": "0.1", "currency": "BTC"}}],
                             "has_next": True, "cursor": "789100", "size": 1})
UNAUTHORIZED: Answer = (401, "Unauthorized\n")
# The gRPC gateway error shape of the key_permissions OpenAPI (`grpc.gateway.runtime.Error`).
PERMISSION_DENIED: Answer = (403, {"error": "PERMISSION_DENIED", "error_details": "Missing required scopes",
                                   "message": "Missing required scopes"})


def cdp_secret(key: ec.EllipticCurvePrivateKey) -> str:
    """The private key as a CDP key file holds it: `-----BEGIN EC PRIVATE KEY-----` PEM."""
    return key.private_bytes(Encoding.PEM, PrivateFormat.TraditionalOpenSSL, NoEncryption()).decode()


def ed25519_secret() -> str:
    """What an Ed25519 CDP key holds instead: base64 of the 32-byte seed and the public key."""
    key = Ed25519PrivateKey.generate()
    seed = key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    return base64.b64encode(seed + key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()


PRIVATE_KEY = ec.generate_private_key(ec.SECP256R1())
SECRET = cdp_secret(PRIVATE_KEY)
PUBLIC_KEY = PRIVATE_KEY.public_key()


def permissions(**flags: Any) -> Answer:
    body = {"can_view": True, "can_trade": True, "can_transfer": False,
            "portfolio_uuid": "b87a2d3f-8e7c-4f1a-9d2b-3c4e5f6a7b8c", "portfolio_type": "DEFAULT"}
    return 200, body | flags


def _part(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def verify_cdp_jwt(request: Request) -> str | None:
    """A CDP JWT: ES256 (r || s) over header.payload, kid/sub the key name, bound to this request, in time."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme != "Bearer" or token.count(".") != 2:
        return "no Bearer JWT"
    header_b64, payload_b64, signature_b64 = token.split(".")
    header, payload = json.loads(_part(header_b64)), json.loads(_part(payload_b64))
    if (header.get("alg"), header.get("kid"), payload.get("sub")) != ("ES256", API_KEY, API_KEY):
        return f"unexpected alg {header.get('alg')}, kid or sub"
    raw = _part(signature_b64)
    if len(raw) != 64:
        return "signature is not a P-256 r || s pair"
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    try:
        PUBLIC_KEY.verify(der, f"{header_b64}.{payload_b64}".encode(), ec.ECDSA(SHA256()))
    except InvalidSignature:
        return "signature does not verify"
    uri = str(payload.get("uri", ""))
    if not (uri.startswith(f"{request.method} ") and uri.endswith(request.path)):
        return "token bound to another request"
    if not payload.get("nbf", 0) <= time.time() <= payload.get("exp", 0):
        return "token outside its validity window"
    return None


@pytest.fixture(scope="module")
def coinbase() -> Iterator[CannedVenue]:
    with canned_venue(verify_cdp_jwt, rejected=UNAUTHORIZED) as stub:
        yield stub


def run(stub: CannedVenue, accounts: Answer, key_permissions: Answer, *, secret: str = SECRET,
        meta: KeyMeta | None = None) -> ConnectionOutcome:
    stub.serve({ACCOUNTS_PATH: accounts, PERMISSIONS_PATH: key_permissions})
    result = check_credentials("coinbase", Credentials(API_KEY, secret), meta or KeyMeta(exchange="coinbase"),
                              Settings(exchange_urls={"coinbase": stub.origin}, request_timeout_ms=2000))
    assert leaked(result, API_KEY, SECRET, secret) == []
    return result


def test_healthy_coinbase_key_is_ok_from_two_signed_requests(coinbase: CannedVenue) -> None:
    result = run(coinbase, ACCOUNTS_OK, permissions())
    assert (result.diagnosis, result.outcome, result.requests) == ("ok", "ok", 2)
    assert coinbase.auth_problems == []
    assert coinbase.paths == [ACCOUNTS_PATH, PERMISSIONS_PATH]
    assert coinbase.seen[0].query == "limit=1"
    assert result.permissions["cancel_orders"] == "granted"
    assert result.permissions["withdraw"] == "missing"
    assert result.detail["key_settings"]["portfolio_type"] == "DEFAULT"
    # Coinbase does not report the key's allowlist: nothing is claimed about it.
    assert result.detail["key_settings"]["ip_restricted"] is None


def test_coinbase_key_with_transfer_is_flagged_withdraw_enabled(coinbase: CannedVenue) -> None:
    result = run(coinbase, ACCOUNTS_OK, permissions(can_transfer=True))
    assert (result.diagnosis, result.outcome, result.requests) == ("withdraw_enabled", "warning", 2)
    assert result.permissions["withdraw"] == "granted"


def test_coinbase_view_only_key_is_missing_create_and_cancel(coinbase: CannedVenue) -> None:
    result = run(coinbase, ACCOUNTS_OK, permissions(can_trade=False))
    assert (result.diagnosis, result.requests) == ("missing_permission", 2)
    assert result.missing_permissions == ["create_orders", "cancel_orders"]


def test_coinbase_key_without_view_is_missing_the_read_scopes(coinbase: CannedVenue) -> None:
    # Both calls need `view` (rest-scopes): a key without it is refused on both, for permission, not address.
    result = run(coinbase, PERMISSION_DENIED, PERMISSION_DENIED)
    assert (result.diagnosis, result.requests) == ("missing_permission", 2)
    assert result.missing_permissions == ["query_funds", "query_open_orders", "query_closed_orders"]
    assert result.exchange_error.startswith("PERMISSION_DENIED ")
    assert "egress_mismatch" not in result.detail


def test_coinbase_key_signed_with_another_private_key_is_credentials_rejected(coinbase: CannedVenue) -> None:
    other = cdp_secret(ec.generate_private_key(ec.SECP256R1()))
    result = run(coinbase, ACCOUNTS_OK, permissions(), secret=other)
    assert (result.diagnosis, result.requests) == ("credentials_rejected", 1)
    assert result.exchange_error == "HTTP 401 Unauthorized"
    assert coinbase.auth_problems == [f"{ACCOUNTS_PATH}: signature does not verify"]
    assert not any("ECDSA" in w for w in result.warnings)


def test_coinbase_ed25519_key_is_refused_and_told_to_use_ecdsa(coinbase: CannedVenue) -> None:
    result = run(coinbase, ACCOUNTS_OK, permissions(), secret=ed25519_secret())
    assert (result.diagnosis, result.requests) == ("credentials_rejected", 1)
    assert coinbase.auth_problems == [f"{ACCOUNTS_PATH}: unexpected alg EdDSA, kid or sub"]
    assert any("ECDSA (ES256)" in w for w in result.warnings)


def test_coinbase_refusing_a_legally_blocked_location_is_region_blocked(coinbase: CannedVenue) -> None:
    # HTTP 451 is read as a legal/geo block for every venue (nbsupport.venues.wire).
    result = run(coinbase, (451, "Unavailable For Legal Reasons"), permissions())
    assert (result.diagnosis, result.requests) == ("region_blocked", 1)


def test_refused_coinbase_key_with_a_stored_ip_whitelist_is_ip_not_allowed(coinbase: CannedVenue) -> None:
    # Coinbase reports no allowlist and refuses a blocked address with the same bare 401 as a wrong key:
    # the whitelist the user gave us is the evidence.
    meta = KeyMeta(exchange="coinbase", ip_whitelist=("203.0.113.7",))
    result = run(coinbase, UNAUTHORIZED, permissions(), meta=meta)
    assert (result.diagnosis, result.requests) == ("ip_not_allowed", 1)


@pytest.mark.parametrize("answer", [
    (200, "<html><body>maintenance</body></html>"),
    (200, {"unexpected": True}),
    (200, {"can_view": "yes", "can_trade": "yes"}),
], ids=["html", "not-coinbase-json", "not-booleans"])
def test_garbage_coinbase_key_permissions_still_conclude(coinbase: CannedVenue, answer: Answer) -> None:
    result = run(coinbase, ACCOUNTS_OK, answer)
    assert (result.diagnosis, result.outcome, result.requests) == ("ok", "warning", 2)
    assert result.permissions["create_orders"] == "unknown"
