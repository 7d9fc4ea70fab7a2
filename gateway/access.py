"""Access control in one place.

Function level: an app-wide guard authenticates every route except those marked
`opt={"public": True}` and checks the roles a route names in `opt={"roles": [...]}`.
Object level: `access_to` decides what the caller may see of an athlete's data — all of
it (the athlete, an admin), or what the athlete's consents to groups the caller coaches
cover (live sessions with `live`, past workouts from a date with `history`); anyone else
gets 404, exactly as if it did not exist. Health fields go out only as privacy/health.py
allows (never to partners), and every time they go to someone other than the athlete the
read is logged (`reads_health_data`, storage/access_log.py).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from gateway.auth import Principal, Refusal, bearer_token
from gateway.errors import ApiError
from privacy import health
from storage import access_log, consents

PUBLIC = {"public": True}
PUBLIC_ROUTE: dict[str, Any] = {"opt": PUBLIC, "tags": ["public"]}
"""For HTTP routes anyone may call: skips the guard and says so in the OpenAPI schema."""
REAUTH = {"reauth": True}
"""For routes that change credentials: the password must have been given recently."""


async def authenticate_guard(connection: ASGIConnection[Any, Any, Any, Any],
                             handler: BaseRouteHandler) -> None:
    if handler.opt.get("public") or connection.url.path.startswith("/schema"):
        return
    # REST takes the token from the header only: a token in a URL ends up in logs and
    # browser histories (the device socket alone still accepts `?token=`).
    principal = await connection.app.state.auth.identify(bearer_token(connection.headers))
    if isinstance(principal, Refusal):
        raise ApiError(401, principal.code, principal.message)
    if principal is None:
        raise ApiError(401, "unauthorized",
                       "send `Authorization: Bearer <token>` (POST /v1/auth/login gives one)")
    if principal.kind == "device":
        raise ApiError(403, "device_token",
                       "a device token opens the device WebSocket only; log in for the API")
    needed = handler.opt.get("roles")
    if needed and not (set(needed) & set(principal.roles)):
        if set(needed) & set(principal.inactive_roles):
            raise ApiError(403, "mfa_required",
                           f"the role {' or '.join(needed)} acts only through a session opened "
                           "with a second factor: enrol TOTP (POST /v1/users/me/mfa/totp) and "
                           "log in again with its code")
        raise ApiError(403, "forbidden", f"this needs the role {' or '.join(needed)}")
    if handler.opt.get("reauth"):
        require_recent_auth(connection, principal)
    connection.state.principal = principal


def require_recent_auth(connection: ASGIConnection[Any, Any, Any, Any], principal: Principal) -> None:
    """Sensitive changes need the password given on this session within the last
    `reauth_window_s` (ASVS 3.7.1): at login, or with `POST /v1/auth/reauth`."""
    window = dt.timedelta(seconds=connection.app.state.reauth_window_s)
    at = principal.reauth_at
    if at is None or dt.datetime.now(dt.UTC) - at > window:
        raise ApiError(403, "reauth_required",
                       "confirm your password first: POST /v1/auth/reauth {password} (and your "
                       f"code with MFA); it counts for {int(window.total_seconds() // 60)} minutes")


def principal_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal:
    principal: Principal = connection.state.principal
    return principal


async def access_to(conn: Any, principal: Principal, athlete_id: uuid.UUID) -> consents.Access:
    """What the caller may see of an athlete's data: everything (the athlete, an admin), or
    what the athlete's consents to groups the caller coaches cover."""
    if principal.user_id == athlete_id or "admin" in principal.roles:
        return consents.Access(full=True)
    return await consents.access_of(conn, principal.user_id, athlete_id)


async def may_watch_live(conn: Any, principal: Principal, athlete_id: uuid.UUID) -> bool:
    """The live feed of one athlete: the athlete, an admin, or a coach with a live consent."""
    access = await access_to(conn, principal, athlete_id)
    return access.full or access.live


async def visible_athlete(conn: Any, principal: Principal, athlete_id: uuid.UUID,
                          what: str) -> consents.Access:
    """The caller's access to `athlete_id`'s data; 404 when there is none."""
    access = await access_to(conn, principal, athlete_id)
    if not access.any:
        raise ApiError(404, "not_found", f"no {what}")
    return access


def sees_health_data(principal: Principal, athlete_id: uuid.UUID) -> bool:
    """Whether the caller, who may see `athlete_id`'s data, may see its health fields: the
    athlete always; partners (unless also admins) never (privacy/health.py)."""
    return principal.user_id == athlete_id or health.may_receive(principal.roles)


def reads_health_data(connection: ASGIConnection[Any, Any, Any, Any], athlete_id: uuid.UUID,
                      what: access_log.What, workout_id: uuid.UUID | None = None) -> bool:
    """`sees_health_data` for the caller of a REST route that is about to send `athlete_id`'s
    health fields; when the caller is someone else, the read goes to the athlete's access
    log (queued, written within a fraction of a second: storage/access_log.py)."""
    principal = principal_of(connection)
    if not sees_health_data(principal, athlete_id):
        return False
    if principal.user_id != athlete_id:
        connection.app.state.access_log.add(access_log.Read(
            viewer_id=principal.user_id, viewer_role=viewer_role(principal), subject_id=athlete_id,
            what=what, via="rest", workout_id=workout_id))
    return True


def viewer_role(principal: Principal) -> access_log.ViewerRole:
    """The role another athlete's data is read under: an admin's role, else a coach's consent."""
    return "admin" if "admin" in principal.roles else "coach"
