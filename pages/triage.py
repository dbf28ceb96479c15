"""Ticket triage, the agents' home: paste a whole ticket, see who and which key it is about, what its
errors mean, the way to the key's re-test and the reply for its latest result."""

from __future__ import annotations

import streamlit as st

from nbsupport.auth import PageId
from nbsupport.ui import triage_view
from nbsupport.ui.guard import page_boundary
from nbsupport.ui.session import current_console, require

st.title("Ticket triage")

with page_boundary():
    identity = require(PageId.TRIAGE)
    console = current_console()  # in demo mode this builds the demo database on the first visit
    if "user" in st.query_params or "key" in st.query_params:
        # Ticket links written when the lookup was the home page (/?user=…&key=…) still open there.
        st.switch_page("pages/lookup.py", query_params=st.query_params.to_dict())
    text = triage_view.paste_box()
    if text.strip():
        triage_view.show(console, identity, triage_view.find(console, text))
    else:
        st.caption("Nothing is re-tested from here: open the suggested key to run its connection test.")
