"""Backfill health: for one user's keys, or fleet-wide, keys whose history backfills come back empty
while the platform placed orders, with the evidence and the fix."""

from __future__ import annotations

import streamlit as st

from nbsupport.auth import PageId
from nbsupport.fleet.backfill import backfill_health
from nbsupport.lookup import LookupQueryError, lookup
from nbsupport.ui.backfill_view import finding_card, findings_frame
from nbsupport.ui.guard import page_boundary
from nbsupport.ui.params import ParamError, parse_id
from nbsupport.ui.session import console, require
from nbsupport.ui.trail import BACKFILL_VIEW, record_view

FLEET_ROWS = 200
CARDS = 20

st.title("Backfill health")

with page_boundary():
    identity = require(PageId.BACKFILL)
    handle = console()
    try:
        linked_user = parse_id("user", st.query_params.get_all("user"))
    except ParamError as exc:
        st.error(f"This link is not valid: {exc}.")
        linked_user = None
    c1, c2 = st.columns([1, 3])
    scope = c1.segmented_control("Scope", ["One user", "Fleet-wide"], default="One user", required=True)
    days = c1.selectbox("Backfill runs in the last", [7, 30, 90], index=1, format_func=lambda d: f"{d} days")

    user_id: int | None = None
    if scope == "One user":
        text = c2.text_input("User", value=f"user:{linked_user}" if linked_user else "",
                             placeholder="email, user id, key:45 or a masked key")
        if text.strip():
            try:
                with handle.session() as session:
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
            user_id = found.users[0].id
            st.caption(f"User {user_id} · {found.users[0].email}")
        else:
            st.caption("Search for the customer, or switch to fleet-wide.")
            st.stop()

    with handle.session() as session:
        findings = backfill_health(session, user_id=user_id, days=days)
    record_view(handle, identity, BACKFILL_VIEW, user_id=user_id,
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
