"""Backfill health: for one user's keys, or fleet-wide, keys whose history backfills come back empty
while the platform placed orders, with the evidence and the fix."""

from __future__ import annotations

import streamlit as st

from nbsupport.auth import PageId
from nbsupport.fleet.kinds import INCLUDE_LABEL
from nbsupport.ui import backfill_view
from nbsupport.ui.guard import page_boundary
from nbsupport.ui.params import ParamError, parse_id
from nbsupport.ui.session import current_console, require

st.title("Backfill health")

with page_boundary():
    identity = require(PageId.BACKFILL)
    console = current_console()
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
            user_id = backfill_view.find_user(console, text)
        else:
            st.caption("Search for the customer, or switch to fleet-wide.")
            st.stop()

    everyone = False
    if scope == "Fleet-wide":
        everyone = c2.toggle(INCLUDE_LABEL, value=False,
                             help="Practice keys fail on purpose and staff keys are not customers.")
    backfill_view.show_findings(console, identity, user_id=user_id, days=days, scope=scope,
                                include_non_customer=everyone)
