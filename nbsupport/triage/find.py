"""A pasted ticket -> the users and keys it is about (through `nbsupport.lookup`, one indexed query per
fact), the key it most likely concerns, and the customer reply for that key's latest test result.

Nothing here tests a key: the latest result is read, a new test needs an agent's click elsewhere.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace

from sqlalchemy.orm import Session

from nbsupport import conntest
from nbsupport.conntest import ConnectionOutcome, RecordedTest
from nbsupport.guide import FixRow, FixTable, Match, fix_for, get_fix, load_table
from nbsupport.keys import KeyView
from nbsupport.lookup import LookupQueryError, UserCard, lookup
from nbsupport.plain import plain_dict
from nbsupport.triage.facts import KeyFragment, TicketFacts, explain_errors, parse_ticket

# One lookup per fact; each is an indexed query, so this bounds a triage to a few dozen milliseconds.
MAX_QUERIES = 40
# A test that has not concluded has no reply to draft.
TROUBLED = ("failed", "warning")

_KeyFilter = Callable[[KeyView], bool]


@dataclass(frozen=True)
class MatchedUser:
    card: UserCard
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class MatchedKey:
    view: KeyView
    reasons: tuple[str, ...]
    # The ticket names this key itself (its id, part of it, the whole key), not only its owner.
    named: bool


@dataclass(frozen=True)
class Triage:
    facts: TicketFacts
    users: tuple[MatchedUser, ...] = ()
    keys: tuple[MatchedKey, ...] = ()  # best first: the first one is the suggestion
    not_found: tuple[str, ...] = ()  # facts that matched nothing, as a page may show them
    truncated: bool = False
    latest: RecordedTest | None = None  # the suggested key's latest test
    reply: FixRow | None = None  # the guide entry whose customer reply fits that result

    @property
    def suggested(self) -> MatchedKey | None:
        return self.keys[0] if self.keys else None

    @property
    def reply_text(self) -> str:
        """The reply drafted from the latest result itself (exact missing permissions, our egress address,
        warnings), recorded with the test; a test recorded before replies were drafted falls back to its
        guide entry's general reply."""
        if self.latest is not None and self.latest.result.customer_reply:
            return self.latest.result.customer_reply
        return self.reply.customer_reply if self.reply else ""

    def confirmed(self, match: Match) -> bool:
        """The suggested key's latest test reached the same diagnosis as this explanation of an error
        line: of several plausible causes, that is the one that tells them apart."""
        return self.latest is not None and match.row.diagnosis.value == self.latest.result.diagnosis

    def subjects(self) -> list[tuple[int, int | None]]:
        """(user id, key id) for each key shown, and (user id, None) for a matched user without one:
        what the audit trail records as viewed."""
        with_keys = {k.view.user_id for k in self.keys}
        return [(k.view.user_id, k.view.id) for k in self.keys] + [
            (u.card.id, None) for u in self.users if u.card.id not in with_keys
        ]

    def audit_summary(self) -> tuple[str, dict[str, object]]:
        """The result and detail of the triage's own audit row: counts and matched ids, never the paste."""
        facts = self.facts
        detail = {
            "emails": len(facts.emails), "user_ids": len(facts.user_ids), "key_ids": len(facts.key_ids),
            "key_fragments": len(facts.key_fragments), "error_lines": len(facts.error_lines),
            "users": [u.card.id for u in self.users], "keys": [k.view.id for k in self.keys],
        }
        return f"{len(self.users)} users, {len(self.keys)} keys", detail

    def as_dict(self) -> dict[str, object]:
        suggested = self.suggested
        return plain_dict({
            "facts": self.facts.as_dict(),
            "users": [{**u.card.as_dict(), "reasons": list(u.reasons)} for u in self.users],
            "keys": [{**k.view.as_dict(), "reasons": list(k.reasons), "named": k.named} for k in self.keys],
            "suggested_key_id": suggested.view.id if suggested else None,
            "not_found": list(self.not_found),
            "truncated": self.truncated,
            "latest_test": self.latest.as_dict() if self.latest else None,
            "reply": self.reply.as_fix_payload() if self.reply else None,
            "reply_text": self.reply_text,
        })


@dataclass
class _Found:
    users: dict[int, UserCard] = field(default_factory=dict)
    user_reasons: dict[int, list[str]] = field(default_factory=dict)
    keys: dict[int, KeyView] = field(default_factory=dict)
    key_reasons: dict[int, list[str]] = field(default_factory=dict)
    named: set[int] = field(default_factory=set)
    not_found: list[str] = field(default_factory=list)
    truncated: bool = False


def triage(
    session: Session,
    text: str,
    *,
    exchange: str | None = None,
    table: FixTable | None = None,
    pasted: tuple[KeyFragment, ...] = (),
) -> Triage:
    """Parse the ticket, look up every fact, rank the keys found and read the best one's latest test.
    `pasted`: whole keys the text held before a page masked it (`pasted_keys`), found by fingerprint."""
    table = table or load_table()
    facts = parse_ticket(text, exchange, table=table).with_pasted(pasted)
    found = _Found()
    for number, (query, label, names_key, keep) in enumerate(_queries(facts)):
        if number >= MAX_QUERIES:
            found.not_found.append(f"{label} (not searched: over {MAX_QUERIES} facts)")
            continue
        _collect(session, found, query, label, names_key, keep)
    keys = sorted(
        (MatchedKey(view, tuple(found.key_reasons[i]), i in found.named) for i, view in found.keys.items()),
        key=lambda k: _rank(k, facts.venues),
    )
    users = tuple(MatchedUser(card, tuple(found.user_reasons[i])) for i, card in sorted(found.users.items()))
    result = Triage(facts, users, tuple(keys), tuple(found.not_found), found.truncated)
    if not keys:
        return result
    top = keys[0].view
    if exchange is None and not facts.venues:
        # The ticket does not say which venue; its key does, and some errors mean different things there.
        facts = replace(facts, error_lines=explain_errors(text, top.exchange, table=table))
    history = conntest.recorded_tests(session, top.id, limit=1)
    latest = history[0] if history else None
    return replace(result, facts=facts, latest=latest,
                   reply=reply_row(latest.result, top.exchange) if latest else None)


def reply_row(result: ConnectionOutcome, exchange: str) -> FixRow | None:
    """The guide entry the test chose (its stored fix id), else the primary one for its diagnosis."""
    row = get_fix(result.fix_id) if result.fix_id else None
    if row is not None:
        return row
    try:
        return fix_for(result.diagnosis, exchange)
    except (LookupError, ValueError):  # an unknown code, or a guide without that row
        return None


def _queries(facts: TicketFacts) -> Iterator[tuple[str, str, bool, _KeyFilter]]:
    """(lookup text, what the fact is called on the page, whether it names a key, which keys count)."""
    def every(_view: KeyView) -> bool:
        return True

    for email in facts.emails:
        yield email, f"email {email}", False, every
    for user_id in facts.user_ids:
        yield f"user:{user_id}", f"user {user_id}", False, every
    for key_id in facts.key_ids:
        yield f"key:{key_id}", f"key {key_id}", True, every
    for fragment in facts.key_fragments:
        label = {"masked": "key", "start": "key starting", "end": "key ending",
                 "fingerprint": "fingerprint", "pasted": "whole key"}[fragment.kind]
        keep: _KeyFilter = every
        if fragment.kind == "start":
            keep = _starts_with(fragment.query)
        elif fragment.kind == "end":
            keep = _ends_with(fragment.query)
        yield fragment.query, f"{label} {fragment.shown} (line {fragment.line})", True, keep


def _starts_with(prefix: str) -> _KeyFilter:
    return lambda view: view.masked_key.startswith(prefix)


def _ends_with(suffix: str) -> _KeyFilter:
    return lambda view: view.masked_key.endswith(suffix)


def _collect(
    session: Session, found: _Found, query: str, label: str, names_key: bool, keep: _KeyFilter
) -> None:
    try:
        result = lookup(session, query)
    except LookupQueryError:
        found.not_found.append(label)
        return
    keys = [view for view in result.keys if keep(view)]
    owners = {view.user_id for view in keys}
    # A user fact matches its user even without keys; a key fact matches only the owners of its keys.
    users = [card for card in result.users if not names_key or card.id in owners]
    if not users and not keys:
        found.not_found.append(label)
        return
    found.truncated |= result.truncated
    for card in users:
        found.users.setdefault(card.id, card)
        found.user_reasons.setdefault(card.id, []).append(label)
    for view in keys:
        found.keys.setdefault(view.id, view)
        reasons = found.key_reasons.setdefault(view.id, [])
        reasons.append(label if names_key else f"owner's {label}")
        if names_key:
            found.named.add(view.id)


def _rank(key: MatchedKey, venues: tuple[str, ...]) -> tuple[bool, bool, bool, float, int]:
    """Named in the ticket, on a venue it mentions, failing, most recently tested, oldest id."""
    view = key.view
    tested = view.last_test_at.timestamp() if view.last_test_at else 0.0
    return (not key.named, view.exchange not in venues, view.last_outcome not in TROUBLED, -tested, view.id)
