"""The figures the "prove it holds" suites report, counted by the tests that earned them.

Tests record through the `tally` fixture (tests/prove/conftest.py): a scenario they ran, a fault they
injected, a fuzz example they tried, a concurrent test they started, and - measured before the assertion
that requires zero - the leaks, lost or corrupted records and tracebacks they found. The plugin adds the
outcome of every test per suite, prints the table at the end of the pytest run and, when
`NBSUPPORT_PROVE_TALLY` names a file, writes the figures there as JSON for `python -m tests.prove`.
"""

from __future__ import annotations

import json
import os
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

TALLY_ENV = "NBSUPPORT_PROVE_TALLY"
# What the suites count; the last three must stay zero.
FIGURES: dict[str, str] = {
    "scenarios": "scenarios run",
    "faults": "faults injected",
    "fuzz_examples": "fuzz examples tried",
    "concurrent_tests": "concurrent tests",
    "leaks": "leaks found",
    "lost_records": "lost or corrupted records",
    "tracebacks": "tracebacks shown to a user",
}
MUST_BE_ZERO = ("leaks", "lost_records", "tracebacks")
PLUGIN_NAME = "nbsupport-prove-tally"
TRACEBACK_MARK = "Traceback (most recent call last)"


def suite_of(nodeid: str) -> str:
    """`tests/prove/test_leak_scan.py::test_x[a]` -> `leak_scan`."""
    module = nodeid.split("::", 1)[0].rsplit("/", 1)[-1]
    return module.removesuffix(".py").removeprefix("test_")


class Tally:
    """Counts per suite; thread-safe, since the concurrency suite records from worker threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.figures: dict[str, Counter[str]] = {}
        self.outcomes: dict[str, Counter[str]] = {}
        self.failed: list[str] = []

    def add(self, suite: str, figure: str, n: int = 1) -> None:
        if figure not in FIGURES:
            raise KeyError(f"unknown figure {figure!r}; known: {', '.join(FIGURES)}")
        if n < 0:
            raise ValueError("figures only grow")
        with self._lock:
            self.figures.setdefault(suite, Counter())[figure] += n

    def outcome(self, suite: str, outcome: str, nodeid: str) -> None:
        with self._lock:
            self.outcomes.setdefault(suite, Counter())[outcome] += 1
            if outcome == "failed":
                self.failed.append(nodeid)

    def totals(self) -> dict[str, int]:
        with self._lock:
            return {f: sum(c[f] for c in self.figures.values()) for f in FIGURES}

    def as_dict(self, exitstatus: int | None = None) -> dict[str, Any]:
        with self._lock:
            suites = sorted(set(self.figures) | set(self.outcomes))
            per_suite = {
                s: {
                    "outcomes": dict(self.outcomes.get(s, Counter())),
                    "figures": {f: self.figures.get(s, Counter())[f] for f in FIGURES},
                }
                for s in suites
            }
            failed = list(self.failed)
        return {
            "database": "postgresql"
            if os.environ.get("NBSUPPORT_DATABASE_URL", "").startswith("postgres")
            else "sqlite",
            "figures": self.totals(),
            "suites": per_suite,
            "failed_tests": failed,
            "pytest_exitstatus": exitstatus,
        }


class Recorder:
    """What one test holds: its suite's counters."""

    def __init__(self, tally: Tally, suite: str) -> None:
        self._tally = tally
        self.suite = suite

    def add(self, figure: str, n: int = 1) -> None:
        self._tally.add(self.suite, figure, n)

    def scenario(self, n: int = 1) -> None:
        self.add("scenarios", n)

    def fault(self, n: int = 1) -> None:
        self.add("faults", n)

    def fuzz_example(self) -> None:
        self.add("fuzz_examples")

    def concurrent(self, n: int) -> None:
        self.add("concurrent_tests", n)

    def leaks(self, hits: list[str]) -> list[str]:
        """Record the leaks a scan found (the caller asserts there are none)."""
        self.add("leaks", len(hits))
        return hits

    def lost(self, n: int) -> int:
        self.add("lost_records", n)
        return n

    def shown(self, *texts: str) -> int:
        """Count tracebacks in text a user would see (CLI output, a page, an error message)."""
        found = sum(text.count(TRACEBACK_MARK) for text in texts)
        self.add("tracebacks", found)
        return found

    def traceback(self) -> None:
        """An exception escaped to the user (an in-process entry point raised instead of answering)."""
        self.add("tracebacks")


def table(figures: dict[str, int]) -> str:
    width = max(len(label) for label in FIGURES.values())
    lines = [f"{'figure':<{width}}  {'value':>9}", f"{'-' * width}  {'-' * 9}"]
    for figure, label in FIGURES.items():
        mark = "  (must be 0)" if figure in MUST_BE_ZERO else ""
        lines.append(f"{label:<{width}}  {figures.get(figure, 0):>9,}{mark}")
    return "\n".join(lines)


class TallyPlugin:
    def __init__(self) -> None:
        self.tally = Tally()

    @pytest.hookimpl
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        # One entry per test: its call phase, a skip at setup, or a setup/teardown error.
        counted = (
            report.when == "call"
            or report.outcome == "failed"
            or (report.when == "setup" and report.outcome == "skipped")
        )
        if counted:
            self.tally.outcome(suite_of(report.nodeid), report.outcome, report.nodeid)

    @pytest.hookimpl
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        target = os.environ.get(TALLY_ENV)
        if target:
            Path(target).write_text(json.dumps(self.tally.as_dict(int(exitstatus)), indent=2, sort_keys=True))

    @pytest.hookimpl
    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if os.environ.get(TALLY_ENV):
            return  # `python -m tests.prove` prints the table itself
        terminalreporter.section("prove it holds: figures")
        terminalreporter.write_line(table(self.tally.totals()))


def plugin(config: pytest.Config) -> TallyPlugin:
    """The session's plugin, registered on first use (conftests of sub-directories load late)."""
    found = config.pluginmanager.get_plugin(PLUGIN_NAME)
    if found is None:
        found = TallyPlugin()
        config.pluginmanager.register(found, PLUGIN_NAME)
    return found
