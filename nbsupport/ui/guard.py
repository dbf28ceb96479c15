"""One page boundary for the failures a page can explain: the database is down, settings are wrong."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager

import streamlit as st
from pydantic import ValidationError
from pydantic_settings import SettingsError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from nbsupport.db.engine import DatabaseUnavailable, describe_db_error

log = logging.getLogger(__name__)

DB_DOWN_TITLE = "The console database is unavailable."
DB_DOWN_HINT = "Nothing was changed. Try again in a minute; if it persists, tell the on-call engineer."


SCHEMA_TITLE = "The console database is not at the current schema."
SCHEMA_HINT = "An operator needs to run `python -m nbsupport init-db`."
# SQLite reports a missing table as an OperationalError, PostgreSQL as a ProgrammingError.
_MISSING_TABLE = re.compile(r"no such table|relation \S+ does not exist|UndefinedTable", re.IGNORECASE)


def is_schema_missing(exc: BaseException) -> bool:
    text = str(getattr(exc, "orig", None) or exc)
    return isinstance(exc, DatabaseUnavailable | DBAPIError) and bool(_MISSING_TABLE.search(text))


def is_database_down(exc: BaseException) -> bool:
    if isinstance(exc, DatabaseUnavailable | OperationalError | InterfaceError):
        return True
    return isinstance(exc, DBAPIError) and (exc.connection_invalidated or is_schema_missing(exc))


def database_down_message(exc: BaseException) -> str:
    reason = str(exc) if isinstance(exc, DatabaseUnavailable) else describe_db_error(exc)
    if is_schema_missing(exc):
        return f"{SCHEMA_TITLE} {SCHEMA_HINT}\n\nReason: {reason}"
    return f"{DB_DOWN_TITLE} {DB_DOWN_HINT}\n\nReason: {reason}"


def settings_error_message(exc: ValidationError | SettingsError) -> str:
    # Field names only: a rejected value could be a database URL with a password in it.
    if isinstance(exc, ValidationError):
        fields = sorted({".".join(str(part) for part in err["loc"]) or "settings" for err in exc.errors()})
    else:  # pydantic-settings names the field in quotes and never quotes the value
        fields = re.findall(r'field "([a-z_]+)"', str(exc)) or ["(unreadable)"]
    return f"The console is misconfigured: invalid NBSUPPORT setting(s) {', '.join(fields)}."


@contextmanager
def page_boundary() -> Iterator[None]:
    """Turn an unreachable database or invalid settings into a plain message and stop the page."""
    try:
        yield
    except (ValidationError, SettingsError) as exc:
        message = settings_error_message(exc)
        log.error("%s", message)
        st.error(message, icon=":material/settings:")
        st.stop()
    except (DatabaseUnavailable, DBAPIError) as exc:
        if not is_database_down(exc):
            raise
        log.warning("database unavailable: %s", describe_db_error(exc))
        st.error(database_down_message(exc), icon=":material/cloud_off:")
        st.stop()
