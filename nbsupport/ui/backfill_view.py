"""Backfill findings grouped by cause: one card per cause whose heading names the fix, its steps and the
customer reply once, and under it the affected keys (linked) with their evidence."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import groupby
from typing import TYPE_CHECKING

import pandas as pd
import streamlit as st

from nbsupport.audit import Action
from nbsupport.auth import Identity
from nbsupport.config import get_settings
from nbsupport.console import Console
from nbsupport.fleet.backfill.fixes import fix_heading
from nbsupport.fleet.backfill.health import backfill_health
from nbsupport.guide import get_fix
from nbsupport.lookup import LookupQueryError, lookup
from nbsupport.replies import in_egress_words
from nbsupport.ui.diagnosis_card import guide_link
from nbsupport.ui.exports import csv_download
from nbsupport.ui.fix_card import reply_block
from nbsupport.ui.key_card import venue_name
from nbsupport.ui.links import key_link_column, key_url, user_link_column, user_url
from nbsupport.ui.markdown import md_escape
from nbsupport.ui.trail import record_view

if TYPE_CHECKING:
    from nbsupport.fleet.backfill.causes import BackfillFinding

KEYS_PER_CARD = 200
CONFIDENCE_COLORS = {"high": "red", "medium": "orange", "low": "gray"}
# What the keys of a card have in common, said under the fix that heads it.
CAUSE_SYMPTOMS = {
    "missing_permission": "Likely missing Query Closed Orders & Trades",
    "query_window_ended": "The key's query window has ended",
    "wrong_product": "The key is for the other product (spot/futures)",
    "wrong_start_time": "The backfill asked for a period before the key existed",
    "key_expired": "The key expired",
    "ip_not_allowed": "The key refuses our address",
    "empty_unexplained": "Empty backfills despite orders, cause unclear",
}


def _get(data: object, *path: str) -> object:
    for name in path:
        data = data.get(name) if isinstance(data, dict) else None
    return data


def findings_frame(findings: Sequence[BackfillFinding], *, links: bool = False) -> pd.DataFrame:
    """One row per flagged key; `links`: key and user as in-app addresses (the page), else ids (CSV)."""
    rows = []
    for f in findings:
        ev = f.evidence
        start, end = str(_get(ev, "window", "start") or "")[:10], str(_get(ev, "window", "end") or "")[:10]
        rows.append({
            "key": key_url(f.key_id) if links else f.key_id,
            "user": user_url(f.user_id) if links else f.user_id,
            "venue": f"{venue_name(f.exchange)} {f.product}",
            "cause": f.cause, "confidence": f.confidence,
            "window": f"{start} → {end}",
            "runs empty": _get(ev, "runs", "empty"), "runs failed": _get(ev, "runs", "failed"),
            "runs with rows": _get(ev, "runs", "with_rows"),
            "closed orders fetched": _get(ev, "rows_fetched", "closed_orders"),
            "trades fetched": _get(ev, "rows_fetched", "trades"),
            "orders placed in windows": _get(ev, "orders_placed", "in_backfill_windows"),
            "closed-orders scope": _get(ev, "closed_orders_scope") or "unknown",
        })
    return pd.DataFrame(rows)


def by_cause(findings: Sequence[BackfillFinding]) -> list[tuple[str, list[BackfillFinding]]]:
    """Findings grouped by cause, the cause with the most keys first (then the most confident)."""
    order = {"high": 0, "medium": 1, "low": 2}
    ranked = sorted(findings, key=lambda f: (f.cause, order[f.confidence], f.key_id))
    groups = [(cause, list(group)) for cause, group in groupby(ranked, key=lambda f: f.cause)]
    return sorted(groups, key=lambda g: (-len(g[1]), order[g[1][0].confidence], g[0]))


def cause_card(cause: str, findings: Sequence[BackfillFinding]) -> None:
    first = findings[0]
    fix = first.fix
    title = fix_heading(cause)
    n = len(findings)
    with st.container(border=True):
        st.markdown(f"#### {md_escape(title)}")
        symptom = CAUSE_SYMPTOMS.get(cause, cause)
        confidences = sorted({f.confidence for f in findings}, key=list(CONFIDENCE_COLORS).index)
        badges = " ".join(f":{CONFIDENCE_COLORS[c]}-badge[{c} confidence]" for c in confidences)
        st.markdown(f"**{n:,} key{'s' if n != 1 else ''}** · {md_escape(symptom)} {badges}")
        if n == 1:
            st.markdown(md_escape(first.summary))
        # The fix in this deployment's words: the configured egress address, not the guide's default.
        egress = get_settings().egress_ip
        steps = [in_egress_words(str(s), egress) for s in fix.get("steps") or []]
        if steps:
            if fix.get("title") and fix["title"] != title:
                st.markdown(f"From the error guide: *{md_escape(str(fix['title']))}*")
            st.markdown("\n".join(f"{i}. {md_escape(s)}" for i, s in enumerate(steps, 1)))
            if any(f.fix.get("steps") != fix.get("steps") for f in findings):
                st.caption(f"Dates in the steps are key {first.key_id}'s; each key's window is in its row.")
        if fix.get("customer_reply"):
            reply_block(in_egress_words(str(fix["customer_reply"]), egress), "Reply to the customer")
        fix_id = str(fix.get("id") or "")
        if fix_id and get_fix(fix_id) is not None:
            st.markdown(f"[Open this fix in the error guide]({guide_link(fix_id)})")
        st.dataframe(findings_frame(findings[:KEYS_PER_CARD], links=True), hide_index=True, column_config={
            "key": key_link_column("key"), "user": user_link_column("user"), "cause": None})
        if n > KEYS_PER_CARD:
            st.caption(f"The {KEYS_PER_CARD} most confident of {n:,}; the CSV holds all of them.")
        if n == 1:
            with st.expander("Evidence"):
                st.json(first.evidence)


def find_user(console: Console, text: str) -> int:
    """The one user a search names, captioned under the box; otherwise say why and stop the page."""
    try:
        with console.session() as session:
            found = lookup(session, text)
    except LookupQueryError as exc:
        st.error(str(exc))
        st.stop()
    if not found.users:
        st.info("No user matches that search.")
        st.stop()
    if len(found.users) > 1:
        st.warning(f"{len(found.users)} users match; narrow the search to one user.")
        st.stop()
    user = found.users[0]
    st.caption(f"User {user.id} · {user.email}")
    return user.id


def show_findings(console: Console, identity: Identity, *, user_id: int | None, days: int,
                  scope: str, include_non_customer: bool = False) -> None:
    """Scan, audit and show the flagged keys. A function rather than page code: the findings (thousands
    of objects fleet-wide, ~8 MB on a 1 M-user database) are then locals released when it returns. As
    globals of the page run they outlived it, ~8 MB per visit (benchmarks/bench_memory.py)."""
    with console.session() as session:
        findings = backfill_health(session, user_id=user_id, days=days,
                                   include_non_customer=include_non_customer)
    record_view(console, identity, Action.FLEET_BACKFILL_HEALTH, user_id=user_id,
                result=f"{len(findings)} flagged",
                detail={"days": days, "scope": scope, "include_non_customer": include_non_customer})
    if not findings:
        st.success(f"No flagged backfills in the last {days} days"
                   + (" for this user's keys." if user_id else " across the fleet."))
        st.stop()

    groups = by_cause(findings)
    st.subheader(f"{len(findings):,} flagged key(s), {len(groups)} cause(s)")
    csv_download(console, identity, "Download every flagged key (CSV)", findings_frame(findings),
                 table="backfill_health", file_name=f"backfill-health-{days}d.csv", user_id=user_id)
    for cause, group in groups:
        cause_card(cause, group)
