"""`python -m tests.prove`: the verdict follows the figures the suites measured and pytest's status."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from tests.conftest import REPO_ROOT
from tests.prove import runner as prove
from tests.prove.tally import Tally, suite_of


def report(**figures: int) -> dict[str, Any]:
    tally = Tally()
    tally.outcome("leak_scan", "passed", "tests/prove/test_leak_scan.py::test_a")
    for figure, value in {"scenarios": 3, **figures}.items():
        tally.add("leak_scan", figure, value)
    return tally.as_dict(0)


def test_clean_figures_and_a_passing_run_hold() -> None:
    text, reasons = prove.summary(report(fuzz_examples=10), 0, 1.0, quick=False)
    assert reasons == []
    assert "verdict: HOLDS" in text and "fuzz examples tried" in text


@pytest.mark.parametrize("figure", prove.MUST_BE_ZERO)
def test_any_leak_lost_record_or_traceback_breaks_the_proof(figure: str) -> None:
    text, reasons = prove.summary(report(**{figure: 1}), 0, 1.0, quick=False)
    assert reasons == [f"{prove.FIGURES[figure]}: 1"]
    assert "verdict: DOES NOT HOLD" in text


def test_a_failed_suite_or_a_run_without_scenarios_breaks_the_proof() -> None:
    failed = report()
    failed["failed_tests"] = ["tests/prove/test_fuzzing.py::test_x"]
    _, reasons = prove.summary(failed, 1, 1.0, quick=True)
    assert reasons == ["pytest exited with status 1; failed: tests/prove/test_fuzzing.py::test_x"]
    _, reasons = prove.summary(report(scenarios=0) | {"figures": {}}, 5, 1.0, quick=True)
    assert "no scenario ran" in reasons


def test_the_database_label_never_shows_a_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NBSUPPORT_DATABASE_URL", "postgresql+psycopg://root:s3cret@db.internal:5432/nb")
    assert "s3cret" not in prove.database_label() and "PostgreSQL" in prove.database_label()
    monkeypatch.delenv("NBSUPPORT_DATABASE_URL")
    assert prove.database_label().startswith("SQLite")


def test_figures_are_counted_per_suite_from_the_test_id() -> None:
    assert suite_of("tests/prove/test_fault_injection.py::test_x[timeout-spot]") == "fault_injection"
    tally = Tally()
    with pytest.raises(KeyError):
        tally.add("fuzzing", "made_up_figure")
    with pytest.raises(ValueError, match="only grow"):
        tally.add("fuzzing", "leaks", -1)


@pytest.mark.every_backend
def test_the_runner_runs_the_suites_from_the_repository_root_and_exits_on_the_verdict() -> None:
    one_suite = "test_tampered_credentials_are_refused_clearly_and_nothing_is_decrypted_or_recorded"
    done = subprocess.run(
        [sys.executable, "-m", "tests.prove", "--quick", "--", "-k", one_suite, "-p", "no:cacheprovider"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "suites in tests/prove/, quick (slow suites skipped)" in done.stdout
    assert "crypto_tampering" in done.stdout and "verdict: HOLDS" in done.stdout
    done = subprocess.run(
        [sys.executable, "-m", "tests.prove", "--quick", "--", "-k", "figures_are_counted_per_suite"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 1
    assert "verdict: DOES NOT HOLD" in done.stdout and "no scenario ran" in done.stdout
