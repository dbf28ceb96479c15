"""The backfill causes' vocabulary and their fixes: the error guide's entry where it covers the cause
(`nbsupport.guide`), our own text for the causes it does not (query window, start time)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from functools import lru_cache

from nbsupport import guide
from nbsupport.diagnosis import KRAKEN_SCOPE_LABELS, PLATFORM_EGRESS_IP, Scope
from nbsupport.guide.model import FixPayload


class BackfillCause(StrEnum):
    MISSING_PERMISSION = "missing_permission"  # Query Closed Orders & Trades not granted
    QUERY_WINDOW_ENDED = "query_window_ended"  # the key may only read history up to a date now past
    WRONG_PRODUCT = "wrong_product"  # spot key used for futures history or the reverse
    WRONG_START_TIME = "wrong_start_time"  # the backfill asked for a period before the key existed
    KEY_EXPIRED = "key_expired"
    IP_NOT_ALLOWED = "ip_not_allowed"  # Kraken answers a non-whitelisted address with Permission denied too
    UNEXPLAINED = "empty_unexplained"  # orders placed, nothing fetched, the scope looks granted


def fix_for_cause(
    cause: BackfillCause,
    exchange: str,
    *,
    created_at: datetime | None = None,
    query_end: datetime | None = None,
) -> FixPayload:
    """The guide's fix where the guide covers the cause; our own text for the rest."""
    guide_fix = _guide_fix(cause, exchange)
    if guide_fix is None:
        return _own_fix(cause, created_at, query_end)
    # A copy per finding: callers may edit theirs, the cached one stays as the guide says.
    return {**guide_fix, "steps": list(guide_fix["steps"])}


@lru_cache(maxsize=256)
def _guide_fix(cause: BackfillCause, exchange: str) -> FixPayload | None:
    """Looked up once per (cause, venue): a scan can flag tens of thousands of keys."""
    diagnosis = {
        BackfillCause.MISSING_PERMISSION: "missing_permission",
        BackfillCause.WRONG_PRODUCT: "wrong_product",
        BackfillCause.KEY_EXPIRED: "key_expired",
        BackfillCause.IP_NOT_ALLOWED: "ip_not_allowed",
    }.get(cause)
    if diagnosis is None:
        return None
    try:
        row = None
        if cause is BackfillCause.MISSING_PERMISSION:
            # The venue's "fill history is empty" entry is the exact case; the general one otherwise.
            row = guide.get_fix(f"{guide.normalize_venue(exchange)}-empty-fill-history")
        row = row or guide.fix_for(diagnosis, exchange)
    except (LookupError, ValueError, guide.GuideError):
        return None
    return row.as_fix_payload()


_CLOSED = KRAKEN_SCOPE_LABELS[Scope.QUERY_CLOSED_ORDERS]


def _own_fix(cause: BackfillCause, created_at: datetime | None, query_end: datetime | None) -> FixPayload:
    created = f"{created_at:%Y-%m-%d %H:%M} UTC" if created_at else "the key's creation time"
    ended = f" on {query_end:%Y-%m-%d}" if query_end else ""
    texts: dict[BackfillCause, tuple[str, list[str], str]] = {
        BackfillCause.MISSING_PERMISSION: (
            f"Grant {_CLOSED}",
            [
                f'Have the user edit the key on the exchange and tick "{_CLOSED}".',
                "Re-run the connection test; once the scope shows granted, re-run the backfill.",
            ],
            "Your key cannot read closed orders, so your history shows up empty. Please edit the key and "
            f'tick "{_CLOSED}"; we will then reload your history.',
        ),
        BackfillCause.QUERY_WINDOW_ENDED: (
            "Lift the key's query window",
            [
                f"The key may only read history up to its query end date{ended}.",
                "Have the user edit the key and clear the query start/end dates (or create a new key without "
                "them, with the same permissions).",
                "Re-run the backfill.",
            ],
            "Your key is limited to a history window that has ended, so recent trades cannot be read. Please "
            "edit the key and remove the query end date; we will then reload your history.",
        ),
        BackfillCause.WRONG_PRODUCT: (
            "Use a key for the right product",
            [
                "Spot and futures are separate products with separate keys.",
                "Have the user create a key for the product the strategy trades, saved under that venue.",
            ],
            "The key saved for this strategy belongs to the other product (spot vs futures). Please create a "
            "key for the right product and paste it in Profile → Exchange keys.",
        ),
        BackfillCause.WRONG_START_TIME: (
            "Re-run the backfill from the key's creation",
            [
                f"The backfill asked for a period before the key existed; start it at or after {created}.",
                "No change is needed on the user's side.",
            ],
            "We are reloading your trade history; nothing is needed from you.",
        ),
        BackfillCause.KEY_EXPIRED: (
            "Replace the expired key",
            ["Have the user create a new key with the same permissions and paste it."],
            "Your key has reached its expiry date. Please create a new key with the same permissions and "
            "paste it in Profile → Exchange keys.",
        ),
        BackfillCause.IP_NOT_ALLOWED: (
            "Add our address to the key's IP whitelist",
            [
                f"Have the user add {PLATFORM_EGRESS_IP} to the key's IP whitelist on the exchange.",
                "Re-run the connection test, then the backfill.",
            ],
            f"Your key only accepts requests from other addresses. Please add {PLATFORM_EGRESS_IP} to its "
            "IP whitelist; we will then reload your history.",
        ),
        BackfillCause.UNEXPLAINED: (
            "Confirm the closed-orders scope",
            [
                "Probe the key (backfill-health --probe KEY) to confirm the closed-orders request.",
                "If it returns rows, check the backfill worker's logs for the empty runs.",
            ],
            "",
        ),
    }
    title, steps, reply = texts[cause]
    return {
        "id": f"backfill-{cause.value.replace('_', '-')}",
        "title": title,
        "steps": steps,
        "customer_reply": reply,
    }


def fix_heading(cause: BackfillCause | str) -> str:
    """What to do about a cause, in a few words ("Grant Query Closed Orders & Trades"): the heading of a
    group of findings. The guide's entries are titled by symptom ("Fill history is empty")."""
    return str(_own_fix(BackfillCause(cause), None, None)["title"])
