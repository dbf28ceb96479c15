"""User card, keys table and key card: masked metadata only (KeyView/UserCard never carry a secret)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd
import streamlit as st

from nbsupport.clock import utc_day, utc_text
from nbsupport.keys import KeyView
from nbsupport.lookup import UserCard
from nbsupport.ui import badges
from nbsupport.ui.links import key_link_column, key_url, user_link_column, user_url
from nbsupport.ui.markdown import md_code, md_escape

VENUE_NAMES = {"kraken": "Kraken", "krakenfutures": "Kraken Futures"}


def venue_name(exchange: str) -> str:
    return VENUE_NAMES.get(exchange, exchange)



def third_credential(view: KeyView) -> str:
    present = (("passphrase", view.has_passphrase), ("uid", view.has_uid))
    flags = [name for name, has in present if has]
    return ", ".join(flags) or "—"


def scopes_text(view: KeyView) -> str:
    marks = {"granted": "✓", "missing": "✗", "unknown": "?"}
    return " ".join(
        f"{badges.scope_label(scope)} {marks.get(state, '?')}"
        for scope, state in badges.scope_states(view.permissions, view.required_scopes)
        if scope != "withdraw"
    )


def shared_text(view: KeyView) -> str:
    """`user 12 (key 45)` for each other stored copy of this API key; empty when there is none."""
    return ", ".join(f"user {s.user_id} (key {s.key_id})" for s in view.shared_with)


def key_row(view: KeyView) -> dict[str, object]:
    """One row of the keys table; every value is masked metadata."""
    rotation = badges.rotation_badge(view)
    expiry = badges.expiry_badge(view)
    return {
        "key id": view.id,
        "user id": view.user_id,
        "venue": venue_name(view.exchange),
        "product": view.product,
        "label": view.label,
        "key": view.masked_key,
        "fingerprint": view.fingerprint,
        "3rd credential": third_credential(view),
        "created": utc_day(view.created_at),
        "rotated": f"{utc_day(view.rotated_at)} · {rotation.label}",
        "expiry": f"{utc_day(view.expires_at)} · {expiry.label}" if view.expires_at else expiry.label,
        "IP whitelist": ", ".join(view.ip_whitelist) or "none",
        "scopes last seen": scopes_text(view),
        "withdraw": badges.withdraw_text(view.permissions),
        "last test": view.last_outcome or "never",
        "diagnosis": view.last_diagnosis or "—",
        "tested": utc_text(view.last_test_at, empty="—"),
        "envelope key": view.envelope_version or "—",
        "status": view.status,
        "also stored for": shared_text(view) or "—",
    }


ATTENTION = "🔴"
_FLAGGED_COLUMNS = ("withdraw", "rotated", "expiry", "last test")


def _flagged(text: str) -> str:
    """A cell that needs the agent's attention starts with a red mark before its words. A pandas Styler
    would colour it instead, but Streamlit renders a styled frame cell by cell: ~25x the plain frame's
    time for a 30-key table."""
    if text.startswith(ATTENTION) or not ("over " in text or text.startswith("failed") or "expired" in text):
        return text
    return f"{ATTENTION} {text}"


def keys_table(views: Sequence[KeyView], why: Mapping[int, str] | None = None) -> pd.DataFrame:
    """Masked keys, each id a link to its key page and its owner; `why`: keys the search itself matched."""
    rows = [{**key_row(v), "key id": key_url(v.id), "user id": user_url(v.user_id)} for v in views]
    for row in rows:
        row.update((column, _flagged(str(row[column]))) for column in _FLAGGED_COLUMNS)
    if why:
        rows = [{"matched": why.get(v.id, ""), **row} for v, row in zip(views, rows, strict=True)]
    frame = pd.DataFrame(rows)
    if not frame.empty:
        st.dataframe(
            frame,
            hide_index=True,
            column_config={"key id": key_link_column("key id"), "user id": user_link_column("user id")},
        )
    return frame


def user_card(user: UserCard) -> None:
    with st.container(border=True):
        st.markdown(f"**{md_escape(user.display_name or user.email)}** · {md_code(user.email)} · "
                    f"[user {user.id}]({user_url(user.id)})")
        if user.why:
            st.caption(f"Matched: {md_escape(user.why)}")
        cols = st.columns(4)
        cols[0].metric("User id", str(user.id))
        cols[1].metric("Strategy", user.strategy or "—")
        cols[2].metric("Customer since", utc_day(user.created_at))
        cols[3].metric("Envelope key", user.envelope_version or "none")


def key_card(view: KeyView) -> None:
    with st.container(border=True):
        title = f"{venue_name(view.exchange)} {view.product}"
        label = f" · {md_escape(view.label)}" if view.label else ""
        st.markdown(f"#### {md_escape(title)}{label} · `{view.masked_key}`")
        st.markdown(badges.markdown([
            badges.outcome_badge(view.last_outcome, view.last_diagnosis),
            badges.rotation_badge(view),
            badges.expiry_badge(view),
        ]))
        st.markdown(badges.markdown(badges.scope_badges(view.permissions, view.required_scopes)))
        cols = st.columns(3)
        cols[0].markdown(
            f"**Key id** {view.id}  \n**User id** {view.user_id}  \n**Fingerprint** `{view.fingerprint}`"
        )
        cols[1].markdown(
            f"**Created** {utc_day(view.created_at)}  \n**Rotated** {utc_day(view.rotated_at)}  \n"
            f"**Expires** {utc_day(view.expires_at)}"
        )
        ips = ", ".join(view.ip_whitelist) or "none declared"
        cols[2].markdown(
            f"**IP whitelist** {md_escape(ips)}  \n**3rd credential** {third_credential(view)}  \n"
            f"**Envelope key** {view.envelope_version or '—'} · **status** {md_escape(view.status)}"
        )
        if view.shared_with:
            copies = ", ".join(
                f"[user {s.user_id}]({user_url(s.user_id)}) ([key {s.key_id}]({key_url(s.key_id)}))"
                for s in view.shared_with)
            st.warning(f"Also stored for {copies}: two systems signing with one API key clash on its nonces.")
        st.caption(f"Last test: {utc_text(view.last_test_at, empty='—')}")
