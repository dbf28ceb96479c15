"""Decrypted exchange credentials: a value that refuses to show itself."""

from __future__ import annotations

import json
from dataclasses import dataclass, field


def mask(api_key: str) -> str:
    """`abcd…wxyz`: enough to match a ticket, too little to use."""
    if len(api_key) <= 8:
        return "…"
    return f"{api_key[:4]}…{api_key[-4:]}"


@dataclass(frozen=True)
class Credentials:
    """apiKey/secret plus the optional third value a venue issues (passphrase or uid).

    repr/str show only the masked key, so an accidental log line or exception cannot leak the secret.
    """

    api_key: str = field(repr=False)
    secret: str = field(repr=False)
    password: str | None = field(default=None, repr=False)
    uid: str | None = field(default=None, repr=False)

    def __repr__(self) -> str:
        return f"Credentials(api_key={mask(self.api_key)})"

    __str__ = __repr__

    def to_bytes(self) -> bytes:
        payload = {"apiKey": self.api_key, "secret": self.secret}
        if self.password is not None:
            payload["password"] = self.password
        if self.uid is not None:
            payload["uid"] = self.uid
        return json.dumps(payload, separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> Credentials:
        data = json.loads(raw)
        return cls(data["apiKey"], data["secret"], data.get("password"), data.get("uid"))

    def ccxt_config(self) -> dict[str, str]:
        config = {"apiKey": self.api_key, "secret": self.secret}
        if self.password is not None:
            config["password"] = self.password
        if self.uid is not None:
            config["uid"] = self.uid
        return config
