"""The ticket triage page's parts: the paste box, the ticket the paste names, the suggested key with the
way to its re-test, the drafted reply, the matched users and keys (linked), and what each error line means.

Everything the customer wrote is shown inert: error lines in code blocks, facts through the one Markdown
escaper (`nbsupport.ui.markdown`). Guide titles and causes are the package's own Markdown.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from nbsupport.audit import Action
from nbsupport.auth import Identity, can_view_key
from nbsupport.clock import utc_text
from nbsupport.config import get_settings
from nbsupport.console import Console
from nbsupport.replies import with_egress_ip
from nbsupport.triage import ErrorLine, KeyFragment, TicketFacts, Triage, mask_keys, pasted_keys, triage
from nbsupport.ui.badges import markdown, outcome_badge
from nbsupport.ui.diagnosis_card import guide_link
from nbsupport.ui.fix_card import venue_label
from nbsupport.ui.key_card import venue_name
from nbsupport.ui.links import key_link_column, key_url, user_link_column, user_url
from nbsupport.ui.markdown import md_code, md_escape
from nbsupport.ui.trail import TICKET_KEY, current_ticket, record_views

PASTE_KEY = "triage_paste"
MASKED_KEY = "_triage_masked"
KEPT_KEY = "_triage_kept"
# Fingerprints and masked forms of the whole keys pasted into the box (never the keys).
PASTED_KEY = "_triage_pasted"
KEY_PAGE_FILE = "pages/key_detail.py"
PLACEHOLDER = (
    "Paste the whole ticket: the customer's message, log lines, key fragments (abcd…wxyz), emails, "
    "user or key ids, the ticket link."
)


def paste_box() -> str:
    """The paste, kept when the agent opens a key and comes back: Streamlit drops a widget's state when a
    run on another page does not draw it, so each submitted paste is also kept under a plain key."""
    if PASTE_KEY not in st.session_state and KEPT_KEY in st.session_state:
        st.session_state[PASTE_KEY] = st.session_state[KEPT_KEY]
    with st.form("triage_form", border=False):
        text = st.text_area("Pasted ticket", key=PASTE_KEY, height=220, placeholder=PLACEHOLDER)
        st.form_submit_button("Triage", type="primary", icon=":material/manage_search:", on_click=_mask_paste)
    masked = st.session_state.get(MASKED_KEY, 0)
    if masked:
        st.caption(f"Masked in the box: {masked} whole key(s) or secret(s). The console keeps none in clear "
                   "and finds each stored key by its fingerprint.")
    return text


def _mask_paste() -> None:
    """Runs before the page: a whole key or secret a customer pasted never stays in the session or goes
    back to the browser. What is kept of it is its fingerprint and masked form (`pasted_keys`), so the
    masked text still finds the key by fingerprint, also when the agent edits the paste and triages again."""
    raw = st.session_state.get(PASTE_KEY, "")
    masked, count = mask_keys(raw)
    earlier: tuple[KeyFragment, ...] = st.session_state.get(PASTED_KEY, ())
    st.session_state[PASTED_KEY] = tuple(
        {f.shown: f for f in (*earlier, *pasted_keys(raw)) if f.shown in masked}.values())
    st.session_state[PASTE_KEY] = st.session_state[KEPT_KEY] = masked
    st.session_state[MASKED_KEY] = count


def find(console: Console, text: str) -> Triage:
    with console.session() as session:
        return triage(session, text, pasted=st.session_state.get(PASTED_KEY, ()))


def record(console: Console, identity: Identity, result: Triage) -> None:
    """One row for the triage itself, one per key shown and one per matched user without keys, all with
    the session ticket."""
    subjects = result.subjects()
    detail = {"query": "triage"}
    record_views(console, identity, Action.KEY_VIEW, [s for s in subjects if s[1] is not None],
                 result="triage", detail=detail)
    record_views(console, identity, Action.USER_VIEW, [s for s in subjects if s[1] is None],
                 result="triage", detail=detail)
    outcome, summary = result.audit_summary()
    record_views(console, identity, Action.TICKET_TRIAGE, [(None, None)], result=outcome, detail=summary)


def show(console: Console, identity: Identity, result: Triage) -> None:
    facts_line(result)
    ticket_hint(result.facts)
    if can_view_key(identity.role):
        record(console, identity, result)
        suggestion(result)
        matches(result)
    errors(result)


def facts_line(result: Triage) -> None:
    facts = result.facts
    found = [*(md_code(e) for e in facts.emails), *(f"user {n}" for n in facts.user_ids),
             *(f"key {n}" for n in facts.key_ids), *(md_code(f.shown) for f in facts.key_fragments),
             *(md_escape(venue_name(v)) for v in facts.venues), *(md_code(t) for t in facts.ticket_refs)]
    lines = f"{len(facts.error_lines)} error line{'s' if len(facts.error_lines) != 1 else ''}"
    st.markdown(f"**Found in the paste:** {' · '.join(found) or 'no email, id or key'} · {lines}")
    if facts.skipped_chars:
        st.caption(f"A long paste: its head and tail were read, {facts.skipped_chars:,} characters between "
                   "them were not.")
    if result.not_found:
        st.caption("Matched nothing: " + " · ".join(md_escape(label) for label in result.not_found))


def _use_ticket(ref: str) -> None:
    st.session_state[TICKET_KEY] = ref


def ticket_hint(facts: TicketFacts) -> None:
    """The session's ticket goes on every audit row: offer the one the paste names when there is none."""
    if not facts.ticket_refs:
        return
    session_ticket = current_ticket()
    first = facts.ticket_refs[0]
    if not session_ticket:
        st.button(f"Use {first} as this session's ticket", on_click=_use_ticket, args=(first,),
                  icon=":material/confirmation_number:")
    elif session_ticket not in facts.ticket_refs:
        st.warning(f"The paste names {', '.join(facts.ticket_refs)}, but this session's ticket is "
                   f"{md_code(session_ticket)}.", icon=":material/confirmation_number:")


def suggestion(result: Triage) -> None:
    top = result.suggested
    if top is None:
        if result.facts.searchable:
            st.info("No user or key matches what the paste names. Ask the customer for the email of their "
                    "Noon Barbari account or the first and last four characters of the key.",
                    icon=":material/person_search:")
        return
    view = top.view
    st.subheader("Suggested key")
    with st.container(border=True):
        label = f" · {md_escape(view.label)}" if view.label else ""
        tested = f" · tested {utc_text(view.last_test_at)}" if view.last_test_at else ""
        st.markdown(f"**Key {view.id}** · {md_escape(venue_name(view.exchange))} {md_escape(view.product)} · "
                    f"{md_code(view.masked_key)}{label} · user {view.user_id}  \n"
                    + markdown([outcome_badge(view.last_outcome, view.last_diagnosis)]) + tested)
        # Code spans: a reason can hold an email, which Markdown would turn into a mailto link.
        st.caption("Matched by: " + " · ".join(md_code(reason) for reason in top.reasons))
        st.page_link(KEY_PAGE_FILE, label=f"Open key {view.id} to re-test it", icon=":material/replay:",
                     query_params={"key": str(view.id)})
        st.caption(f"Link for the ticket: {md_code(key_url(view.id))}")
    reply(result)


def reply(result: Triage) -> None:
    top, row = result.suggested, result.reply
    latest = result.latest.result if result.latest is not None else None
    if top is None:
        return
    st.markdown("**Drafted reply**")
    if latest is None:
        st.info(f"Key {top.view.id} has never been tested: open it and re-test to draft a reply from the "
                "result.", icon=":material/draft:")
        return
    st.caption(f"For key {top.view.id}'s latest test: {latest.outcome} · {md_escape(latest.diagnosis)} · "
               f"{utc_text(latest.started_at)}. Re-test first if that is not today's state.")
    if row is None:
        st.warning(f"The error guide has no reply for diagnosis {md_code(latest.diagnosis)}.")
        return
    st.code(result.reply_text, language=None, wrap_lines=True)
    st.caption(f"From the guide entry [{md_escape(row.title)}]({guide_link(row.fix_id)}).")


def matches(result: Triage) -> None:
    if not result.users and not result.keys:
        return
    st.subheader("Users and keys")
    users = pd.DataFrame([{
        "User": user_url(u.card.id), "name": u.card.display_name, "email": u.card.email,
        "strategy": u.card.strategy, "matched by": ", ".join(u.reasons),
    } for u in result.users])
    if not users.empty:
        st.dataframe(users, hide_index=True, column_config={"User": user_link_column()})
    keys = pd.DataFrame([{
        "Key": key_url(k.view.id), "User": user_url(k.view.user_id),
        "venue": f"{venue_name(k.view.exchange)} {k.view.product}", "key": k.view.masked_key,
        "label": k.view.label, "last test": k.view.last_outcome or "never",
        "diagnosis": k.view.last_diagnosis or "—", "tested": utc_text(k.view.last_test_at, empty="—"),
        "matched by": ", ".join(k.reasons),
    } for k in result.keys])
    if not keys.empty:
        st.dataframe(keys, hide_index=True,
                     column_config={"Key": key_link_column(), "User": user_link_column()})
    if result.truncated:
        st.caption("More keys match than are shown: narrow the paste to the customer's own details.")


def errors(result: Triage) -> None:
    if not result.facts.error_lines:
        return
    st.subheader("What the errors mean")
    for line in result.facts.error_lines:
        error_line(result, line)


def error_line(result: Triage, line: ErrorLine) -> None:
    with st.container(border=True):
        causes = len(line.matches)
        head = f"**Line {line.line}**"
        if line.ambiguous:
            head += f" · ambiguous: {causes} plausible causes"
        st.markdown(head)
        st.code(line.text, language=None, wrap_lines=True)
        egress_ip = get_settings().egress_ip
        for number, match in enumerate(line.matches, start=1):
            row = with_egress_ip(match.row, egress_ip)
            confirmed = " · **the suggested key's latest test found this**" if result.confirmed(match) else ""
            st.markdown(
                f"{number}. **{row.title}** · `{row.diagnosis.value}` · {venue_label(row.venue)} · "
                f"severity {row.severity.value} · matched {md_code(match.matched_text)}{confirmed}  \n"
                f"{row.cause} [Guide entry]({guide_link(row.fix_id)})"
            )
        if line.ambiguous:
            codes = ", ".join(dict.fromkeys(f"`{m.row.diagnosis.value}`" for m in line.matches))
            st.caption(f"What tells them apart: a connection test of the key names exactly one of {codes}.")
