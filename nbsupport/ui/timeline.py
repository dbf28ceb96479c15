"""Connection-test history over time, live re-test progress, and the green/amber/red verdict."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from nbsupport.ui.badges import md_escape

OUTCOMES = ["ok", "warning", "failed"]
OUTCOME_PALETTE = ["#21a366", "#f0a202", "#d33a2c"]
STATUS_ICONS = {
    "running": "⏳", "started": "⏳", "ok": "✅", "granted": "✅", "passed": "✅", "done": "✅",
    "warning": "⚠️", "unknown": "❔", "skipped": "⏭️", "missing": "❌", "failed": "❌", "error": "❌",
}
STEP_NAMES = {
    "preflight": "Preflight (settings, egress, key format)",
    "balance": "Balance (authenticated request)",
    "key_info": "Key info (permissions the venue reports)",
    "sibling": "Sibling product (spot ⇄ futures)",
}

COLUMNS = ["started", "outcome", "diagnosis", "trigger", "actor", "ticket", "duration ms", "requests",
           "missing", "exchange error"]


def _as_mapping(item: Any) -> Mapping[str, Any]:
    return item if isinstance(item, Mapping) else item.as_dict()


def history_frame(tests: Iterable[Any]) -> pd.DataFrame:
    """A bounded history (the library returns at most `limit` rows) as a table, newest first."""
    rows = []
    for test in tests:
        data = _as_mapping(test)
        started = data.get("started_at")
        rows.append({
            "started": pd.Timestamp(started) if started else pd.NaT,
            "outcome": data.get("outcome") or "",
            "diagnosis": data.get("diagnosis") or "",
            "trigger": data.get("trigger") or "",
            "actor": data.get("actor") or "",
            "ticket": data.get("ticket") or "",
            "duration ms": data.get("duration_ms"),
            "requests": data.get("requests"),
            "missing": ", ".join(data.get("missing_scopes") or data.get("missing_permissions") or []),
            "exchange error": (data.get("exchange_error") or "")[:200],
        })
    frame = pd.DataFrame(rows, columns=COLUMNS)
    return frame.sort_values("started", ascending=False, ignore_index=True) if not frame.empty else frame


def history_chart(frame: pd.DataFrame) -> alt.Chart:
    color = alt.Color("outcome:N", scale=alt.Scale(domain=OUTCOMES, range=OUTCOME_PALETTE))
    return (
        alt.Chart(frame)
        .mark_circle(size=120, opacity=0.9)
        .encode(
            x=alt.X("started:T", title="started (UTC)", axis=alt.Axis(format="%b %d %H:%M", labelAngle=0)),
            # All three rows always, so one test does not read as a chart of a single outcome.
            y=alt.Y("outcome:N", scale=alt.Scale(domain=OUTCOMES), title=None),
            color=color,
            tooltip=["started:T", "outcome:N", "diagnosis:N", "trigger:N", "ticket:N", "duration ms:Q"],
        )
        .properties(height=160)
    )


def progress_line(step: str, status: str, detail: str = "") -> str:
    icon = STATUS_ICONS.get(status, "•")
    if step.startswith("scope:"):
        name = f"Scope {step.removeprefix('scope:').replace('_', ' ')}"
    else:
        name = STEP_NAMES.get(step, step)
    tail = f" — {md_escape(detail[:300])}" if detail else ""
    return f"{icon} **{md_escape(name)}** · {md_escape(status)}{tail}"


VERDICT_TITLES = {"ok": "Green: the key works", "warning": "Amber: works, but needs attention",
                  "failed": "Red: the key does not work"}


def verdict(result: Mapping[str, Any]) -> None:
    """The end of a re-test: one coloured box with the diagnosis, the missing scopes and the error."""
    outcome = str(result.get("outcome") or "failed")
    lines = [f"**{VERDICT_TITLES.get(outcome, outcome)}** · diagnosis `{result.get('diagnosis', '')}`"]
    missing: Sequence[str] = result.get("missing_permissions") or []
    if missing:
        lines.append("Missing: " + ", ".join(md_escape(m.replace("_", " ")) for m in missing))
    for warning in result.get("warnings") or []:
        lines.append(f"⚠️ {md_escape(str(warning)[:300])}")
    if result.get("exchange_error"):
        lines.append(f"Exchange said: `{str(result['exchange_error'])[:300].replace('`', '')}`")
    stats = [f"{result.get('requests', 0)} requests", f"{result.get('duration_ms', 0)} ms"]
    if result.get("egress_ip"):
        stats.append(f"via {result['egress_ip']}")
    lines.append(" · ".join(stats))
    text = "  \n".join(lines)
    box = {"ok": st.success, "warning": st.warning}.get(outcome, st.error)
    box(text)
