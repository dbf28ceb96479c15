"""Error-to-fix guide: the venue help guides (Markdown in `guides/`) parsed into the fix table.

The guides are the single source: the table, the CLI, the page and the connection test's `Fix`
payloads are all built from them, so a help page and the fix support pastes cannot drift apart.

Guide format
============
A guide is ordinary Markdown that reads as a help page. The parser is strict about three things:

Header (between the `# Title` and the first `## ` section)::

    - **Venue:** `kraken`                 ccxt exchange id, or `*` for the generic guide (required)
    - **Aliases:** `api.kraken.com`, ...  other ways the venue shows up in pasted text (optional)
    - **Covers:** `binance`, ...          venues the generic guide speaks for, for pickers (optional)

Entries: every `### ` heading under `## Troubleshooting` is one fix::

    ### Key or signature rejected {#kraken-credentials-rejected}

    - **Errors:** `EAPI:Invalid key`, `EAPI:Invalid signature`, `/-20(15|14)/`
    - **ccxt classes:** `AuthenticationError`
    - **Hints:** `testnet.binance.vision`
    - **Diagnosis:** `credentials_rejected`
    - **Severity:** high
    - **Primary:** yes
    - **Cause:** Prose, may wrap onto indented lines.
    - **Tell apart:** Prose: what tells this cause from the other causes of the same error.
    - **Fix:**
      1. First step.
      2. Second step.
    - **Reply:**
      > Customer reply, ready to paste. An empty `>` line starts a new paragraph.

* `{#fix-id}`: lowercase words joined by `-`, unique across all guides; used in deep links
  (`?fix=<fix-id>`) and as the Markdown anchor.
* Errors (required): comma-separated code spans, as users see them. Literal strings match
  case-insensitively, any whitespace run matches any whitespace run, and a pattern that starts or
  ends with a letter/digit does not match inside a longer token. A single lowerCamelCase identifier
  (`authenticationError`) matches case-sensitively, as code identifiers do. `/.../` is a regex
  (case-insensitive; bounded repeats only, no nesting, no back-references). `none` means the entry
  is reached only through its diagnosis code (e.g. `ok`, `withdraw_enabled`).
* ccxt classes (optional): ccxt exception class names; matched case-sensitively and ranked below any
  real error string, since a class names a family of problems, not a cause.
* One error listed by several entries of a guide has several causes: `match_error` returns each, ranked
  by `nbsupport.vocabulary.CAUSES_BY_KIND` for the connection test's reading of that error; `Tell apart`
  (optional) says what decides between them.
* Hints (optional): patterns that are no error (testnet hosts, `x-simulated-trading`); they put the
  entry first when the paste's best match is a rejected key, and last otherwise.
* Diagnosis `not_a_key_problem`: an order, balance or market error; the entry needs `- **Team:**` (who
  to hand it to), is never a `fix_for` answer, and when it matches best no key diagnosis is returned.
* Diagnosis (required): a code of `nbsupport.diagnosis.Diagnosis`. Severity (required): info, low,
  medium, high or critical. Cause, Fix (numbered steps 1..n), Reply (quote lines): required.
* Primary: when a guide has a single entry for a diagnosis code, that entry is primary. When it has
  several, exactly one says `- **Primary:** yes`. `fix_for` returns the venue guide's primary row,
  falling back to the generic guide's.

Any other text - intro prose, the `## Common pitfalls` list - is for humans, except that in-page links
`[...](#fix-id)` must name a fix id of the same guide. A malformed guide raises `GuideError`
("<file>:<line>: <what is wrong>").
"""

from __future__ import annotations

from nbsupport.guide.matcher import MAX_SCAN_CHARS, causes_of_best, detect_venue, match_error
from nbsupport.guide.model import GENERIC_VENUE, FixRow, FixTable, GuideError, Match, Severity, VenueGuide
from nbsupport.guide.table import (
    GUIDE_DIR,
    cause_codes,
    default_guide_paths,
    fix_for,
    get_fix,
    load_table,
    missing_fixes,
    normalize_venue,
    records,
    search_rows,
    venue_choices,
    venue_family,
)

__all__ = [
    "GENERIC_VENUE",
    "GUIDE_DIR",
    "MAX_SCAN_CHARS",
    "FixRow",
    "FixTable",
    "GuideError",
    "Match",
    "Severity",
    "VenueGuide",
    "cause_codes",
    "causes_of_best",
    "default_guide_paths",
    "detect_venue",
    "fix_for",
    "get_fix",
    "load_table",
    "match_error",
    "missing_fixes",
    "normalize_venue",
    "records",
    "search_rows",
    "venue_choices",
    "venue_family",
]
