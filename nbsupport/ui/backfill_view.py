"""Backfill findings: a table of flagged keys (rows fetched next to orders placed) and one card each."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd
import streamlit as st

from nbsupport.auth import Identity
from nbsupport.config import get_settings
from nbsupport.console import Console
from nbsupport.fleet.backfill import backfill_health
from nbsupport.guide import get_fix
from nbsupport.replies import in_egress_words
from nbsupport.ui.badges import md_escape
from nbsupport.ui.diagnosis_card import guide_link
from nbsupport.ui.fix_card import reply_block
from nbsupport.ui.key_card import venue_name
from nbsupport.ui.trail import BACKFILL_VIEW, record_view

if TYPE_CHECKING:
    from nbsupport.fleet.backfill_causes import BackfillFinding

FLEET_ROWS = 200
CARDS = 20
CONFIDENCE_COLORS = {"high": "red", "medium": "orange", "low": "gray"}
CAUSE_TITLES = {
    "missing_permission": "Likely missing Query Closed Orders & Trades",
    "query_window_ended": "Key's query window has ended",
    "wrong_product": "Key is for the other product (spot/futures)",
    "wrong_start_time": "Backfill asked for a period before the key existed",
    "key_expired": "Key expired",
    "empty_unexplained": "Empty backfills despite orders, cause unclear",
}


def _get(data: dict[str, Any], *path: str) -> Any:
    for name in path:
        data = data.get(name) if isinstance(data, dict) else None  # type: ignore[assignment]
    return data


def findings_frame(findings: Sequence[BackfillFinding]) -> pd.DataFrame:
    rows = []
    for f in findings:
        ev = f.evidence
        start, end = (_get(ev, "window", "start") or "")[:10], (_get(ev, "window", "end") or "")[:10]
        rows.append({
            "key id": f.key_id, "user id": f.user_id, "venue": f"{venue_name(f.exchange)} {f.product}",
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


def finding_card(finding: BackfillFinding) -> None:
    title = CAUSE_TITLES.get(finding.cause, finding.cause)
    color = CONFIDENCE_COLORS.get(finding.confidence, "gray")
    with st.container(border=True):
        venue = md_escape(f"{venue_name(finding.exchange)} {finding.product}")
        st.markdown(f"**Key #{finding.key_id}** · {venue} · **{md_escape(title)}** "
                    f":{color}-badge[{finding.confidence} confidence]")
        st.markdown(md_escape(finding.summary))
        with st.expander("Evidence"):
            st.json(finding.evidence)
        fix = finding.fix or {}
        if fix:
            # The fix in this deployment's words: the configured egress address, not the guide's default.
            egress = get_settings().egress_ip
            st.markdown(f"**Fix: {md_escape(str(fix.get('title', '')))}**")
            steps = [in_egress_words(str(s), egress) for s in fix.get("steps") or []]
            st.markdown("\n".join(f"{n}. {md_escape(s)}" for n, s in enumerate(steps, 1)))
            if fix.get("customer_reply"):
                reply_block(in_egress_words(str(fix["customer_reply"]), egress), "Reply to the customer")
            fix_id = str(fix.get("id") or "")
            if fix_id and get_fix(fix_id) is not None:
                st.markdown(f"[Open this fix in the error guide]({guide_link(fix_id)})")


def show_findings(console: Console, identity: Identity, *, user_id: int | None, days: int,
                  scope: str) -> None:
    """Scan, audit and show the flagged keys. A function rather than page code: the findings (thousands
    of objects fleet-wide, ~8 MB on a 1 M-user database) are then locals released when it returns. As
    globals of the page run they outlived it, ~8 MB per visit (benchmarks/bench_memory.py)."""
    with console.session() as session:
        findings = backfill_health(session, user_id=user_id, days=days)
    record_view(console, identity, BACKFILL_VIEW, user_id=user_id,
                result=f"{len(findings)} flagged", detail={"days": days, "scope": scope})
    if not findings:
        st.success(f"No flagged backfills in the last {days} days"
                   + (" for this user's keys." if user_id else " across the fleet."))
        st.stop()

    st.subheader(f"{len(findings)} flagged key(s)")
    frame = findings_frame(findings[:FLEET_ROWS])
    st.dataframe(frame, hide_index=True, column_config={
        "key id": st.column_config.NumberColumn(format="%d"),
        "user id": st.column_config.NumberColumn(format="%d")})
    if len(findings) > FLEET_ROWS:
        st.caption(f"Showing the {FLEET_ROWS} most confident of {len(findings)}.")
    st.download_button("Download (CSV)", findings_frame(findings).to_csv(index=False),
                       file_name=f"backfill-health-{days}d.csv", mime="text/csv", icon=":material/download:")
    for finding in findings[:CARDS]:
        finding_card(finding)
    if len(findings) > CARDS:
        st.caption(f"Cards for the first {CARDS}; the table and the CSV hold all of them.")
