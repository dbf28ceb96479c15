"""Practice keys: the sandbox's demo cast stored as ordinary keys, one demo user per failure mode.

A new agent looks up `practice+<case>@noonbarbari.local`, re-tests the key against the bundled sandbox and
compares the console's diagnosis with the case name. Stored through `keys.add_key`, like any user's key.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime

from sqlalchemy import select

from nbsupport.console import Console
from nbsupport.credentials import Credentials
from nbsupport.crypto import MasterKeyring
from nbsupport.db.models import ExchangeKey, User
from nbsupport.keys import KeyInputError, add_key
from nbsupport.sandbox.cast import demo_cast

log = logging.getLogger(__name__)

PRACTICE_DOMAIN = "noonbarbari.local"
PRACTICE_STRATEGY = "Grid Trader"


def practice_email(case: str) -> str:
    return f"practice+{re.sub(r'[^a-z0-9-]+', '-', case.lower()).strip('-')}@{PRACTICE_DOMAIN}"


def store_demo_cast(console: Console, keyring: MasterKeyring, now: datetime) -> int:
    """Store every cast member not stored yet; returns how many were added."""
    added = 0
    with console.session() as session:
        for member in demo_cast():
            email = practice_email(member.name)
            exists = session.scalar(select(ExchangeKey.id).join(User, User.id == ExchangeKey.user_id)
                                    .where(User.email == email, ExchangeKey.label == member.name))
            if exists is not None:
                continue
            venue_key = member.key
            try:
                add_key(
                    session, keyring, user_email=email, exchange=member.claimed_exchange,
                    credentials=Credentials(member.api_key, member.secret), label=member.name,
                    ip_whitelist=list(getattr(venue_key, "ip_allowlist", ()) or ()),
                    expires_at=getattr(venue_key, "expires_at", None), now=now,
                )
            except KeyInputError as exc:
                log.warning("practice key %s not stored: %s", member.name, exc)
                continue
            user = session.scalar(select(User).where(User.email == email))
            if user is not None and not user.strategy:
                user.display_name = f"Practice case {member.name}"
                user.strategy = PRACTICE_STRATEGY
            added += 1
    return added
