"""The customer reply for one connection-test result, drafted from the error guide's reply text.

The guide's replies are written for the general case (every permission listed, the platform's egress
address); a result knows more, so its reply says exactly that:

* missing_permission: the guide's list of every permission (in the venue's own labels) is replaced by the
  labels of the missing ones only;
* every reply names the configured egress address (`NBSUPPORT_EGRESS_IP`), never a hard-coded one;
* a test whose IP refusal did not leave from our egress address gets the guide's "we are checking" reply;
* a working key (`ok`, `withdraw_enabled`) gets the guide's "your key works" reply, then one paragraph per
  warning: withdraw enabled (the guide's withdraw reply), rotation due, expiry soon, query window limited.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime

from nbsupport.clock import utc_day
from nbsupport.diagnosis import PLATFORM_EGRESS_IP, STRATEGY_SCOPES, Diagnosis
from nbsupport.guide import FixRow, fix_for, get_fix
from nbsupport.keys import ROTATION_DAYS
from nbsupport.venues.labels import permission_labels

EGRESS_MISMATCH_FIX_ID = "console-egress-mismatch"
GREETING = "Hi! "
# Codes whose key works: their reply starts from the guide's "Connection works" entry.
WORKING = frozenset({Diagnosis.OK, Diagnosis.WITHDRAW_ENABLED})


@dataclass(frozen=True)
class ReplyFacts:
    """What a reply may say about one result; never a secret, and nothing the test did not establish."""

    diagnosis: str
    exchange: str
    missing: tuple[str, ...] = ()
    egress_ip: str = PLATFORM_EGRESS_IP
    egress_mismatch: bool = False
    withdraw_enabled: bool = False
    rotated_days_ago: int | None = None  # set only when rotation is due
    expires_at: datetime | None = None  # set only when the key expires soon
    query_from: datetime | None = None
    query_to: datetime | None = None


def guide_row(diagnosis: str, exchange: str | None, *, egress_mismatch: bool = False) -> FixRow:
    """The guide's entry for a result. An IP refusal of a test that did not leave from the platform's egress
    address is the console's problem, so it gets `console-egress-mismatch`, which asks nothing of the user."""
    if diagnosis == Diagnosis.IP_NOT_ALLOWED and egress_mismatch:
        row = get_fix(EGRESS_MISMATCH_FIX_ID)
        if row is None:
            raise LookupError(f"the error guide lost its {EGRESS_MISMATCH_FIX_ID} entry")
        return row
    return fix_for(diagnosis, exchange)


def in_egress_words(text: str, egress_ip: str) -> str:
    """Guide or fix text as this deployment must say it: the configured egress address wherever the text
    names the platform's default one."""
    return text.replace(PLATFORM_EGRESS_IP, egress_ip)


def with_egress_ip(row: FixRow, egress_ip: str) -> FixRow:
    """The row in this deployment's words (`in_egress_words` on title, cause, steps and reply)."""
    if egress_ip == PLATFORM_EGRESS_IP:
        return row

    def swap(text: str) -> str:
        return in_egress_words(text, egress_ip)

    return dataclasses.replace(row, title=swap(row.title), cause=swap(row.cause),
                               steps=tuple(swap(s) for s in row.steps),
                               customer_reply=swap(row.customer_reply))


def _only_missing(reply: str, row: FixRow, facts: ReplyFacts) -> str:
    every = ", ".join(permission_labels(row.venue, [s.value for s in STRATEGY_SCOPES]))
    missing = ", ".join(permission_labels(facts.exchange, facts.missing))
    if not facts.missing or every not in reply:
        return reply
    return reply.replace(every, missing)


def _paragraph(reply: str) -> str:
    return reply.removeprefix(GREETING)


def _warnings(facts: ReplyFacts) -> list[str]:
    notes: list[str] = []
    if facts.withdraw_enabled and facts.diagnosis != Diagnosis.WITHDRAW_ENABLED:
        notes.append(_paragraph(fix_for(Diagnosis.WITHDRAW_ENABLED, facts.exchange).customer_reply))
    if facts.rotated_days_ago is not None:
        notes.append(f"One more thing: the key was last replaced {facts.rotated_days_ago} days ago. For your "
                     f"security we recommend a new key every {ROTATION_DAYS} days: create one with the same "
                     "permissions, paste it in Profile → Exchange keys, then delete the old one.")
    if facts.expires_at is not None:
        notes.append(f"Please note that the key expires on {utc_day(facts.expires_at)}. To avoid an "
                     "interruption, create a new key before then and paste it in Profile → Exchange keys.")
    if facts.query_from is not None:
        notes.append(f"The key's query window starts on {utc_day(facts.query_from)}, so older orders and "
                     "trades are hidden from us and your history will look incomplete. Please clear the "
                     "query start date in the key's settings.")
    if facts.query_to is not None:
        notes.append(f"The key's query window ends on {utc_day(facts.query_to)}, so newer orders and trades "
                     "are hidden from us. Please clear the query end date in the key's settings.")
    return notes


def customer_reply(facts: ReplyFacts) -> str:
    """The reply for this result, ready to paste."""
    row = guide_row(facts.diagnosis, facts.exchange, egress_mismatch=facts.egress_mismatch)
    if facts.diagnosis in WORKING:
        paragraphs = [fix_for(Diagnosis.OK, facts.exchange).customer_reply]
        if facts.diagnosis == Diagnosis.WITHDRAW_ENABLED:
            paragraphs.append(_paragraph(row.customer_reply))
        reply = "\n\n".join(paragraphs + _warnings(facts))
    elif facts.diagnosis == Diagnosis.MISSING_PERMISSION:
        reply = _only_missing(row.customer_reply, row, facts)
    else:
        reply = row.customer_reply
    return in_egress_words(reply, facts.egress_ip)
