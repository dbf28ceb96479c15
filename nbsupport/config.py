"""Settings from `NBSUPPORT_*` environment variables or `.streamlit/secrets.toml`.

Environment variables win over secrets.toml so CI and ops can override a checked-out config. In
secrets.toml the same names work at top level (`NBSUPPORT_DATABASE_URL = "..."`) or, lower-cased without
the prefix, in an `[nbsupport]` section (`database_url = "..."`).
"""

from __future__ import annotations

import json
import os
import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from nbsupport.diagnosis import PLATFORM_EGRESS_IP

SECRETS_FILE = Path(".streamlit") / "secrets.toml"


def _secrets_toml_values(path: Path) -> dict[str, object]:
    if not path.is_file():
        return {}
    with path.open("rb") as fh:
        data = tomllib.load(fh)
    values: dict[str, object] = {}
    for name, value in data.items():
        if name.upper().startswith("NBSUPPORT_"):
            values[name.upper().removeprefix("NBSUPPORT_").lower()] = value
    values.update({k.lower(): v for k, v in data.get("nbsupport", {}).items()})
    return values


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="NBSUPPORT_", extra="ignore")

    # Where the embedded default keeps its SQLite file, the demo master key and logs.
    home: Path = Path("var")
    database_url: str = ""
    # "v2:<base64 32 bytes>,v1:<...>": the first entry is the primary, the rest only open old wraps.
    master_keys: str = Field(default="", repr=False)
    # ccxt exchange id -> origin; replaces scheme+host of that exchange's API URLs (sandbox, tests).
    exchange_urls: dict[str, str] = Field(default_factory=dict)
    # The HTTP proxy re-tests leave through, and the address users whitelisted for us.
    egress_proxy: str = ""
    egress_ip: str = PLATFORM_EGRESS_IP
    request_timeout_ms: int = Field(default=10_000, ge=100, le=15_000)
    retest_cooldown_s: int = Field(default=60, ge=0)
    # Demo mode: local identity instead of OIDC, a generated master key file, the bundled sandbox.
    demo: bool = False
    demo_identity: str = "demo.agent@noonbarbari.local"
    # email -> role ("agent" | "analyst" | "admin"); used after OIDC sign-in and for the demo identity.
    roles: dict[str, str] = Field(default_factory=dict)

    @field_validator("exchange_urls", "roles", mode="before")
    @classmethod
    def _json_mapping(cls, value: object) -> object:
        if isinstance(value, str):
            value = json.loads(value) if value.strip() else {}
        if not isinstance(value, dict):
            raise ValueError("expected a JSON object")
        return value

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.home / 'nbsupport.sqlite3').resolve()}"

    @property
    def is_sqlite(self) -> bool:
        return self.effective_database_url.startswith("sqlite")

    @property
    def demo_master_key_file(self) -> Path:
        return self.home / "master.key"


def load_settings(secrets_file: Path | None = None, **overrides: Any) -> Settings:
    """Build settings: explicit overrides > environment > secrets.toml > defaults. Overrides, like the file's
    values, are pydantic's to validate, hence Any."""
    from_file = _secrets_toml_values(secrets_file or SECRETS_FILE)
    env_names = {k.removeprefix("NBSUPPORT_").lower() for k in os.environ if k.startswith("NBSUPPORT_")}
    # Any: the values are for pydantic to validate (a timeout may come as "5000" or 5000), not the checker.
    init: dict[str, Any] = {k: v for k, v in from_file.items() if k not in env_names}
    init.update(overrides)
    return Settings(**init)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
