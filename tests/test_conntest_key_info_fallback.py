"""Key settings that cannot be read after a good balance never fail the key, on any venue with key info:
the plan falls back to what it can still learn and says so in a warning."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from test_conntest_bybit import BALANCE_OK, KEY_PATH, SIGN_ERROR, run, verify_bybit

from tests.venue_stub import Answer, CannedVenue, canned_venue

CLOUDFLARE_404 = "<html><head><title>404 Not Found</title></head><body>cloudflare</body></html>"


@pytest.fixture(scope="module")
def venue() -> Iterator[CannedVenue]:
    with canned_venue(verify_bybit, rejected=SIGN_ERROR) as stub:
        yield stub


@pytest.mark.parametrize("settings", [
    (404, CLOUDFLARE_404),
    (502, "<html><head><title>502 Bad Gateway</title></head></html>"),
    (503, {"retCode": 10016, "retMsg": "Service unavailable"}),
    (200, "upstream connect error or disconnect/reset before headers"),
], ids=["html-404", "html-502", "http-503", "garbage"])
def test_unreadable_key_settings_after_a_good_balance_leave_the_key_working(
    venue: CannedVenue, settings: Answer
) -> None:
    result = run(venue, BALANCE_OK, settings)
    assert result.diagnosis == "ok" and result.outcome == "warning", result.as_dict()
    assert any(w.startswith("key settings were unavailable") for w in result.warnings)
    assert venue.paths[-1] == KEY_PATH
