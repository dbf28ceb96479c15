"""A key's diagnosis as the error guide's fix card, linked to its row on the guide page."""

from __future__ import annotations

import logging

import streamlit as st

from nbsupport.diagnosis import Diagnosis
from nbsupport.guide import FixRow, fix_for
from nbsupport.ui.fix_card import render_fix_card
from nbsupport.ui.markdown import md_code

log = logging.getLogger(__name__)


def guide_link(fix_id: str) -> str:
    # Relative: every page sits one level under the app root, whatever the server's base URL path is.
    return f"error_guide?fix={fix_id}"


def fix_row(diagnosis: str, exchange: str | None) -> FixRow | None:
    """The guide's primary row for the diagnosis, or None for an unknown code or a missing row."""
    if diagnosis not in Diagnosis.__members__.values():
        return None
    try:
        return fix_for(diagnosis, exchange)
    except (LookupError, ValueError) as exc:  # GuideError is a ValueError
        # A broken guide must not take the key page down: the diagnosis code is still shown.
        log.warning("no fix row for %s on %s: %s", diagnosis, exchange, exc)
        return None


def show_diagnosis(diagnosis: str | None, exchange: str | None, *, reply: str | None = None) -> None:
    """The guide's fix for the diagnosis; `reply` is the result's own customer reply (`fix.customer_reply`
    of the test it came from), shown instead of the guide's general one."""
    if not diagnosis:
        st.info("No connection test yet: run a re-test to get a diagnosis.")
        return
    row = fix_row(diagnosis, exchange)
    if row is None:
        st.warning(f"Diagnosis {md_code(diagnosis)}: no matching entry in the error guide.")
        return
    render_fix_card(row, link=guide_link(row.fix_id), reply=reply)
