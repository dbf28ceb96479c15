"""The helpdesk ticket a session works on: every way agents write one, normalised to one spelling.

Zendesk tickets become `ZD-1234`, Freshdesk tickets `FD-1234`. Accepted: `ZD-1234`, `ZD 1234`, `zd1234`,
`#1234` (a bare number is a Zendesk ticket, the support desk's default), the same with `FD`, and ticket
URLs as the helpdesks show them:

- Zendesk agent view: `https://<subdomain>.zendesk.com/agent/tickets/1234`
- Freshdesk: `https://<subdomain>.freshdesk.com/a/tickets/1234` (the current agent UI) and the older
  `https://<subdomain>.freshdesk.com/helpdesk/tickets/1234`

(the forms agents copy from the address bar; a helpdesk subdomain is one DNS label).

Anything else is refused with a message fit for the page: an audit row must name a ticket someone can open.
"""

from __future__ import annotations

import re

ZENDESK = "ZD"
FRESHDESK = "FD"
# Helpdesk ticket ids are sequential integers; 12 digits is far beyond any desk and keeps the value small.
_NUMBER = r"(?P<number>[0-9]{1,12})"
_SHORT = re.compile(rf"(?:(?P<desk>zd|fd)[ -]?|#){_NUMBER}", re.IGNORECASE | re.ASCII)
_HOST = r"(?:https?://)?[a-z0-9][a-z0-9-]{0,62}\."
_URLS = (
    (ZENDESK, re.compile(rf"{_HOST}zendesk\.com/agent/tickets/{_NUMBER}", re.IGNORECASE | re.ASCII)),
    (FRESHDESK, re.compile(rf"{_HOST}freshdesk\.com/(?:a|helpdesk)/tickets/{_NUMBER}",
                           re.IGNORECASE | re.ASCII)),
)
# A URL may carry a trailing slash, a query or a fragment after the ticket id: none of it names the ticket.
_URL_TAIL = re.compile(r"/?(?:[?#].*)?", re.ASCII)
MAX_INPUT = 300

EXAMPLES = "ZD-1234, ZD 1234, #1234, FD-1234, or the ticket's Zendesk / Freshdesk link"


class TicketError(ValueError):
    """Text that is not a ticket reference; the message says what is accepted."""


def parse_ticket(text: str | None) -> str:
    """The normalised ticket (`ZD-1234`, `FD-1234`), "" for empty text; raises TicketError otherwise."""
    text = (text or "").strip()
    if not text:
        return ""
    if len(text) <= MAX_INPUT:
        short = _SHORT.fullmatch(text)
        if short:
            desk = (short.group("desk") or ZENDESK).upper()
            return f"{desk}-{int(short.group('number'))}"
        for desk, pattern in _URLS:
            found = pattern.match(text)
            if found and _URL_TAIL.fullmatch(text, found.end()):
                return f"{desk}-{int(found.group('number'))}"
    raise TicketError(f"not a ticket reference; write it as {EXAMPLES}")


def is_ticket(text: str | None) -> bool:
    try:
        return bool(parse_ticket(text))
    except TicketError:
        return False
