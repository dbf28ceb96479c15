"""The shape of the demo fleet: venues, key formats, strategies, failure mixes and venue error texts.

Numbers are per key or per test and chosen to look like a production support queue: mostly green, a steady
trickle of transient venue errors, and a minority of keys stuck in a configuration problem for days.
"""

from __future__ import annotations

import json
import string
from dataclasses import dataclass

from nbsupport.diagnosis import STRATEGY_SCOPES, Diagnosis, Scope

D = Diagnosis

# Diagnoses in a fixed order: generated arrays hold indexes into this tuple.
DIAGNOSES: tuple[str, ...] = tuple(d.value for d in Diagnosis)
DIAG = {name: i for i, name in enumerate(DIAGNOSES)}
# A test that reached these knows the key's permissions (the venue authenticated it).
AUTHENTICATED = frozenset({D.OK, D.WITHDRAW_ENABLED, D.MISSING_PERMISSION, D.WRONG_PRODUCT})
WARNING_DIAGNOSES = frozenset({D.WITHDRAW_ENABLED})

ALNUM = string.ascii_letters + string.digits
HEX = "0123456789abcdef"


@dataclass(frozen=True)
class KeyFormat:
    """Random characters from `alphabet`, or (b64_bytes > 0) base64 of that many random bytes."""

    alphabet: str = ""
    length: int = 0
    # Character positions that hold '-' (uuid-shaped keys).
    dashes: tuple[int, ...] = ()
    b64_bytes: int = 0


UUID = KeyFormat(HEX, 36, dashes=(8, 13, 18, 23))


@dataclass(frozen=True)
class Venue:
    exchange: str  # ccxt id
    weight: float
    products: tuple[tuple[str, float], ...]
    api_key: KeyFormat
    secret: KeyFormat
    passphrase: bool  # ccxt's requiredCredentials["password"]
    transient_rate: float  # share of tests failing for a passing reason
    transient_mix: tuple[tuple[Diagnosis, float], ...]
    episode_rate: float  # share of keys with a configuration problem during the window
    episode_mix: tuple[tuple[Diagnosis, float], ...]
    latency_ms: int  # median duration of a green connection test


_TRANSIENT_COMMON = ((D.RATE_LIMITED, 0.35), (D.NETWORK_ERROR, 0.3), (D.EXCHANGE_UNAVAILABLE, 0.25),
                     (D.UNKNOWN, 0.1))

VENUES: tuple[Venue, ...] = (
    Venue("kraken", 0.30, (("spot", 1.0),), KeyFormat(b64_bytes=42), KeyFormat(b64_bytes=64),
          False, 0.03, ((D.NONCE_REJECTED, 0.3), (D.RATE_LIMITED, 0.3), (D.NETWORK_ERROR, 0.2),
                        (D.EXCHANGE_UNAVAILABLE, 0.15), (D.UNKNOWN, 0.05)),
          0.14, ((D.CREDENTIALS_REJECTED, 0.22), (D.MISSING_PERMISSION, 0.2), (D.IP_NOT_ALLOWED, 0.2),
                 (D.NONCE_REJECTED, 0.1), (D.SECRET_MALFORMED, 0.1), (D.WRONG_PRODUCT, 0.08),
                 (D.OTP_REQUIRED, 0.05), (D.KEY_EXPIRED, 0.05)), 240),
    Venue("krakenfutures", 0.13, (("futures", 1.0),), KeyFormat(b64_bytes=42),
          KeyFormat(b64_bytes=64), False, 0.025, _TRANSIENT_COMMON,
          0.12, ((D.WRONG_PRODUCT, 0.35), (D.CREDENTIALS_REJECTED, 0.3), (D.MISSING_PERMISSION, 0.2),
                 (D.IP_NOT_ALLOWED, 0.15)), 260),
    Venue("binance", 0.20, (("spot", 0.8), ("margin", 0.1), ("futures", 0.1)), KeyFormat(ALNUM, 64),
          KeyFormat(ALNUM, 64), False, 0.02, _TRANSIENT_COMMON,
          0.13, ((D.IP_NOT_ALLOWED, 0.35), (D.MISSING_PERMISSION, 0.25), (D.CREDENTIALS_REJECTED, 0.18),
                 (D.REGION_BLOCKED, 0.15), (D.KEY_EXPIRED, 0.07)), 180),
    Venue("coinbase", 0.11, (("spot", 1.0),), KeyFormat(ALNUM, 16), KeyFormat(ALNUM, 32), False, 0.02,
          _TRANSIENT_COMMON, 0.1, ((D.CREDENTIALS_REJECTED, 0.4), (D.MISSING_PERMISSION, 0.35),
                                   (D.SECRET_MALFORMED, 0.25)), 210),
    # Coinbase Exchange (the former Pro API) still issues a passphrase with each key.
    Venue("coinbaseexchange", 0.02, (("spot", 1.0),), KeyFormat(HEX, 32), KeyFormat(b64_bytes=64),
          True, 0.02, _TRANSIENT_COMMON, 0.1, ((D.CREDENTIALS_REJECTED, 0.6), (D.MISSING_PERMISSION, 0.4)),
          220),
    Venue("okx", 0.12, (("spot", 0.7), ("futures", 0.3)), UUID, KeyFormat(HEX.upper(), 32), True, 0.025,
          _TRANSIENT_COMMON, 0.14, ((D.CREDENTIALS_REJECTED, 0.35), (D.IP_NOT_ALLOWED, 0.3),
                                    (D.MISSING_PERMISSION, 0.2), (D.KEY_EXPIRED, 0.15)), 200),
    Venue("bybit", 0.07, (("spot", 0.55), ("futures", 0.45)), KeyFormat(ALNUM, 18), KeyFormat(ALNUM, 36),
          False, 0.03, _TRANSIENT_COMMON, 0.15, ((D.REGION_BLOCKED, 0.3), (D.IP_NOT_ALLOWED, 0.3),
                                                 (D.CREDENTIALS_REJECTED, 0.2), (D.KEY_EXPIRED, 0.2)), 230),
    Venue("kucoin", 0.05, (("spot", 0.8), ("futures", 0.2)), KeyFormat(HEX, 24), UUID, True, 0.03,
          _TRANSIENT_COMMON, 0.13, ((D.CREDENTIALS_REJECTED, 0.4), (D.IP_NOT_ALLOWED, 0.3),
                                    (D.MISSING_PERMISSION, 0.3)), 250),
)
VENUE_INDEX = {v.exchange: i for i, v in enumerate(VENUES)}
KRAKEN = VENUE_INDEX["kraken"]
PRODUCTS: tuple[str, ...] = ("spot", "futures", "margin")

# Users holding N keys: mean ~1.5 keys per user; a few signed up and never connected a venue.
KEYS_PER_USER = ((0, 0.04), (1, 0.55), (2, 0.30), (3, 0.08), (4, 0.03))


@dataclass(frozen=True)
class Strategy:
    name: str
    product: str  # spot | futures: the keys it trades through
    weight: float
    orders_per_day: float  # median on a day it trades
    trading_days: float  # share of days with at least one order
    read_only: bool = False


STRATEGIES: tuple[Strategy, ...] = (
    Strategy("Grid Trader", "spot", 0.16, 30, 0.85),
    Strategy("DCA Accumulator", "spot", 0.18, 1.5, 0.3),
    Strategy("Momentum Breakout", "spot", 0.12, 5, 0.4),
    Strategy("Mean Reversion", "spot", 0.10, 8, 0.6),
    Strategy("Market Maker Lite", "spot", 0.05, 80, 0.95),
    Strategy("Rebalancer 60/40", "spot", 0.08, 2, 0.15),
    Strategy("Portfolio Tracker", "spot", 0.04, 0, 0.0, read_only=True),
    Strategy("Perp Basis Carry", "futures", 0.09, 4, 0.7),
    Strategy("Funding Rate Harvester", "futures", 0.08, 6, 0.8),
    Strategy("Trend Follower Futures", "futures", 0.10, 3, 0.5),
)
READ_SCOPES = [Scope.QUERY_FUNDS.value, Scope.QUERY_OPEN_ORDERS.value, Scope.QUERY_CLOSED_ORDERS.value]
TRADE_SCOPES = [s.value for s in STRATEGY_SCOPES]


def json_text(value: object) -> str:
    return json.dumps(value, separators=(",", ":"))


def permissions_json(missing: tuple[str, ...] = (), withdraw: bool = False,
                     unknown: tuple[str, ...] = ()) -> str:
    states = {s.value: "granted" for s in STRATEGY_SCOPES}
    states.update({s: "missing" for s in missing})
    states.update({s: "unknown" for s in unknown})
    states[Scope.WITHDRAW.value] = "granted" if withdraw else "missing"
    return json_text(states)


# Permission profiles a key can have (index = profile id in generated arrays).
PERMISSION_PROFILES: tuple[str, ...] = (
    permissions_json(),  # 0: what a strategy needs, withdraw off
    permissions_json(withdraw=True),  # 1: withdraw granted: green but flagged
    permissions_json(missing=(Scope.QUERY_CLOSED_ORDERS.value,)),  # 2: gap visible to the test
    permissions_json(unknown=(Scope.QUERY_CLOSED_ORDERS.value,)),  # 3: gap the test could not see
    permissions_json(missing=(Scope.CREATE_ORDERS.value,)),  # 4: a trading scope missing
    permissions_json(missing=(Scope.CANCEL_ORDERS.value,)),  # 5
    permissions_json(missing=(Scope.QUERY_FUNDS.value,)),  # 6
)
PROFILE_MISSING: tuple[str, ...] = (
    "[]", "[]", json_text([Scope.QUERY_CLOSED_ORDERS.value]), "[]", json_text([Scope.CREATE_ORDERS.value]),
    json_text([Scope.CANCEL_ORDERS.value]), json_text([Scope.QUERY_FUNDS.value]),
)
WITHDRAW_SHARE = 0.03

PLATFORM_IPS = '["51.38.112.198"]'
# Documentation ranges (RFC 5737): a user's home or office address, never the platform's.
FOREIGN_IPS = ('["203.0.113.7"]', '["198.51.100.23"]', '["203.0.113.150", "198.51.100.4"]')

# Kraken's own wording where the help page quotes it; other venues' messages as their APIs phrase them.
_GENERIC_ERRORS = {
    D.CREDENTIALS_REJECTED: "401 Unauthorized: invalid API key",
    D.SECRET_MALFORMED: "the secret is not valid base64",
    D.WRONG_PRODUCT: "the key belongs to another product of this venue",
    D.MISSING_PERMISSION: "403 Forbidden: permission denied for this action",
    D.IP_NOT_ALLOWED: "403 Forbidden: request IP not in the key's allowlist",
    D.OTP_REQUIRED: "two-factor code required",
    D.KEY_EXPIRED: "API key expired",
    D.NONCE_REJECTED: "invalid nonce",
    D.RATE_LIMITED: "429 Too Many Requests",
    D.EXCHANGE_UNAVAILABLE: "503 Service Unavailable",
    D.NETWORK_ERROR: "request timed out after 10000 ms",
    D.REGION_BLOCKED: "451 service unavailable in your region",
    D.UNKNOWN: "500 Internal Server Error",
}
_BINANCE_2015 = '{"code":-2015,"msg":"Invalid API-key, IP, or permissions for action."}'
_VENUE_ERRORS: dict[str, dict[Diagnosis, str]] = {
    "kraken": {D.CREDENTIALS_REJECTED: "EAPI:Invalid key", D.SECRET_MALFORMED: "EAPI:Invalid signature",
               D.MISSING_PERMISSION: "EGeneral:Permission denied",
               D.IP_NOT_ALLOWED: "EGeneral:Permission denied", D.OTP_REQUIRED: "EAPI:Invalid arguments:otp",
               D.KEY_EXPIRED: "EGeneral:Permission denied:expired",
               D.NONCE_REJECTED: "EAPI:Invalid nonce", D.RATE_LIMITED: "EAPI:Rate limit exceeded",
               D.EXCHANGE_UNAVAILABLE: "EService:Unavailable", D.UNKNOWN: "EGeneral:Internal error",
               D.WRONG_PRODUCT: "EAPI:Invalid key (a Kraken Futures key used on spot)"},
    "krakenfutures": {D.CREDENTIALS_REJECTED: "authenticationError", D.WRONG_PRODUCT: "authenticationError "
                      "(a Kraken spot key used on futures)", D.MISSING_PERMISSION: "apiKeyPermissionDenied",
                      D.IP_NOT_ALLOWED: "ipNotWhitelisted", D.RATE_LIMITED: "apiLimitExceeded"},
    "binance": {D.CREDENTIALS_REJECTED: '{"code":-2014,"msg":"API-key format invalid."}',
                D.IP_NOT_ALLOWED: _BINANCE_2015, D.MISSING_PERMISSION: _BINANCE_2015,
                D.KEY_EXPIRED: _BINANCE_2015,
                D.RATE_LIMITED: '{"code":-1003,"msg":"Too many requests."}',
                D.REGION_BLOCKED: "Service unavailable from a restricted location",
                D.NONCE_REJECTED: '{"code":-1021,"msg":"Timestamp for this request is outside of the '
                                  'recvWindow."}'},
    "okx": {D.CREDENTIALS_REJECTED: '{"code":"50105","msg":"Invalid OK-ACCESS-PASSPHRASE"}',
            D.IP_NOT_ALLOWED: '{"code":"50110","msg":"Invalid IP"}',
            D.MISSING_PERMISSION: '{"code":"50120","msg":"API key doesn\'t have permission"}',
            D.KEY_EXPIRED: '{"code":"50119","msg":"API key doesn\'t exist"}',
            D.RATE_LIMITED: '{"code":"50011","msg":"Too Many Requests"}'},
    "bybit": {D.CREDENTIALS_REJECTED: "retCode 10003: API key is invalid", D.IP_NOT_ALLOWED: "retCode 10010: "
              "Unmatched IP", D.REGION_BLOCKED: "retCode 10024: regulatory restriction",
              D.KEY_EXPIRED: "retCode 33004: api key expired",
              D.RATE_LIMITED: "retCode 10006: Too many visits"},
    "kucoin": {D.CREDENTIALS_REJECTED: "400003 KC-API-KEY not exists", D.IP_NOT_ALLOWED: "400006 Invalid "
               "request ip", D.MISSING_PERMISSION: "400007 Access Denied", D.RATE_LIMITED: "429000 Too Many "
               "Requests"},
    "coinbaseexchange": {D.CREDENTIALS_REJECTED: '{"message":"invalid passphrase"}'},
}
_HTTP_STATUS = {D.RATE_LIMITED: 429, D.EXCHANGE_UNAVAILABLE: 503, D.REGION_BLOCKED: 451, D.UNKNOWN: 500}


def exchange_error(exchange: str, diagnosis: str) -> str:
    if diagnosis in (D.OK, D.WITHDRAW_ENABLED):
        return ""
    return _VENUE_ERRORS.get(exchange, {}).get(Diagnosis(diagnosis)) or _GENERIC_ERRORS[Diagnosis(diagnosis)]


def detail_json(diagnosis: str) -> str:
    status = _HTTP_STATUS.get(Diagnosis(diagnosis))
    return json_text({"http_status": status}) if status else "{}"


def outcome(diagnosis: str, healthy_warning: bool = False) -> str:
    if diagnosis == D.OK:
        return "ok"
    if diagnosis in WARNING_DIAGNOSES or healthy_warning:
        return "warning"
    return "failed"


# Backfill scenarios (index = scenario id). Counts are per million users, with a floor so that even the
# few-hundred-user default demo shows every case.
NORMAL, GAP_SILENT, PERMISSION_DENIED, WINDOW_ENDED, SPOT_FOR_FUTURES, WRONG_START = range(6)
SCENARIO_NAMES = ("normal", "permission_gap", "permission_denied", "query_window_ended",
                  "spot_key_for_futures", "wrong_start_time")
SCENARIO_QUOTAS = {GAP_SILENT: (300, 4), PERMISSION_DENIED: (150, 2), WINDOW_ENDED: (100, 2),
                   SPOT_FOR_FUTURES: (40, 1), WRONG_START: (30, 1)}
KRAKEN_PERMISSION_DENIED = "EGeneral:Permission denied"

# Key roles: what the platform does with a key (index = role id).
LIVE, IDLE, PARKED, TRACKER = range(4)
ROLE_NAMES = ("live", "idle", "parked", "tracker")
IDLE_SHARE = 0.06  # live strategy, no signal in the window: no orders and zero-row backfills
PARKED_SHARE = 0.2  # a matching key the user keeps connected without a strategy on it

SUPPORT_AGENTS = tuple(f"{n}@noonbarbari.com" for n in (
    "amira.haddad", "ben.okafor", "chloe.martin", "diego.ramos", "elin.berg", "farid.nasser", "grace.lee",
    "hugo.lambert", "ines.costa", "jonas.weber", "kenji.sato", "lena.novak", "mateo.silva", "nora.ahmed",
))
OPS_LEAD = "ops.lead@noonbarbari.com"
TICKET_URL = "https://support.noonbarbari.com/tickets/{ticket}?user={user}&key={key}"
