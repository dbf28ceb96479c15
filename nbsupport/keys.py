"""Storing exchange keys, their masked metadata, and opening credentials for a connection test."""

from __future__ import annotations

import hashlib
import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import ccxt
from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from nbsupport import crypto
from nbsupport.clock import utcnow
from nbsupport.credentials import Credentials, mask
from nbsupport.db.models import EnvelopeKey, ExchangeKey, KeyFingerprintCount, User
from nbsupport.diagnosis import STRATEGY_SCOPES, Scope
from nbsupport.plain import plain_dict

ROTATION_DAYS = 90
# Statuses of a stored key whose credentials are no longer in use (fleet.stats.rollups.GONE_STATUSES spells
# the same set in SQL).
GONE_STATUSES = ("revoked", "deleted")
DEFAULT_PRODUCT = {"krakenfutures": "futures", "binanceusdm": "futures", "binancecoinm": "futures"}


class KeyInputError(ValueError):
    """Bad input for a key (unknown exchange, empty secret, bad IP...). Never contains the secret."""


def fingerprint(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


def normalise_email(email: str) -> str:
    email = email.strip().lower()
    local, at, domain = email.partition("@")
    if not at or not local or "." not in domain or any(c.isspace() for c in email) or len(email) > 320:
        raise KeyInputError("not a valid email address")
    return email


def get_or_create_user(session: Session, email: str, now: datetime | None = None) -> User:
    email = normalise_email(email)
    user = session.scalar(select(User).where(User.email == email))
    if user is None:
        user = User(email=email, display_name=email.split("@")[0], created_at=now or utcnow())
        session.add(user)
        session.flush()
    return user


def user_dek(session: Session, keyring: crypto.MasterKeyring, user_id: int, create: bool = False) -> bytes:
    envelope = session.get(EnvelopeKey, user_id)
    if envelope is None:
        if not create:
            raise crypto.DecryptionFailed("this user has no envelope key")
        dek = crypto.new_dek()
        wrapped, version = crypto.wrap_dek(keyring, user_id, dek)
        session.add(EnvelopeKey(user_id=user_id, wrapped_dek=wrapped, master_key_version=version,
                                created_at=utcnow(), rewrapped_at=None))
        session.flush()
        return dek
    return crypto.unwrap_dek(keyring, user_id, envelope.wrapped_dek, envelope.master_key_version)


def _check_ips(ips: Sequence[str]) -> list[str]:
    checked = []
    for ip in ips:
        try:
            checked.append(str(ipaddress.ip_network(ip.strip(), strict=False)))
        except ValueError:
            raise KeyInputError(f"not an IP address or network: {ip.strip()[:60]!r}") from None
    return checked


def third_credential_name(exchange: str) -> str | None:
    """Which third value the venue issues: ccxt's `password` (passphrase) or `uid`."""
    required = getattr(ccxt, exchange)().requiredCredentials
    if required.get("password"):
        return "password"
    if required.get("uid"):
        return "uid"
    return None


def add_key(
    session: Session,
    keyring: crypto.MasterKeyring,
    *,
    user_email: str,
    exchange: str,
    credentials: Credentials,
    label: str = "",
    product: str | None = None,
    ip_whitelist: Sequence[str] = (),
    expires_at: datetime | None = None,
    required_scopes: Sequence[str] | None = None,
    now: datetime | None = None,
) -> ExchangeKey:
    """Seal and store a key. The row id is part of the associated data, so it is inserted first."""
    texts = (user_email, exchange, label, product or "", credentials.api_key, credentials.secret,
             credentials.password or "", credentials.uid or "", *ip_whitelist)
    if any("\x00" in text for text in texts):
        # No key, label or address holds one, and PostgreSQL text columns cannot store it.
        raise KeyInputError("the input contains a NUL character")
    if exchange not in ccxt.exchanges:
        raise KeyInputError(f"unknown exchange id {exchange[:40]!r} (use a ccxt id such as kraken)")
    if not credentials.api_key.strip() or not credentials.secret.strip():
        raise KeyInputError("the API key and the secret must not be empty")
    if product is not None and not re.fullmatch(r"[a-z]{1,20}", product):
        raise KeyInputError("the product must be one lowercase word such as spot or futures")
    scopes = list(required_scopes) if required_scopes is not None else [s.value for s in STRATEGY_SCOPES]
    unknown = [s for s in scopes if s not in Scope.__members__.values()]
    if unknown:
        raise KeyInputError(f"unknown scope(s): {', '.join(unknown)}")
    now = now or utcnow()
    user = get_or_create_user(session, user_email, now)
    dek = user_dek(session, keyring, user.id, create=True)
    row = ExchangeKey(
        user_id=user.id, exchange=exchange, product=product or DEFAULT_PRODUCT.get(exchange, "spot"),
        label=label[:100], key_prefix=credentials.api_key[:4], key_suffix=credentials.api_key[-4:],
        fingerprint=fingerprint(credentials.api_key), has_passphrase=credentials.password is not None,
        has_uid=credentials.uid is not None, created_at=now, rotated_at=now, expires_at=expires_at,
        ip_whitelist=_check_ips(ip_whitelist), required_scopes=scopes, credential_blob=b"",
        credential_version=1, last_permissions={},
    )
    session.add(row)
    session.flush()
    row.credential_blob = crypto.seal_credentials(
        dek, credentials.to_bytes(), crypto.credential_aad(user.id, row.id, exchange, row.credential_version)
    )
    session.flush()
    return row


def open_credentials(session: Session, keyring: crypto.MasterKeyring, key_id: int) -> Credentials:
    """Decrypt a key's credentials for the connection test only; callers must not keep the result."""
    row = session.get(ExchangeKey, key_id)
    if row is None:
        raise KeyInputError(f"no exchange key with id {key_id}")
    dek = user_dek(session, keyring, row.user_id)
    aad = crypto.credential_aad(row.user_id, row.id, row.exchange, row.credential_version)
    return Credentials.from_bytes(crypto.open_credentials(dek, row.credential_blob, aad))


@dataclass(frozen=True)
class SharedKey:
    """Another stored key holding the same API key (same fingerprint): which key, whose."""

    key_id: int
    user_id: int


def shared_keys(session: Session, rows: Sequence[ExchangeKey]) -> dict[int, list[SharedKey]]:
    """For each row, the other keys in use that hold the same API key, in one query on the fingerprint
    index. Two systems signing with one key clash on its nonces, so support must see every copy."""
    fingerprints = {row.fingerprint for row in rows}
    if not fingerprints:
        return {}
    found = session.execute(
        select(ExchangeKey.id, ExchangeKey.user_id, ExchangeKey.fingerprint)
        .where(ExchangeKey.fingerprint.in_(fingerprints), ExchangeKey.status.not_in(GONE_STATUSES))
        .order_by(ExchangeKey.id)
    ).all()
    return {row.id: [SharedKey(key_id, user_id) for key_id, user_id, fp in found
                     if fp == row.fingerprint and key_id != row.id] for row in rows}


def rebuild_fingerprint_counts(session: Session) -> None:
    """Recompute `key_fingerprint_counts` from exchange_keys (the triggers of migration 0006 keep it current;
    a bulk load that suspends them calls this, through fleet.stats.rollups.rebuild_rollups)."""
    session.execute(delete(KeyFingerprintCount))
    in_use = select(ExchangeKey.fingerprint, func.count()).where(ExchangeKey.status.not_in(GONE_STATUSES))
    session.execute(insert(KeyFingerprintCount).from_select(
        ["fingerprint", "n"], in_use.group_by(ExchangeKey.fingerprint)))


def shared_with(session: Session, key_id: int) -> list[SharedKey]:
    """The other keys in use that hold the same API key as key `key_id` (none when it has no such key)."""
    row = session.get(ExchangeKey, key_id)
    return shared_keys(session, [row]).get(key_id, []) if row is not None else []


@dataclass(frozen=True)
class KeyView:
    """Everything a support page may show about a key: masked metadata, never a secret."""

    id: int
    user_id: int
    exchange: str
    product: str
    label: str
    masked_key: str
    fingerprint: str
    has_passphrase: bool
    has_uid: bool
    created_at: datetime
    rotated_at: datetime | None
    rotation_age_days: int | None
    rotation_overdue: bool
    expires_at: datetime | None
    days_to_expiry: int | None
    ip_whitelist: list[str]
    required_scopes: list[str]
    permissions: dict[str, str]
    withdraw_granted: bool
    status: str
    last_test_at: datetime | None
    last_outcome: str | None
    last_diagnosis: str | None
    envelope_version: str | None
    # Other stored keys with the same API key (`shared_keys`); empty for most keys.
    shared_with: tuple[SharedKey, ...] = ()

    def as_dict(self) -> dict[str, object]:
        return plain_dict(self)


def key_view(row: ExchangeKey, envelope_version: str | None, now: datetime | None = None,
             shared_with: Sequence[SharedKey] = ()) -> KeyView:
    now = now or utcnow()
    age = (now - row.rotated_at).days if row.rotated_at else None
    return KeyView(
        id=row.id, user_id=row.user_id, exchange=row.exchange, product=row.product, label=row.label,
        masked_key=f"{row.key_prefix}…{row.key_suffix}", fingerprint=row.fingerprint[:16],
        has_passphrase=row.has_passphrase, has_uid=row.has_uid, created_at=row.created_at,
        rotated_at=row.rotated_at, rotation_age_days=age,
        rotation_overdue=age is not None and age > ROTATION_DAYS, expires_at=row.expires_at,
        days_to_expiry=(row.expires_at - now).days if row.expires_at else None,
        ip_whitelist=list(row.ip_whitelist or []), required_scopes=list(row.required_scopes or []),
        permissions=dict(row.last_permissions or {}),
        withdraw_granted=(row.last_permissions or {}).get(Scope.WITHDRAW) == "granted",
        status=row.status, last_test_at=row.last_test_at, last_outcome=row.last_outcome,
        last_diagnosis=row.last_diagnosis, envelope_version=envelope_version, shared_with=tuple(shared_with),
    )


__all__ = ["Credentials", "KeyInputError", "KeyView", "SharedKey", "add_key", "key_view", "mask",
           "open_credentials", "shared_keys", "shared_with"]
