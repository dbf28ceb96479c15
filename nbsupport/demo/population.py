"""Users and their exchange keys for one chunk of the demo: who they are, which venues, which problems.

Everything is drawn from the chunk's own random stream in a fixed order, so a seed reproduces the same
people, keys and problems whatever the batch size of the writer.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

import numpy as np

from nbsupport.demo import profiles as P
from nbsupport.demo.frames import DAY, FOREVER, HOUR, NAT
from nbsupport.demo.names import EMAIL_DOMAINS, FIRST_NAMES, LAST_NAMES

USERS_PER_CHUNK = 5_000
SPOT, FUTURES = P.PRODUCTS.index("spot"), P.PRODUCTS.index("futures")
_STRATEGY_IS_FUTURES = np.array([s.product == "futures" for s in P.STRATEGIES])
_STRATEGY_READ_ONLY = np.array([s.read_only for s in P.STRATEGIES])
# Chronic problems every small demo shows at least once, with venues that produce them.
SHOWCASE = {d: tuple(i for i, v in enumerate(P.VENUES) if any(x == d for x, _ in v.episode_mix))
            for d in (P.D.CREDENTIALS_REJECTED, P.D.SECRET_MALFORMED, P.D.WRONG_PRODUCT,
                      P.D.MISSING_PERMISSION, P.D.IP_NOT_ALLOWED, P.D.OTP_REQUIRED, P.D.KEY_EXPIRED,
                      P.D.NONCE_REJECTED, P.D.REGION_BLOCKED)}


@dataclass(frozen=True)
class Context:
    seed: int
    now: int  # µs; the build's "now", midnight UTC of the as-of day
    days: int  # connection-test history
    total_users: int
    chunks: int
    history_days: int  # placed orders / backfill history
    incident: tuple[int, int] | None  # [start, end) of the Kraken outage, µs
    # Shorter outages on other venues: (start, end, venue index), µs.
    other_incidents: tuple[tuple[int, int, int], ...] = ()

    @property
    def window_start(self) -> int:
        return self.now - self.days * DAY


@dataclass
class Users:
    index: np.ndarray  # global ordinal of the user in the build
    emails: list[str]
    names: list[str]
    strategy: np.ndarray  # index into STRATEGIES, -1 for a user without keys
    created: np.ndarray


@dataclass
class Keys:
    owner: np.ndarray  # index of the owning user within the chunk
    venue: np.ndarray
    product: np.ndarray
    created: np.ndarray
    rotated: np.ndarray
    expires: np.ndarray  # NAT: no expiry date
    role: np.ndarray
    scenario: np.ndarray
    profile: np.ndarray  # permission profile while healthy
    whitelist: np.ndarray  # JSON text
    ep_has: np.ndarray  # a configuration problem during the window...
    ep_start: np.ndarray
    ep_end: np.ndarray  # ...until then (FOREVER: still broken)
    ep_diag: np.ndarray  # index into DIAGNOSES
    ep_profile: np.ndarray
    ep_reported: np.ndarray  # the user opened a ticket while it lasted: an agent re-tested the key
    query_end: np.ndarray  # WINDOW_ENDED: the end of the key's history query window
    activity: np.ndarray  # order-rate multiplier
    fill_rate: np.ndarray
    labels: list[str]
    status: list[str]
    api_keys: list[str]
    secrets: list[str]
    passphrases: list[str | None]

    def __len__(self) -> int:
        return len(self.owner)


def chunk_quota(ctx: Context, chunk_no: int, per_million: int, floor: int) -> int:
    total = max(floor, round(per_million * ctx.total_users / 1_000_000))
    return total * (chunk_no + 1) // ctx.chunks - total * chunk_no // ctx.chunks


def _choice(rng: np.random.Generator, pairs: tuple[tuple[object, float], ...], size: int) -> np.ndarray:
    weights = np.array([w for _, w in pairs], dtype=float)
    return rng.choice(len(pairs), size=size, p=weights / weights.sum())


def random_strings(rng: np.random.Generator, fmt: P.KeyFormat, count: int) -> list[str]:
    if fmt.b64_bytes:
        raw = rng.integers(0, 256, (count, fmt.b64_bytes), dtype=np.uint8)
        return [base64.b64encode(row.tobytes()).decode() for row in raw]
    alphabet = np.frombuffer(fmt.alphabet.encode(), dtype=np.uint8)
    chars = alphabet[rng.integers(0, len(alphabet), (count, fmt.length))]
    for pos in fmt.dashes:
        chars[:, pos] = ord("-")
    return np.ascontiguousarray(chars).view(f"S{fmt.length}").ravel().astype(f"U{fmt.length}").tolist()


def make_users(rng: np.random.Generator, ctx: Context, first_index: int, count: int) -> Users:
    index = np.arange(first_index, first_index + count, dtype=np.int64)
    first = rng.integers(0, len(FIRST_NAMES), count)
    last = rng.integers(0, len(LAST_NAMES), count)
    pattern = rng.integers(0, 4, count)
    domain = _choice(rng, EMAIL_DOMAINS, count)
    age_days = np.clip(rng.exponential(420.0, count), 1.0, 1500.0)
    created = ctx.now - (age_days * DAY).astype(np.int64)
    emails, names = [], []
    for i, f, la, pat, dom in zip(index.tolist(), first.tolist(), last.tolist(), pattern.tolist(),
                                  domain.tolist(), strict=True):
        fn, ln = FIRST_NAMES[f], LAST_NAMES[la]
        fl, ll = fn.lower(), ln.lower()
        # The ordinal keeps every address unique; names alone collide at scale.
        local = (f"{fl}.{ll}{i + 1}", f"{fl[0]}{ll}{i + 1}", f"{fl}_{ll[0]}{i + 1}", f"{ll}.{fl}{i + 1}")[pat]
        emails.append(f"{local}@{EMAIL_DOMAINS[dom][0]}")
        names.append(f"{fn} {ln}")
    return Users(index, emails, names, np.full(count, -1), created)


def _strategies(rng: np.random.Generator, owner: np.ndarray, product: np.ndarray, n_users: int) -> np.ndarray:
    spot = [i for i, s in enumerate(P.STRATEGIES) if s.product == "spot"]
    fut = [i for i, s in enumerate(P.STRATEGIES) if s.product == "futures"]
    w_spot = np.array([P.STRATEGIES[i].weight for i in spot])
    w_fut = np.array([P.STRATEGIES[i].weight for i in fut])
    has_futures = np.bincount(owner[product == FUTURES], minlength=n_users) > 0
    pick_futures = has_futures & (rng.random(n_users) < 0.6)
    strategy = np.where(pick_futures, rng.choice(fut, n_users, p=w_fut / w_fut.sum()),
                        rng.choice(spot, n_users, p=w_spot / w_spot.sum()))
    strategy[np.bincount(owner, minlength=n_users) == 0] = -1
    return strategy


def _roles(strategy: np.ndarray, owner: np.ndarray, product: np.ndarray, u: np.ndarray) -> np.ndarray:
    strat = strategy[owner]
    matching = _STRATEGY_IS_FUTURES[strat] == (product == FUTURES)
    role = np.where(u < P.PARKED_SHARE, P.PARKED, np.where(u < P.PARKED_SHARE + P.IDLE_SHARE, P.IDLE, P.LIVE))
    role = np.where(matching, role, P.PARKED)
    role[matching & _STRATEGY_READ_ONLY[strat]] = P.TRACKER
    return role


def _episodes(
    rng: np.random.Generator, ctx: Context, venue: np.ndarray, created: np.ndarray
) -> tuple[np.ndarray, ...]:
    n = len(venue)
    rate = np.array([v.episode_rate for v in P.VENUES])[venue]
    has = rng.random(n) < rate
    diag = np.zeros(n, dtype=np.int64)
    draws = rng.random(n)
    for vi, v in enumerate(P.VENUES):
        cum = np.cumsum([w for _, w in v.episode_mix])
        mask = venue == vi
        pick = np.minimum(np.searchsorted(cum / cum[-1], draws[mask]), len(cum) - 1)
        diag[mask] = np.array([P.DIAG[d] for d, _ in v.episode_mix])[pick]
    lo = np.maximum(created, ctx.window_start)
    start = lo + (rng.random(n) * (ctx.now - lo)).astype(np.int64)
    onboarding = (created >= ctx.window_start) & (rng.random(n) < 0.4)
    start = np.where(onboarding, created, start)
    duration = np.exp(rng.normal(np.log(4 * DAY), 1.0, n)).astype(np.int64)
    end = np.where(rng.random(n) < 0.25, FOREVER, start + duration)
    reported = rng.random(n) < 0.5
    return has, start, end, diag, reported


def _showcase(rng: np.random.Generator, ctx: Context, venue: np.ndarray, created: np.ndarray,
              ep: list[np.ndarray]) -> None:
    """A recent, reported case of every chronic problem, so that even a tiny demo shows each one."""
    has, start, end, diag, reported = ep
    for i, (diagnosis, venues) in enumerate(SHOWCASE.items()):
        free = np.flatnonzero(~has & np.isin(venue, venues) & (created < ctx.now - 15 * DAY))
        if not len(free):
            continue
        k = free[rng.integers(0, len(free))]
        has[k], diag[k], reported[k] = True, P.DIAG[diagnosis], True
        start[k] = ctx.now - int((4 + 10 * rng.random()) * DAY)
        end[k] = FOREVER if i % 2 == 0 else start[k] + int((2 + 2 * rng.random()) * DAY)


def keys_per_user(rng: np.random.Generator, n_users: int) -> np.ndarray:
    """The first draw of a chunk's key stream (so key ids can be laid out before generating)."""
    return _choice(rng, P.KEYS_PER_USER, n_users)


def _venues(rng: np.random.Generator, chunk_no: int, position: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = len(position)
    venue = _choice(rng, tuple((i, v.weight) for i, v in enumerate(P.VENUES)), n)
    # Kraken users who add a second key mostly add the Futures one.
    pair = (position == 1) & (np.roll(venue, 1) == P.KRAKEN) & (rng.random(n) < 0.5)
    venue[pair] = P.VENUE_INDEX["krakenfutures"]
    if chunk_no == 0 and n >= len(P.VENUES):
        missing = [i for i in range(len(P.VENUES)) if not (venue == i).any()]
        venue[rng.choice(n, len(missing), replace=False)] = missing
    product_draw = rng.random(n)
    product = np.zeros(n, dtype=np.int64)
    for vi, v in enumerate(P.VENUES):
        cum = np.cumsum([w for _, w in v.products])
        mask = venue == vi
        pick = np.minimum(np.searchsorted(cum, product_draw[mask]), len(cum) - 1)
        product[mask] = np.array([P.PRODUCTS.index(p) for p, _ in v.products])[pick]
    return venue, product


def _dates(rng: np.random.Generator, ctx: Context, user_created: np.ndarray,
           position: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """created, rotated, expires (NAT: none) per key."""
    n = len(position)
    first_key = user_created + (rng.random(n) * 14 * DAY).astype(np.int64)
    later_key = user_created + (rng.random(n) * (ctx.now - user_created)).astype(np.int64)
    created = np.minimum(np.where(position == 0, first_key, later_key), ctx.now - HOUR)
    rotated = np.where(rng.random(n) < 0.55, created,
                       created + (rng.random(n) * (ctx.now - created)).astype(np.int64))
    kind = rng.random(n)
    to_expiry = np.where(kind < 0.06, -rng.uniform(1, 75, n),
                         np.where(kind < 0.16, rng.uniform(0, 14, n), rng.uniform(14, 365, n)))
    expires = ctx.now + (to_expiry * DAY).astype(np.int64)
    expires = np.where(expires <= created, created + (rng.uniform(1, 30, n) * DAY).astype(np.int64), expires)
    return created, rotated, np.where(rng.random(n) < 0.45, expires, NAT)


def _settle(rng: np.random.Generator, ctx: Context, ep: list[np.ndarray], expires: np.ndarray,
            rotated: np.ndarray, whitelist: np.ndarray, profile: np.ndarray) -> tuple[np.ndarray, ...]:
    """Make each key's metadata agree with its problem: an expired key has a past expiry (and every key
    past its expiry has the problem), a fixed credential problem means a rotation, an IP problem a
    whitelist without the platform's address. Returns episode arrays, expires, rotated, whitelist and the
    permission profile while the problem lasts."""
    has, start, end, diag, reported = ep
    n = len(has)
    expired = (expires != NAT) & (expires < ctx.now)
    has, start, end = has | expired, np.where(expired, expires, start), np.where(expired, FOREVER, end)
    diag = np.where(expired, P.DIAG[P.D.KEY_EXPIRED], diag)
    unresolved, resolved = has & (end >= ctx.now), has & (end < ctx.now)
    expires = np.where(unresolved & (diag == P.DIAG[P.D.KEY_EXPIRED]), np.minimum(start, expires), expires)
    expires = np.where(unresolved & (diag == P.DIAG[P.D.KEY_EXPIRED]) & (expires == NAT), start, expires)
    renewed = resolved & (diag == P.DIAG[P.D.KEY_EXPIRED])
    expires = np.where(renewed, end + 180 * DAY, expires)
    new_key = resolved & np.isin(diag, [P.DIAG[d] for d in (P.D.CREDENTIALS_REJECTED, P.D.SECRET_MALFORMED,
                                                             P.D.KEY_EXPIRED, P.D.WRONG_PRODUCT)])
    rotated = np.where(new_key, np.maximum(rotated, end), rotated)
    ip = has & (diag == P.DIAG[P.D.IP_NOT_ALLOWED])
    foreign = np.array(P.FOREIGN_IPS, dtype=object)[rng.integers(0, len(P.FOREIGN_IPS), n)]
    whitelist = np.where(ip & unresolved, foreign, np.where(ip & resolved, P.PLATFORM_IPS, whitelist))
    ep_profile = np.where(has & (diag == P.DIAG[P.D.MISSING_PERMISSION]), rng.integers(4, 7, n), profile)
    return has, start, end, diag, reported, expires, rotated, whitelist, ep_profile


def _scenarios(rng: np.random.Generator, ctx: Context, chunk_no: int, users: Users, owner: np.ndarray,
               eligible: np.ndarray) -> np.ndarray:
    """Pick this chunk's share of the backfill cases among eligible healthy live Kraken spot keys."""
    scenario = np.zeros(len(owner), dtype=np.int64)
    pool = rng.permutation(np.flatnonzero(eligible))
    taken = 0
    for sc, (per_million, floor) in P.SCENARIO_QUOTAS.items():
        q = chunk_quota(ctx, chunk_no, per_million, floor)
        scenario[pool[taken:taken + q]] = sc
        taken += q
    s4f = scenario == P.SPOT_FOR_FUTURES
    # That user's strategy becomes a futures one: their other keys must not pose as a second case.
    scenario[np.isin(owner, owner[s4f]) & ~s4f] = P.NORMAL
    fut = [i for i, s in enumerate(P.STRATEGIES) if s.product == "futures"]
    users.strategy[owner[s4f]] = rng.choice(fut, int(s4f.sum()))
    return scenario


def _credentials(rng: np.random.Generator,
                 venue: np.ndarray) -> tuple[list[str], list[str], list[str | None]]:
    """API key, secret and (where the venue issues one) passphrase per key, in each venue's format."""
    n = len(venue)
    api_keys: list[str] = [""] * n
    secrets: list[str] = [""] * n
    passphrases: list[str | None] = [None] * n
    for vi, v in enumerate(P.VENUES):
        idx = np.flatnonzero(venue == vi).tolist()
        public, private = random_strings(rng, v.api_key, len(idx)), random_strings(rng, v.secret, len(idx))
        for i, a, s in zip(idx, public, private, strict=True):
            api_keys[i], secrets[i] = a, s
        if v.passphrase:
            for i, p in zip(idx, random_strings(rng, P.KeyFormat(P.ALNUM, 20), len(idx)), strict=True):
                passphrases[i] = p
    return api_keys, secrets, passphrases


def make_keys(rng: np.random.Generator, ctx: Context, chunk_no: int, users: Users) -> Keys:
    n_users = len(users.emails)
    counts = keys_per_user(rng, n_users)
    owner = np.repeat(np.arange(n_users), counts)
    n = len(owner)
    position = np.arange(n) - np.repeat(np.cumsum(counts) - counts, counts)
    venue, product = _venues(rng, chunk_no, position)
    users.strategy = _strategies(rng, owner, product, n_users)
    created, rotated, expires = _dates(rng, ctx, users.created[owner], position)
    profile = np.where(rng.random(n) < P.WITHDRAW_SHARE, 1, 0)
    whitelist = np.where(rng.random(n) < 0.78, P.PLATFORM_IPS, "[]").astype(object)
    ep = list(_episodes(rng, ctx, venue, created))
    if chunk_no == 0:
        _showcase(rng, ctx, venue, created, ep)
    has, start, end, diag, reported, expires, rotated, whitelist, ep_profile = _settle(
        rng, ctx, ep, expires, rotated, whitelist, profile)

    role_draw = rng.random(n)
    role = _roles(users.strategy, owner, product, role_draw)
    eligible = ((venue == P.KRAKEN) & (role == P.LIVE) & ~has & (profile == 0)
                & (created <= ctx.now - 21 * DAY) & ((expires == NAT) | (expires > ctx.now + 30 * DAY)))
    scenario = _scenarios(rng, ctx, chunk_no, users, owner, eligible)
    role = _roles(users.strategy, owner, product, role_draw)
    role[scenario != P.NORMAL] = P.LIVE
    gap = np.isin(scenario, [P.GAP_SILENT, P.PERMISSION_DENIED])
    profile = np.where(gap, np.where(rng.random(n) < 0.4, 2, 3), profile)
    ep_profile = np.where(gap, profile, ep_profile)
    ended = ctx.now - (rng.uniform(9, 20, n) * DAY).astype(np.int64)
    query_end = np.where(scenario == P.WINDOW_ENDED, ended, NAT)

    paused = ((role == P.PARKED) & (rng.random(n) < 0.5)) | ((role == P.IDLE) & (rng.random(n) < 0.3))
    status = np.where(paused, "paused", "active").tolist()
    labels = _labels(rng, venue, product, users.strategy[owner], position, scenario)
    api_keys, secrets, passphrases = _credentials(rng, venue)
    return Keys(owner, venue, product, created, rotated, expires, role, scenario, profile, whitelist, has,
                start, end, diag, ep_profile, reported, query_end, np.exp(rng.normal(0.0, 0.5, n)),
                rng.uniform(0.35, 0.9, n), labels, status, api_keys, secrets, passphrases)


def _labels(rng: np.random.Generator, venue: np.ndarray, product: np.ndarray, strategy: np.ndarray,
            position: np.ndarray, scenario: np.ndarray) -> list[str]:
    template = rng.choice(5, len(venue), p=[0.4, 0.15, 0.2, 0.15, 0.1])
    out = []
    for t, v, p, s, pos, sc in zip(template.tolist(), venue.tolist(), product.tolist(), strategy.tolist(),
                                   position.tolist(), scenario.tolist(), strict=True):
        ex = P.VENUES[v].exchange
        if sc == P.SPOT_FOR_FUTURES:
            # The user saved their spot key in the futures slot: the label says what they meant.
            out.append(f"{ex}-futures")
        elif t == 0:
            out.append(f"{ex}-{P.PRODUCTS[p]}")
        elif t == 1:
            out.append(f"{ex.capitalize()} main")
        elif t == 2:
            out.append("")
        elif t == 3:
            out.append(f"{P.STRATEGIES[s].name.split()[0].lower()} bot")
        else:
            out.append(f"{ex} sub-account {pos + 1}")
    return out
