"""The console: the service context every entry point (CLI, pages, tests, benchmarks) opens, holding the
settings, the database engine and the way to the keyring."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from nbsupport.config import Settings, get_settings
from nbsupport.crypto import MasterKeyring
from nbsupport.db.engine import make_engine, session_scope
from nbsupport.db.migrate import upgrade
from nbsupport.keyring import load_keyring


@dataclass
class Console:
    settings: Settings
    engine: Engine = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.settings.is_sqlite:
            self.settings.home.mkdir(parents=True, exist_ok=True)
        self.engine = make_engine(self.settings.effective_database_url)

    @classmethod
    def open(cls, settings: Settings | None = None) -> Console:
        return cls(settings or get_settings())

    def keyring(self) -> MasterKeyring:
        """Loaded on each use and never cached, so a page without a master key still shows metadata."""
        return load_keyring(self.settings)

    def close(self) -> None:
        self.engine.dispose()

    def migrate(self) -> None:
        upgrade(self.engine)

    @contextmanager
    def session(self) -> Iterator[Session]:
        with session_scope(self.engine) as session:
            yield session
