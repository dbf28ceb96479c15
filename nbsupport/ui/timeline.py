"""Connection-test history over time, live re-test progress, and the green/amber/red verdict."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd
import streamlit as st

from nbsupport.clock import utc_text
from nbsupport.conntest.outcome import ConnectionOutcome, RecordedTest
from nbsupport.diagnosis import Scope, ScopeState
from nbsupport.ui.fix_card import reply_block
from nbsupport.ui.markdown import md_escape
from nbsupport.ui.vega import VegaChart, field

OUTCOMES = ["ok", "warning", "failed"]
OUTCOME_PALETTE = ["#21a366", "#f0a202", "#d33a2c"]
# Every status in words; the icon only repeats them. Red marks are for failures, never for a good case.
STATUS_WORDS = {
    "running": ("⏳", "running"), "ok": ("✅", "passed"), "warning": ("⚠️", "needs attention"),
    "failed": ("❌", "failed"), "skipped": ("○", "not available here"), "unknown": ("❔", "unknown"),
}
# A scope step's detail is the scope's state: said in words that tell the good case from the bad one.
SCOPE_WORDS = {
    ("ok", ScopeState.GRANTED): "granted",
    ("failed", ScopeState.MISSING): "missing",
}
WITHDRAW_WORDS = {
    ScopeState.MISSING: "off — not needed (good)",
    ScopeState.GRANTED: "granted — not needed, should be off",
}
STEP_NAMES = {
    "preflight": "Preflight (settings, egress, key format)",
    "balance": "Balance (authenticated request)",
    "key_info": "Key info (permissions the venue reports)",
    "sibling": "Sibling product (spot ⇄ futures)",
}

# "error", not "exchange error": a timeout or our proxy's failure is ours, not the exchange's.
COLUMNS = ["started", "outcome", "diagnosis", "trigger", "actor", "ticket", "duration ms", "requests",
           "missing", "error"]


def _said(result: ConnectionOutcome) -> str:
    """The error column: the venue's code as it said it, or ours marked as ours."""
    code = result.exchange_error
    return f"{code} (our side)" if code and result.error_source == "console" else code


def history_frame(tests: Iterable[RecordedTest]) -> pd.DataFrame:
    """A bounded history (the library returns at most `limit` rows) as a table, newest first."""
    rows = [{
        "started": pd.Timestamp(test.result.started_at),
        "outcome": test.result.outcome,
        "diagnosis": test.result.diagnosis,
        "trigger": test.trigger,
        "actor": test.actor,
        "ticket": test.ticket,
        "duration ms": test.result.duration_ms,
        "requests": test.result.requests,
        "missing": ", ".join(test.result.missing_permissions),
        "error": _said(test.result)[:200],
    } for test in tests]
    frame = pd.DataFrame(rows, columns=COLUMNS)
    if frame.empty:
        return frame
    frame = frame.sort_values("started", ascending=False, ignore_index=True)
    # The console's one time format, as text: a table must not show its own rendering of a timestamp.
    frame["started"] = [utc_text(t.to_pydatetime()) if pd.notna(t) else "" for t in frame["started"]]
    return frame


TOOLTIP_TEXT = ("started", "outcome", "diagnosis", "trigger", "ticket")


def history_chart(frame: pd.DataFrame) -> VegaChart:
    # The frame holds `utc_text` strings; the axis needs moments (labelled in UTC, as the table is).
    data = frame.assign(moment=pd.to_datetime(frame["started"].str.removesuffix(" UTC"), utc=True))
    spec = {
        "mark": {"type": "circle", "size": 120, "opacity": 0.9},
        "height": 160,
        "encoding": {
            "x": field("moment", "temporal", title="started (UTC)", scale={"type": "utc"},
                       axis={"format": "%Y-%m-%d %H:%M", "labelAngle": 0}),
            # All three rows always, so one test does not read as a chart of a single outcome.
            "y": field("outcome", "nominal", scale={"domain": OUTCOMES}, title=None),
            "color": field("outcome", "nominal", scale={"domain": OUTCOMES, "range": OUTCOME_PALETTE}),
            "tooltip": [*(field(name, "nominal") for name in TOOLTIP_TEXT),
                        field("duration ms", "quantitative")],
        },
    }
    return VegaChart(data, spec)


def step_words(step: str, status: str, detail: str = "") -> tuple[str, str, str]:
    """(icon, status in words, remaining detail) for one step: a scope's state is said as what it means."""
    icon, words = STATUS_WORDS.get(status, ("•", status))
    scope = step.removeprefix("scope:") if step.startswith("scope:") else None
    if scope is None or detail not in ScopeState.__members__.values():
        return icon, words, detail
    state = ScopeState(detail)
    if scope == Scope.WITHDRAW and state in WITHDRAW_WORDS and status != "running":
        return icon, WITHDRAW_WORDS[state], ""
    return icon, SCOPE_WORDS.get((status, state), f"{words}: {state.value}"), ""


def progress_line(step: str, status: str, detail: str = "") -> str:
    icon, words, rest = step_words(step, status, detail)
    if step.startswith("scope:"):
        name = f"Scope {step.removeprefix('scope:').replace('_', ' ')}"
    else:
        name = STEP_NAMES.get(step, step)
    tail = f" — {md_escape(rest[:300])}" if rest else ""
    return f"{icon} **{md_escape(name)}** · {md_escape(words)}{tail}"


VERDICT_TITLES = {"ok": "Green: the key works", "warning": "Amber: works, but needs attention",
                  "failed": "Red: the key does not work"}


def error_line(result: ConnectionOutcome) -> str:
    """Who said what: the venue's own text quoted as "Exchange said", our side's failures in our words."""
    code = result.exchange_error[:300].replace("`", "")
    if not code:
        return ""
    if result.error_source == "venue":
        return f"Exchange said: `{code}`"
    if result.error_source == "console":
        return md_escape(result.error_text or code) + " (our side: the exchange said nothing)"
    return f"Error: `{code}`"  # a result from before the source was recorded


def verdict(result: ConnectionOutcome) -> None:
    """The end of a re-test: one coloured box with the diagnosis, the missing scopes and who said what
    went wrong; then the customer reply drafted from this result."""
    outcome = result.outcome or "failed"
    lines = [f"**{VERDICT_TITLES.get(outcome, outcome)}** · diagnosis `{result.diagnosis}`"]
    if result.missing_permissions:
        missing = (md_escape(m.replace("_", " ")) for m in result.missing_permissions)
        lines.append("Missing: " + ", ".join(missing))
    for warning in result.warnings:
        lines.append(f"⚠️ {md_escape(str(warning)[:300])}")
    said = error_line(result)
    if said:
        lines.append(said)
    stats = [f"{result.requests} requests", f"{result.duration_ms} ms"]
    # A test that sent nothing took no route; an older result may still carry one, so both are checked.
    if result.egress_ip and result.requests:
        stats.append(f"via {md_escape(result.egress_ip)}")
    lines.append(" · ".join(stats))
    text = "  \n".join(lines)
    box = {"ok": st.success, "warning": st.warning}.get(outcome, st.error)
    box(text)
    if result.customer_reply:
        reply_block(result.customer_reply, "Reply for this result")
