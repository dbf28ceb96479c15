"""Identity and roles: who gets in, with which role, and what each role may do."""

from __future__ import annotations

from pathlib import Path

import pytest

from nbsupport.auth import (
    ADMIN,
    AGENT,
    ANALYST,
    DEMO_DEFAULT_ROLE,
    Denied,
    PageId,
    allowed_pages,
    can_bulk_retest,
    can_open,
    can_retest,
    can_view_audit,
    can_view_key,
    gate,
    resolve_identity,
)
from nbsupport.config import Settings

ROLES = {"Ann.Agent@NB.test": "agent", "ana@nb.test": "analyst", "root@nb.test": "admin", "x@nb.test": "god"}


def settings(tmp_path: Path, **extra: object) -> Settings:
    return Settings(home=tmp_path, roles=ROLES, **extra)


def signed_in(email: str, **claims: object) -> dict[str, object]:
    return {"is_logged_in": True, "email": email, **claims}


def test_signed_in_email_maps_to_its_role_case_insensitively(tmp_path: Path) -> None:
    identity = resolve_identity(signed_in("ann.agent@nb.TEST"), settings(tmp_path))
    assert identity is not None
    assert (identity.email, identity.role, identity.demo) == ("ann.agent@nb.test", AGENT, False)
    assert identity.actor.email == "ann.agent@nb.test" and identity.actor.role == AGENT


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        (None, Denied.SIGNED_OUT),
        ({"is_logged_in": False, "email": "root@nb.test"}, Denied.SIGNED_OUT),
        # Streamlit fills a placeholder email for sessions without a provider: no login flag, no entry.
        ({"email": "root@nb.test"}, Denied.SIGNED_OUT),
        ({"is_logged_in": "true", "email": "root@nb.test"}, Denied.SIGNED_OUT),
        (signed_in(""), Denied.UNVERIFIED),
        (signed_in("root@nb.test", email_verified=False), Denied.UNVERIFIED),
        (signed_in("stranger@nb.test"), Denied.NO_ROLE),
        (signed_in("x@nb.test"), Denied.NO_ROLE),  # a role name the console does not know
    ],
)
def test_anything_but_a_verified_mapped_sign_in_is_denied(
    tmp_path: Path, claims: dict[str, object] | None, reason: Denied
) -> None:
    decision = gate(claims, settings(tmp_path), auth_configured=True)
    assert decision.identity is None
    assert decision.denied is reason and decision.message


def test_claims_are_ignored_when_no_identity_provider_is_configured(tmp_path: Path) -> None:
    decision = gate(signed_in("root@nb.test"), settings(tmp_path), auth_configured=False)
    assert decision.identity is None and decision.denied is Denied.NOT_CONFIGURED


def test_demo_mode_uses_the_local_identity_and_its_mapped_role(tmp_path: Path) -> None:
    decision = gate(None, settings(tmp_path, demo=True, demo_identity="ana@nb.test"), auth_configured=False)
    assert decision.identity is not None
    assert (decision.identity.email, decision.identity.role, decision.identity.demo) == (
        "ana@nb.test", ANALYST, True)


def test_demo_identity_without_a_role_gets_the_demo_default(tmp_path: Path) -> None:
    identity = resolve_identity(None, settings(tmp_path, demo=True, demo_identity="new@nb.local"))
    assert identity is not None and identity.role == DEMO_DEFAULT_ROLE


def test_demo_mode_wins_over_provider_claims(tmp_path: Path) -> None:
    # The banner must name the identity actually recorded in the audit trail.
    demo = settings(tmp_path, demo=True, demo_identity="ana@nb.test")
    identity = resolve_identity(signed_in("root@nb.test"), demo)
    assert identity is not None and identity.email == "ana@nb.test"


def test_each_role_sees_exactly_its_pages() -> None:
    assert allowed_pages(AGENT) == [PageId.TRIAGE, PageId.LOOKUP, PageId.KEY, PageId.BACKFILL, PageId.GUIDE]
    assert allowed_pages(ANALYST) == [PageId.STATS, PageId.GUIDE]
    assert allowed_pages(ADMIN) == list(PageId)
    assert allowed_pages("intruder") == []


def test_analysts_cannot_open_keys_or_retest_and_only_admins_audit_and_bulk_retest() -> None:
    assert [can_view_key(r) for r in (AGENT, ANALYST, ADMIN)] == [True, False, True]
    assert [can_retest(r) for r in (AGENT, ANALYST, ADMIN)] == [True, False, True]
    assert [can_bulk_retest(r) for r in (AGENT, ANALYST, ADMIN)] == [False, False, True]
    assert [can_view_audit(r) for r in (AGENT, ANALYST, ADMIN)] == [False, False, True]
    assert not can_open(ANALYST, PageId.LOOKUP) and can_open(ANALYST, PageId.STATS)
    assert not can_open(ANALYST, PageId.TRIAGE) and can_open(AGENT, PageId.TRIAGE)
