"""Badges for a key's health: rotation age, days to expiry, scopes (withdraw in red), last outcome.

The functions return plain `Badge`s so the rules are testable; `markdown()` renders them in one line.
Every badge says its state in words; a colour or a mark only repeats them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from nbsupport.diagnosis import STRATEGY_SCOPES, Scope
from nbsupport.keys import ROTATION_DAYS, KeyView
from nbsupport.ui.markdown import md_escape

ROTATION_WARN_DAYS = ROTATION_DAYS - 14
EXPIRY_RED_DAYS = 7
EXPIRY_ORANGE_DAYS = 30


@dataclass(frozen=True)
class Badge:
    label: str
    color: str  # red | orange | yellow | green | blue | gray | violet


def markdown(badges: Iterable[Badge]) -> str:
    return " ".join(f":{b.color}-badge[{md_escape(b.label)}]" for b in badges)


def rotation_badge(view: KeyView) -> Badge:
    age = view.rotation_age_days
    if age is None:
        return Badge("rotation unknown", "gray")
    if view.rotation_overdue:
        return Badge(f"rotated {age} d ago · over {ROTATION_DAYS} d", "red")
    if age > ROTATION_WARN_DAYS:
        return Badge(f"rotated {age} d ago · due in {ROTATION_DAYS - age} d", "orange")
    return Badge(f"rotated {age} d ago", "green")


def expiry_badge(view: KeyView) -> Badge:
    days = view.days_to_expiry
    if view.expires_at is None or days is None:
        return Badge("no expiry", "gray")
    if days < 0:
        return Badge(f"expired {-days} d ago", "red")
    if days <= EXPIRY_RED_DAYS:
        return Badge(f"expires in {days} d", "red")
    if days <= EXPIRY_ORANGE_DAYS:
        return Badge(f"expires in {days} d", "orange")
    return Badge(f"{days} d to expiry", "green")


def scope_label(scope: str) -> str:
    return scope.replace("_", " ")


def scope_states(permissions: Mapping[str, str], required: Iterable[str]) -> list[tuple[str, str]]:
    """(scope, granted|missing|unknown) for the strategy scopes, the key's required ones, and withdraw."""
    order = [s.value for s in STRATEGY_SCOPES]
    names = order + [s for s in required if s not in order] + [Scope.WITHDRAW.value]
    names += sorted(s for s in permissions if s not in names)
    return [(name, str(permissions.get(name) or "unknown")) for name in names]


def scope_badges(permissions: Mapping[str, str], required: Iterable[str]) -> list[Badge]:
    required = set(required)
    badges = []
    for scope, state in scope_states(permissions, required):
        if scope == Scope.WITHDRAW:
            # Withdraw is the one scope that must be off: granted is the alarm.
            color = {"granted": "red", "missing": "green"}.get(state, "gray")
            words = {"granted": "withdraw ENABLED", "missing": "withdraw off"}
            text = words.get(state, "withdraw not checked")
            badges.append(Badge(text, color))
            continue
        if state == "granted":
            badges.append(Badge(f"{scope_label(scope)} ✓ granted", "green"))
        elif state == "missing":
            badges.append(Badge(f"{scope_label(scope)} missing", "red" if scope in required else "gray"))
        else:
            badges.append(Badge(f"{scope_label(scope)} not checked", "gray"))
    return badges


OUTCOME_COLORS = {"ok": "green", "warning": "orange", "failed": "red"}


def outcome_badge(outcome: str | None, diagnosis: str | None = None) -> Badge:
    if not outcome:
        return Badge("never tested", "gray")
    label = outcome if not diagnosis or diagnosis == "ok" else f"{outcome}: {diagnosis}"
    return Badge(label, OUTCOME_COLORS.get(outcome, "gray"))


def withdraw_text(permissions: Mapping[str, str]) -> str:
    state = permissions.get(Scope.WITHDRAW.value)
    return {"granted": "🔴 ENABLED", "missing": "off (good)"}.get(str(state), "not checked")
