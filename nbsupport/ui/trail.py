"""The session's ticket, and audit rows for what a page shows, written once per session and subject rather
than on every rerun."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import suppress

import streamlit as st

from nbsupport import audit
from nbsupport.audit import Action
from nbsupport.auth import Identity
from nbsupport.console import Console
from nbsupport.tickets import TicketError, parse_ticket

_SEEN = "_nbsupport_audited"
TICKET_KEY = "ticket"
TICKET_PARAM = "ticket"  # in the address: /key_detail?key=45&ticket=ZD-1234


def current_ticket() -> str:
    """The session's ticket (sidebar field), normalised (`ZD-1234`); other text counts as none."""
    try:
        return parse_ticket(st.session_state.get(TICKET_KEY, ""))
    except TicketError:
        return ""


def ticket_problem() -> str:
    """Why the sidebar's text is not used as the ticket, or "" when it is a ticket (or empty)."""
    raw = st.session_state.get(TICKET_KEY, "")
    try:
        parse_ticket(raw)
    except TicketError as exc:
        return f"{str(raw)[:40]!r} is {exc}. Until then nothing is recorded against a ticket."
    return ""


def normalise_ticket() -> None:
    """The sidebar field's change callback: a ticket is shown in its one spelling, other text is left for
    the agent to correct (and `ticket_problem` says why)."""
    with suppress(TicketError):
        st.session_state[TICKET_KEY] = parse_ticket(st.session_state.get(TICKET_KEY, ""))


def ticket_to_address() -> None:
    """The session's ticket stays in the address (`?ticket=`) on every page, so a reload, a copied link
    and a page switch keep it; text that is not a ticket is not put there."""
    ticket = current_ticket()
    if not ticket:
        st.query_params.pop(TICKET_PARAM, None)
    elif st.query_params.get(TICKET_PARAM) != ticket:
        st.query_params[TICKET_PARAM] = ticket


def prefill_ticket(text: str | None) -> None:
    """`?ticket=` fills the field once per session, normalised when it is a ticket."""
    if text and TICKET_KEY not in st.session_state:
        st.session_state[TICKET_KEY] = text[:300]
        normalise_ticket()


def record_views(
    console: Console,
    identity: Identity,
    action: Action,
    subjects: Sequence[tuple[int | None, int | None]],
    *,
    result: str = "",
    detail: Mapping[str, object] | None = None,
) -> int:
    """One row per (user id, key id) subject the page showed. Streamlit reruns the page on every click,
    and a rerun is not a new view: a subject already recorded in this session for the same ticket and
    result is skipped. Returns the number of rows written."""
    ticket = current_ticket()
    seen: set[tuple[object, ...]] = st.session_state.setdefault(_SEEN, set())
    context = (ticket, result, repr(detail))
    fresh = [(u, k) for u, k in dict.fromkeys(subjects) if (action, u, k, *context) not in seen]
    if not fresh:
        return 0
    _write(console, identity, action, fresh, ticket=ticket, result=result, detail=detail)
    seen.update((action, u, k, *context) for u, k in fresh)
    return len(fresh)


def record_event(
    console: Console,
    identity: Identity,
    action: Action,
    *,
    ticket: str,
    user_id: int | None = None,
    result: str = "",
    detail: Mapping[str, object] | None = None,
) -> None:
    """One row for one deliberate act (a download): unlike a view, every click counts. The ticket is
    passed in because a callback may run where the session's sidebar state is not at hand."""
    _write(console, identity, action, [(user_id, None)], ticket=ticket, result=result, detail=detail)


def _write(
    console: Console,
    identity: Identity,
    action: Action,
    subjects: Sequence[tuple[int | None, int | None]],
    *,
    ticket: str,
    result: str,
    detail: Mapping[str, object] | None,
) -> None:
    with console.session() as session:
        for user_id, key_id in subjects:
            audit.record(session, identity.actor, action, ticket=ticket, subject_user_id=user_id,
                         subject_key_id=key_id, result=result, detail=detail)


def record_view(
    console: Console,
    identity: Identity,
    action: Action,
    *,
    user_id: int | None = None,
    key_id: int | None = None,
    result: str = "",
    detail: Mapping[str, object] | None = None,
) -> bool:
    return record_views(console, identity, action, [(user_id, key_id)], result=result, detail=detail) == 1
