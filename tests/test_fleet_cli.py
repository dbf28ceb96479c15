"""`stats`, `backfill-health`, `bulk-retest` and `rebuild-rollups` through `nbsupport.cli.main`."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select
from test_fleet_data import add_orders, add_run, add_test, make_key, make_user

from nbsupport import config
from nbsupport.audit import Action
from nbsupport.cli import main
from nbsupport.cli.fleet_cmd import parse_duration
from nbsupport.clock import utcnow
from nbsupport.config import Settings
from nbsupport.console import Console
from nbsupport.db.models import AuditEvent


@pytest.fixture
def cli(console: Console, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Console:
    """The CLI, in this process, pointed at the test database."""
    monkeypatch.setenv("NBSUPPORT_DATABASE_URL", settings.effective_database_url)
    config.get_settings.cache_clear()
    return console


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> object:
    assert main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


def test_stats_json_reports_todays_failures_and_posture(
    cli: Console, capsys: pytest.CaptureFixture[str]
) -> None:
    now = utcnow().replace(hour=12)
    with cli.session() as session:
        key = make_key(session, make_user(session), ip_whitelist=[])
        add_test(session, key, now - timedelta(hours=2), "network_error")
        add_test(session, key, now - timedelta(hours=1))
    payload = run_json(capsys, "stats", "--days", "1", "--json")
    assert isinstance(payload, dict)
    assert (payload["total"]["tests"], payload["total"]["failed"]) == (2, 1)
    assert payload["top_diagnoses"] == [
        {"diagnosis": "network_error", "failed": 1, "share_of_failures": 1.0, "rate_of_tests": 0.5}
    ]
    assert payload["time_to_green"] == {"episodes": 1, "median_hours": 1.0, "p90_hours": 1.0}
    assert payload["posture"]["no_ip_whitelist"] == 1


def test_backfill_health_json_lists_the_flagged_key_and_audits_the_scan(
    cli: Console, capsys: pytest.CaptureFixture[str]
) -> None:
    today = utcnow().replace(hour=0, minute=0, second=0, microsecond=0)
    day = (today - timedelta(days=3)).strftime("%Y-%m-%d")
    with cli.session() as session:
        user = make_user(session, "gap@example.com")
        key = make_key(
            session, user, created_at="2025-01-01 00:00", permissions={"query_closed_orders": "missing"}
        )
        add_orders(session, key, [day])
        window = ((today - timedelta(days=7)).strftime("%Y-%m-%d %H:%M"), today.strftime("%Y-%m-%d %H:%M"))
        add_run(session, key, window, today.strftime("%Y-%m-%d %H:%M"))
        idle = make_key(session, user)
        add_run(session, idle, window, today.strftime("%Y-%m-%d %H:%M"))
        key_id = key.id
    payload = run_json(capsys, "backfill-health", "--user", "gap@example.com", "--json")
    assert isinstance(payload, list)
    assert [(f["key_id"], f["cause"], f["confidence"]) for f in payload] == [
        (key_id, "missing_permission", "high")
    ]
    with cli.session() as session:
        audit_row = session.scalars(
            select(AuditEvent).where(AuditEvent.action == Action.FLEET_BACKFILL_HEALTH)
        ).one()
    assert audit_row.result == "1 flagged"


def test_backfill_health_for_an_unknown_email_is_a_one_line_error(
    cli: Console, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["backfill-health", "--user", "nobody@example.com", "--json"]) == 2
    assert capsys.readouterr().err.strip() == "error: no user with that email"


def test_bulk_retest_dry_run_json_names_the_cohort(cli: Console, capsys: pytest.CaptureFixture[str]) -> None:
    with cli.session() as session:
        user = make_user(session)
        failed = make_key(session, user)
        add_test(session, failed, utcnow() - timedelta(hours=2), "exchange_unavailable")
        add_test(
            session, make_key(session, user, exchange="okx"), utcnow() - timedelta(hours=2), "network_error"
        )
        key_id = failed.id
    payload = run_json(capsys, "bulk-retest", "--exchange", "kraken", "--since", "6h", "--dry-run", "--json")
    assert isinstance(payload, dict)
    assert (payload["dry_run"], payload["cohort"], payload["key_ids"]) == (True, 1, [key_id])


def test_rebuild_rollups_command(cli: Console, capsys: pytest.CaptureFixture[str]) -> None:
    with cli.session() as session:
        add_test(session, make_key(session, make_user(session)), utcnow(), "rate_limited", hook=False)
    assert main(["rebuild-rollups"]) == 0
    capsys.readouterr()
    assert run_json(capsys, "stats", "--days", "1", "--json")["total"]["failed"] == 1  # type: ignore[index]


@pytest.mark.parametrize(("text", "hours"), [("24h", 24), ("90m", 1.5), ("2d", 48), ("1w", 168), ("6", 6)])
def test_durations_for_since(text: str, hours: float) -> None:
    assert parse_duration(text) == timedelta(hours=hours)


def test_bad_since_is_rejected_by_the_parser(cli: Console) -> None:
    with pytest.raises(SystemExit):
        main(["bulk-retest", "--since", "yesterday", "--dry-run"])


@pytest.mark.parametrize("value", ["0", "two", "-1"])
def test_bad_processes_is_rejected_by_the_parser(cli: Console, value: str) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["bulk-retest", "--processes", value, "--dry-run"])
    assert exited.value.code == 2
