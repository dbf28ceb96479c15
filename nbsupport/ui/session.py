"""Per-process Console and per-run identity for the pages.

The cached Console holds settings and a connection pool only: the keyring is loaded on each use by
`Console.keyring()` and nothing decrypted is ever passed to `st.cache_*`.
"""

from __future__ import annotations

import hashlib

import streamlit as st
from streamlit.errors import StreamlitSecretNotFoundError

from nbsupport.auth import Gate, Identity, PageId, can_open, denial, gate
from nbsupport.config import Settings, get_settings
from nbsupport.console import Console
from nbsupport.ui.pages_mode import leave_pages_directory_mode


def _settings_key(settings: Settings) -> str:
    # A digest, so neither the database password nor the master keys become a readable cache key.
    return hashlib.sha256(settings.model_dump_json().encode()).hexdigest()


def _release(console: Console) -> None:
    console.close()


@st.cache_resource(show_spinner="Opening the console database…", max_entries=8, on_release=_release)
def _open_console(settings_key: str, _settings: Settings) -> Console:
    console = Console.open(_settings)
    if _settings.demo:
        seed_demo(console)
    return console


def seed_demo(console: Console) -> None:
    """Demo mode brings its database to the current schema and fills it once with synthetic users."""
    # Imported here, the one place demo mode reaches: a production console never loads the demo builder.
    from nbsupport.demo import ensure_demo_data

    console.migrate()
    ensure_demo_data(console)


def current_console() -> Console:
    """This process's console (settings, connection pool) for the current settings."""
    settings = get_settings()
    return _open_console(_settings_key(settings), settings)


def auth_configured() -> bool:
    try:
        return "auth" in st.secrets
    except (StreamlitSecretNotFoundError, FileNotFoundError):
        return False


def current_gate() -> Gate:
    configured = auth_configured()
    claims = st.user.to_dict() if configured else None
    return gate(claims, get_settings(), auth_configured=configured)


def require(page: PageId) -> Identity:
    """The signed-in identity, or stop the page: pages check too, not only the navigation."""
    leave_pages_directory_mode()
    decision = current_gate()
    if decision.identity is None:
        st.error(decision.message)
        st.stop()
    if not can_open(decision.identity.role, page):
        # Reached only when a page file runs without the router (which shows its pages as links too).
        st.error(denial(decision.identity.role, page, "this page") + " Use the pages in the sidebar.")
        st.stop()
    return decision.identity
