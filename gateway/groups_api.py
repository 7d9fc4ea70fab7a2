"""REST: groups with athlete and coach members, consents, and admin role management."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

import msgspec
from litestar import Request, delete, get, post
from litestar.status_codes import HTTP_204_NO_CONTENT

from gateway.access import principal_of
from gateway.access_watch import AccessChanged
from gateway.errors import ApiError
from storage import accounts
from storage import groups as groups_repo
from streams.events import Sport


class GroupIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    sport: Sport


class Created(msgspec.Struct, frozen=True):
    id: uuid.UUID


class MemberIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    user_id: uuid.UUID
    role: Literal["athlete", "coach"]


class ConsentIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    group_id: uuid.UUID
    scope: Literal["live"] = "live"
    purpose: Annotated[str, msgspec.Meta(min_length=1, max_length=500)] = "live coaching"


class RoleIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    role: accounts.Role


@post("/v1/groups", summary="Create a group; you become its first coach")
async def create_group(request: Request[Any, Any, Any], data: GroupIn) -> Created:
    me = principal_of(request)
    async with request.app.state.pool.connection() as conn:
        return Created(await groups_repo.create_group(conn, me.user_id, data.name, data.sport))


@get("/v1/groups", summary="Groups you belong to")
async def list_groups(request: Request[Any, Any, Any]) -> list[groups_repo.Group]:
    async with request.app.state.pool.connection() as conn:
        return await groups_repo.my_groups(conn, principal_of(request).user_id)


async def _coach_of(request: Request[Any, Any, Any], conn: Any, group_id: uuid.UUID) -> None:
    me = principal_of(request)
    role = await groups_repo.role_in_group(conn, me.user_id, group_id)
    if role is None and "admin" not in me.roles:
        raise ApiError(404, "not_found", f"no group {group_id}")
    if role != "coach" and "admin" not in me.roles:
        raise ApiError(403, "forbidden", "only a coach of the group may do this")


@get("/v1/groups/{group_id:uuid}/members", summary="Members of a group you coach")
async def list_members(request: Request[Any, Any, Any], group_id: uuid.UUID) -> list[groups_repo.Member]:
    async with request.app.state.pool.connection() as conn:
        await _coach_of(request, conn, group_id)
        return await groups_repo.members(conn, group_id)


@post("/v1/groups/{group_id:uuid}/members", status_code=HTTP_204_NO_CONTENT,
      summary="Add an athlete or coach (coaches of the group only)")
async def add_member(request: Request[Any, Any, Any], group_id: uuid.UUID, data: MemberIn) -> None:
    async with request.app.state.pool.connection() as conn:
        await _coach_of(request, conn, group_id)
        try:
            await groups_repo.add_member(conn, group_id, data.user_id, data.role)
        except groups_repo.NotFound:
            raise ApiError(404, "not_found", f"no user {data.user_id}") from None


@post("/v1/consents", summary="Let a group's coaches watch you live")
async def grant_consent(request: Request[Any, Any, Any], data: ConsentIn) -> groups_repo.Consent:
    me = principal_of(request)
    async with request.app.state.pool.connection() as conn:
        if await groups_repo.role_in_group(conn, me.user_id, data.group_id) is None:
            raise ApiError(404, "not_found", f"no group {data.group_id} that you belong to")
        return await groups_repo.grant_consent(conn, me.user_id, data.group_id, data.scope,
                                               data.purpose)


@get("/v1/consents", summary="Your consents, current and withdrawn")
async def list_consents(request: Request[Any, Any, Any]) -> list[groups_repo.Consent]:
    async with request.app.state.pool.connection() as conn:
        return await groups_repo.my_consents(conn, principal_of(request).user_id)


@delete("/v1/consents/{consent_id:uuid}", status_code=HTTP_204_NO_CONTENT,
        summary="Withdraw a consent (takes effect at once, live feeds included)")
async def withdraw_consent(request: Request[Any, Any, Any], consent_id: uuid.UUID) -> None:
    me = principal_of(request)
    async with request.app.state.pool.connection() as conn:
        try:
            consent = await groups_repo.withdraw_consent(conn, me.user_id, consent_id, "withdrawn")
        except groups_repo.NotFound:
            raise ApiError(404, "not_found", f"no active consent {consent_id}") from None
    await request.app.state.access_watch.announce_consent(consent.athlete_id)


@post("/v1/admin/users/{user_id:uuid}/roles", status_code=HTTP_204_NO_CONTENT,
      opt={"roles": ["admin"]}, summary="Grant a role (admins)")
async def grant_role(request: Request[Any, Any, Any], user_id: uuid.UUID, data: RoleIn) -> None:
    async with request.app.state.pool.connection() as conn:
        if not await accounts.grant_role(conn, user_id, data.role, principal_of(request).user_id):
            raise ApiError(404, "not_found", f"no user {user_id}")


@delete("/v1/admin/users/{user_id:uuid}/roles/{role:str}", status_code=HTTP_204_NO_CONTENT,
        opt={"roles": ["admin"]}, summary="Revoke a role (admins)")
async def revoke_role(request: Request[Any, Any, Any], user_id: uuid.UUID, role: str) -> None:
    async with request.app.state.pool.connection() as conn:
        if not await accounts.revoke_role(conn, user_id, role):
            raise ApiError(404, "not_found", f"user {user_id} does not have the role {role}")
    await request.app.state.access_watch.announce(AccessChanged(user_id=user_id))


ROUTES = [create_group, list_groups, list_members, add_member, grant_consent, list_consents,
          withdraw_consent, grant_role, revoke_role]
