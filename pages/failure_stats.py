"""Failure stats (analysts, admins): fleet aggregates only, never an individual user's key."""

from __future__ import annotations

import altair as alt
import streamlit as st

from nbsupport.auth import PageId
from nbsupport.fleet import charts
from nbsupport.fleet.stats import failure_stats
from nbsupport.ui import stats_view
from nbsupport.ui.guard import page_boundary
from nbsupport.ui.session import console, require

st.title("Failure stats")

with page_boundary():
    require(PageId.STATS)
    handle = console()

    left, right = st.columns(2)
    days = left.selectbox("Window", [7, 14, 30, 90], index=2, format_func=lambda d: f"last {d} days")
    with handle.session() as session:
        venues = stats_view.venue_options(failure_stats(session, days=days))
    venue = right.selectbox("Venue", [None, *venues], format_func=lambda v: "all venues" if v is None else v)
    with handle.session() as session:
        stats = failure_stats(session, days=days, exchange=venue)

    st.caption(f"{stats.first_day} – {stats.last_day} (UTC days)"
               + (f" · {venue}" if venue else " · all venues"))
    stats_view.headline(stats)

    if stats.total.tests == 0:
        st.info("No connection tests in this window.")
    else:
        st.subheader("Failure rate over time by venue")
        st.line_chart(charts.failure_rate_by_day_and_venue(stats), y_label="failure rate", x_label="day")
        col_a, col_b = st.columns(2)
        with col_a:
            st.subheader("Top causes")
            top = charts.top_diagnoses(stats).reset_index()
            st.altair_chart(
                alt.Chart(top).mark_bar().encode(
                    x=alt.X("failed:Q", title="failed tests"),
                    y=alt.Y("diagnosis:N", sort="-x", title=None),
                    tooltip=["diagnosis", "failed", alt.Tooltip("share_of_failures:Q", format=".1%")],
                ),
                width="stretch",
            )
        with col_b:
            st.subheader("By venue")
            st.dataframe(charts.failure_rate_by_venue(stats), column_config={
                "rate": st.column_config.NumberColumn(format="percent")})
        st.subheader("Incident spikes")
        incidents = charts.incidents(stats)
        if incidents.empty:
            st.caption("No venue-wide spike of outage-type failures in this window.")
        else:
            st.dataframe(incidents, hide_index=True)
        st.subheader("Time to green after a failure")
        st.dataframe(stats_view.time_to_green_frame(stats), hide_index=True)

    st.subheader("Security posture of keys in use")
    stats_view.posture(stats)

    st.subheader("Download")
    daily = stats_view.daily_csv(stats)
    d1, d2 = st.columns(2)
    d1.download_button("Daily rates by venue (CSV)", daily, file_name=f"failure-rates-{stats.last_day}.csv",
                       mime="text/csv", icon=":material/download:")
    d2.download_button("Causes (CSV)", stats_view.diagnoses_csv(stats),
                       file_name=f"failure-causes-{stats.last_day}.csv", mime="text/csv",
                       icon=":material/download:")
