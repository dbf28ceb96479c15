"""Server-side render time of the lookup and key pages on a large demo database (slow suite).

NBSUPPORT_PERF_USERS sets the size (default 100 000; the bar is the 1 M-user demo). Every page
query is an indexed, bounded lookup, so the time should not grow with the number of users.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable

import pytest
from sqlalchemy import func, select
from streamlit.testing.v1 import AppTest

from nbsupport.console import Console
from nbsupport.db.models import ExchangeKey, User
from nbsupport.demo import DemoSpec, build_demo, practice_email
from tests.pages.support import APP

PERF_USERS = int(os.environ.get("NBSUPPORT_PERF_USERS", "100000"))
BUDGET_S = 1.0
RUNS = 3

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("app_env")]


@pytest.fixture
def big_demo(console: Console) -> Console:
    build_demo(console, DemoSpec(users=PERF_USERS, seed=7))
    return console


def render_seconds(prepare: Callable[[AppTest], None], page: str | None = None) -> float:
    """Median wall time of one script run (the server-side render), after a warm-up run."""
    times = []
    for attempt in range(RUNS + 1):
        at = AppTest.from_file(str(APP), default_timeout=60)
        if page:
            at.run()
            at.switch_page(page)
        prepare(at)
        started = time.perf_counter()
        at.run()
        elapsed = time.perf_counter() - started
        assert not at.exception and not at.error, [e.value for e in at.error]
        if attempt:
            times.append(elapsed)
    return statistics.median(times)


def test_lookup_and_key_pages_render_well_under_a_second(big_demo: Console) -> None:
    with big_demo.session() as s:
        assert s.scalar(select(func.count()).select_from(User)) >= PERF_USERS
        user_id, key_id, prefix = s.execute(
            select(ExchangeKey.user_id, ExchangeKey.id, ExchangeKey.key_prefix)
            .join(User, User.id == ExchangeKey.user_id)
            .where(User.email == practice_email("missing-closed-orders"))
        ).one()
        middle_user = s.scalar(select(User.email).where(User.id == PERF_USERS // 2))

    def search(text: str) -> Callable[[AppTest], None]:
        return lambda at: at.session_state.__setitem__("lookup_query", text)

    def link(**params: int) -> Callable[[AppTest], None]:
        return lambda at: at.query_params.update({k: str(v) for k, v in params.items()})

    timings = {
        "lookup by email": render_seconds(search(str(middle_user)), page="pages/lookup.py"),
        "lookup by key prefix": render_seconds(search(prefix), page="pages/lookup.py"),
        "lookup deep link to a key": render_seconds(link(user=user_id, key=key_id), page="pages/lookup.py"),
        "key page": render_seconds(link(key=key_id), page="pages/key_detail.py"),
    }
    slow = {name: round(seconds, 3) for name, seconds in timings.items() if seconds >= BUDGET_S}
    assert not slow, f"over {BUDGET_S} s on {PERF_USERS:,} users: {slow} (all: {timings})"
