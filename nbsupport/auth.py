"""Who is using the console and what they may do: OIDC claims or the demo identity -> role -> pages.

Pure functions, no Streamlit: the router and every page ask the same questions, and tests ask them
directly. Access fails closed: no verified email, no mapped role or no sign-in method means no access.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from nbsupport.audit import Actor
from nbsupport.config import Settings

AGENT = "agent"
ANALYST = "analyst"
ADMIN = "admin"
ROLES: tuple[str, ...] = (AGENT, ANALYST, ADMIN)

# A demo database is synthetic, and a demo exists to show every page: an unmapped demo identity is admin.
DEMO_DEFAULT_ROLE = ADMIN


class PageId(StrEnum):
    TRIAGE = "triage"
    LOOKUP = "lookup"
    KEY = "key"
    BACKFILL = "backfill"
    STATS = "stats"
    GUIDE = "guide"
    BULK = "bulk"
    AUDIT = "audit"


# Navigation order, and who may open each page. Analysts see aggregates only, never a user's keys.
PAGE_ROLES: dict[PageId, frozenset[str]] = {
    PageId.TRIAGE: frozenset({AGENT, ADMIN}),
    PageId.LOOKUP: frozenset({AGENT, ADMIN}),
    PageId.KEY: frozenset({AGENT, ADMIN}),
    PageId.BACKFILL: frozenset({AGENT, ADMIN}),
    PageId.STATS: frozenset({ANALYST, ADMIN}),
    PageId.GUIDE: frozenset(ROLES),
    PageId.BULK: frozenset({ADMIN}),
    PageId.AUDIT: frozenset({ADMIN}),
}


# Pages that show one user's keys: their links (`?key=`, `?user=`) are for the roles that may see keys.
KEY_PAGES = frozenset({PageId.LOOKUP, PageId.KEY})


@dataclass(frozen=True)
class Identity:
    email: str
    role: str
    demo: bool = False

    @property
    def actor(self) -> Actor:
        return Actor(self.email, self.role)


class Denied(StrEnum):
    """Why nobody is signed in, each with a message the sign-in screen shows."""

    NOT_CONFIGURED = "not_configured"
    SIGNED_OUT = "signed_out"
    UNVERIFIED = "unverified"
    NO_ROLE = "no_role"


DENIED_MESSAGES: dict[Denied, str] = {
    Denied.NOT_CONFIGURED: (
        "Sign-in is not configured. Add an [auth] section (OpenID Connect) to .streamlit/secrets.toml, "
        "or run the local demo with NBSUPPORT_DEMO=1."
    ),
    Denied.SIGNED_OUT: "Sign in with your Noon Barbari account to use the support console.",
    Denied.UNVERIFIED: "Your identity provider has not verified this email address.",
    Denied.NO_ROLE: (
        "You are signed in, but your email has no console role. Ask an admin to add it to "
        "NBSUPPORT_ROLES (agent, analyst or admin)."
    ),
}


@dataclass(frozen=True)
class Gate:
    identity: Identity | None
    denied: Denied | None = None
    # The signed-in email when the role is missing, so the screen can say who is signed in.
    email: str = ""

    @property
    def message(self) -> str:
        return DENIED_MESSAGES[self.denied] if self.denied else ""


def role_for(email: str, settings: Settings) -> str | None:
    """The configured role for an email (case-insensitive); an unknown role name counts as none."""
    wanted = email.strip().lower()
    for configured, role in settings.roles.items():
        if configured.strip().lower() == wanted:
            return role if role in ROLES else None
    return None


def gate(claims: Mapping[str, object] | None, settings: Settings, *, auth_configured: bool) -> Gate:
    """Decide who is signed in. `claims` is `st.user` as a dict; it is trusted only with OIDC configured,
    because Streamlit fills in a placeholder email for local sessions without a provider."""
    if settings.demo:
        email = settings.demo_identity.strip().lower()
        return Gate(Identity(email, role_for(email, settings) or DEMO_DEFAULT_ROLE, demo=True))
    if not auth_configured:
        return Gate(None, Denied.NOT_CONFIGURED)
    if not claims or claims.get("is_logged_in") is not True:
        return Gate(None, Denied.SIGNED_OUT)
    email = str(claims.get("email") or "").strip().lower()
    if not email:
        return Gate(None, Denied.UNVERIFIED)
    # Providers that say nothing about verification (some enterprise IdPs) are trusted as configured.
    if claims.get("email_verified") is False:
        return Gate(None, Denied.UNVERIFIED, email)
    role = role_for(email, settings)
    if role is None:
        return Gate(None, Denied.NO_ROLE, email)
    return Gate(Identity(email, role))


def resolve_identity(
    claims: Mapping[str, object] | None, settings: Settings, *, auth_configured: bool = True
) -> Identity | None:
    return gate(claims, settings, auth_configured=auth_configured).identity


def allowed_pages(role: str) -> list[PageId]:
    return [page for page, roles in PAGE_ROLES.items() if role in roles]


def can_open(role: str, page: PageId) -> bool:
    return role in PAGE_ROLES[page]


# How a denial names the roles a page is for, in navigation order.
ROLE_PLURALS = {AGENT: "agents", ANALYST: "analysts", ADMIN: "admins"}


def _roles_in_words(roles: frozenset[str]) -> str:
    names = [ROLE_PLURALS[role] for role in ROLES if role in roles]
    return " and ".join(names) if len(names) < 3 else f"{', '.join(names[:-1])} and {names[-1]}"


def denial(role: str, page: PageId, title: str) -> str:
    """Why this role may not open the page, in words: its role, and whom the page is for."""
    what = f"{title} (individual keys and users)" if page in KEY_PAGES else title
    reason = " Your role sees aggregates only." if not can_view_key(role) and page in KEY_PAGES else ""
    return f"Your role ({role}) cannot open {what}: it is for {_roles_in_words(PAGE_ROLES[page])}.{reason}"


def can_view_key(role: str) -> bool:
    return role in (AGENT, ADMIN)


def can_retest(role: str) -> bool:
    return role in (AGENT, ADMIN)


def can_bulk_retest(role: str) -> bool:
    return role == ADMIN


def can_view_audit(role: str) -> bool:
    return role == ADMIN
