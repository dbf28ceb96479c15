"""Noon Barbari support console: sign-in gate, role-based navigation, demo banner.

Run with `streamlit run streamlit_app.py`; `NBSUPPORT_DEMO=1` for the local demo without an identity provider.
"""

from __future__ import annotations

from contextlib import suppress
from pathlib import Path

import streamlit as st
from streamlit.errors import StreamlitAuthError, StreamlitMissingAuthlibError

from nbsupport.auth import Denied, Gate, Identity, PageId, allowed_pages
from nbsupport.ui.badges import md_code
from nbsupport.ui.guard import page_boundary
from nbsupport.ui.params import ParamError, clean_ticket
from nbsupport.ui.session import current_gate
from nbsupport.ui.trail import TICKET_KEY

# page id -> (file, title, icon, section). Each page's URL path is its file stem (/key_detail?key=…):
# see nbsupport.ui.session.leave_pages_directory_mode for why they must match.
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


def sidebar(identity: Identity) -> None:
    with st.sidebar:
        st.markdown(f"{md_code(identity.email)}  \n{identity.role}{' · demo' if identity.demo else ''}")
        ticket = st.query_params.get("ticket")
        if ticket and TICKET_KEY not in st.session_state:
            with suppress(ParamError):  # a mangled ?ticket= just leaves the field empty
                st.session_state[TICKET_KEY] = clean_ticket(ticket)
        st.text_input("Ticket reference", key=TICKET_KEY, placeholder="ZD-12345",
                      help="Recorded in the audit trail with every key you open and every re-test.")
        if not identity.demo and st.button("Sign out"):
            st.logout()


def navigation(identity: Identity) -> st.Page:
    sections: dict[str, list[st.Page]] = {}
    for page_id in allowed_pages(identity.role):
        path, title, icon, section = PAGES[page_id]
        # The role's first page is its home: triage for agents and admins, stats for analysts.
        home = not sections
        sections.setdefault(section, []).append(
            st.Page(path, title=title, icon=icon, url_path=Path(path).stem, default=home)
        )
    return st.navigation(sections)


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
    navigation(gate.identity).run()
