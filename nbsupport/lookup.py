"""Find users and keys from whatever an agent pastes: email, user id, ticket link, key fragment.

Each query form maps to one indexed predicate, so lookups stay flat as the tables grow.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from nbsupport.db.models import EnvelopeKey, ExchangeKey, User
from nbsupport.keys import KeyView, key_view, shared_keys
from nbsupport.plain import iso_fields

MAX_QUERY_LENGTH = 500
MAX_RESULTS = 50

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}$")
_ID = re.compile(r"^(?:(?P<kind>user|key|u|k)\s*[:#=]\s*|#)?(?P<id>\d{1,18})$", re.IGNORECASE)
_MASKED = re.compile(r"^(?P<prefix>[A-Za-z0-9+/=_-]{4})\s*(?:…|\.{2,3})\s*(?P<suffix>[A-Za-z0-9+/=_-]{4})$")
_HEX = re.compile(r"^[0-9a-fA-F]{6,64}$")
_FRAGMENT = re.compile(r"^[A-Za-z0-9+/=_-]{4}$")


class LookupQueryError(ValueError):
    """The query is not one of the supported forms; the message says which forms are."""


@dataclass(frozen=True)
class ParsedQuery:
    kind: str  # email | user_id | key_id | ticket | masked | fingerprint | fragment
    email: str | None = None
    user_id: int | None = None
    key_id: int | None = None
    prefix: str | None = None
    suffix: str | None = None
    fragment: str | None = None


HELP = (
    "search by email, user id (123 or user:123), key id (key:45), a ticket link with ?user=/&key=, "
    "a masked key (abcd…wxyz), 4 characters of a key's start or end, or 6+ hex digits of its fingerprint"
)


def _ticket_link(text: str) -> ParsedQuery | None:
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    params = parse_qs(parts.query)
    user = (params.get("user") or [None])[0]
    key = (params.get("key") or [None])[0]
    if (user and not user.isdigit()) or (key and not key.isdigit()) or not (user or key):
        raise LookupQueryError("the link has no numeric ?user= or &key= parameter")
    return ParsedQuery("ticket", user_id=int(user) if user else None, key_id=int(key) if key else None)


def parse_query(text: str) -> ParsedQuery:
    """Classify a search string; raises LookupQueryError with the supported forms on anything else."""
    text = (text or "").strip()
    if not text:
        raise LookupQueryError("empty search: " + HELP)
    if len(text) > MAX_QUERY_LENGTH:
        raise LookupQueryError(f"search is {len(text)} characters long; the limit is {MAX_QUERY_LENGTH}")
    if any(ord(c) < 32 for c in text):
        raise LookupQueryError("search contains control characters: " + HELP)
    if link := _ticket_link(text):
        return link
    if _EMAIL.match(text):
        return ParsedQuery("email", email=text.lower())
    if m := _ID.match(text):
        kind = (m.group("kind") or "user").lower()
        value = int(m.group("id"))
        if kind in ("key", "k"):
            return ParsedQuery("key_id", key_id=value)
        # Four bare digits may equally be the start or end of an API key: search both.
        ambiguous = m.group("kind") is None and _FRAGMENT.match(text) is not None
        return ParsedQuery("user_id", user_id=value, fragment=text if ambiguous else None)
    if m := _MASKED.match(text):
        return ParsedQuery("masked", prefix=m.group("prefix"), suffix=m.group("suffix"))
    if _HEX.match(text) and len(text) >= 6:
        return ParsedQuery("fingerprint", fragment=text.lower())
    if _FRAGMENT.match(text):
        return ParsedQuery("fragment", fragment=text)
    raise LookupQueryError("unrecognised search: " + HELP)


@dataclass(frozen=True)
class UserCard:
    id: int
    email: str
    display_name: str
    strategy: str
    created_at: datetime
    envelope_version: str | None

    def as_dict(self) -> dict[str, Any]:
        return iso_fields(self)


@dataclass
class LookupResult:
    query: ParsedQuery
    users: list[UserCard] = field(default_factory=list)
    keys: list[KeyView] = field(default_factory=list)
    truncated: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "query": self.query.kind,
            "users": [u.as_dict() for u in self.users],
            "keys": [k.as_dict() for k in self.keys],
            "truncated": self.truncated,
        }


def _fragment_predicate(fragment: str) -> Any:
    return (ExchangeKey.key_prefix == fragment) | (ExchangeKey.key_suffix == fragment)


def _key_predicate(q: ParsedQuery) -> Any:
    if q.kind == "masked":
        return (ExchangeKey.key_prefix == q.prefix) & (ExchangeKey.key_suffix == q.suffix)
    if q.kind == "fingerprint":
        # A range instead of LIKE: it uses the B-tree index on every backend and collation.
        return (ExchangeKey.fingerprint >= q.fragment) & (ExchangeKey.fingerprint < f"{q.fragment}g")
    if q.kind == "fragment":
        return _fragment_predicate(q.fragment)
    if q.kind == "user_id":
        by_user = ExchangeKey.user_id == q.user_id
        return by_user | _fragment_predicate(q.fragment) if q.fragment else by_user
    if q.kind in ("key_id", "ticket") and q.key_id is not None:
        return ExchangeKey.id == q.key_id
    return None


def _keys_where(session: Session, predicate: Any, limit: int) -> tuple[list[ExchangeKey], bool]:
    rows = session.scalars(select(ExchangeKey).where(predicate).order_by(ExchangeKey.id).limit(limit + 1))
    found = list(rows)
    return found[:limit], len(found) > limit


def lookup(session: Session, text: str, limit: int = MAX_RESULTS) -> LookupResult:
    """Raises LookupQueryError for a query of no supported form; finds nothing -> empty result."""
    q = parse_query(text)
    result = LookupResult(q)
    key_pred = _key_predicate(q)
    if key_pred is not None:
        matched, result.truncated = _keys_where(session, key_pred, limit)
        if q.kind == "ticket" and q.user_id is not None:
            matched = [r for r in matched if r.user_id == q.user_id]
        # A user id that exists is a match even when the user has no keys yet.
        named = [q.user_id] if q.kind == "user_id" and q.user_id is not None else []
        user_ids = sorted({r.user_id for r in matched} | set(named))
    else:
        if q.kind == "email":
            user_ids = list(session.scalars(select(User.id).where(User.email == q.email)))
        else:
            user_ids = [q.user_id] if q.user_id is not None else []
        matched, result.truncated = _keys_where(session, ExchangeKey.user_id.in_(user_ids), limit)
    if not user_ids:
        return result
    envelopes = dict(session.execute(
        select(EnvelopeKey.user_id, EnvelopeKey.master_key_version).where(EnvelopeKey.user_id.in_(user_ids))
    ).all())
    for user in session.scalars(select(User).where(User.id.in_(user_ids)).order_by(User.id)):
        result.users.append(UserCard(user.id, user.email, user.display_name, user.strategy, user.created_at,
                                     envelopes.get(user.id)))
    shared = shared_keys(session, matched)
    result.keys = [key_view(r, envelopes.get(r.user_id), shared_with=shared.get(r.id, ())) for r in matched]
    return result
