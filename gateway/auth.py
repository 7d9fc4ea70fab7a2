"""Who is calling: the bearer token on a request or WebSocket upgrade → a principal.

Tokens are opaque random strings; the database keeps only their SHA-256 (storage/accounts.py).
A development token from the settings may also be accepted (the demo uses it); it maps to
one user and is off when the setting is empty.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
import uuid
from collections.abc import Mapping
from typing import Any

import msgspec

from storage import accounts


class Principal(msgspec.Struct, frozen=True, kw_only=True):
    user_id: uuid.UUID
    roles: list[str] = []
    session_id: uuid.UUID | None = None
    """None for the development token."""
    expires_at: dt.datetime | None = None
    """When the session ends at the latest (absolute expiry)."""


def bearer_token(headers: Mapping[str, str], query: Mapping[str, str]) -> str | None:
    """The token from `Authorization: Bearer …`, or `?token=` for clients without headers."""
    auth = headers.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    token = query.get("token")
    return token or None


def new_token() -> tuple[str, bytes]:
    """A fresh session token (256 random bits) and the hash that is stored."""
    token = secrets.token_urlsafe(32)
    return token, token_hash(token)


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


class Authenticator:
    def __init__(self, pool: Any, *, idle: dt.timedelta, dev_token: str = "",
                 dev_user_id: uuid.UUID | None = None) -> None:
        self._pool = pool
        self._idle = idle
        self._dev_token = dev_token.encode()
        self._dev_user_id = dev_user_id

    async def authenticate(self, token: str | None) -> Principal | None:
        if token is None or len(token) > 512:
            return None
        if self._dev_token and self._dev_user_id is not None and hmac.compare_digest(
            token.encode(), self._dev_token
        ):
            return Principal(user_id=self._dev_user_id, roles=["athlete"])
        async with self._pool.connection() as conn:
            session = await accounts.active_session(conn, token_hash(token), self._idle)
        if session is None:
            return None
        return Principal(user_id=session.user_id, roles=session.roles,
                         session_id=session.session_id, expires_at=session.expires_at)
