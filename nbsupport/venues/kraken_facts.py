"""What Kraken documents about its API keys and errors, in one place, each fact next to its source.

`nbsupport.venues.kraken` / `krakenfutures` read venue answers with these facts, and the sandbox
(`nbsupport.sandbox`) answers with them, so the engine and the sandbox cannot disagree about a shape.
Pure constants: no ccxt, no I/O, importable from anywhere.

Sources (checked with the docs corpus, December 2026):

* Spot GetApiKeyInfo: https://docs.kraken.com/api-reference/account-data/get-api-key-info
  ("API Key Permissions Required: None"); permission names as the key settings page and
  https://docs.kraken.com/exchange/guides/rest/api-keys list them.
* Spot errors: https://docs.kraken.com/exchange/guides/general/errors and Kraken's support article
  https://support.kraken.com/hc/en-us/articles/360001491786-API-error-messages (`EAPI:Invalid key` is also
  the answer for a key that was disabled or has expired: "older Kraken support text").
* Futures key check: https://docs.kraken.com/api-reference/api-keys/check-v3-api-key (OpenAPI
  `futures-auth-rest.yaml`, server `https://futures.kraken.com/api/auth/v1`, `GET /api-keys/v3/check`;
  200: CheckedV3ApiKeyDetails, 401 "API key is not found or request signature is invalid." with the
  Error schema `{error, message, suberror}`).
* Futures errors: the error names of Kraken's Futures REST guide (`FUTURES_ERRORS_DOC`; that page is not
  in the stored docs corpus, so each name was cross-checked against ccxt 4's krakenfutures
  `exceptions['exact']`, which lists the same names, plus the lower-case `unavailable` some hosts send).

**Unconfirmed** (kept here so the code and the sandbox say so in one place; correct it here once someone
observes the live venue):

* `SPOT_IP_NOT_ALLOWED_ANSWER`: Kraken documents no error of its own for a request from an address outside
  the key's IP allowlist. Third-party clients and our tickets see `EGeneral:Permission denied`, the same as
  a missing permission, so the engine tells them apart by asking GetApiKeyInfo (which needs no
  permission) and the sandbox answers exactly that.
* `FUTURES_KEY_CHECK_401_*`: the values of `error` and `suberror` in the key check's 401 body are not
  listed in the docs; the sandbox answers the ones below and the engine reads any 401 from the key check
  as refused credentials.
"""

from __future__ import annotations

from typing import Final, Literal

SPOT_GET_API_KEY_INFO_DOC: Final = "https://docs.kraken.com/api-reference/account-data/get-api-key-info"
SPOT_ERRORS_DOC: Final = "https://docs.kraken.com/exchange/guides/general/errors"
FUTURES_KEY_CHECK_DOC: Final = "https://docs.kraken.com/api-reference/api-keys/check-v3-api-key"
FUTURES_ERRORS_DOC: Final = "https://docs.kraken.com/api/docs/guides/futures-rest"

# --- Kraken spot -------------------------------------------------------------------------------------------

# GetApiKeyInfo `permissions`: the names of the key settings page's checkboxes.
SPOT_PERMISSION_QUERY_FUNDS: Final = "query-funds"
SPOT_PERMISSION_QUERY_OPEN: Final = "query-open-trades"
SPOT_PERMISSION_QUERY_CLOSED: Final = "query-closed-trades"
SPOT_PERMISSION_QUERY_LEDGER: Final = "query-ledger-entries"
SPOT_PERMISSION_MODIFY_TRADES: Final = "modify-trades"
SPOT_PERMISSION_CLOSE_TRADES: Final = "close-trades"
SPOT_PERMISSION_WITHDRAW: Final = "withdraw-funds"
# `validUntil`, `queryFrom`, `queryTo`: unix seconds as strings; this value means "not set".
SPOT_UNSET_MOMENT: Final = "0"

SPOT_INVALID_KEY: Final = "EAPI:Invalid key"  # unknown, disabled or expired key (support article)
SPOT_INVALID_SIGNATURE: Final = "EAPI:Invalid signature"
SPOT_INVALID_NONCE: Final = "EAPI:Invalid nonce"
SPOT_PERMISSION_DENIED: Final = "EGeneral:Permission denied"
SPOT_UNKNOWN_METHOD: Final = "EGeneral:Unknown method"  # GetApiKeyInfo where a region does not offer it
SPOT_TEMPORARY_LOCKOUT: Final = "EGeneral:Temporary lockout"
SPOT_RATE_LIMIT: Final = "EAPI:Rate limit exceeded"
SPOT_SERVICE_UNAVAILABLE: Final = "EService:Unavailable"
SPOT_SERVICE_BUSY: Final = "EService:Busy"
# Unconfirmed: see the module docstring.
SPOT_IP_NOT_ALLOWED_ANSWER: Final = SPOT_PERMISSION_DENIED

# --- Kraken Futures ----------------------------------------------------------------------------------------

# CheckedV3ApiKeyDetails.permissions: {"general": level, "transfer": level}.
FuturesAccessLevel = Literal["NO_ACCESS", "READ_ONLY", "FULL_ACCESS"]
FUTURES_NO_ACCESS: Final = "NO_ACCESS"
FUTURES_READ_ONLY: Final = "READ_ONLY"
FUTURES_FULL_ACCESS: Final = "FULL_ACCESS"
FUTURES_ACCESS_LEVELS: Final = (FUTURES_NO_ACCESS, FUTURES_READ_ONLY, FUTURES_FULL_ACCESS)
FUTURES_PERMISSION_GENERAL: Final = "general"
FUTURES_PERMISSION_TRANSFER: Final = "transfer"

# The derivatives API's `error` names (Futures REST guide).
FUTURES_ACCOUNT_INACTIVE: Final = "accountInactive"
FUTURES_API_LIMIT_EXCEEDED: Final = "apiLimitExceeded"
FUTURES_AUTHENTICATION_ERROR: Final = "authenticationError"
FUTURES_INSUFFICIENT_FUNDS: Final = "insufficientFunds"
FUTURES_INVALID_ACCOUNT: Final = "invalidAccount"
FUTURES_INVALID_AMOUNT: Final = "invalidAmount"
FUTURES_INVALID_ARGUMENT: Final = "invalidArgument"
FUTURES_INVALID_UNIT: Final = "invalidUnit"
FUTURES_JSON_PARSE_ERROR: Final = "Json Parse Error"
FUTURES_MARKET_UNAVAILABLE: Final = "marketUnavailable"
FUTURES_NONCE_BELOW_THRESHOLD: Final = "nonceBelowThreshold"
FUTURES_NONCE_DUPLICATE: Final = "nonceDuplicate"
FUTURES_NOT_FOUND: Final = "notFound"
FUTURES_REQUIRED_ARGUMENT_MISSING: Final = "requiredArgumentMissing"
FUTURES_SERVER_ERROR: Final = "Server Error"
FUTURES_UNAVAILABLE: Final = "Unavailable"
FUTURES_UNKNOWN_ERROR: Final = "unknownError"
# Every documented name above: the engine's table (venues.krakenfutures.ERROR_KINDS) must read each one.
FUTURES_ERROR_NAMES: Final = (
    FUTURES_ACCOUNT_INACTIVE, FUTURES_API_LIMIT_EXCEEDED, FUTURES_AUTHENTICATION_ERROR,
    FUTURES_INSUFFICIENT_FUNDS, FUTURES_INVALID_ACCOUNT, FUTURES_INVALID_AMOUNT, FUTURES_INVALID_ARGUMENT,
    FUTURES_INVALID_UNIT, FUTURES_JSON_PARSE_ERROR, FUTURES_MARKET_UNAVAILABLE, FUTURES_NONCE_BELOW_THRESHOLD,
    FUTURES_NONCE_DUPLICATE, FUTURES_NOT_FOUND, FUTURES_REQUIRED_ARGUMENT_MISSING, FUTURES_SERVER_ERROR,
    FUTURES_UNAVAILABLE, FUTURES_UNKNOWN_ERROR,
)

# Unconfirmed values of the key check's documented 401 body (see the module docstring).
FUTURES_KEY_CHECK_401_ERROR: Final = FUTURES_AUTHENTICATION_ERROR
FUTURES_KEY_CHECK_401_MESSAGE: Final = "API key is not found or request signature is invalid."
FUTURES_KEY_CHECK_401_SUBERROR_UNKNOWN_KEY: Final = "apiKeyNotFound"
FUTURES_KEY_CHECK_401_SUBERROR_SIGNATURE: Final = "invalidSignature"
