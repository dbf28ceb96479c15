"""Ticket triage: paste a whole ticket, get the users and keys it is about, what its errors mean, and the
reply for the key's actual result. Pure library, no Streamlit: the triage page and `python -m nbsupport
triage` both call `triage()`.

`parse_ticket` (facts.py) reads the paste deterministically; `triage` (find.py) looks every fact up
through `nbsupport.lookup` and explains error lines through `nbsupport.guide.match_error`.
"""

from nbsupport.triage.facts import (
    MAX_ERROR_LINES,
    MAX_ITEMS,
    ErrorLine,
    KeyFragment,
    TicketFacts,
    explain_errors,
    mask_keys,
    parse_ticket,
    pasted_keys,
)
from nbsupport.triage.find import MAX_QUERIES, MatchedKey, MatchedUser, Triage, reply_row, triage

__all__ = [
    "MAX_ERROR_LINES",
    "MAX_ITEMS",
    "MAX_QUERIES",
    "ErrorLine",
    "KeyFragment",
    "MatchedKey",
    "MatchedUser",
    "TicketFacts",
    "Triage",
    "explain_errors",
    "mask_keys",
    "parse_ticket",
    "pasted_keys",
    "reply_row",
    "triage",
]
