"""Failure stats (analysts, admins): fleet aggregates only, never an individual user's key."""

from __future__ import annotations

import streamlit as st

from nbsupport.auth import PageId
from nbsupport.fleet.kinds import INCLUDE_LABEL
from nbsupport.ui import stats_view as view
from nbsupport.ui.exports import csv_download
from nbsupport.ui.guard import page_boundary
from nbsupport.ui.session import current_console, require
from nbsupport.ui.vega import draw

st.title("Failure stats")

with page_boundary():
    identity = require(PageId.STATS)
    console = current_console()

    left, middle, right = st.columns([1, 1, 2])
    days = left.selectbox("Window", [7, 14, 30, 90], index=2, format_func=lambda d: f"last {d} days")
    everyone = right.toggle(INCLUDE_LABEL, value=False,
                            help="Practice keys fail on purpose and staff keys are not customers: both "
                                 "are left out of every figure unless this is on.")
    stats = view.fleet_stats(console, days=days, include_non_customer=everyone)
    venue = middle.selectbox("Venue", [None, *view.venue_options(stats)],
                             format_func=lambda v: "all venues" if v is None else view.venue_name(v))
    if venue:
        stats = view.fleet_stats(console, days=days, exchange=venue, include_non_customer=everyone)

    where = view.venue_name(venue) if venue else "all venues"
    st.caption(f"{stats.first_day} – {stats.last_day} (UTC days) · {where} · {view.kind_caption(stats)}")
    view.headline(stats)
    tag = f"{stats.last_day}"

    if stats.total.tests == 0:
        st.info("No connection tests in this window.")
    else:
        st.subheader("Failure rate per venue, by day")
        draw(view.rate_small_multiples(stats))
        csv_download(console, identity, "Daily rates by venue (CSV)", view.daily_frame(stats),
                     table="failure-rates", file_name=f"failure-rates-{tag}.csv")
        col_a, col_b = st.columns(2)
        with col_a:
            st.subheader("Top causes")
            draw(view.top_causes_chart(stats), stretch=True)
        with col_b:
            st.subheader("By venue")
            table = view.venue_table(stats)
            st.dataframe(table, hide_index=True)
            csv_download(console, identity, "Venues (CSV)", table, table="failure-venues",
                         file_name=f"failure-venues-{tag}.csv")
        st.subheader("Incident spikes")
        incidents = view.incidents_table(stats)
        if incidents.empty:
            st.caption("No venue-wide spike of outage-type failures in this window.")
        else:
            for sentence in incidents["incident"]:
                st.markdown(f"- :red-badge[incident] {sentence}")
            st.dataframe(incidents.drop(columns="incident"), hide_index=True)
            csv_download(console, identity, "Incidents (CSV)", incidents, table="incidents",
                         file_name=f"incidents-{tag}.csv")
        st.subheader("Time to green after a failure")
        ttg = view.time_to_green_frame(stats)
        st.dataframe(ttg, hide_index=True)
        csv_download(console, identity, "Time to green (CSV)", ttg, table="time-to-green",
                     file_name=f"time-to-green-{tag}.csv")
        csv_download(console, identity, "Causes (CSV)", view.causes_frame(stats), table="failure-causes",
                     file_name=f"failure-causes-{tag}.csv")

    st.subheader("Security posture of keys in use")
    view.posture(stats)
