"""What an empty or failing backfill means: the cause, how sure we are, the evidence and the fix.

Stronger evidence wins: an error the venue sent (expired, wrong product, query window, permission
denied), then the key's own metadata (product, creation time, the query window GetApiKeyInfo reported),
then the pattern "orders were placed but nothing came back", weighed by what the last connection test saw
of the Query Closed Orders & Trades scope.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from nbsupport.db.models import ConnectionTest
from nbsupport.fleet.backfill.fixes import BackfillCause, fix_for_cause
from nbsupport.guide.model import FixPayload
from nbsupport.keys import DEFAULT_PRODUCT
from nbsupport.plain import plain_dict


@dataclass(frozen=True)
class BackfillFinding:
    key_id: int
    user_id: int
    exchange: str
    product: str
    cause: str  # a BackfillCause value
    confidence: str  # high | medium | low
    summary: str
    evidence: dict[str, object]
    fix: FixPayload

    def as_dict(self) -> dict[str, object]:
        return plain_dict(self)


@dataclass(frozen=True)
class Candidate:
    """One key's aggregated backfill runs in the window, as the scan query returns them."""

    key_id: int
    user_id: int
    exchange: str
    product: str
    created_at: datetime | None
    window_start: datetime | None
    window_end: datetime | None
    last_run: datetime | None
    suspect_runs: int
    empty_runs: int
    failed_runs: int
    early_windows: int
    expired_errors: int
    permission_errors: int
    window_errors: int
    product_errors: int
    productive_runs: int
    closed_orders_rows: int
    trades_rows: int
    orders_in_windows: int
    orders_recent: int
    sample_error: str
    closed_orders_scope: str | None  # last connection test: granted | missing | unknown | None
    last_diagnosis: str | None
    query_end: datetime | None  # from GetApiKeyInfo, when a connection test recorded it
    rows_until: datetime | None = None  # end of the latest window that did return rows
    missing_permissions: tuple[str, ...] = ()  # what the last test saw missing
    label: str = ""
    strategy: str = ""

    @classmethod
    def from_row(cls, row: Mapping[str, Any], detail: dict[str, object]) -> Candidate:
        """`row`: one row of the scan's raw SQL, whose column types only the query knows (hence Any)."""
        scope = row.get("closed_orders_scope")
        missing: tuple[str, ...] = ()
        if scope == "granted":
            # Parsed only here: the summary then names what the test did see missing.
            permissions = row.get("last_permissions") or {}
            if isinstance(permissions, str):
                permissions = json.loads(permissions)
            if isinstance(permissions, dict):
                missing = tuple(sorted(k for k, v in permissions.items() if v == "missing"))
        counts = {
            name: int(row.get(name) or 0)
            for name in (
                "suspect_runs",
                "empty_runs",
                "failed_runs",
                "early_windows",
                "expired_errors",
                "permission_errors",
                "window_errors",
                "product_errors",
                "productive_runs",
                "closed_orders_rows",
                "trades_rows",
                "orders_in_windows",
                "orders_recent",
            )
        }
        return cls(
            key_id=int(row["key_id"]),
            user_id=int(row["user_id"]),
            exchange=str(row["exchange"]),
            product=str(row["product"]),
            created_at=row["created_at"],
            window_start=row["window_start"],
            window_end=row["window_end"],
            last_run=row["last_run"],
            sample_error=str(row.get("sample_error") or ""),
            closed_orders_scope=scope,
            last_diagnosis=row.get("last_diagnosis"),
            query_end=query_window_end(detail),
            rows_until=row.get("rows_until"),
            missing_permissions=missing,
            label=str(row.get("label") or ""),
            strategy=str(row.get("strategy") or ""),
            **counts,
        )

    def evidence(self) -> dict[str, object]:
        def iso(moment: datetime | None) -> str | None:
            return moment.isoformat() if moment else None

        return {
            "window": {"start": iso(self.window_start), "end": iso(self.window_end)},
            "last_run": iso(self.last_run),
            "key_created_at": iso(self.created_at),
            "runs": {
                "empty": self.empty_runs,
                "failed": self.failed_runs,
                "with_rows": self.productive_runs,
                "window_before_key": self.early_windows,
            },
            "rows_fetched": {"closed_orders": self.closed_orders_rows, "trades": self.trades_rows},
            "orders_placed": {"in_backfill_windows": self.orders_in_windows, "in_period": self.orders_recent},
            "errors": {
                "permission": self.permission_errors,
                "expired": self.expired_errors,
                "query_window": self.window_errors,
                "product": self.product_errors,
                "sample": self.sample_error[:200],
            },
            "closed_orders_scope": self.closed_orders_scope,
            "missing_scopes": list(self.missing_permissions),  # the JSON contract's name
            "last_diagnosis": self.last_diagnosis,
            "query_window_end": iso(self.query_end),
            "rows_until": iso(self.rows_until),
            "label": self.label,
            "strategy": self.strategy,
        }


def query_window_end(detail: dict[str, object]) -> datetime | None:
    """The key's query-window end if a connection test recorded GetApiKeyInfo ("queryTo", unix seconds,
    "0" for none) at the top of its detail or under "key_info"."""
    for source in (detail, detail.get("key_info"), detail.get("key_settings")):
        if not isinstance(source, dict):
            continue
        for name in ("queryTo", "query_to", "query_end"):
            moment = _moment(source.get(name))
            if moment is not None:
                return moment
    return None


def _moment(value: object) -> datetime | None:
    if value in (None, "", "0", 0) or not isinstance(value, str | int | float):
        return None
    try:
        return datetime.fromtimestamp(int(float(value)), UTC)
    except (TypeError, ValueError):
        pass
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def latest_test_details(
    session: Session, key_ids: list[int], chunk: int = 500
) -> dict[int, dict[str, object]]:
    """The detail of each key's latest connection test (where GetApiKeyInfo's answer is kept)."""
    ct = ConnectionTest
    found: dict[int, dict[str, object]] = {}
    for start in range(0, len(key_ids), chunk):
        ids = key_ids[start : start + chunk]
        latest = (
            select(ct.key_id, func.max(ct.started_at).label("at"))
            .where(ct.key_id.in_(ids))
            .group_by(ct.key_id)
            .subquery()
        )
        query = select(ct.key_id, ct.detail).join(
            latest, and_(ct.key_id == latest.c.key_id, ct.started_at == latest.c.at)
        )
        for key_id, detail in session.execute(query):
            found[int(key_id)] = detail or {}
    return found


def product_mismatch(exchange: str, product: str) -> bool:
    """A key stored under a venue that cannot serve its product (Kraken spot vs Kraken Futures)."""
    expected = DEFAULT_PRODUCT.get(exchange)
    if expected is not None:
        return product != expected
    return exchange == "kraken" and product == "futures"


_OTHER_PRODUCT_WORDS = {"spot": ("futures", "future", "perp", "swap"), "futures": ("spot",)}


def product_hint(product: str, label: str, strategy: str) -> str | None:
    """What the user's own words say the key is for, when that is the other product (the label they
    typed, the strategy's name): "futures" for a spot key labelled kraken-futures."""
    words = f"{label} {strategy}".lower()
    for word in _OTHER_PRODUCT_WORDS.get(product, ()):
        if word in words:
            return "spot" if word == "spot" else "futures"
    return None


_LOWER = {"high": "medium", "medium": "low", "low": "low"}
Decision = tuple[BackfillCause, str, str]


def _from_errors(c: Candidate) -> Decision | None:
    """What the venue's own error text says; ambiguous texts are read with the last test's diagnosis."""
    if c.expired_errors:
        return BackfillCause.KEY_EXPIRED, "high", "the venue answered that the key has expired"
    if c.product_errors:
        return BackfillCause.WRONG_PRODUCT, "high", "the venue said the key belongs to the other product"
    if c.window_errors:
        return BackfillCause.QUERY_WINDOW_ENDED, "high", "the venue said the key's query window has ended"
    if not c.permission_errors:
        return None
    denied = "backfills fail with Permission denied"
    if c.last_diagnosis == "ip_not_allowed":
        return (
            BackfillCause.IP_NOT_ALLOWED,
            "high",
            f"{denied} and the last connection test found our address outside the key's IP whitelist",
        )
    if c.last_diagnosis == "key_expired":
        return (
            BackfillCause.KEY_EXPIRED,
            "high",
            f"{denied} and the last connection test found the key expired",
        )
    if c.closed_orders_scope == "granted":
        others = ", ".join(c.missing_permissions) or "none"
        return (
            BackfillCause.MISSING_PERMISSION,
            "medium",
            f"{denied}; the last test saw Query Closed Orders & Trades granted (missing: {others})",
        )
    return BackfillCause.MISSING_PERMISSION, "high", f"{denied} to the closed-orders/trades query"


def _from_metadata(c: Candidate) -> Decision | None:
    if product_mismatch(c.exchange, c.product):
        return BackfillCause.WRONG_PRODUCT, "high", f"a {c.product} key stored under {c.exchange}"
    if c.last_diagnosis == "wrong_product":
        return BackfillCause.WRONG_PRODUCT, "medium", "the last connection test diagnosed wrong_product"
    if c.query_end and c.window_end and c.query_end < c.window_end:
        return (
            BackfillCause.QUERY_WINDOW_ENDED,
            "high",
            f"the key's query window ended {c.query_end:%Y-%m-%d}, before the backfill's window",
        )
    if c.early_windows and c.early_windows == c.suspect_runs and c.orders_recent:
        return (
            BackfillCause.WRONG_START_TIME,
            "high",
            "every empty backfill asked for a period before the key existed",
        )
    return None


def _from_pattern(c: Candidate) -> Decision | None:
    """Orders placed, nothing fetched: weigh what the last connection test saw of the scope."""
    why = f"{c.orders_in_windows} orders placed in the backfill windows, 0 closed orders and trades fetched"
    hint = product_hint(c.product, c.label, c.strategy)
    if hint:
        return (
            BackfillCause.WRONG_PRODUCT,
            "medium",
            f"{why}; a {c.product} key that its label or strategy says is for {hint}",
        )
    if c.closed_orders_scope == "missing":
        return (
            BackfillCause.MISSING_PERMISSION,
            "high",
            f"{why}; the last connection test saw Query Closed Orders & Trades missing",
        )
    stopped = c.rows_until is not None and c.window_end is not None and c.rows_until < c.window_end
    if c.closed_orders_scope == "granted":
        if stopped:
            return (
                BackfillCause.QUERY_WINDOW_ENDED,
                "medium",
                f"{why}; rows came back up to {c.rows_until:%Y-%m-%d} and none since, with the scope "
                "granted: a query window that ended",
            )
        return BackfillCause.UNEXPLAINED, "low", f"{why}; the last test saw the scope granted"
    return BackfillCause.MISSING_PERMISSION, "low" if stopped else "medium", why


def _decide(c: Candidate) -> Decision | None:
    """Strongest evidence first: the venue's error text, then the key's metadata, then the pattern."""
    decided = _from_errors(c) or _from_metadata(c)
    if decided is None and c.empty_runs and c.orders_in_windows:
        decided = _from_pattern(c)
    if decided is None and c.early_windows and c.orders_recent:
        decided = (
            BackfillCause.WRONG_START_TIME,
            "medium",
            "some backfills asked for a period before the key existed",
        )
    return decided


def classify(c: Candidate) -> BackfillFinding | None:
    """The finding for one candidate, or None when nothing points at a backfill problem (e.g. a failure
    that is not about access, such as a timeout)."""
    decided = _decide(c)
    if decided is None:
        return None
    cause, confidence, why = decided
    return BackfillFinding(
        key_id=c.key_id,
        user_id=c.user_id,
        exchange=c.exchange,
        product=c.product,
        cause=cause.value,
        confidence=confidence,
        summary=why,
        evidence=c.evidence(),
        fix=fix_for_cause(cause, c.exchange, created_at=c.created_at, query_end=c.query_end),
    )
