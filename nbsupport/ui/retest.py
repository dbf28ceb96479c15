"""The Re-test panel: ticket reference, live progress step by step, a green/amber/red verdict."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import streamlit as st

from nbsupport import audit, conntest
from nbsupport.auth import Identity, can_retest
from nbsupport.console import Console
from nbsupport.crypto import CryptoError
from nbsupport.keys import KeyInputError, KeyView
from nbsupport.ui.badges import md_escape
from nbsupport.ui.params import ParamError, clean_ticket
from nbsupport.ui.timeline import progress_line, verdict
from nbsupport.ui.trail import KEY_RETEST, current_ticket
from nbsupport.ui.worker import WorkerTimeout, run_with_events

# How long the page waits for the engine: its own request timeouts end a test well before this.
RETEST_WAIT_S = 180


@dataclass
class RetestRun:
    """What one re-test left behind for the page: its progress lines and its result or refusal."""

    key_id: int
    ticket: str
    lines: list[str] = field(default_factory=list)
    result: dict[str, Any] | None = None
    refused: str = ""
    refused_reason: str = ""
    retry_after_s: float | None = None
    error: str = ""


def _state_key(key_id: int) -> str:
    return f"_retest_run_{key_id}"


def _run_engine(console: Console, identity: Identity, view: KeyView, ticket: str, status: Any) -> RetestRun:
    run = RetestRun(view.id, ticket)
    # One line per step, updated in place: "running" becomes the step's result.
    lines: dict[str, str] = {}
    slots: dict[str, Any] = {}

    def show(event: conntest.ProgressEvent) -> None:
        lines[event.step] = progress_line(event.step, event.status, event.detail or "")
        if event.step not in slots:
            slots[event.step] = status.empty()
        slots[event.step].markdown(lines[event.step])

    def work(report: Callable[[Any], None]) -> conntest.TestResult:
        return conntest.run_retest(console, view.id, actor=identity.actor, ticket=ticket, trigger="retest",
                                   progress=report)

    try:
        result = run_with_events(work, show, idle_timeout_s=RETEST_WAIT_S, name=f"retest-{view.id}")
        run.result = result.as_dict()
    except conntest.RetestRefused as exc:
        # The engine writes the message for the agent; the reason code is the fallback.
        run.refused_reason = exc.reason or "refused"
        run.refused = str(exc) or run.refused_reason
        run.retry_after_s = exc.retry_after_s
    except CryptoError as exc:
        # A missing or wrong master key: metadata stays viewable, the test cannot open the key.
        run.error = str(exc)
    except KeyInputError as exc:  # the key was deleted while the page showed it
        run.error = str(exc)
    except WorkerTimeout as exc:
        run.error = f"the connection test stalled ({exc}); it may still finish, check the history shortly"
    run.lines = list(lines.values())
    return run


def _audit_attempt(console: Console, identity: Identity, view: KeyView, run: RetestRun) -> None:
    """A re-test that ran is audited by the engine with its test row; one that was refused or could
    not open the key leaves no test row, so the page records the attempt."""
    if run.result is not None:
        return
    result = f"refused: {run.refused_reason}" if run.refused else f"error: {run.error}"
    with console.session() as session:
        audit.record(session, identity.actor, KEY_RETEST, ticket=run.ticket, subject_user_id=view.user_id,
                     subject_key_id=view.id, result=result, detail={"ran": False})


def show_run(run: RetestRun) -> None:
    if run.lines:
        with st.expander(f"Steps of the last re-test (ticket {md_escape(run.ticket)})", expanded=False):
            st.markdown("  \n".join(run.lines))
    if run.refused:
        wait = f" Try again in {int(run.retry_after_s)} s." if run.retry_after_s else ""
        st.warning(f"Re-test refused: {md_escape(run.refused.rstrip('.'))}.{wait}", icon=":material/timer:")
    elif run.error:
        st.error(f"Re-test could not run: {md_escape(run.error)}", icon=":material/key_off:")
    elif run.result is not None:
        # The fix card follows right below, under "Latest diagnosis", refreshed by the rerun.
        verdict(run.result)


def retest_panel(console: Console, identity: Identity, view: KeyView) -> None:
    st.subheader("Re-test")
    if not can_retest(identity.role):
        st.caption("Only agents and admins can re-test a key.")
        return
    with st.form(f"retest-{view.id}", border=True):
        ticket_text = st.text_input("Ticket reference (required)", value=current_ticket(),
                                    placeholder="ZD-12345", max_chars=200)
        submitted = st.form_submit_button("Re-test", type="primary", icon=":material/replay:")
    if submitted:
        try:
            ticket = clean_ticket(ticket_text)
        except ParamError as exc:
            st.error(str(exc))
            return
        if not ticket:
            st.error("Enter the ticket reference first: every re-test is recorded against a ticket.")
            return
        with st.status(f"Re-testing {view.masked_key} on {view.exchange}…", expanded=True) as status:
            run = _run_engine(console, identity, view, ticket, status)
            state = "complete" if run.result is not None else "error"
            label = {"ok": "Re-test finished: green", "warning": "Re-test finished: amber",
                     "failed": "Re-test finished: red"}.get((run.result or {}).get("outcome", ""),
                                                              "Re-test did not run")
            status.update(label=label, state=state, expanded=False)
        _audit_attempt(console, identity, view, run)
        st.session_state[_state_key(view.id)] = run
        # Rerun so the key card, the diagnosis and the history show the new test; the verdict stays.
        st.rerun()
    run = st.session_state.get(_state_key(view.id))
    if isinstance(run, RetestRun):
        show_run(run)
