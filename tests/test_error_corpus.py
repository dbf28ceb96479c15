"""`explain` over real error messages from public issue trackers (tests/data/error_corpus.json).

Each entry is text a user pasted in a ccxt, freqtrade, gekko, zenbot, venue-SDK... issue, the cause the
thread established (a diagnosis code, or `not_a_key_problem`) and the thread's URL. The guide must name
that cause first for at least 95 % of them, and never answer an order, balance or market error with a
key diagnosis.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

import nbsupport.cli as cli
from nbsupport.diagnosis import Diagnosis
from nbsupport.vocabulary import KEY_DIAGNOSES, NOT_A_KEY_PROBLEM

CORPUS = Path(__file__).parent / "data" / "error_corpus.json"
REQUIRED_SHARE = 0.95
ENTRIES: list[dict[str, Any]] = json.loads(CORPUS.read_text(encoding="utf-8"))["entries"]


def _explain(entry: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    args: Sequence[str] = ["explain", entry["text"], "--json", "--limit", "10"]
    if entry["exchange"]:
        args = [*args, "--exchange", entry["exchange"]]
    cli.main(list(args))
    return json.loads(capsys.readouterr().out)


def test_the_corpus_is_real_sourced_and_labelled() -> None:
    assert len(ENTRIES) >= 40
    known = {d.value for d in Diagnosis} | {NOT_A_KEY_PROBLEM}
    for entry in ENTRIES:
        assert entry["source"].startswith("https://github.com/"), entry
        assert entry["cause"] in known, entry
        assert entry["text"].strip() and entry["established"], entry
    assert len({e["text"] for e in ENTRIES}) == len(ENTRIES)


def test_explain_names_the_established_cause_first_for_95_percent(
    capsys: pytest.CaptureFixture[str],
) -> None:
    misses = []
    for entry in ENTRIES:
        matches = _explain(entry, capsys)
        top = matches[0]["cause_code"] if matches else None
        if top != entry["cause"]:
            misses.append((entry["source"], entry["cause"], top))
    share = 1 - len(misses) / len(ENTRIES)
    print(f"error corpus: {len(ENTRIES) - len(misses)}/{len(ENTRIES)} right ({share:.1%})")
    assert share >= REQUIRED_SHARE, misses


NON_KEY = [e for e in ENTRIES if e["cause"] == NOT_A_KEY_PROBLEM]


@pytest.mark.parametrize("entry", NON_KEY, ids=[e["source"].split("/", 3)[3] for e in NON_KEY])
def test_non_key_errors_of_the_corpus_get_no_key_diagnosis(
    entry: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    matches = _explain(entry, capsys)
    assert matches and matches[0]["key_problem"] is False
    assert not [m["fix_id"] for m in matches if m["diagnosis"] in {d.value for d in KEY_DIAGNOSES}]
