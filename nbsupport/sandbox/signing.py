"""Kraken's two request-signing schemes, computed exactly as ccxt's `kraken.sign()` / `krakenfutures.sign()`.

The server uses these to verify; tests use them to hand-craft raw requests. Secrets are base64 strings as
the venue displays them; a secret that is not valid base64 can never produce a matching signature.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from urllib.parse import unquote_plus

FUTURES_PATH_PREFIX = "/derivatives"


def _secret_bytes(secret: str) -> bytes | None:
    try:
        return base64.b64decode(secret, validate=True)
    except (binascii.Error, ValueError):
        return None


def spot_signature(secret: str, uri_path: str, nonce: str, body: str) -> str:
    """API-Sign = b64(HMAC-SHA512(b64decode(secret), uri_path + SHA256(nonce + body)))."""
    key = _secret_bytes(secret)
    if key is None:
        raise ValueError("secret is not base64")
    digest = hashlib.sha256((nonce + body).encode()).digest()
    mac = hmac.new(key, uri_path.encode() + digest, hashlib.sha512)
    return base64.b64encode(mac.digest()).decode()


def futures_endpoint_path(path: str) -> str:
    """The path Kraken Futures hashes: the URL path without its `/derivatives` prefix (`/api/v3/accounts`)."""
    if path.startswith(FUTURES_PATH_PREFIX + "/"):
        return path[len(FUTURES_PATH_PREFIX) :]
    return path


def futures_signature(secret: str, endpoint_path: str, post_data: str, nonce: str = "") -> str:
    """Authent = b64(HMAC-SHA512(b64decode(secret), SHA256(postData + nonce + endpointPath)))."""
    key = _secret_bytes(secret)
    if key is None:
        raise ValueError("secret is not base64")
    digest = hashlib.sha256((post_data + nonce + endpoint_path).encode()).digest()
    return base64.b64encode(hmac.new(key, digest, hashlib.sha512).digest()).decode()


def verify_spot(secret: str, uri_path: str, nonce: str, body: str, given: str) -> bool:
    if _secret_bytes(secret) is None:
        return False
    return hmac.compare_digest(spot_signature(secret, uri_path, nonce, body), given)


def verify_futures(secret: str, path: str, post_data: str, nonce: str, given: str) -> bool:
    """Accepts the hash over postData as sent and, as Kraken's pre-2024 flow did, over its decoded form."""
    if _secret_bytes(secret) is None:
        return False
    endpoint = futures_endpoint_path(path)
    candidates = {post_data, unquote_plus(post_data)}
    return any(
        hmac.compare_digest(futures_signature(secret, endpoint, data, nonce), given) for data in candidates
    )
