"""Orders the strategies placed per key and day, and the weekly fill-history backfill runs.

What a backfill-health check must tell apart (all on Kraken spot keys with a live strategy):

============================  ==========================  ============  ====================================
case (profiles.SCENARIO_*)    key                         placed orders  backfill runs
============================  ==========================  ============  ====================================
normal                        closed orders granted       yes           ok, rows ~ orders in the window
permission_gap (silent)       last_permissions            yes           ok, 0 closed orders, 0 trades, no
                              query_closed_orders =                      error: the worker swallowed it
                              missing (40 %) / unknown
permission_denied             as above                    yes           failed, 'EGeneral:Permission denied'
query_window_ended            all granted                 yes           rows until the key's query window
                                                                        ended (9-20 days ago), then ok/0
spot_key_for_futures          product spot, label          yes           ok, 0 rows
                              'kraken-futures', the
                              user's strategy is futures
wrong_start_time              all granted                 yes           ok, 0 rows, windows a year before
                                                                        the key existed
idle (role, any venue)        all granted                 none          ok, 0 rows
============================  ==========================  ============  ====================================

Keys stuck in an unresolved configuration problem stop placing orders when it starts and their backfills
fail with the venue's error from then on; a few runs fail transiently (rate limits) and are not a signal.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nbsupport.demo import profiles as P
from nbsupport.demo.frames import DAY, FOREVER, HOUR, MINUTE, WEEK, Days, Frame, Timestamps
from nbsupport.demo.population import Context, Keys

_ORDERS_PER_DAY = np.array([s.orders_per_day for s in P.STRATEGIES])
_TRADING_DAYS = np.array([s.trading_days for s in P.STRATEGIES])
_ERRORS = np.array([[P.exchange_error(v.exchange, d) for d in P.DIAGNOSES] for v in P.VENUES], dtype=object)
TRANSIENT_BACKFILL_FAILURE = 0.01


@dataclass
class History:
    placed: Frame
    backfills: Frame


def make_history(rng: np.random.Generator, ctx: Context, keys: Keys, key_ids: np.ndarray,
                 strategy: np.ndarray, first_backfill_id: int) -> History:
    """`strategy` is the owning user's strategy per key."""
    n_days = ctx.history_days
    first_day = ctx.now // DAY - n_days  # the last history day is yesterday
    day_start = (first_day + np.arange(n_days)) * DAY
    live = np.flatnonzero(keys.role == P.LIVE)
    strat = strategy[live]
    # A problem that is still open stopped the strategy's orders when it started.
    stuck = keys.ep_has[live] & (keys.ep_end[live] >= ctx.now)
    stop = np.where(stuck, keys.ep_start[live], FOREVER)
    p_day = np.clip(_TRADING_DAYS[strat] * np.sqrt(keys.activity[live]), 0.02, 0.98)
    trades = rng.random((len(live), n_days)) < p_day[:, None]
    exists = (day_start[None, :] + DAY > keys.created[live][:, None]) & (day_start[None, :] < stop[:, None])
    mask = trades & exists
    mean = np.maximum(_ORDERS_PER_DAY[strat] * keys.activity[live], 0.5)
    placed = np.maximum(1, np.rint(np.exp(rng.normal(np.log(mean)[:, None], 0.6, (len(live), n_days)))))
    placed = np.where(mask, placed, 0).astype(np.int64)
    filled = rng.binomial(placed, keys.fill_rate[live][:, None])
    rows, cols = np.nonzero(placed)
    placed_frame = Frame("placed_orders_daily", {
        "key_id": key_ids[live][rows],
        "day": Days(first_day + cols),
        "orders_placed": placed[rows, cols],
        "orders_filled": filled[rows, cols],
    })
    return History(placed_frame, _backfills(rng, ctx, keys, key_ids, live, placed, filled, day_start,
                                            first_backfill_id))


def _backfills(rng: np.random.Generator, ctx: Context, keys: Keys, key_ids: np.ndarray, live: np.ndarray,
               placed: np.ndarray, filled: np.ndarray, day_start: np.ndarray, first_id: int) -> Frame:
    n_windows = len(day_start) // 7
    backfilled = np.flatnonzero(np.isin(keys.role, [P.LIVE, P.IDLE, P.TRACKER]))
    n_keys, n = len(keys), len(backfilled) * n_windows
    # Per key (all keys of the chunk, zeros for those without orders) and window: order sums.
    closed = np.zeros((n_keys, n_windows), dtype=np.int64)
    fills = np.zeros((n_keys, n_windows), dtype=np.int64)
    w_start = day_start[0] + np.arange(n_windows) * WEEK
    for week in range(n_windows):
        days = slice(7 * week, 7 * week + 7)
        closed[live, week] = placed[:, days].sum(axis=1)
        fills[live, week] = filled[:, days].sum(axis=1)
    window_ended = np.flatnonzero(keys.scenario == P.WINDOW_ENDED)
    if len(window_ended):
        row_of = {int(k): i for i, k in enumerate(live.tolist())}
        for key in window_ended.tolist():
            before = day_start + DAY <= keys.query_end[key]  # days wholly inside the query window
            for week in range(n_windows):
                days = slice(7 * week, 7 * week + 7)
                closed[key, week] = placed[row_of[key], days][before[days]].sum()
                fills[key, week] = filled[row_of[key], days][before[days]].sum()
    tracker = keys.role == P.TRACKER
    manual = rng.poisson(6, (n_keys, n_windows))
    closed = np.where(tracker[:, None], manual, closed)
    fills = np.where(tracker[:, None], manual, fills)

    k = np.repeat(backfilled, n_windows)
    w = np.tile(np.arange(n_windows), len(backfilled))
    start = w_start[w]
    end = start + WEEK
    started = end + rng.integers(10 * MINUTE, 3 * HOUR, n)
    rows_closed = closed[k, w]
    rows_trades = np.rint(fills[k, w] * rng.uniform(1.0, 1.35, n)).astype(np.int64)
    status = np.full(n, "ok", dtype=object)
    error = np.full(n, "", dtype=object)
    # Windows the key did not exist for are not backfilled.
    keep = end > keys.created[k]
    sc = keys.scenario[k]
    zero = np.isin(sc, [P.GAP_SILENT, P.SPOT_FOR_FUTURES, P.WRONG_START, P.PERMISSION_DENIED])
    rows_closed = np.where(zero, 0, rows_closed)
    rows_trades = np.where(zero, 0, rows_trades)
    denied = sc == P.PERMISSION_DENIED
    status[denied], error[denied] = "failed", P.KRAKEN_PERMISSION_DENIED
    wrong = sc == P.WRONG_START
    start = np.where(wrong, keys.created[k] - 400 * DAY + w * WEEK, start)
    end = np.where(wrong, start + WEEK, end)
    # An open configuration problem fails every run after it started, with the venue's error; except a
    # missing trading scope, which stops the orders but not the (read-only) history query.
    stuck = (keys.ep_has[k] & (keys.ep_end[k] >= ctx.now) & (keys.ep_start[k] <= start)
             & (keys.ep_diag[k] != P.DIAG[P.D.MISSING_PERMISSION]))
    status[stuck] = "failed"
    error[stuck] = _ERRORS[keys.venue[k[stuck]], keys.ep_diag[k[stuck]]]
    rows_closed = np.where(stuck, 0, rows_closed)
    rows_trades = np.where(stuck, 0, rows_trades)
    passing = (sc == P.NORMAL) & ~stuck & (rng.random(n) < TRANSIENT_BACKFILL_FAILURE)
    status[passing] = "failed"
    error[passing] = _ERRORS[keys.venue[k[passing]], P.DIAG[P.D.RATE_LIMITED]]
    rows_closed = np.where(passing, 0, rows_closed)
    rows_trades = np.where(passing, 0, rows_trades)
    keep = np.flatnonzero(keep)
    return Frame("backfill_runs", {
        "id": np.arange(first_id, first_id + len(keep), dtype=np.int64),
        "key_id": key_ids[k[keep]],
        "window_start": Timestamps(start[keep]),
        "window_end": Timestamps(end[keep]),
        "started_at": Timestamps(started[keep]),
        "closed_orders_rows": rows_closed[keep],
        "trades_rows": rows_trades[keep],
        "status": status[keep],
        "error": error[keep],
    })

