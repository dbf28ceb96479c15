"""Error guide: paste an error, get the fix; browse the whole fix table; deep link with `?fix=<fix-id>`.

Thin page: inputs -> `nbsupport.guide` -> `nbsupport.ui.guide_view` / `nbsupport.ui.fix_card`. An error
with several causes shows each, most likely first. Every signed-in role may open it.
"""

from __future__ import annotations

import streamlit as st

from nbsupport import guide
from nbsupport.auth import PageId
from nbsupport.ui.fix_card import render_fix_card, venue_label
from nbsupport.ui.guard import page_boundary
from nbsupport.ui.guide_view import render_matches
from nbsupport.ui.markdown import md_escape
from nbsupport.ui.session import require

st.title("Error guide")

with page_boundary():
    require(PageId.GUIDE)
    table = guide.load_table()

    linked_id = st.query_params.get("fix")
    if linked_id:
        linked = guide.get_fix(linked_id, table=table)
        if linked is None:
            shown = md_escape(linked_id[:100])
            st.error(f"No fix with id “{shown}”. The link may be outdated; search the table below.")
        else:
            render_fix_card(linked, link=f"?fix={linked.fix_id}")

    st.header("Explain an error")
    exchange = st.selectbox(
        "Exchange",
        options=[None, *guide.venue_choices(table)],
        format_func=lambda venue: "Detect from the text" if venue is None else venue,
        key="explain_exchange",
    )
    pasted = st.text_area(
        "Paste the error (ticket text, log line, ccxt exception, HTML error page)",
        key="pasted_error",
        height=150,
    )
    if pasted.strip():
        matches = guide.match_error(pasted, exchange=exchange, table=table)
        if not matches:
            st.info("No fix matches this text. Check the full error message, or escalate to engineering.")
        else:
            render_matches(matches, pasted)

    st.header("All fixes")
    search_col, venue_col, code_col = st.columns([2, 1, 1])
    query = search_col.text_input("Search", key="table_query", placeholder="error text, title, fix id…")
    venue = venue_col.selectbox(
        "Venue", options=[None, *table.venues], format_func=lambda v: "All" if v is None else venue_label(v)
    )
    code = code_col.selectbox(
        "Diagnosis",
        options=[None, *guide.cause_codes()],
        format_func=lambda c: "All" if c is None else c,
    )
    rows = guide.search_rows(query, venue=venue, diagnosis=code, table=table)
    event = st.dataframe(
        guide.records(rows),
        hide_index=True,
        on_select="rerun",
        selection_mode="single-row",
        key="fix_table",
    )
    st.caption(f"{len(rows)} of {len(table.rows)} fixes. Select a row to open it at the top of the page.")
    selected = event.selection.rows if event is not None else []
    if selected and selected[0] < len(rows) and st.query_params.get("fix") != rows[selected[0]].fix_id:
        st.query_params["fix"] = rows[selected[0]].fix_id
        st.rerun()
