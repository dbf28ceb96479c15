"""A fix from the error guide as a card: title, cause, steps and a copy-ready customer reply.

Shared by the error-guide page (pasted error -> best match) and the key-detail page (connection-test
diagnosis -> `fix_for`). Guide text is trusted Markdown shipped in the package; anything a user pasted
goes through `nbsupport.ui.markdown` or `st.code`, never through HTML. Every card speaks of the configured
egress address (`NBSUPPORT_EGRESS_IP`), never the guide's default one.
"""

from __future__ import annotations

import streamlit as st

from nbsupport.config import get_settings
from nbsupport.guide import GENERIC_VENUE, FixRow, Match
from nbsupport.replies import with_egress_ip
from nbsupport.ui.markdown import md_code, md_escape

HIGHLIGHT_CONTEXT_CHARS = 80


def highlight_markdown(text: str, span: tuple[int, int], context: int = HIGHLIGHT_CONTEXT_CHARS) -> str:
    """The matched part of pasted text as a code span, with escaped context on either side."""
    start, end = max(0, span[0]), min(len(text), span[1])
    before = text[max(0, start - context) : start]
    after = text[end : end + context]
    prefix = "…" if start > context else ""
    suffix = "…" if end + context < len(text) else ""
    return f"{prefix}{md_escape(before)}{md_code(text[start:end])}{md_escape(after)}{suffix}"


def venue_label(venue: str) -> str:
    return "any other venue" if venue == GENERIC_VENUE else venue


def _reply(label: str, reply: str, note: str = "") -> None:
    st.markdown(f"{label} ({note}copy with the icon at the top right)")
    st.code(reply, language=None, wrap_lines=True)


def reply_block(reply: str, title: str) -> None:
    """A customer reply on its own, in a box: one shape wherever a reply is shown."""
    with st.container(border=True):
        _reply(f"**{title}**", reply)


def render_fix_card(
    row: FixRow,
    *,
    match: Match | None = None,
    pasted: str | None = None,
    link: str | None = None,
    reply: str | None = None,
) -> None:
    """Render one fix. With `match` and `pasted`, also show where the error was found in the paste. With
    `reply` (drafted from a test result, `nbsupport.replies`), that reply replaces the guide's general one."""
    row = with_egress_ip(row, get_settings().egress_ip)
    with st.container(border=True):
        st.subheader(row.title, anchor=False)
        st.caption(
            f"`{row.fix_id}` · {venue_label(row.venue)} · diagnosis `{row.diagnosis.value}` · "
            f"severity {row.severity.value} · guide `{row.anchor}`"
        )
        if match is not None and pasted is not None:
            st.markdown(f"**Found in the paste:** {highlight_markdown(pasted, match.span)}")
        st.markdown(f"**Cause.** {row.cause}")
        st.markdown("**Fix**")
        st.markdown("\n".join(f"{number}. {step}" for number, step in enumerate(row.steps, start=1)))
        if reply is not None:
            _reply("**Reply to the customer** for this key's result", reply)
        else:
            _reply("**Reply to the customer**", row.customer_reply,
                   "the guide's general text; a re-test drafts the reply for one key's result; ")
        if link is not None:
            st.markdown(f"[Link to this fix]({link})")
