"""Noon Barbari support console: sign-in gate, role-based navigation, denial in words, demo banner.

Run with `streamlit run streamlit_app.py`; `NBSUPPORT_DEMO=1` for the local demo without an identity provider.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st
from streamlit.errors import StreamlitAuthError, StreamlitMissingAuthlibError

from nbsupport.auth import Denied, Gate, Identity, PageId, allowed_pages, can_view_key, denial
from nbsupport.ui.denied import PageLink, show_denial
from nbsupport.ui.guard import page_boundary
from nbsupport.ui.markdown import md_code
from nbsupport.ui.session import current_gate
from nbsupport.ui.trail import (
    TICKET_KEY,
    TICKET_PARAM,
    normalise_ticket,
    prefill_ticket,
    ticket_problem,
    ticket_to_address,
)

# page id -> (file, title, icon, section). Each page's URL path is its file stem (/key_detail?key=…):
# see nbsupport.ui.pages_mode for why they must match.
PAGES: dict[PageId, tuple[str, str, str, str]] = {
    PageId.TRIAGE: ("pages/triage.py", "Ticket triage", ":material/assignment:", "Support"),
    PageId.LOOKUP: ("pages/lookup.py", "Key lookup", ":material/search:", "Support"),
    PageId.KEY: ("pages/key_detail.py", "Key detail", ":material/key:", "Support"),
    PageId.BACKFILL: ("pages/backfill.py", "Backfill health", ":material/history:", "Support"),
    PageId.GUIDE: ("pages/error_guide.py", "Error guide", ":material/menu_book:", "Support"),
    PageId.STATS: ("pages/failure_stats.py", "Failure stats", ":material/monitoring:", "Analytics"),
    PageId.BULK: ("pages/bulk_retest.py", "Bulk re-test", ":material/replay:", "Admin"),
    PageId.AUDIT: ("pages/audit_log.py", "Audit log", ":material/policy:", "Admin"),
}


def sign_in_screen() -> None:
    decision: Gate = st.session_state["_gate"]
    st.title("Noon Barbari support console")
    if decision.denied is Denied.NOT_CONFIGURED:
        st.error(decision.message, icon=":material/lock:")
        return
    st.info(decision.message, icon=":material/lock:")
    if decision.denied is Denied.SIGNED_OUT:
        if st.button("Sign in", type="primary"):
            try:
                st.login()
            except (StreamlitAuthError, StreamlitMissingAuthlibError) as exc:
                # A deployment problem (no Authlib, incomplete [auth]): say so instead of a traceback.
                st.error(f"Sign-in is misconfigured: {exc}")
    else:
        if decision.email:
            st.caption(f"Signed in as {md_code(decision.email)}")
        if st.button("Sign out"):
            st.logout()


def demo_banner(identity: Identity) -> None:
    # Say what the role means: an unmapped demo identity is an admin, who sees more than an agent would.
    sees = {"admin": "an admin sees every page and runs every action",
            "agent": "an agent looks up, re-tests and reviews keys",
            "analyst": "an analyst sees fleet statistics only"}.get(identity.role, "")
    st.warning(
        f"**DEMO MODE** · no identity provider · acting as {md_code(identity.email)} "
        f"({identity.role}){': ' + sees if sees else ''} · synthetic data · to try another role, restart "
        "with `NBSUPPORT_DEMO_IDENTITY` and `NBSUPPORT_ROLES` (`scripts/run` prints how)",
        icon=":material/science:",
    )


TICKET_HELP = ("The session's ticket: ZD-1234, ZD 1234, #1234, FD-1234 or the Zendesk / Freshdesk ticket "
               "link. Recorded in the audit trail with every key you open, every re-test, probe and export.")


def sidebar(identity: Identity) -> None:
    with st.sidebar:
        st.markdown(f"{md_code(identity.email)}  \n{identity.role}{' · demo' if identity.demo else ''}")
        prefill_ticket(st.query_params.get(TICKET_PARAM))
        st.text_input("Ticket reference", key=TICKET_KEY, placeholder="ZD-1234", on_change=normalise_ticket,
                      help=TICKET_HELP)
        ticket_to_address()
        problem = ticket_problem()
        if problem:
            st.warning(problem, icon=":material/confirmation_number:")
        if not identity.demo and st.button("Sign out"):
            st.logout()


def _links(page_ids: list[PageId]) -> list[PageLink]:
    return [PageLink(PAGES[p][0], PAGES[p][1], PAGES[p][2]) for p in page_ids]


def _denied_page(identity: Identity, page_id: PageId) -> st.Page:
    """A page the role may not open answers its URL with the reason and the role's own pages, instead
    of Streamlit's "Page not found"; it is hidden from the navigation."""
    path, title, icon, _section = PAGES[page_id]

    def denied() -> None:
        show_denial(title, denial(identity.role, page_id, title), _links(allowed_pages(identity.role)))

    return st.Page(denied, title=title, icon=icon, url_path=Path(path).stem, visibility="hidden")


def navigation(identity: Identity) -> tuple[st.Page, bool]:
    """The page this request runs, and whether it is one the role may not open (it then says so)."""
    allowed = allowed_pages(identity.role)
    sections: dict[str, list[st.Page]] = {}
    for page_id in allowed:
        path, title, icon, section = PAGES[page_id]
        # The role's first page is its home: triage for agents and admins, stats for analysts.
        home = not sections
        sections.setdefault(section, []).append(
            st.Page(path, title=title, icon=icon, url_path=Path(path).stem, default=home)
        )
    denied = [_denied_page(identity, p) for p in PAGES if p not in allowed]
    sections[next(iter(sections))] += denied
    page = st.navigation(sections)
    return page, any(page is d for d in denied)


def key_links_denied(identity: Identity) -> None:
    """A key or user link (`?key=`, `?user=`) opened by a role that sees no keys lands on its home page:
    say why there, instead of silently ignoring the link."""
    if can_view_key(identity.role) or not ({"key", "user"} & set(st.query_params.keys())):
        return
    reason = denial(identity.role, PageId.KEY, PAGES[PageId.KEY][1])
    st.warning(f"This link opens one customer's key. {reason}", icon=":material/block:")


st.set_page_config(page_title="NB support console", page_icon=":material/support_agent:", layout="wide")

with page_boundary():
    gate = current_gate()

if gate.identity is None:
    st.session_state["_gate"] = gate
    st.navigation([st.Page(sign_in_screen, title="Sign in", url_path="signin")], position="hidden").run()
else:
    if gate.identity.demo:
        demo_banner(gate.identity)
    sidebar(gate.identity)
    page, denied = navigation(gate.identity)
    if not denied:  # a denied page says why itself
        key_links_denied(gate.identity)
    page.run()
