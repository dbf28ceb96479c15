"""The Re-test panel: the session's ticket, one button, the live steps, then the verdict.

A click records a run (nbsupport.conntest.runs) that a background worker carries out; the panel is a
fragment that reads the run's row every second while the key is being tested, so a second click, Stop,
leaving and coming back, a reload or another agent opening the key all end on the same live steps and the
same verdict. Nothing here waits for the venue.
"""

from __future__ import annotations

import streamlit as st

from nbsupport.auth import Identity, can_retest
from nbsupport.clock import utc_text, utcnow
from nbsupport.conntest import runs
from nbsupport.console import Console
from nbsupport.keys import KeyInputError, KeyView
from nbsupport.ui.markdown import md_escape
from nbsupport.ui.timeline import progress_line, verdict
from nbsupport.ui.trail import current_ticket

# How often the panel reads a live run's row: steps appear within a second of the engine's report.
FOLLOW_EVERY_S = 1.0
# How often an idle panel asks whether its key was tested elsewhere since the page was drawn.
WATCH_EVERY_S = 2.0
FINISHED = "Re-test finished"
OUTCOME_WORDS = {"ok": "green", "warning": "amber", "failed": "red"}
NO_TICKET = ("Enter the ticket reference in the sidebar first (**Ticket reference**, e.g. ZD-1234): every "
             "re-test is recorded against the ticket.")


def show_ticket() -> str:
    """The session's ticket, said above a re-test button (or how to give one); returned for the click."""
    ticket = current_ticket()
    if ticket:
        st.markdown(f"Ticket **{md_escape(ticket)}** (the session's ticket, from the sidebar)")
    else:
        st.caption(NO_TICKET)
    return ticket


def ask_for_ticket() -> None:
    """A re-test clicked without a ticket: nothing runs, and the agent is told where to give one."""
    st.error(NO_TICKET, icon=":material/confirmation_number:")


def _mine_key(key_id: int) -> str:
    """Session state: the id of the last run this session started for the key (its refusal is shown here)."""
    return f"_retest_mine_{key_id}"


def _steps(run: runs.RunView) -> str:
    return "  \n".join(progress_line(s.step, s.status, s.detail) for s in run.steps)


def _show_live(run: runs.RunView) -> None:
    age = max(0, int((utcnow() - run.created_at).total_seconds()))
    with st.container(border=True):
        st.markdown(f"⏳ **Re-test running** · {age} s · ticket {md_escape(run.ticket)} · "
                    f"started by {md_escape(run.actor)}")
        st.markdown(_steps(run) or "Waiting for a worker…")


def _show_finished(run: runs.RunView) -> None:
    result = run.result
    if result is None:  # only a done run is shown here, and a done run carries its result
        return
    outcome = OUTCOME_WORDS.get(result.outcome, result.outcome)
    when = utc_text(run.finished_at, empty="")
    st.markdown(f"**{FINISHED}**: {md_escape(outcome)} · ticket {md_escape(run.ticket)} · "
                f"by {md_escape(run.actor)} · {md_escape(when)}")
    verdict(result)
    if run.steps:
        with st.expander("Steps of this re-test", expanded=False):
            st.markdown(_steps(run))


def _show_unfinished(run: runs.RunView) -> None:
    """This session's own run that ended without a test: its message, said once."""
    if run.state == runs.REFUSED:
        st.warning(f"Re-test refused: {md_escape(run.message)}", icon=":material/timer:")
    else:
        st.error(f"Re-test could not run: {md_escape(run.message)}", icon=":material/key_off:")


def _start(console: Console, identity: Identity, view: KeyView) -> None:
    ticket = current_ticket()
    if not ticket:
        ask_for_ticket()
        return
    try:
        started = runs.start(console, view.id, actor=identity.actor, ticket=ticket)
    except KeyInputError as exc:  # the key was deleted while the page showed it
        st.error(f"Re-test could not run: {md_escape(str(exc))}")
        return
    st.session_state[_mine_key(view.id)] = started.run.id
    # The whole page again: the panel comes back as a fragment that follows the live run.
    st.rerun()


def _panel(console: Console, identity: Identity, view: KeyView, was_live: bool) -> None:
    live = runs.live_run(console, view.id)
    if was_live and live is None:
        # The test just ended: redraw the page so the key card, the diagnosis and the history show it.
        st.rerun()
    show_ticket()
    clicked = st.button("Re-test", type="primary", icon=":material/replay:", key=f"retest-{view.id}",
                        disabled=live is not None,
                        help="Disabled while this key is being tested" if live is not None else None)
    if clicked:
        _start(console, identity, view)
    if live is not None:
        _show_live(live)
        return
    mine_id = st.session_state.get(_mine_key(view.id))
    mine = runs.follow(console, mine_id) if isinstance(mine_id, int) else None
    finished = runs.latest_finished(console, view.id)
    if mine is not None and mine.state in (runs.REFUSED, runs.ERROR) and (
            finished is None or mine.created_at >= finished.created_at):
        _show_unfinished(mine)
    if finished is not None and _still_latest(finished, view):
        _show_finished(finished)


def _still_latest(run: runs.RunView, view: KeyView) -> bool:
    """A run's verdict is the key's latest result unless a later test (CLI, bulk) came after it."""
    if view.last_test_at is None or run.result is None:
        return True
    return view.last_test_at <= run.result.started_at


def _watch(console: Console, key_id: int, seen: tuple[int, int]) -> None:
    """A re-test started elsewhere (another agent, the CLI, a bulk batch) since the page was drawn: the
    whole page again, which then follows that run live or shows its result."""
    if runs.latest_activity(console, key_id) != seen:
        st.rerun()


def retest_panel(console: Console, identity: Identity, view: KeyView) -> None:
    st.subheader("Re-test")
    if not can_retest(identity.role):
        st.caption("Only agents and admins can re-test a key.")
        return
    seen = runs.latest_activity(console, view.id)
    was_live = runs.live_run(console, view.id) is not None
    # Polls the run's row only while the key is being tested; idle, the fragment reruns on its button
    # alone and a cheaper watcher looks for a new run or test of the key.
    follow = st.fragment(run_every=FOLLOW_EVERY_S if was_live else None)(_panel)
    follow(console, identity, view, was_live)
    if not was_live:
        st.fragment(run_every=WATCH_EVERY_S)(_watch)(console, view.id, seen)
