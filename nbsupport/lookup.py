"""Find users and keys from whatever an agent pastes: a name or surname, an email or part of it (before the
@, or the domain), a user or key id, a ticket link, a key fragment in any case, the whole API key (matched
through its fingerprint), or a fingerprint prefix.

A query is read every way it can mean something (`parse_query`); each reading is one equality or prefix
range over one indexed column, bounded by LIMIT, so a lookup stays flat as the tables grow. Matches are
ranked (`Rank`) and each says why it matched.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum
from typing import TypeVar
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from nbsupport.db.models import EnvelopeKey, ExchangeKey, User
from nbsupport.keys import KeyView, fingerprint, key_view, shared_keys
from nbsupport.plain import plain_dict
from nbsupport.searchtext import fold

MAX_QUERY_LENGTH = 500
# Users per search: more than an agent reads, and each costs its keys' rows; the page says to narrow.
MAX_RESULTS = 20
MAX_KEYS = 100
MIN_TEXT = 2  # a one-letter prefix would list half the users

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}$")
_ID = re.compile(r"^(?:(?P<kind>user|key|u|k)\s*[:#=]\s*|#)?(?P<id>\d{1,18})$", re.IGNORECASE)
_KEY_CHARS = r"A-Za-z0-9+/=_-"
_MASKED = re.compile(
    rf"^(?P<prefix>[{_KEY_CHARS}]{{4}})\s*(?:…|\.{{2,3}})\s*(?P<suffix>[{_KEY_CHARS}]{{4}})$")
_HEX = re.compile(r"^[0-9a-fA-F]{6,64}$")
_FRAGMENT = re.compile(rf"^[{_KEY_CHARS}]{{4}}$")
# A whole API key as venues issue them (base64, alphanumeric, UUID, path-like CDP names): long, no spaces.
_API_KEY = re.compile(rf"^[.:{_KEY_CHARS}]{{16,200}}$")
_EMAIL_PART = re.compile(r"^[\w.%+'-]+$")
_DOMAIN = re.compile(r"^[\w-]+(?:\.[\w-]*)+$")  # a dot: `gmail.example`, `gmail.`

HELP = ("search by name, email or part of it, user id, key:45, ticket link, 4 characters of a key, "
        "the whole API key, or 6+ hex digits of its fingerprint")
EXAMPLE = 'e.g. "Mia Andersen", "mia_a2", "gmail.example", "user:42" or "abcd…wxyz"'


class LookupQueryError(ValueError):
    """The query cannot match anything; the message is one line with an example."""


class Rank(IntEnum):
    """Best first: how closely a result matches what was typed."""

    EXACT = 0  # user id, key id, the whole email, the pasted API key, a whole fingerprint, a ticket link
    NAME = 1  # the whole name, the whole part of an email before the @
    PART = 2  # the surname or the first name
    PREFIX = 3  # the start of a name, an email or a domain; a key fragment; a fingerprint prefix


@dataclass(frozen=True)
class ParsedQuery:
    kind: str  # email | user_id | key_id | ticket | masked | fingerprint | api_key | fragment | name | text
    email: str | None = None
    user_id: int | None = None
    key_id: int | None = None
    prefix: str | None = None  # masked key: first and last four characters
    suffix: str | None = None
    fragment: str | None = None  # four characters of a key's start or end
    fingerprint: str | None = None  # hex prefix of a fingerprint
    api_key_fingerprint: str | None = None  # sha256 of a pasted whole key (the key itself is not kept)
    name: str | None = None  # folded: full name, surname or first name, or their start
    local: str | None = None  # folded: the part of an email before the @, or its start
    domain: str | None = None  # folded: an email domain, or its start

R = TypeVar("R")


def _ticket_link(text: str) -> ParsedQuery | None:
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    params = parse_qs(parts.query)
    user = next(iter(params.get("user", [])), None)
    key = next(iter(params.get("key", [])), None)
    if (user and not user.isdigit()) or (key and not key.isdigit()) or not (user or key):
        raise LookupQueryError("the link has no numeric ?user= or &key= parameter")
    return ParsedQuery("ticket", user_id=int(user) if user else None, key_id=int(key) if key else None)


def _is_name(text: str) -> bool:
    return all(c.isalpha() or c in " .'’,-" for c in text) and sum(c.isalpha() for c in text) >= MIN_TEXT


def _name(text: str) -> str:
    """'Andersen, Mia' as the agent copied it from a form is 'Mia Andersen'."""
    last, comma, first = text.partition(",")
    return fold(f"{first} {last}" if comma else text)


def _email_query(text: str) -> ParsedQuery:
    """A whole address, `local@` or `@domain`; `local@start-of-domain` matches the local part exactly."""
    local, _, domain = fold(text).rpartition("@")
    # The whole address as keys.normalise_email stores it; the parts folded as the search columns hold them.
    whole = text.lower() if local and domain and _EMAIL.match(text) else None
    if (not local and len(domain) < MIN_TEXT) or (not domain and len(local) < MIN_TEXT):
        raise LookupQueryError(f"too short: type at least {MIN_TEXT} characters, {EXAMPLE}")
    return ParsedQuery("email", email=whole, local=local or None, domain=domain or None)


def _free_text(text: str) -> ParsedQuery:
    """Every reading a word or words can have at once; the ranking sorts them out."""
    if len(fold(text)) < MIN_TEXT and not _FRAGMENT.match(text):
        raise LookupQueryError(f"too short: type at least {MIN_TEXT} characters, {EXAMPLE}")
    single = " " not in text
    readings: dict[str, str | None] = {
        "name": _name(text) if _is_name(text) else None,
        "local": fold(text) if single and _EMAIL_PART.match(text) else None,
        "domain": fold(text) if single and _DOMAIN.match(text) else None,
        "fragment": text if _FRAGMENT.match(text) else None,
        "fingerprint": text.lower() if _HEX.match(text) else None,
        "api_key_fingerprint": fingerprint(text) if _API_KEY.match(text) else None,
    }
    if not any(readings.values()):
        raise LookupQueryError(f"unrecognised search: try a name, an email, an id or a key, {EXAMPLE}")
    kind = next((k for k, r in (("fingerprint", "fingerprint"), ("api_key", "api_key_fingerprint"),
                                ("fragment", "fragment"), ("name", "name")) if readings[r]), "text")
    return ParsedQuery(kind, name=readings["name"], local=readings["local"], domain=readings["domain"],
                       fragment=readings["fragment"], fingerprint=readings["fingerprint"],
                       api_key_fingerprint=readings["api_key_fingerprint"])


def parse_query(text: str) -> ParsedQuery:
    """Classify a search string; raises LookupQueryError (one line, with an example) if nothing can match."""
    text = (text or "").strip()
    if not text:
        raise LookupQueryError(f"empty search: {EXAMPLE}")
    if len(text) > MAX_QUERY_LENGTH:
        raise LookupQueryError(f"search is {len(text)} characters long; the limit is {MAX_QUERY_LENGTH}")
    if any(ord(c) < 32 for c in text):
        raise LookupQueryError(f"search contains control characters: {EXAMPLE}")
    if link := _ticket_link(text):
        return link
    if m := _ID.match(text):
        kind = (m.group("kind") or "user").lower()
        value = int(m.group("id"))
        if kind in ("key", "k"):
            return ParsedQuery("key_id", key_id=value)
        # Four bare digits may equally be the start or end of an API key: search both.
        ambiguous = m.group("kind") is None and _FRAGMENT.match(text) is not None
        return ParsedQuery("user_id", user_id=value, fragment=text if ambiguous else None)
    if "@" in text and " " not in text:
        return _email_query(text)
    if m := _MASKED.match(text):
        return ParsedQuery("masked", prefix=m.group("prefix"), suffix=m.group("suffix"))
    return _free_text(text)


@dataclass(frozen=True)
class UserCard:
    id: int
    email: str
    display_name: str
    strategy: str
    created_at: datetime
    envelope_version: str | None
    why: str = ""  # what matched: "surname Andersen", "key #45 ends with wxyz"...
    rank: int = 0  # a Rank

    def as_dict(self) -> dict[str, object]:
        return plain_dict(self)


@dataclass
class LookupResult:
    query: ParsedQuery
    users: list[UserCard] = field(default_factory=list)  # best match first
    keys: list[KeyView] = field(default_factory=list)  # in the order of their users
    truncated: bool = False
    key_why: dict[int, str] = field(default_factory=dict)  # keys the query itself matched, and how

    def as_dict(self) -> dict[str, object]:
        return plain_dict({
            "query": self.query.kind,
            "users": self.users,
            "keys": [{**k.as_dict(), "why": self.key_why.get(k.id, "")} for k in self.keys],
            "truncated": self.truncated,
        })


@dataclass(order=True)
class _Hit:
    rank: int
    order: int  # the order the readings found it in, within a rank
    why: str = field(compare=False)


class _Hits:
    """The best reason each user (and each key) matched, and whether a reading had more than it returned."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.users: dict[int, _Hit] = {}
        self.keys: dict[int, tuple[ExchangeKey, _Hit]] = {}
        self.user_readings: set[int] = set()  # users found by who they are: all their keys are shown
        self.truncated = False

    def user(self, user_id: int, rank: Rank, why: str, by_user: bool = True) -> None:
        hit = _Hit(rank, len(self.users), why)
        if user_id not in self.users or hit < self.users[user_id]:
            self.users[user_id] = hit
        if by_user:
            self.user_readings.add(user_id)

    def key(self, row: ExchangeKey, rank: Rank, why: str) -> None:
        self.keys.setdefault(row.id, (row, _Hit(rank, len(self.keys), why)))
        self.user(row.user_id, rank, why, by_user=False)

    def bounded(self, rows: Sequence[R]) -> Sequence[R]:
        self.truncated |= len(rows) > self.limit
        return rows[: self.limit]


def _successor(text: str) -> str:
    """The first string after every string that starts with `text` (code point order on both backends)."""
    return text[:-1] + chr(min(ord(text[-1]) + 1, 0x10FFFF))


def _starts_with(column: InstrumentedAttribute[str], text: str) -> ColumnElement[bool]:
    # A range, not LIKE: it uses the B-tree index on both backends with no escaping of % and _.
    return (column >= text) & (column < _successor(text))


def _users_by_prefix(session: Session, hits: _Hits, column: InstrumentedAttribute[str], text: str,
                     label: str, exact: tuple[Rank, str], first_word: tuple[Rank, str] | None = None) -> None:
    """One index range, in (value, id) order: the exact value first, then `text ` (a first name), then
    longer values, which is the rank order too, so LIMIT keeps the best."""
    rows = session.execute(select(User.id, column).where(_starts_with(column, text))
                           .order_by(column, User.id).limit(hits.limit + 1)).all()
    for user_id, value in hits.bounded(rows):
        if value == text:
            hits.user(user_id, exact[0], f"{exact[1]} {value}")
        elif first_word and value.startswith(text + " "):
            hits.user(user_id, first_word[0], f"{first_word[1]} {text}")
        else:
            hits.user(user_id, Rank.PREFIX, f"{label} {text}…")


def _find_users(session: Session, q: ParsedQuery, hits: _Hits) -> None:
    if q.user_id is not None and session.get(User, q.user_id) is not None:
        hits.user(q.user_id, Rank.EXACT, f"user id {q.user_id}")
    if q.email:
        for user_id in session.scalars(select(User.id).where(User.email == q.email)):
            hits.user(user_id, Rank.EXACT, f"email {q.email}")
    if q.name:
        _users_by_prefix(session, hits, User.name_search, q.name, "name starts with",
                         (Rank.NAME, "name"), (Rank.PART, "first name"))
        _users_by_prefix(session, hits, User.surname_search, q.name, "surname starts with",
                         (Rank.PART, "surname"))
    if q.local and q.domain and q.email:
        # `local@start-of-domain`: the whole local part, then the domain's start checked on those few rows.
        rows = session.execute(select(User.id, User.email_domain).where(User.email_local == q.local)
                               .order_by(User.id).limit(hits.limit + 1)).all()
        for user_id, domain in hits.bounded(rows):
            if domain.startswith(q.domain):
                hits.user(user_id, Rank.NAME, f"email starts with {q.local}@{q.domain}")
        return
    if q.local:
        _users_by_prefix(session, hits, User.email_local, q.local, "email starts with",
                         (Rank.NAME, "email before the @ is"))
    if q.domain:
        _users_by_prefix(session, hits, User.email_domain, q.domain, "email domain starts with",
                         (Rank.PREFIX, "email domain"))


def _masked(row: ExchangeKey) -> str:
    return f"{row.key_prefix}…{row.key_suffix}"


def _keys_where(session: Session, hits: _Hits, predicate: ColumnElement[bool]) -> list[ExchangeKey]:
    return list(hits.bounded(session.scalars(select(ExchangeKey).where(predicate)
                                             .order_by(ExchangeKey.id).limit(hits.limit + 1)).all()))


def _find_keys(session: Session, q: ParsedQuery, hits: _Hits) -> None:
    if q.key_id is not None:
        for row in _keys_where(session, hits, ExchangeKey.id == q.key_id):
            hits.key(row, Rank.EXACT, f"key id {row.id}")
    if q.api_key_fingerprint:
        for row in _keys_where(session, hits, ExchangeKey.fingerprint == q.api_key_fingerprint):
            hits.key(row, Rank.EXACT, f"key #{row.id} is the pasted API key ({_masked(row)})")
    if q.fingerprint:
        # A range instead of LIKE: it uses the B-tree index on every backend and collation.
        between = (ExchangeKey.fingerprint >= q.fingerprint) & (ExchangeKey.fingerprint < f"{q.fingerprint}g")
        whole = len(q.fingerprint) == 64
        for row in _keys_where(session, hits, between):
            hits.key(row, Rank.EXACT if whole else Rank.PREFIX,
                     f"key #{row.id} fingerprint {'is' if whole else 'starts with'} {q.fingerprint[:16]}")
    prefix, suffix = func.lower(ExchangeKey.key_prefix), func.lower(ExchangeKey.key_suffix)
    if q.prefix and q.suffix:
        for row in _keys_where(session, hits, (prefix == q.prefix.lower()) & (suffix == q.suffix.lower())):
            hits.key(row, Rank.EXACT, f"key #{row.id} is {_masked(row)}")
    if q.fragment:
        fragment = q.fragment.lower()
        for row in _keys_where(session, hits, (prefix == fragment) | (suffix == fragment)):
            end = "starts with " + row.key_prefix if row.key_prefix.lower() == fragment else (
                "ends with " + row.key_suffix)
            hits.key(row, Rank.PREFIX, f"key #{row.id} {end}")


def lookup(session: Session, text: str, limit: int = MAX_RESULTS) -> LookupResult:
    """Raises LookupQueryError for a query that cannot match anything; finds nothing -> empty result."""
    q = parse_query(text)
    hits = _Hits(limit)
    _find_keys(session, q, hits)
    if q.kind == "ticket":
        if q.user_id is not None and q.key_id is None:
            hits.user(q.user_id, Rank.EXACT, "ticket link")
        # A link naming a key of another user shows nothing, exactly like a key that does not exist.
        if q.user_id is not None and any(row.user_id != q.user_id for row, _ in hits.keys.values()):
            return LookupResult(q)
    else:
        _find_users(session, q, hits)
    ranked = sorted(hits.users, key=hits.users.__getitem__)
    result = LookupResult(q, truncated=hits.truncated or len(ranked) > limit)
    user_ids = ranked[:limit]
    if not user_ids:
        return result
    users = {u.id: u for u in session.scalars(select(User).where(User.id.in_(user_ids)))}
    user_ids = [u for u in user_ids if u in users]  # a ticket link's user may not exist
    envelopes = dict(session.execute(
        select(EnvelopeKey.user_id, EnvelopeKey.master_key_version).where(EnvelopeKey.user_id.in_(user_ids))
    ).all())
    for user_id in user_ids:
        user, hit = users[user_id], hits.users[user_id]
        result.users.append(UserCard(user.id, user.email, user.display_name, user.strategy, user.created_at,
                                     envelopes.get(user.id), hit.why, int(hit.rank)))
    # Users found by who they are show all their keys; users found through a key show that key.
    owned = [u for u in user_ids if u in hits.user_readings]
    rows = {row.id: row for row, _ in hits.keys.values() if row.user_id in users}
    if owned:
        listed = select(ExchangeKey).where(ExchangeKey.user_id.in_(owned)).order_by(ExchangeKey.id)
        extra = list(session.scalars(listed.limit(MAX_KEYS + 1)))
        result.truncated |= len(extra) > MAX_KEYS
        rows.update((row.id, row) for row in extra[:MAX_KEYS])
    position = {u: i for i, u in enumerate(user_ids)}
    ordered = sorted(rows.values(), key=lambda r: (position[r.user_id], r.id not in hits.keys, r.id))
    shared = shared_keys(session, ordered)
    result.keys = [key_view(r, envelopes.get(r.user_id), shared_with=shared.get(r.id, ())) for r in ordered]
    result.key_why = {key_id: hit.why for key_id, (_, hit) in hits.keys.items() if key_id in rows}
    return result
