"""The error guide's answer to a pasted error: every cause of an ambiguous error, or "not a key problem".

Used by `pages/error_guide.py`. The ranking is `nbsupport.guide.match_error`'s; this module only lays it
out: the causes of the best-matching error as cards, most likely first, each with what tells it apart,
then any weaker candidates as a table.
"""

from __future__ import annotations

import streamlit as st

from nbsupport.guide import Match, causes_of_best
from nbsupport.ui.fix_card import render_fix_card
from nbsupport.ui.markdown import md_escape


def render_matches(matches: list[Match], pasted: str) -> None:
    """Render the answer for `pasted`; `matches` is non-empty and ranked best first."""
    causes = causes_of_best(matches)
    best = causes[0]
    if not best.row.key_problem:
        st.success(f"Not a key problem: the key works; this error is for {md_escape(best.row.team)}.")
    if len(causes) > 1:
        st.warning(
            f"“{md_escape(best.matched_text)}” has {len(causes)} possible causes, most likely first "
            "for this venue. A re-test of the key tells them apart."
        )
    for match in causes:
        if len(causes) > 1:
            st.markdown(f"**Cause {match.cause_rank} of {match.cause_count}:** `{match.row.diagnosis.value}`")
        render_fix_card(match.row, match=match, pasted=pasted, link=f"?fix={match.row.fix_id}")
        if match.row.tell_apart:
            st.markdown(f"**What tells it apart.** {match.row.tell_apart}")
    shown = {m.row.fix_id for m in causes}
    others = [m for m in matches if m.row.fix_id not in shown]
    if others:
        st.caption("Other candidates")
        st.dataframe(
            [
                {"fix_id": m.row.fix_id, "diagnosis": m.row.cause_code, "score": round(m.score, 1)}
                for m in others
            ],
            hide_index=True,
        )
