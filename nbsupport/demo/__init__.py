"""Deterministic demo data at any size: users, envelope keys, exchange keys, connection tests, backfills.

`build_demo(console, DemoSpec(users=..., seed=...))` fills an empty database; `ensure_demo_data(console)`
builds the small default once, on first start. See `history` for the backfill cases the data contains.
"""

from nbsupport.demo.build import (
    DEFAULT_USERS,
    BuildReport,
    DemoError,
    DemoSpec,
    build_demo,
    ensure_demo_data,
    incident_window,
)
from nbsupport.demo.cast import practice_email

__all__ = [
    "DEFAULT_USERS",
    "BuildReport",
    "DemoError",
    "DemoSpec",
    "build_demo",
    "ensure_demo_data",
    "incident_window",
    "practice_email",
]
