from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from nbsupport.audit import Action
from nbsupport.cli import main
from nbsupport.console import Console
from nbsupport.db.models import AuditEvent

API_KEY = "CliTestKey0123456789abcdefghijklmnopqrstuvwxyzABCD"
ADD = ["keys", "add", "--user", "ann@example.com"]
SECRET = "U2VjcmV0U2VjcmV0U2VjcmV0U2VjcmV0U2VjcmV0U2VjcmV0U2VjcmV0U2VjcmV0U2VjcmV0U2VjcmV0U2VjcmV0"


def run_cli(cli_env: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "nbsupport", *args], input=stdin, env=cli_env,
                          capture_output=True, text=True, timeout=120)


def test_keys_add_reads_credentials_from_stdin_and_prints_the_key_id(
    console: Console, cli_env: dict[str, str]
) -> None:
    done = run_cli(cli_env, "keys", "add", "--user", "ann@example.com", "--exchange", "kraken",
                   "--label", "kraken-spot", "--ip-whitelist", "51.38.112.198", "--expires", "2027-01-31",
                   "--json", stdin=f"{API_KEY}\n{SECRET}\n")
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    assert payload["key_id"] == 1 and payload["masked_key"] == f"{API_KEY[:4]}…{API_KEY[-4:]}"
    for stream in (done.stdout, done.stderr):
        assert SECRET not in stream and API_KEY not in stream

    found = run_cli(cli_env, "lookup", API_KEY[-4:], "--json")
    assert found.returncode == 0, found.stderr
    keys = json.loads(found.stdout)["keys"]
    assert [(k["id"], k["label"], k["ip_whitelist"]) for k in keys] == [
        (1, "kraken-spot", ["51.38.112.198/32"])
    ]
    assert keys[0]["expires_at"].startswith("2027-01-31")
    assert SECRET not in found.stdout and API_KEY not in found.stdout


def test_third_credential_is_stored_as_passphrase_for_okx(console: Console, cli_env: dict[str, str]) -> None:
    done = run_cli(cli_env, "keys", "add", "--user", "ann@example.com", "--exchange", "okx", "--json",
                   stdin=f"{API_KEY}\n{SECRET}\nmy-passphrase\n")
    assert done.returncode == 0, done.stderr
    found = json.loads(run_cli(cli_env, "lookup", "ann@example.com", "--json").stdout)
    assert found["keys"][0]["has_passphrase"] is True


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        ([*ADD, "--exchange", "kraken"], f"{API_KEY}\n", "API key and the secret"),
        ([*ADD, "--exchange", "nope"], f"{API_KEY}\n{SECRET}\n", "unknown exchange"),
        ([*ADD, "--exchange", "kraken", "--expires", "31/01/2027"], f"{API_KEY}\n{SECRET}\n", "YYYY-MM-DD"),
        ([*ADD, "--exchange", "kraken"], f"{API_KEY}\n{SECRET}\nextra\n", "issues no passphrase"),
        (["lookup", "' OR 1=1 --"], "", "unrecognised search"),
    ],
)
def test_bad_input_is_one_clear_line_and_a_nonzero_exit(
    console: Console, cli_env: dict[str, str], args: list[str], stdin: str, message: str
) -> None:
    done = run_cli(cli_env, *args, stdin=stdin)
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert SECRET not in done.stderr


def test_missing_master_key_is_a_clear_error(console: Console, cli_env: dict[str, str]) -> None:
    env = {k: v for k, v in cli_env.items() if k != "NBSUPPORT_MASTER_KEYS"}
    done = run_cli(env, "keys", "add", "--user", "a@example.com", "--exchange", "kraken",
                   stdin=f"{API_KEY}\n{SECRET}\n")
    assert done.returncode == 2 and "NBSUPPORT_MASTER_KEYS" in done.stderr and "Traceback" not in done.stderr


def test_database_that_is_down_is_a_clear_error(cli_env: dict[str, str], tmp_path: Path) -> None:
    env = dict(cli_env, NBSUPPORT_DATABASE_URL="postgresql+psycopg://nobody@127.0.0.1:1/none")
    done = run_cli(env, "lookup", "ann@example.com")
    assert done.returncode == 2 and "database unavailable" in done.stderr and "Traceback" not in done.stderr


def test_every_command_explains_itself_with_help(capsys: pytest.CaptureFixture[str]) -> None:
    for args in (["--help"], [*ADD[:2], "--help"], ["lookup", "--help"], ["rotate-master-key", "--help"]):
        with pytest.raises(SystemExit) as exit_info:
            main(args)
        assert exit_info.value.code == 0
        assert "usage:" in capsys.readouterr().out


def test_lookup_writes_an_audit_row_per_key_viewed(console: Console, cli_env: dict[str, str]) -> None:
    run_cli(cli_env, "keys", "add", "--user", "ann@example.com", "--exchange", "kraken",
            stdin=f"{API_KEY}\n{SECRET}\n")
    assert run_cli(cli_env, "lookup", "ann@example.com").returncode == 0
    with console.session() as session:
        actions = [e.action for e in session.query(AuditEvent).order_by(AuditEvent.id)]
    assert actions == [Action.KEY_ADD, Action.KEY_VIEW]


@pytest.mark.parametrize("command", [("lookup", "ann@example.com"), ("demo", "--users", "5")])
def test_a_database_without_its_schema_says_to_run_init_db(
    cli_env: dict[str, str], command: tuple[str, ...]
) -> None:
    # cli_env without the console fixture: the database (SQLite file or PostgreSQL schema) is empty.
    done = run_cli(cli_env, *command)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert "init-db" in done.stderr and len(done.stderr.strip().splitlines()) == 1
