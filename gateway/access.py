"""Access control in one place.

Function level: an app-wide guard authenticates every route except those marked
`opt={"public": True}` and checks the roles a route names in `opt={"roles": [...]}`.
Object level: `visible_athlete` decides whether the caller may see an athlete's data —
the athlete, a coach of a group the athlete currently grants live access to, or an admin;
anyone else gets 404, exactly as if it did not exist. Partners never see health fields.
"""

from __future__ import annotations

import uuid
from typing import Any

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from gateway.auth import Principal, bearer_token
from gateway.errors import ApiError
from storage import groups as groups_repo

PUBLIC = {"public": True}
PUBLIC_ROUTE: dict[str, Any] = {"opt": PUBLIC, "tags": ["public"]}
"""For HTTP routes anyone may call: skips the guard and says so in the OpenAPI schema."""


async def authenticate_guard(connection: ASGIConnection[Any, Any, Any, Any],
                             handler: BaseRouteHandler) -> None:
    if handler.opt.get("public") or connection.url.path.startswith("/schema"):
        return
    principal: Principal | None = await connection.app.state.auth.authenticate(
        bearer_token(connection.headers, connection.query_params))
    if principal is None:
        raise ApiError(401, "unauthorized",
                       "send `Authorization: Bearer <token>` (POST /v1/auth/login gives one)")
    needed = handler.opt.get("roles")
    if needed and not (set(needed) & set(principal.roles)):
        raise ApiError(403, "forbidden", f"this needs the role {' or '.join(needed)}")
    connection.state.principal = principal


def principal_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal:
    principal: Principal = connection.state.principal
    return principal


async def may_see_athlete(conn: Any, principal: Principal, athlete_id: uuid.UUID) -> bool:
    if principal.user_id == athlete_id or "admin" in principal.roles:
        return True
    return await groups_repo.coach_may_watch(conn, principal.user_id, athlete_id)


async def visible_athlete(conn: Any, principal: Principal, athlete_id: uuid.UUID, what: str) -> None:
    """Raise 404 unless the caller may see `athlete_id`'s data."""
    if not await may_see_athlete(conn, principal, athlete_id):
        raise ApiError(404, "not_found", f"no {what}")


def sees_health_data(principal: Principal) -> bool:
    """Partners (unless also admins) never see heart rate or SpO2."""
    return "partner" not in principal.roles or "admin" in principal.roles
