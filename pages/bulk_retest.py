"""Bulk re-test (admins): re-run the connection test for every key that failed recently, e.g. after an
exchange incident. Preview the cohort first; every test carries the ticket and the batch id."""

from __future__ import annotations

import streamlit as st

from nbsupport.auth import PageId
from nbsupport.diagnosis import Diagnosis
from nbsupport.fleet.bulk.models import BulkError
from nbsupport.fleet.kinds import INCLUDE_LABEL
from nbsupport.guide import venue_choices
from nbsupport.ui import bulk_view
from nbsupport.ui.guard import page_boundary
from nbsupport.ui.retest import ask_for_ticket, show_ticket
from nbsupport.ui.session import current_console, require

PLAN_KEY = "_bulk_plan"
REPORT_KEY = "_bulk_report"
# Bumped by every preview and every finished batch: the confirmation box is then a new, unticked widget,
# so Start is disarmed until the admin confirms again.
ARMING_KEY = "_bulk_arming"

st.title("Bulk re-test")

with page_boundary():
    identity = require(PageId.BULK)
    console = current_console()

    with st.form("bulk-cohort"):
        c1, c2, c3, c4 = st.columns(4)
        exchange = c1.selectbox("Venue", [None, *venue_choices()], format_func=lambda v: v or "all venues")
        codes = [d.value for d in Diagnosis if d is not Diagnosis.OK]
        diagnosis = c2.selectbox("Keys with", [None, *codes],
                                 format_func=lambda d: f"a {d} test" if d else "any failed test")
        since_hours = c3.selectbox("In the last", [1, 6, 24, 72, 168], index=2,
                                   format_func=lambda h: f"{h} h")
        concurrency = c4.slider("Parallel tests", 1, 16, 8)
        everyone = st.toggle(INCLUDE_LABEL, value=False)
        previewed = st.form_submit_button("Preview cohort", icon=":material/visibility:")
    if previewed:
        plan = bulk_view.Plan(exchange, diagnosis, since_hours, concurrency, everyone)
        st.session_state[PLAN_KEY] = (plan, bulk_view.preview(console, identity, plan))
        st.session_state.pop(REPORT_KEY, None)
        st.session_state[ARMING_KEY] = st.session_state.get(ARMING_KEY, 0) + 1

    if PLAN_KEY in st.session_state:
        plan, dry = st.session_state[PLAN_KEY]
        st.subheader(f"Cohort: {dry.cohort:,} key(s)")
        if dry.by_venue:
            st.dataframe([{"venue": v, "keys": n} for v, n in sorted(dry.by_venue.items())], hide_index=True)
        if dry.cohort == 0:
            st.info("No key matches: nothing to re-test.")
        elif dry.cohort > bulk_view.MAX_PAGE_COHORT:
            st.warning(f"{dry.cohort:,} keys is more than this page runs ({bulk_view.MAX_PAGE_COHORT:,}); "
                       f"use `{bulk_view.CLI_HINT}` for a batch this size.")
        else:
            ticket = show_ticket()
            confirmed = st.checkbox(f"Re-test these {dry.cohort:,} keys against the venues now",
                                    key=f"bulk_confirm_{st.session_state.get(ARMING_KEY, 0)}")
            if st.button("Start bulk re-test", type="primary", disabled=not confirmed):
                if not ticket:
                    ask_for_ticket()
                    st.stop()
                st.session_state[REPORT_KEY] = bulk_view.run(console, identity, plan, ticket)
                st.session_state[ARMING_KEY] = st.session_state.get(ARMING_KEY, 0) + 1
                st.rerun()  # redraw with Start disarmed: a second batch needs a new confirmation

    with st.expander("Resume an interrupted batch"):
        batch_id = st.text_input("Batch id", placeholder="bulk-20250101T120000-abcd1234", max_chars=60)
        if st.button("Resume batch", disabled=not batch_id.strip()):
            try:
                st.session_state[REPORT_KEY] = bulk_view.run(console, identity, None, "",
                                                              batch_id=batch_id.strip())
            except BulkError as exc:
                st.error(str(exc))

    if REPORT_KEY in st.session_state:
        st.subheader("Result")
        bulk_view.show_report(console, identity, st.session_state[REPORT_KEY])
