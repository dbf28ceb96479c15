"""The `fix` payload of a result: the error guide's row for the diagnosis, in this deployment's words (its
egress address), with the customer reply drafted from the result itself (`nbsupport.replies`)."""

from __future__ import annotations

from datetime import datetime, timedelta

from nbsupport.conntest.classify import EXPIRY_WARNING_DAYS, Evidence, Verdict
from nbsupport.conntest.result import KeyMeta
from nbsupport.diagnosis import Scope
from nbsupport.guide.model import FixPayload
from nbsupport.keys import ROTATION_DAYS
from nbsupport.replies import ReplyFacts, customer_reply, guide_row, with_egress_ip


def _expiring(moments: list[datetime | None], now: datetime) -> datetime | None:
    """The soonest expiry still ahead but within the warning window (stored or reported by the venue)."""
    window = timedelta(days=EXPIRY_WARNING_DAYS)
    ahead = [m for m in moments if m is not None and now < m and m - now < window]
    return min(ahead, default=None)


def reply_facts(concluded: Verdict, meta: KeyMeta, evidence: Evidence) -> ReplyFacts:
    """What the test established that a reply may mention; the same rules as the test's warnings."""
    info = evidence.key_info
    rotated = (evidence.now - meta.rotated_at).days if meta.rotated_at is not None else None
    return ReplyFacts(
        diagnosis=concluded.diagnosis.value,
        exchange=meta.exchange,
        missing=tuple(concluded.missing),
        egress_ip=evidence.egress.egress_ip,
        egress_mismatch=bool(evidence.detail.get("egress_mismatch")),
        withdraw_enabled=concluded.permissions.get(Scope.WITHDRAW.value) == "granted",
        rotated_days_ago=rotated if rotated is not None and rotated > ROTATION_DAYS else None,
        expires_at=_expiring([meta.expires_at, info.expires_at if info else None], evidence.now),
        query_from=info.query_from if info else None,
        query_to=info.query_to if info else None,
    )


def fix_payload(facts: ReplyFacts) -> FixPayload:
    """`{"id", "title", "steps", "customer_reply"}`: the guide's row, and the reply for this result."""
    row = with_egress_ip(guide_row(facts.diagnosis, facts.exchange, egress_mismatch=facts.egress_mismatch),
                         facts.egress_ip)
    return {**row.as_fix_payload(), "customer_reply": customer_reply(facts)}
