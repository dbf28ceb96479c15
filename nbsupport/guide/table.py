"""Loading the fix table from the shipped guides, and the lookups support uses on it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path

from nbsupport.diagnosis import Diagnosis
from nbsupport.guide.model import GENERIC_VENUE, FixRow, FixTable, GuideError
from nbsupport.guide.parser import build_table, parse_guide
from nbsupport.vocabulary import NOT_A_KEY_PROBLEM

GUIDE_DIR = Path(__file__).resolve().parent / "guides"


def default_guide_paths() -> tuple[Path, ...]:
    return tuple(sorted(GUIDE_DIR.glob("*.md")))


def load_table(paths: Iterable[str | Path] | None = None) -> FixTable:
    """Parse the guides (the shipped ones by default) into the fix table.

    The result is cached on the files' names and content, so repeated calls are cheap and an edited
    guide - shipped or a test's tmp copy - is picked up on the next call with no code change.
    """
    chosen = default_guide_paths() if paths is None else tuple(Path(p) for p in paths)
    if not chosen:
        raise GuideError(GUIDE_DIR, 0, "no help guides found")
    sources = []
    for path in chosen:
        try:
            sources.append((str(path), path.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError) as exc:
            raise GuideError(path, 0, f"cannot read guide: {exc}") from None
    return _parse_sources(tuple(sources))


@lru_cache(maxsize=16)
def _parse_sources(sources: tuple[tuple[str, str], ...]) -> FixTable:
    return build_table([parse_guide(path, text) for path, text in sources])


def normalize_venue(exchange: str | None) -> str | None:
    """ccxt ids are lowercase; support types them however. Empty means 'not given'."""
    if exchange is None:
        return None
    venue = exchange.strip().lower()
    return venue or None


def venue_family(exchange: str | None, table: FixTable) -> str:
    """The guide that speaks for a venue: its own if it has one, the generic guide otherwise."""
    venue = normalize_venue(exchange)
    return venue if venue is not None and table.has_venue(venue) else GENERIC_VENUE


def fix_for(
    diagnosis: str | Diagnosis, exchange: str | None = None, *, table: FixTable | None = None
) -> FixRow:
    """The one primary fix for a diagnosis on a venue; the venue's own row wins over the generic one."""
    code = Diagnosis(diagnosis)
    table = table or load_table()
    family = venue_family(exchange, table)
    for venue in dict.fromkeys((family, GENERIC_VENUE)):
        row = table.primary(venue, code)
        if row is not None:
            return row
    raise LookupError(f"no fix row for diagnosis {code.value!r} on {family!r} nor in the generic guide")


def get_fix(fix_id: str, *, table: FixTable | None = None) -> FixRow | None:
    return (table or load_table()).by_id(fix_id.strip())


def missing_fixes(table: FixTable | None = None) -> list[tuple[str, Diagnosis]]:
    """(venue, code) pairs with no primary row: the coverage contract says this list is empty."""
    table = table or load_table()
    return [(v, code) for v in table.venues for code in Diagnosis if table.primary(v, code) is None]


def search_rows(
    query: str = "",
    venue: str | None = None,
    diagnosis: str | None = None,
    *,
    include_generic: bool = False,
    table: FixTable | None = None,
) -> list[FixRow]:
    """Rows whose text contains every word of `query`, optionally for one venue and one cause code (a
    diagnosis code or `not_a_key_problem`).

    With `include_generic`, a venue's listing also holds the generic rows, because those apply to
    every venue; a venue without a guide then lists just the generic rows.
    """
    table = table or load_table()
    code = _cause_code(diagnosis) if diagnosis else None
    wanted = normalize_venue(venue)
    venues: set[str] | None = None
    if wanted is not None:
        venues = {venue_family(wanted, table) if include_generic else wanted}
        if include_generic:
            venues.add(GENERIC_VENUE)
    words = query.lower().split()
    found = [
        row
        for row in table.rows
        if (venues is None or row.venue in venues)
        and (code is None or row.cause_code == code)
        and all(word in _haystack(row) for word in words)
    ]
    if include_generic:
        found.sort(key=lambda row: row.venue == GENERIC_VENUE)  # the venue's own rows first; stable
    return found


def cause_codes() -> list[str]:
    """Every answer the guide gives: the diagnosis codes, then `not_a_key_problem`."""
    return [*(d.value for d in Diagnosis), NOT_A_KEY_PROBLEM]


def _cause_code(value: str) -> str:
    if value not in cause_codes():
        raise ValueError(f"unknown diagnosis code {value!r}")
    return value


def venue_choices(table: FixTable | None = None) -> list[str]:
    """Venues worth offering in a picker: those with a guide, then those the generic guide names."""
    table = table or load_table()
    named = [g.venue for g in table.guides if g.venue != GENERIC_VENUE]
    covered = [v for g in table.guides for v in g.covers]
    return list(dict.fromkeys(named + covered))


def records(rows: Sequence[FixRow]) -> list[dict[str, object]]:
    """Rows as display records (one line each) for `st.dataframe` and text listings."""
    return [
        {
            "fix_id": row.fix_id,
            "venue": row.venue,
            "diagnosis": row.cause_code,
            "severity": row.severity.value,
            "primary": row.primary,
            "title": row.title,
            "errors": ", ".join((*row.patterns, *row.exception_classes)),
            "anchor": row.anchor,
        }
        for row in rows
    ]


@lru_cache(maxsize=1024)
def _haystack(row: FixRow) -> str:
    parts = (row.fix_id, row.venue, row.diagnosis.value, row.title, row.cause, row.customer_reply)
    return " ".join((*parts, *row.patterns, *row.exception_classes, *row.steps)).lower()
