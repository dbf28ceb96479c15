"""The lookup page's parts: what to look up (search box or ticket deep link), the audit rows for what
is shown, and the results (user cards, masked keys table, the chosen key in full)."""

from __future__ import annotations

import streamlit as st

from nbsupport.auth import Identity
from nbsupport.console import Console
from nbsupport.lookup import LookupResult, lookup
from nbsupport.ui.key_card import keys_table, user_card, venue_name
from nbsupport.ui.key_detail import render_key
from nbsupport.ui.trail import KEY_VIEW, USER_VIEW, record_views

MAX_USER_CARDS = 5


def find(console: Console, text: str, link_user: int | None, link_key: int | None) -> LookupResult | None:
    """The search box wins over the link; None when there is neither. Raises LookupQueryError."""
    if text.strip():
        with console.session() as session:
            return lookup(session, text)
    if link_key is None and link_user is None:
        return None
    with console.session() as session:
        result = lookup(session, f"key:{link_key}" if link_key is not None else f"user:{link_user}")
    if link_key is not None and link_user is not None:
        # A link naming a key of another user shows nothing, exactly like a key that does not exist.
        result.keys = [k for k in result.keys if k.user_id == link_user]
        result.users = [u for u in result.users if u.id == link_user] if result.keys else []
    return result


def record(console: Console, identity: Identity, result: LookupResult) -> None:
    """Masked metadata is still a view of a customer's keys: one row per key shown (as the CLI does),
    and one per matched user who has no key in the results."""
    detail = {"query": result.query.kind}
    with_keys = {k.user_id for k in result.keys}
    record_views(console, identity, KEY_VIEW, [(k.user_id, k.id) for k in result.keys],
                 result="lookup", detail=detail)
    keyless = [(u.id, None) for u in result.users if u.id not in with_keys]
    record_views(console, identity, USER_VIEW, keyless, result="lookup", detail=detail)


def show(console: Console, identity: Identity, result: LookupResult, link_key: int | None) -> None:
    if not result.users and not result.keys:
        st.info("No user or key matches that search.", icon=":material/person_search:")
        return
    record(console, identity, result)
    for user in result.users[:MAX_USER_CARDS]:
        user_card(user)
    if len(result.users) > MAX_USER_CARDS:
        st.caption(f"{len(result.users) - MAX_USER_CARDS} more users match; narrow the search to see them.")
    if not result.keys:
        st.info("This user has no exchange keys.")
        return
    st.subheader(f"Keys ({len(result.keys)}{'+' if result.truncated else ''})")
    keys_table(result.keys)
    if result.truncated:
        st.caption("More keys match than are shown: narrow the search.")
    views = {k.id: k for k in result.keys}
    ids = list(views)
    default = ids.index(link_key) if link_key in views else (0 if len(ids) == 1 else None)
    chosen = st.selectbox(
        "Open a key", ids, index=default, placeholder="choose a key…",
        format_func=lambda i: (f"#{i} · {venue_name(views[i].exchange)} {views[i].product} · "
                               f"{views[i].masked_key}{' · ' + views[i].label if views[i].label else ''}"),
    )
    if chosen is None:
        return
    # The address bar becomes the ticket deep link for this key, ready to paste back into the ticket.
    st.query_params["user"], st.query_params["key"] = str(views[chosen].user_id), str(chosen)
    st.divider()
    render_key(console, identity, chosen)
