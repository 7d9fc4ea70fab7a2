"""Who is calling: the bearer token on a request or WebSocket upgrade → a principal.

Until accounts exist, one development token from the settings maps to one user.
"""

from __future__ import annotations

import hmac
import uuid
from collections.abc import Mapping

import msgspec


class Principal(msgspec.Struct, frozen=True):
    user_id: uuid.UUID


def bearer_token(headers: Mapping[str, str], query: Mapping[str, str]) -> str | None:
    """The token from `Authorization: Bearer …`, or `?token=` for clients without headers."""
    auth = headers.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    token = query.get("token")
    return token or None


class DevTokenAuth:
    def __init__(self, token: str, user_id: uuid.UUID) -> None:
        self._token = token.encode()
        self._user_id = user_id

    def authenticate(self, token: str | None) -> Principal | None:
        if token is None or not hmac.compare_digest(token.encode(), self._token):
            return None
        return Principal(self._user_id)
