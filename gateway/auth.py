"""Who is calling: the bearer token on a request or WebSocket upgrade → a principal.

Three kinds of token, all opaque random strings of which the database keeps only the
SHA-256 (storage/accounts.py, storage/devices.py):
- a session (`POST /v1/auth/login`): browsers and API clients; ends after its absolute
  lifetime or when idle too long;
- a device token (`POST /v1/devices`, prefixed `sdt_`): long-lived, for watches and
  phones, and good for the device WebSocket only;
- the development token from the settings, only when a setting turns it on (off by
  default): one fixed user, for local experiments.

Roles that require MFA (a setting; `admin` by default) act only through a session opened
with a second factor; through any other session they are held but inactive.

Each session belongs to one audience, the listener that minted it: the public gateway or
the internal one (gateway/internal). Each gateway's Authenticator accepts only its own, so a
token taken from one side opens nothing on the other (`wrong_audience`); device and
development tokens are public-side only. Nothing opens while the account is locked.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
import uuid
from collections.abc import Mapping
from typing import Any, Literal

import msgspec

from storage import accounts, devices

DEVICE_TOKEN_PREFIX = "sdt_"
TokenKind = Literal["session", "device", "dev"]


class Principal(msgspec.Struct, frozen=True, kw_only=True):
    user_id: uuid.UUID
    roles: list[str] = []
    """The roles in effect for this token."""
    kind: TokenKind = "session"
    session_id: uuid.UUID | None = None
    """The session, or the device token, it came from; None for the development token."""
    expires_at: dt.datetime | None = None
    """When the session ends at the latest (absolute expiry)."""
    inactive_roles: list[str] = []
    """Roles held but not in effect: they require MFA and this session had none."""
    reauth_at: dt.datetime | None = None
    """When the password was last given on this session."""


def bearer_token(headers: Mapping[str, str], query: Mapping[str, str] | None = None) -> str | None:
    """The token from `Authorization: Bearer …`, or `?token=` where `query` is given (the
    device socket, for clients without headers)."""
    auth = headers.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    token = query.get("token") if query is not None else None
    return token or None


def new_token() -> tuple[str, bytes]:
    """A fresh session token (256 random bits) and the hash that is stored."""
    token = secrets.token_urlsafe(32)
    return token, token_hash(token)


def new_device_token() -> tuple[str, bytes]:
    token = DEVICE_TOKEN_PREFIX + secrets.token_urlsafe(32)
    return token, token_hash(token)


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


class Refusal(msgspec.Struct, frozen=True, kw_only=True):
    """Why a token that exists opens nothing here (answered as 401 with this code)."""

    code: str
    message: str


WRONG_AUDIENCE = {
    "public": Refusal(code="wrong_audience", message="this token was issued by the internal "
                      "gateway and works only there; log in here (POST /v1/auth/login)"),
    "internal": Refusal(code="wrong_audience", message="this token was issued by the public "
                        "gateway; sign in to the internal gateway (POST /internal/v1/auth/login)"),
}
LOCKED = Refusal(code="account_locked", message="this account is locked; ask an administrator")


class Authenticator:
    def __init__(self, pool: Any, *, idle: dt.timedelta, dev_token: str = "",
                 dev_user_id: uuid.UUID | None = None,
                 mfa_required_roles: frozenset[str] = frozenset({"admin"}),
                 audience: accounts.Audience = "public") -> None:
        self._pool = pool
        self.idle = idle
        self._dev_token = dev_token.encode()
        self._dev_user_id = dev_user_id
        self.mfa_required_roles = mfa_required_roles
        self.audience = audience

    async def authenticate(self, token: str | None) -> Principal | None:
        found = await self.identify(token)
        return found if isinstance(found, Principal) else None

    async def identify(self, token: str | None) -> Principal | Refusal | None:
        """The principal of a token; a Refusal for a live token this gateway must not honour
        (another audience's, a locked account's); None for anything else."""
        if token is None or len(token) > 512:
            return None
        if self._dev_token and self._dev_user_id is not None and hmac.compare_digest(
            token.encode(), self._dev_token
        ):
            return Principal(user_id=self._dev_user_id, roles=["athlete"], kind="dev")
        async with self._pool.connection() as conn:
            if token.startswith(DEVICE_TOKEN_PREFIX):
                if self.audience != "public":
                    return WRONG_AUDIENCE[self.audience]
                found = await devices.owner_of(conn, token_hash(token))
                if found is None:
                    return None
                return Principal(user_id=found[1], roles=["athlete"], kind="device",
                                 session_id=found[0])
            session = await accounts.active_session(conn, token_hash(token), self.idle)
        if session is None:
            return None
        if session.audience != self.audience:
            return WRONG_AUDIENCE[self.audience]
        if session.locked:
            return LOCKED
        inactive = [] if session.mfa_verified else [
            r for r in session.roles if r in self.mfa_required_roles]
        return Principal(user_id=session.user_id,
                         roles=[r for r in session.roles if r not in inactive],
                         inactive_roles=inactive, session_id=session.session_id,
                         expires_at=session.expires_at, reauth_at=session.reauth_at)
