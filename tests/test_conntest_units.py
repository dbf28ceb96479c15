"""The pieces that need no venue: preflight, scrubbing, venue vocabularies, the verdict rules, the client."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import ccxt
import pytest
from hypothesis import given
from hypothesis import strategies as st

from nbsupport.config import Settings
from nbsupport.conntest.classify import Egress, Evidence, verdict
from nbsupport.conntest.preflight import run_preflight
from nbsupport.conntest.result import KeyMeta
from nbsupport.credentials import Credentials
from nbsupport.diagnosis import STRATEGY_SCOPES, Diagnosis, Scope, ScopeState
from nbsupport.venues.base import ErrorKind
from nbsupport.venues.binance import binance_error, parse_api_restrictions
from nbsupport.venues.client import build_client
from nbsupport.venues.generic import generic_kind, venue_message
from nbsupport.venues.kraken import kraken_error_kind, kraken_secret_problem, parse_key_info
from nbsupport.venues.krakenfutures import parse_key_check
from nbsupport.venues.registry import venue_for
from nbsupport.venues.wire import RawResponse, read_http_status, scrub

NOW = datetime(2026, 1, 15, tzinfo=UTC)
GOOD_SECRET = base64.b64encode(bytes(range(64))).decode()


def preflight(exchange: str = "kraken", secret: str = GOOD_SECRET, **meta: object):  # type: ignore[no-untyped-def]
    return run_preflight(Credentials("A" * 56, secret), KeyMeta(exchange=exchange, **meta),  # type: ignore[arg-type]
                         venue_for(exchange), NOW)


@pytest.mark.parametrize(
    ("secret", "reason"),
    [
        (GOOD_SECRET.replace("+", " ", 1) if "+" in GOOD_SECRET else GOOD_SECRET[:5] + " " + GOOD_SECRET[6:],
         "whitespace"),
        (GOOD_SECRET[:-1], "not valid base64"),
        (base64.b64encode(bytes(48)).decode(), "decodes to 48 bytes"),
        (GOOD_SECRET + "\n", "whitespace"),
    ],
)
def test_kraken_secret_that_cannot_be_right_is_malformed_offline(secret: str, reason: str) -> None:
    result = preflight(secret=secret)
    assert result.fatal is Diagnosis.SECRET_MALFORMED
    assert reason in result.reason
    assert secret.strip() not in result.reason


def test_a_pem_private_key_secret_passes_preflight_and_a_damaged_one_is_malformed() -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    assert preflight("coinbase", secret=pem).fatal is None
    lines = pem.splitlines()
    damaged = "\n".join(lines[:2] + lines[3:])
    result = preflight("coinbase", secret=damaged)
    assert result.fatal is Diagnosis.SECRET_MALFORMED and "PEM" in result.reason


def test_passphrase_venue_without_a_passphrase_is_malformed_offline() -> None:
    result = preflight("okx", secret="anything")
    assert result.fatal is Diagnosis.SECRET_MALFORMED and "passphrase" in result.reason


def test_stored_expiry_and_rotation_age_are_checked_offline() -> None:
    assert preflight(expires_at=NOW - timedelta(seconds=1)).fatal is Diagnosis.KEY_EXPIRED
    soon = preflight(expires_at=NOW + timedelta(days=3))
    assert soon.fatal is None and "expires on 2026-01-18" in soon.warnings[0]
    old = preflight(rotated_at=NOW - timedelta(days=91))
    assert old.fatal is None and "91 days" in old.warnings[0]
    assert preflight(rotated_at=NOW - timedelta(days=90)).warnings == []


@given(st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=", min_size=24,
               max_size=100))
def test_scrub_never_returns_a_credential_shaped_token(token: str) -> None:
    cleaned = scrub(f"kraken POST http://h/0/private/Balance?nonce=1 {token} failed", [])
    assert token not in cleaned


def test_scrub_keeps_venue_codes_and_drops_nonces_and_query_strings() -> None:
    text = "EAPI:Invalid nonce 1767225600123 at https://api.kraken.com/0/private/Balance?otp=1&nonce=17"
    assert scrub(text) == "EAPI:Invalid nonce [n] at https://api.kraken.com/0/private/Balance?[…]"
    assert scrub("key abcd is bad", ["abcd"]) == "key [redacted] is bad"


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        ("EAPI:Invalid key", ErrorKind.AUTH),
        ("EAPI:Invalid signature", ErrorKind.AUTH),
        ("EGeneral:Permission denied", ErrorKind.DENIED),
        ("EGeneral:Permission denied:expired", ErrorKind.EXPIRED),
        ("EAPI:Invalid otp", ErrorKind.OTP),
        ("EAPI:Invalid nonce", ErrorKind.NONCE),
        ("EAPI:Rate limit exceeded", ErrorKind.RATE_LIMIT),
        ("EGeneral:Temporary lockout", ErrorKind.LOCKOUT),
        ("EService:Unavailable", ErrorKind.UNAVAILABLE),
        ("EService:Market in cancel_only mode", ErrorKind.UNAVAILABLE),
        ("EGeneral:Unknown method", ErrorKind.NOT_SUPPORTED),
        ("EOrder:Unknown order", ErrorKind.ORDER_REJECTED),
        ("EFunding:Unknown withdraw key", ErrorKind.ORDER_REJECTED),
        ("ETrade:User Locked", ErrorKind.OTHER),
    ],
)
def test_kraken_error_strings_are_read_by_their_text_not_ccxts_class(error: str, kind: ErrorKind) -> None:
    assert kraken_error_kind(error) is kind


def test_kraken_key_info_maps_permission_names_to_scopes_and_windows() -> None:
    names = ["query-funds", "query-open-trades", "modify-trades", "withdraw-funds"]
    info = parse_key_info({"permissions": names, "ipAllowlist": ["51.38.112.198"], "validUntil": "0",
                           "queryFrom": "1735689600", "queryTo": "0", "nonceWindow": 5})
    assert info.scopes[Scope.QUERY_CLOSED_ORDERS] is ScopeState.MISSING
    assert info.scopes[Scope.WITHDRAW] is ScopeState.GRANTED
    assert (info.ip_allowlist, info.expires_at, info.nonce_window) == (["51.38.112.198"], None, 5)
    assert info.query_from == datetime(2025, 1, 1, tzinfo=UTC) and info.query_to is None


def test_futures_key_check_maps_access_levels_to_scopes() -> None:
    info = parse_key_check({"permissions": {"general": "READ_ONLY", "transfer": "NO_ACCESS"},
                            "allowedCidrBlocks": []})
    granted = {s for s, state in info.scopes.items() if state is ScopeState.GRANTED}
    assert granted == {Scope.QUERY_FUNDS, Scope.QUERY_OPEN_ORDERS, Scope.QUERY_CLOSED_ORDERS}
    assert info.ip_restricted is False


def test_binance_minus_2015_is_ambiguous_and_restrictions_tell_the_causes_apart() -> None:
    error = binance_error({"code": -2015, "msg": "Invalid API-key, IP, or permissions for action."}, 401)
    assert error is not None and error.kind is ErrorKind.AMBIGUOUS_AUTH
    assert error.code == "-2015 Invalid API-key, IP, or permissions for action."
    assert binance_error({"code": -1022, "msg": "Signature for this request is not valid."}, 400).kind is (
        ErrorKind.AUTH)
    assert binance_error({"code": -1021, "msg": "Timestamp outside recvWindow"}, 400).kind is ErrorKind.NONCE
    info = parse_api_restrictions({"ipRestrict": True, "enableReading": True, "enableWithdrawals": False,
                                   "enableSpotAndMarginTrading": False})
    assert info.ip_restricted is True
    assert info.scopes[Scope.CREATE_ORDERS] is ScopeState.MISSING
    assert info.scopes[Scope.QUERY_CLOSED_ORDERS] is ScopeState.GRANTED


@pytest.mark.parametrize(
    ("exc", "message", "kind"),
    [
        (ccxt.AuthenticationError("x"), '50111 Invalid OK-ACCESS-KEY', ErrorKind.AUTH),
        (ccxt.PermissionDenied("x"), "50110 Your IP address is not in the whitelist", ErrorKind.IP_DENIED),
        (ccxt.AuthenticationError("x"), "10003 API key is expired", ErrorKind.EXPIRED),
        (ccxt.ExchangeError("x"), "0 Service unavailable from a restricted location", ErrorKind.REGION),
        (ccxt.InvalidNonce("x"), "", ErrorKind.NONCE),
        (ccxt.OnMaintenance("x"), "", ErrorKind.UNAVAILABLE),
    ],
)
def test_generic_venue_errors_combine_ccxt_class_and_message(
    exc: Exception, message: str, kind: ErrorKind
) -> None:
    assert generic_kind(exc, message) is kind


def test_generic_message_reads_the_common_error_shapes() -> None:
    assert venue_message({"retCode": 10003, "retMsg": "API key is invalid."}) == "10003 API key is invalid."
    assert venue_message({"code": "0", "data": []}) == ""


@pytest.mark.parametrize(
    ("scopes", "diagnosis", "outcome"),
    [
        ({s: ScopeState.GRANTED for s in STRATEGY_SCOPES} | {Scope.WITHDRAW: ScopeState.MISSING}, "ok", "ok"),
        ({s: ScopeState.GRANTED for s in Scope}, "withdraw_enabled", "warning"),
        ({s: ScopeState.GRANTED for s in STRATEGY_SCOPES} | {Scope.CANCEL_ORDERS: ScopeState.MISSING},
         "missing_permission", "failed"),
        ({Scope.QUERY_FUNDS: ScopeState.GRANTED}, "ok", "warning"),
    ],
)
def test_verdict_orders_failures_before_withdraw_before_ok(
    scopes: dict[Scope, ScopeState], diagnosis: str, outcome: str
) -> None:
    evidence = Evidence(required=list(STRATEGY_SCOPES), egress=Egress(True, "51.38.112.198"), now=NOW,
                        scopes=dict(scopes))
    concluded = verdict(evidence)
    assert (concluded.diagnosis.value, concluded.outcome.value) == (diagnosis, outcome)


def test_direct_ip_refusal_is_an_egress_mismatch_and_a_proxied_one_is_not() -> None:
    assert Egress(via_proxy=False, egress_ip="51.38.112.198").mismatch(None) is True
    assert Egress(via_proxy=True, egress_ip="51.38.112.198").mismatch(None) is False
    assert Egress(via_proxy=True, egress_ip="51.38.112.198").mismatch(["51.38.112.0/24"]) is True


def test_client_has_no_rate_limiter_a_bounded_timeout_and_the_proxy_matching_the_url_scheme() -> None:
    settings = Settings(egress_proxy="http://proxy.internal:3128", request_timeout_ms=4000)
    client = build_client("kraken", Credentials("A" * 56, GOOD_SECRET), settings, venue_for("kraken"))
    assert (client.enableRateLimit, client.timeout, client.verbose) == (False, 4000, False)
    assert (client.httpsProxy, client.httpProxy) == ("http://proxy.internal:3128", None)
    local = settings.model_copy(update={"exchange_urls": {"kraken": "http://127.0.0.1:9"}})
    client = build_client("kraken", Credentials("A" * 56, GOOD_SECRET), local, venue_for("kraken"))
    assert client.urls["api"]["private"] == "http://127.0.0.1:9"
    assert (client.httpsProxy, client.httpProxy) == (None, "http://proxy.internal:3128")


def test_futures_client_gets_the_key_check_endpoint_rewritten_like_every_other_url() -> None:
    settings = Settings(exchange_urls={"krakenfutures": "http://127.0.0.1:9"})
    client = build_client("krakenfutures", Credentials("A" * 56, GOOD_SECRET), settings,
                          venue_for("krakenfutures"))
    assert client.urls["api"]["auth"] == "http://127.0.0.1:9/api/auth/"
    assert client.urls["api"]["private"] == "http://127.0.0.1:9/derivatives/api/"


def test_kraken_secret_check_accepts_a_real_shaped_secret() -> None:
    assert kraken_secret_problem(GOOD_SECRET) is None


@pytest.mark.parametrize(
    ("status", "content_type", "body", "kind"),
    [
        (503, "text/plain", "Service Temporarily Unavailable", ErrorKind.UNAVAILABLE),
        (500, "application/json", '{"message": "internal"}', ErrorKind.UNAVAILABLE),
        (520, "text/html", "<html><title>520: Web server is returning an unknown error</title></html>",
         ErrorKind.UNAVAILABLE),
        (403, "text/html", "<html>The Amazon CloudFront distribution is configured to block access from your "
                           "country.</html>", ErrorKind.REGION),
        (429, "text/plain", "Too Many Requests", ErrorKind.RATE_LIMIT),
        (200, "text/plain", "<?xml garbage", ErrorKind.GARBAGE),
    ],
)
def test_unrecognised_responses_are_read_from_status_and_page_shape(
    status: int, content_type: str, body: str, kind: ErrorKind
) -> None:
    assert read_http_status(RawResponse(status, content_type, body), ccxt.ExchangeError("x")).kind is kind
