"""Who is signed in (anyone who may sign in here): what the SPA shows and which areas it opens."""

from __future__ import annotations

import datetime as dt
import uuid

import strawberry
from strawberry.types import Info

from gateway.internal.permissions import Staff, principal_of


@strawberry.type(description="The signed-in account and its session.")
class Me:
    user_id: uuid.UUID
    roles: list[str]
    session_expires_at: dt.datetime | None


@strawberry.type
class Query:
    @strawberry.field(permission_classes=[Staff], description="The signed-in account.")
    def me(self, info: Info) -> Me:
        principal = principal_of(info)
        return Me(user_id=principal.user_id, roles=sorted(principal.roles),
                  session_expires_at=principal.expires_at)
