"""API tokens for the HTTP transport: stored hashed, compared in constant time, each with a subject.

A request authenticates with `Authorization: Bearer TOKEN` or `X-API-Key: TOKEN` (seed 003).
hosts.yaml lists tokens by their SHA-256 (`qemu-mcp token hash` prints it) or names an env var
holding the token; either way only the hash is kept in memory.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field, model_validator

from qemu_mcp import redaction

STDIO_SUBJECT = "stdio"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class TokenSpec(BaseModel):
    """One token in hosts.yaml's `auth.tokens` list."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    subject: str = Field(min_length=1, max_length=128, description="Who holds the token (audit 'who')")
    sha256: str | None = Field(None, pattern=r"^[0-9a-f]{64}$", description="SHA-256 hex of the token")
    env: str | None = Field(None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", description="Env var holding the token")
    read_only: bool = Field(False, description="The token may call read-only tools only")

    @model_validator(mode="after")
    def _one_source(self) -> TokenSpec:
        if (self.sha256 is None) == (self.env is None):
            raise ValueError("give exactly one of sha256 (the token's hash) or env (a variable holding it)")
        return self


class AuthConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    tokens: tuple[TokenSpec, ...] = ()


class Principal(BaseModel):
    """Who is calling: a token's subject, or `stdio` for the local client."""

    model_config = ConfigDict(frozen=True)
    subject: str
    read_only: bool = False


STDIO = Principal(subject=STDIO_SUBJECT)


class TokenStore:
    def __init__(self, tokens: tuple[TokenSpec, ...] = ()) -> None:
        self._entries: list[tuple[bytes, Principal]] = []
        for t in tokens:
            if t.env is not None:
                value = os.environ.get(t.env)
                if not value:
                    # A token whose variable is unset authenticates nobody; say so at start-up.
                    raise ValueError(f"auth token of subject '{t.subject}': ${t.env} is not set")
                redaction.remember(value)
                digest = token_hash(value)
            else:
                assert t.sha256 is not None
                digest = t.sha256
            self._entries.append((bytes.fromhex(digest), Principal(subject=t.subject, read_only=t.read_only)))

    @property
    def enabled(self) -> bool:
        return bool(self._entries)

    def authenticate(self, headers: Mapping[str, str]) -> Principal | None:
        """The principal whose token the headers carry, else None. Every entry is compared (constant time)."""
        token = _presented_token(headers)
        if token is None:
            return None
        digest = hashlib.sha256(token.encode()).digest()
        found: Principal | None = None
        for stored, principal in self._entries:
            if hmac.compare_digest(stored, digest) and found is None:
                found = principal
        if found is not None:
            redaction.remember(token)  # a valid token is a secret; a wrong one is hidden by its shape
        return found


def _presented_token(headers: Mapping[str, str]) -> str | None:
    lower = {k.lower(): v for k, v in headers.items()}
    auth = lower.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    key = lower.get("x-api-key", "").strip()
    return key or None
