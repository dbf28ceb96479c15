"""Connection tests for one chunk of keys: weekly scheduled tests, saves, agent re-tests and an incident.

A key's state at any instant is its healthy diagnosis, or its configuration problem while that lasts
(`Keys.ep_*`); tests read that state, then passing faults (rate limits, timeouts) and the Kraken outage
override it. Re-tests follow failures and saves follow fixes, so failures go green later (time-to-green).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nbsupport.demo import profiles as P
from nbsupport.demo.frames import DAY, HOUR, MINUTE, NAT, SECOND, Frame, Timestamps
from nbsupport.demo.population import Context, Keys
from nbsupport.diagnosis import PLATFORM_EGRESS_IP

# USER_RETEST: a user pressing "test again" on their key page (stored as a retest by that user).
SCHEDULED, SAVE, RETEST, BULK, USER_RETEST = range(5)
TRIGGERS = np.array(["scheduled", "save", "retest", "bulk", "retest"], dtype=object)
# Every six days rather than weekly, so a key's test drifts across weekdays (and venues' weekly cycles).
SCHEDULE_EVERY = 6 * DAY
JITTER = 10 * MINUTE  # a scheduled run starts within this of its slot
RETEST_SHARE = 0.12  # failed tests an agent re-tests from a ticket
FIX_SAVE_SHARE = 0.7  # fixed problems the user confirms by saving the key again
INCIDENT_FAILURE = 0.85
INCIDENT_USER_RETESTS = 0.25  # live Kraken keys whose owner re-tests while their strategy is failing
# The scheduler retries a failed test on its own, after a delay that depends on the cause (a rate limit
# clears in minutes, an outage in an hour or so) and the venue: a spread of times to green, not one value.
RETRY_MEDIAN_MIN = {P.D.RATE_LIMITED: 6, P.D.NONCE_REJECTED: 10, P.D.NETWORK_ERROR: 20,
                    P.D.EXCHANGE_UNAVAILABLE: 50, P.D.UNKNOWN: 30}
RETRY_SPREAD = 0.9  # lognormal sigma
# Configuration problems are not retried: they wait for the user's fix (a save) or the next schedule.
_RETRY_MIN = np.array([RETRY_MEDIAN_MIN.get(P.D(d), 0) for d in P.DIAGNOSES], dtype=float)
# Slower venues' schedulers back off longer (their median latency as a proxy, Kraken = 1).
_RETRY_VENUE = np.array([v.latency_ms / 240 for v in P.VENUES])

_OK, _WARN, _FAILED = 0, 1, 2
OUTCOMES = np.array(["ok", "warning", "failed"], dtype=object)
DIAGNOSES = np.array(P.DIAGNOSES, dtype=object)
_ERRORS = np.array([[P.exchange_error(v.exchange, d) for d in P.DIAGNOSES] for v in P.VENUES], dtype=object)
_DETAILS = np.array([P.detail_json(d) for d in P.DIAGNOSES], dtype=object)
_PROFILES = np.array(P.PERMISSION_PROFILES, dtype=object)
_MISSING = np.array(P.PROFILE_MISSING, dtype=object)
_AUTHENTICATED = np.array([d in P.AUTHENTICATED for d in P.DIAGNOSES])
_LATENCY = np.array([v.latency_ms for v in P.VENUES], dtype=float)
_TRANSIENT_RATE = np.array([v.transient_rate for v in P.VENUES])


def _transient_table() -> tuple[np.ndarray, np.ndarray]:
    width = max(len(v.transient_mix) for v in P.VENUES)
    cum = np.ones((len(P.VENUES), width))
    codes = np.zeros((len(P.VENUES), width), dtype=np.int64)
    for i, v in enumerate(P.VENUES):
        weights = np.array([w for _, w in v.transient_mix])
        cum[i, : len(weights)] = np.cumsum(weights) / weights.sum()
        codes[i, : len(weights)] = [P.DIAG[d] for d, _ in v.transient_mix]
        codes[i, len(weights):] = codes[i, len(weights) - 1]
    return cum, codes


_TRANSIENT_CUM, _TRANSIENT_CODES = _transient_table()


def healthy_diagnosis(profile: np.ndarray) -> np.ndarray:
    flagged = [P.DIAG[P.D.WITHDRAW_ENABLED], P.DIAG[P.D.MISSING_PERMISSION]]
    return np.select([profile == 1, profile == 2], flagged, P.DIAG[P.D.OK])


def state_at(keys: Keys, k: np.ndarray, at: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(diagnosis, permission profile) of keys `k` at instants `at`, before passing faults."""
    broken = keys.ep_has[k] & (at >= keys.ep_start[k]) & (at < keys.ep_end[k])
    return (np.where(broken, keys.ep_diag[k], healthy_diagnosis(keys.profile[k])),
            np.where(broken, keys.ep_profile[k], keys.profile[k]))


def outcome_codes(diag: np.ndarray, profile: np.ndarray) -> np.ndarray:
    # A missing closed-orders scope alone only stops history backfills: a warning, not a failure.
    gap_only = (diag == P.DIAG[P.D.MISSING_PERMISSION]) & (profile == 2)
    warning = (diag == P.DIAG[P.D.WITHDRAW_ENABLED]) | gap_only
    return np.where(diag == P.DIAG[P.D.OK], _OK, np.where(warning, _WARN, _FAILED))


def _outages(ctx: Context) -> list[tuple[int, int, int]]:
    kraken = [(ctx.incident[0], ctx.incident[1], P.KRAKEN)] if ctx.incident is not None else []
    return kraken + list(ctx.other_incidents)


def _incident(rng: np.random.Generator, ctx: Context, keys: Keys, k: np.ndarray, at: np.ndarray,
              diag: np.ndarray) -> np.ndarray:
    if not _outages(ctx):
        return diag
    luck = rng.random(len(k))
    outage = np.where(rng.random(len(k)) < 0.6, P.DIAG[P.D.EXCHANGE_UNAVAILABLE], P.DIAG[P.D.NETWORK_ERROR])
    for start, end, venue in _outages(ctx):
        hit = (keys.venue[k] == venue) & (at >= start) & (at < end) & (luck < INCIDENT_FAILURE)
        diag = np.where(hit, outage, diag)
    return diag


@dataclass
class Tests:
    frame: Frame
    last_at: np.ndarray  # per key; NAT when the key has no test
    last_outcome: np.ndarray  # per key, object (None when no test)
    last_diagnosis: np.ndarray
    profile_now: np.ndarray  # permission profile as the latest authenticated test saw it
    seen_permissions: np.ndarray  # per key: some test got far enough to read the permissions


def _scheduled_and_saves(rng: np.random.Generator, ctx: Context, keys: Keys) -> tuple[np.ndarray, ...]:
    """(key, time, trigger) of the scheduled tests and of the saves (key stored, problem fixed)."""
    n_keys = len(keys)
    # Scheduled tests at a per-key phase, from the key's creation (or the window's start) to now.
    first = ctx.window_start + rng.integers(0, SCHEDULE_EVERY, n_keys)
    j_min = np.maximum(0, -((first - keys.created) // SCHEDULE_EVERY))
    j_max = (ctx.now - JITTER - first) // SCHEDULE_EVERY
    n_sched = np.maximum(0, j_max - j_min + 1)
    k_sched = np.repeat(np.arange(n_keys), n_sched)
    j = j_min[k_sched] + np.arange(len(k_sched)) - np.repeat(np.cumsum(n_sched) - n_sched, n_sched)
    at_sched = first[k_sched] + j * SCHEDULE_EVERY + rng.integers(0, JITTER, len(k_sched))
    new = np.flatnonzero(keys.created >= ctx.window_start)
    fixed = np.flatnonzero(keys.ep_has & (keys.ep_end < ctx.now - JITTER) & (keys.ep_end >= ctx.window_start)
                           & (rng.random(n_keys) < FIX_SAVE_SHARE))
    k_save = np.concatenate([new, fixed])
    at_save = np.concatenate([keys.created[new] + rng.integers(SECOND, 20 * SECOND, len(new)),
                              keys.ep_end[fixed] + rng.integers(SECOND, 5 * MINUTE, len(fixed))])
    return (np.concatenate([k_sched, k_save]), np.concatenate([at_sched, at_save]),
            np.concatenate([np.full(len(k_sched), SCHEDULED), np.full(len(k_save), SAVE)]))


def _follow_ups(rng: np.random.Generator, ctx: Context, keys: Keys, k_base: np.ndarray, at_base: np.ndarray,
                diag: np.ndarray, profile: np.ndarray) -> tuple[np.ndarray, ...]:
    """(key, time, trigger) of the tests people ran because of earlier results: agents' re-tests from
    tickets, users re-testing during the outage, the ops bulk re-test after it, and the scheduler's own
    retry of a failed test."""
    # An agent re-tests some failures from a ticket, minutes to hours later, and every reported problem
    # soon after the user wrote in (a strategy that stopped trading is noticed before the weekly test).
    picked = rng.random(len(k_base)) < RETEST_SHARE
    failed = np.flatnonzero((outcome_codes(diag, profile) == _FAILED) & picked)
    reported = np.flatnonzero(keys.ep_reported & keys.ep_has & (keys.ep_start >= ctx.window_start))
    at_re = np.concatenate([at_base[failed] + rng.integers(10 * MINUTE, 8 * HOUR, len(failed)),
                            keys.ep_start[reported] + rng.integers(30 * MINUTE, 36 * HOUR, len(reported))])
    k_re = np.concatenate([k_base[failed], reported])
    while_open = np.arange(len(k_re)) < len(failed)
    while_open |= at_re < keys.ep_end[k_re]  # a report re-tests while the problem lasts
    keep = while_open & (at_re < ctx.now)
    k_re, at_re = k_re[keep], at_re[keep]
    # The scheduler's own retry of a test that failed for a passing reason.
    auto = np.flatnonzero((outcome_codes(diag, profile) == _FAILED) & (_RETRY_MIN[diag] > 0))
    delay = (_RETRY_MIN[diag[auto]] * _RETRY_VENUE[keys.venue[k_base[auto]]]
             * np.exp(rng.normal(0.0, RETRY_SPREAD, len(auto))) * MINUTE).astype(np.int64)
    at_auto = at_base[auto] + np.maximum(delay, MINUTE)
    k_auto, at_auto = k_base[auto][at_auto < ctx.now], at_auto[at_auto < ctx.now]
    k_bulk = k_user = np.zeros(0, dtype=np.int64)
    at_bulk = at_user = np.zeros(0, dtype=np.int64)
    if ctx.incident is not None:
        worried = rng.random(len(keys)) < INCIDENT_USER_RETESTS
        k_user = np.flatnonzero((keys.venue == P.KRAKEN) & (keys.role == P.LIVE)
                                & (keys.created < ctx.incident[0]) & worried)
        at_user = rng.integers(ctx.incident[0], ctx.incident[1], len(k_user))
        # After the outage, ops re-test every Kraken key that failed during it (one bulk run per key).
        outage = np.isin(diag, [P.DIAG[P.D.EXCHANGE_UNAVAILABLE], P.DIAG[P.D.NETWORK_ERROR]])
        during = ((at_base >= ctx.incident[0]) & (at_base < ctx.incident[1])
                  & (keys.venue[k_base] == P.KRAKEN) & outage)
        k_bulk = np.unique(k_base[during])
        at_bulk = ctx.incident[1] + rng.integers(20 * MINUTE, 90 * MINUTE, len(k_bulk))
    return (np.concatenate([k_re, k_bulk, k_user, k_auto]),
            np.concatenate([at_re, at_bulk, at_user, at_auto]),
            np.concatenate([np.full(len(k_re), RETEST), np.full(len(k_bulk), BULK),
                            np.full(len(k_user), USER_RETEST), np.full(len(k_auto), SCHEDULED)]))


def make_tests(rng: np.random.Generator, ctx: Context, keys: Keys, key_ids: np.ndarray,
               user_ids: np.ndarray, emails: list[str], first_test_id: int) -> Tests:
    """`user_ids`: the owner's id per key; `emails`: per user of the chunk."""
    n_keys = len(keys)
    k_base, at_base, trig_base = _scheduled_and_saves(rng, ctx, keys)
    diag, profile = state_at(keys, k_base, at_base)
    venue = keys.venue[k_base]
    transient = rng.random(len(k_base)) < _TRANSIENT_RATE[venue]
    pick = (rng.random(len(k_base))[:, None] > _TRANSIENT_CUM[venue]).sum(axis=1)
    diag = np.where(transient, _TRANSIENT_CODES[venue, np.minimum(pick, _TRANSIENT_CODES.shape[1] - 1)], diag)
    diag = _incident(rng, ctx, keys, k_base, at_base, diag)
    k_extra, at_extra, trig_extra = _follow_ups(rng, ctx, keys, k_base, at_base, diag, profile)
    diag_x, profile_x = state_at(keys, k_extra, at_extra)
    diag_x = _incident(rng, ctx, keys, k_extra, at_extra, diag_x)

    k = np.concatenate([k_base, k_extra])
    at = np.concatenate([at_base, at_extra])
    trig = np.concatenate([trig_base, trig_extra])
    diag = np.concatenate([diag, diag_x])
    profile = np.concatenate([profile, profile_x])
    order = np.lexsort((at, k))
    k, at, trig, diag, profile = k[order], at[order], trig[order], diag[order], profile[order]
    n = len(k)

    agents = np.array(P.SUPPORT_AGENTS, dtype=object)[rng.integers(0, len(P.SUPPORT_AGENTS), n)]
    actor = np.where(trig == SCHEDULED, "scheduler", np.where(trig == BULK, P.OPS_LEAD, agents))
    saves = np.flatnonzero((trig == SAVE) | (trig == USER_RETEST))
    actor[saves] = np.array(emails, dtype=object)[keys.owner[k[saves]]]
    ticket = np.full(n, "", dtype=object)
    retests = np.flatnonzero(trig == RETEST)
    numbers = rng.integers(100_000, 1_000_000, len(retests))
    ticket[retests] = [P.TICKET_URL.format(ticket=t, user=u, key=kid) for t, u, kid in
                       zip(numbers.tolist(), user_ids[k[retests]].tolist(), key_ids[k[retests]].tolist(),
                           strict=True)]
    outcome = outcome_codes(diag, profile)
    venue = keys.venue[k]
    authenticated = _AUTHENTICATED[diag]
    requests = np.where(outcome == _FAILED, 1 + (rng.random(n) < 0.4), 3 + (rng.random(n) < 0.3))
    duration = _LATENCY[venue] * np.exp(rng.normal(0.0, 0.35, n)) * requests / 3
    duration = np.where(diag == P.DIAG[P.D.NETWORK_ERROR], 10_000 + rng.integers(0, 50, n), duration)
    duration = np.where(diag == P.DIAG[P.D.EXCHANGE_UNAVAILABLE], rng.integers(150, 2500, n), duration)
    is_missing = diag == P.DIAG[P.D.MISSING_PERMISSION]
    detail = _DETAILS[diag]
    # Kraken's GetApiKeyInfo reports a key's query window: tests that got that far recorded it.
    windowed = np.flatnonzero((keys.scenario[k] == P.WINDOW_ENDED) & authenticated)
    detail[windowed] = [P.json_text({"key_info": {"queryFrom": "0", "queryTo": str(end // SECOND)}})
                        for end in keys.query_end[k[windowed]].tolist()]
    frame = Frame("connection_tests", {
        "id": np.arange(first_test_id, first_test_id + n, dtype=np.int64),
        "key_id": key_ids[k],
        "exchange": np.array([v.exchange for v in P.VENUES], dtype=object)[venue],
        "started_at": Timestamps(at),
        "trigger": TRIGGERS[trig],
        "actor": actor,
        "ticket": ticket,
        "outcome": OUTCOMES[outcome],
        "diagnosis": DIAGNOSES[diag],
        "missing_scopes": np.where(is_missing, _MISSING[profile], "[]"),
        "permissions": np.where(authenticated, _PROFILES[profile], "{}"),
        "exchange_error": _ERRORS[venue, diag],
        "requests": requests,
        "duration_ms": duration.astype(np.int64),
        "egress_ip": [PLATFORM_EGRESS_IP] * n,
        "detail": detail,
    })
    counts = np.bincount(k, minlength=n_keys)
    last = np.cumsum(counts) - 1
    has = counts > 0
    last_at = np.where(has, at[np.maximum(last, 0)] if n else NAT, NAT)
    # None as an array: numpy's stubs read a bare None as the one-argument form of `where`.
    none = np.array(None)
    last_outcome = np.where(has, OUTCOMES[outcome[np.maximum(last, 0)]] if n else none, none)
    last_diag = np.where(has, DIAGNOSES[diag[np.maximum(last, 0)]] if n else none, none)
    _, profile_now = state_at(keys, np.arange(n_keys), np.full(n_keys, ctx.now - 1))
    seen = np.bincount(k, weights=authenticated, minlength=n_keys) > 0
    return Tests(frame, last_at, last_outcome, last_diag, profile_now, seen)
