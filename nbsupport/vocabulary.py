"""One vocabulary for venue errors: what each reading can mean, ranked, for the connection test and the guide.

A venue module reads one failed response into an `ErrorKind` (`read_error` in `nbsupport/venues/*.py`).
`CAUSES_BY_KIND` says which diagnoses that reading can stand for, most likely first:

* the connection test starts from the first (`DIAGNOSIS_BY_KIND` in `nbsupport.conntest.classify` is
  derived from this table) and tells the others apart with further requests;
* the error guide ranks the fixes of an ambiguous pasted error (several guide entries list the same
  error) in the same order, so the top cause of a paste is the one a re-test starts from.

`reading()` runs a venue's own reader on an error code as that venue sends it, so every guide pattern can
be checked against the classifier and every venue code against the guide (tests/test_error_vocabulary.py).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

import ccxt

from nbsupport.diagnosis import Diagnosis
from nbsupport.venues.base import ErrorKind
from nbsupport.venues.registry import venue_for
from nbsupport.venues.wire import RawResponse

D = Diagnosis
CAUSES_BY_KIND: dict[ErrorKind, tuple[Diagnosis, ...]] = {
    # Kraken: `EAPI:Invalid key` is also a Futures key, a disabled or an expired key; `EAPI:Invalid
    # signature` also a mangled secret or a key with key-level 2FA (Kraken support, "API error messages").
    # Kraken Futures answers all of these and an address or access-level refusal with `authenticationError`.
    ErrorKind.AUTH: (D.CREDENTIALS_REJECTED, D.WRONG_PRODUCT, D.SECRET_MALFORMED, D.OTP_REQUIRED,
                     D.IP_NOT_ALLOWED, D.MISSING_PERMISSION, D.KEY_EXPIRED),
    # Binance -2015 "Invalid API-key, IP, or permissions for action" (binance-docs errors page).
    ErrorKind.AMBIGUOUS_AUTH: (D.CREDENTIALS_REJECTED, D.IP_NOT_ALLOWED, D.MISSING_PERMISSION,
                               D.WRONG_PRODUCT),
    # Kraken `EGeneral:Permission denied`: a missing permission, or an address outside the allowlist.
    ErrorKind.DENIED: (D.MISSING_PERMISSION, D.IP_NOT_ALLOWED),
    ErrorKind.IP_DENIED: (D.IP_NOT_ALLOWED,),
    ErrorKind.EXPIRED: (D.KEY_EXPIRED,),
    ErrorKind.OTP: (D.OTP_REQUIRED,),
    ErrorKind.NONCE: (D.NONCE_REJECTED,),
    ErrorKind.RATE_LIMIT: (D.RATE_LIMITED,),
    ErrorKind.LOCKOUT: (D.RATE_LIMITED,),
    ErrorKind.UNAVAILABLE: (D.EXCHANGE_UNAVAILABLE,),
    ErrorKind.REGION: (D.REGION_BLOCKED,),
    ErrorKind.NETWORK: (D.NETWORK_ERROR,),
    ErrorKind.TIMEOUT: (D.NETWORK_ERROR,),
    ErrorKind.PROXY: (D.NETWORK_ERROR,),
    ErrorKind.GARBAGE: (D.UNKNOWN, D.EXCHANGE_UNAVAILABLE),
    ErrorKind.NOT_SUPPORTED: (D.UNKNOWN,),
    # The order, balance or market was refused, not the key: the guide says "not a key problem".
    ErrorKind.ORDER_REJECTED: (D.UNKNOWN,),
    ErrorKind.OTHER: (D.UNKNOWN,),
}

# Diagnoses that blame the key or its settings; an order, balance or market error never gets one.
KEY_DIAGNOSES = frozenset({
    D.CREDENTIALS_REJECTED, D.SECRET_MALFORMED, D.WRONG_PRODUCT, D.MISSING_PERMISSION, D.WITHDRAW_ENABLED,
    D.IP_NOT_ALLOWED, D.OTP_REQUIRED, D.KEY_EXPIRED, D.NONCE_REJECTED,
})

# The label of a guide answer that is not about the key at all (orders, balances, markets).
NOT_A_KEY_PROBLEM = "not_a_key_problem"


def rank_of(kind: ErrorKind, diagnosis: Diagnosis) -> int:
    """Where `diagnosis` stands among the causes of `kind` (0 = most likely); past the end if not one."""
    causes = CAUSES_BY_KIND[kind]
    return causes.index(diagnosis) if diagnosis in causes else len(causes)


_KRAKEN_CODE = re.compile(r"E[A-Z][A-Za-z]+:\S")
_INTEGER = re.compile(r"-?\d{1,9}")
_ERROR_ID = re.compile(r"[A-Za-z_]{3,60}")

# How each venue sends an error code on the wire (the venue modules' docstrings), so `reading()` can hand
# a code to the venue's own `read_error`. None: this venue never sends a code of that form.
_ERROR_BODIES: dict[str, Callable[[str], dict[str, object] | None]] = {
    "kraken": lambda code: {"error": [code]} if _KRAKEN_CODE.match(code) else None,
    "krakenfutures": lambda code: {"result": "error", "error": code},
    "binance": lambda code: {"code": int(code), "msg": ""} if _INTEGER.fullmatch(code) else None,
    "bybit": lambda code: {"retCode": int(code), "retMsg": ""} if _INTEGER.fullmatch(code) else None,
    "okx": lambda code: {"code": code, "msg": ""} if code.isdigit() else None,
    "coinbase": lambda code: {"error": code, "message": ""} if _ERROR_ID.fullmatch(code) else None,
}
# The venues the generic guide speaks for that have a code reader of their own.
GENERIC_READERS = ("binance", "bybit", "okx", "coinbase")
# Whose codes a paste carries, by the names it shows the venue under: ccxt ids (regional sites and product
# siblings send the same codes, nbsupport.venues.registry) and host names (testnet.binancefuture.com).
READER_NAMES: dict[str, str] = {
    "binance": "binance", "binanceus": "binance", "binanceusdm": "binance", "binancecoinm": "binance",
    "binancefuture": "binance",
    "bybit": "bybit", "bybiteu": "bybit", "bybitid": "bybit",
    "okx": "okx", "myokx": "okx", "okxus": "okx",
    "coinbase": "coinbase",
}
_NAMED = re.compile(
    r"(?<!\w)(" + "|".join(sorted(READER_NAMES, key=len, reverse=True)) + r")(?!\w)", re.IGNORECASE
)
# The envelope each venue wraps a code in (as in _ERROR_BODIES), for pastes that name no venue: Bybit's
# `retCode`, OKX's five-digit string codes (all 5xxxx), Binance's negative integers.
_ENVELOPES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("bybit", re.compile(r'"retCode"\s{0,3}:')),
    ("okx", re.compile(r'"code"\s{0,3}:\s{0,3}"5\d{4}"')),
    ("binance", re.compile(r'"code"\s{0,3}:\s{0,3}-[1-9]\d{3}(?!\d)')),
)


def reading(venue: str, code: str) -> ErrorKind | None:
    """The connection test's reading of `code` sent by `venue`; `OTHER` is "a code the classifier does not
    know" (it diagnoses `unknown`). `*` asks every venue the generic guide covers and answers only when
    exactly one knows the code. None: `code` is not in the form this venue sends (words, not a code)."""
    if venue == "*":
        readings = {reading(name, code) for name in GENERIC_READERS}
        found = readings - {None, ErrorKind.OTHER}
        return found.pop() if len(found) == 1 else None
    make_body = _ERROR_BODIES.get(venue)
    body = make_body(code) if make_body is not None else None
    if body is None:
        return None
    raw = RawResponse(400, "application/json", json.dumps(body))
    error = venue_for(venue).read_error(raw, ccxt.ExchangeError(code))
    if error is None or error.kind is ErrorKind.GARBAGE:
        return None
    return error.kind


def code_reader(text: str) -> str | None:
    """The venue of `GENERIC_READERS` whose codes `text` carries: the one it names, or else the one whose
    error envelope it shows; None when it names several or none and shows no envelope."""
    named = {READER_NAMES[name.lower()] for name in _NAMED.findall(text)}
    if len(named) == 1:
        return named.pop()
    shown = [venue for venue, envelope in _ENVELOPES if envelope.search(text)]
    return shown[0] if len(shown) == 1 else None


def answers(kind: ErrorKind, diagnosis: Diagnosis, key_problem: bool) -> bool:
    """Whether a guide answer fits the classifier's reading `kind`: its diagnosis is one of the causes, and
    an answer that is not about the key (order, balance, market) only fits an order refusal."""
    return diagnosis in CAUSES_BY_KIND[kind] and (key_problem or kind is ErrorKind.ORDER_REJECTED)
