"""REST: groups, their members and coach invitations, and admin role management.

A coach of a group adds athletes directly; a coach joins only by accepting an
invitation, and the athletes who consent to the group are told (`group.coach_added`).
Members can be removed by the group's coaches and can leave. Every change is journaled
(`group_journal`) and counts against the account's changes a minute.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from typing import Annotated, Any, Literal

import msgspec
from litestar import Request, Response, delete, get, post
from litestar.params import Parameter
from litestar.status_codes import HTTP_204_NO_CONTENT

from gateway import cursors
from gateway.access import principal_of
from gateway.access_watch import AccessChanged
from gateway.errors import ApiError, refused
from gateway.quotas import Refused
from gateway.text import Name
from privacy import age
from storage import accounts, consents, health_consent
from storage import groups as groups_repo
from streams import events, topics
from streams.events import Sport

PUBLISH_TIMEOUT_S = 5.0
_TOLD = uuid.UUID("5d1e3b9e-8c0a-4c57-a0b5-3f1c3bd2b7a1")
"""Namespace of the ids of `group.coach_added` notifications (one per invitation and athlete)."""


class GroupIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: Name
    sport: Sport


class Created(msgspec.Struct, frozen=True):
    id: uuid.UUID


class MemberIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    user_id: uuid.UUID
    role: Literal["athlete", "coach"]


class MemberChange(msgspec.Struct, frozen=True, kw_only=True):
    user_id: uuid.UUID
    role: str
    status: Literal["added", "invited"]
    """Athletes are added at once; a coach is invited and joins on accepting."""
    invitation_id: uuid.UUID | None = None


class RoleIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    role: accounts.Role


async def count_change(request: Request[Any, Any, Any]) -> None:
    try:
        await request.app.state.quotas.changed_groups_or_consents(principal_of(request).user_id)
    except Refused as exc:
        raise refused(exc) from None


def page_headers(rows: list[Any], limit: int, at: str) -> dict[str, str]:
    last = rows[limit - 1] if len(rows) > limit else None
    return cursors.next_page_headers(last is not None, getattr(last, at, None),
                                     getattr(last, "id", None) or getattr(last, "user_id", None))


@post("/v1/groups", summary="Create a group; you become its first coach")
async def create_group(request: Request[Any, Any, Any], data: GroupIn) -> Created:
    await count_change(request)
    me = principal_of(request)
    async with request.app.state.pool.connection() as conn:
        return Created(await groups_repo.create_group(conn, me.user_id, data.name, data.sport))


@get("/v1/groups", summary="Groups you belong to, newest first (`X-Next-Cursor` for more)")
async def list_groups(
    request: Request[Any, Any, Any], limit: Annotated[int, Parameter(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Parameter(max_length=200)] = None,
) -> Response[list[groups_repo.Group]]:
    async with request.app.state.pool.connection() as conn:
        rows = await groups_repo.my_groups(conn, principal_of(request).user_id, limit=limit + 1,
                                           before=cursors.keyset_of(cursor))
    return Response(rows[:limit], headers=page_headers(rows, limit, "joined_at"))


async def _coach_of(request: Request[Any, Any, Any], conn: Any, group_id: uuid.UUID) -> None:
    me = principal_of(request)
    role = await groups_repo.role_in_group(conn, me.user_id, group_id)
    if role is None and "admin" not in me.roles:
        raise ApiError(404, "not_found", f"no group {group_id}")
    if role != "coach" and "admin" not in me.roles:
        raise ApiError(403, "forbidden", "only a coach of the group may do this")


class MemberOut(msgspec.Struct, frozen=True, kw_only=True):
    user_id: uuid.UUID
    role: str
    joined_at: dt.datetime
    name: str | None
    """First and last name ("Athlete" when neither is given; never the e-mail): of a coach,
    and of an athlete who consents to the group; null for an athlete who has not (a coach
    adds athletes without asking them, so that alone does not show their name)."""
    consents: list[consents.Scope]
    """What the member currently lets the group's coaches see: `live`, `history`."""


def scopes_of(user_id: uuid.UUID, live: set[uuid.UUID], history: set[uuid.UUID]) -> list[consents.Scope]:
    scopes: list[consents.Scope] = []
    if user_id in live:
        scopes.append("live")
    if user_id in history:
        scopes.append("history")
    return scopes


@get("/v1/groups/{group_id:uuid}/members",
     summary="Members of a group you coach, newest first (`X-Next-Cursor` for more), with "
             "what each lets the group see")
async def list_members(
    request: Request[Any, Any, Any], group_id: uuid.UUID,
    limit: Annotated[int, Parameter(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Parameter(max_length=200)] = None,
) -> Response[list[MemberOut]]:
    async with request.app.state.pool.connection() as conn:
        await _coach_of(request, conn, group_id)
        rows = await groups_repo.members(conn, group_id, limit=limit + 1,
                                         before=cursors.keyset_of(cursor))
        live = await consents.consenting(conn, group_id, "live")
        history = await consents.consenting(conn, group_id, "history")
        page = rows[:limit]
        consenting = live | history
        named = {m.user_id for m in page if m.role == "coach" or m.user_id in consenting}
        names = await groups_repo.athlete_names(conn, named)
    out = [MemberOut(user_id=m.user_id, role=m.role, joined_at=m.joined_at,
                     name=names.get(m.user_id) if m.user_id in named else None,
                     consents=scopes_of(m.user_id, live, history))
           for m in page]
    return Response(out, headers=page_headers(rows, limit, "joined_at"))


async def _may_join(conn: Any, user_id: uuid.UUID) -> None:
    """A group shows its athletes to its coaches: an athlete under 16 joins only once a
    guardian has consented (privacy/age.py)."""
    standing = await health_consent.standing_of(conn, user_id)
    if standing is not None and not age.may_socialise(standing, dt.datetime.now(dt.UTC).date()):
        raise ApiError(409, "guardian_consent_required", "this athlete joins groups once their "
                       "guardian has consented (PUT /v1/me/guardian)")


@post("/v1/groups/{group_id:uuid}/members", status_code=200,
      summary="Add an athlete, or invite a coach (coaches of the group only)")
async def add_member(request: Request[Any, Any, Any], group_id: uuid.UUID,
                     data: MemberIn) -> MemberChange:
    await count_change(request)
    me = principal_of(request)
    async with request.app.state.pool.connection() as conn:
        await _coach_of(request, conn, group_id)
        current = await groups_repo.role_in_group(conn, data.user_id, group_id)
        try:
            if data.role == "coach":
                if current == "coach":
                    raise ApiError(409, "already_member", "this user already coaches the group")
                invitation = await groups_repo.invite(conn, group_id, data.user_id, "coach", me.user_id)
                return MemberChange(user_id=data.user_id, role="coach", status="invited",
                                    invitation_id=invitation)
            if current is not None:
                raise ApiError(409, "already_member", f"this user is a member already ({current}); "
                               "remove them first to change their role")
            await _may_join(conn, data.user_id)
            await groups_repo.add_member(conn, group_id, data.user_id, "athlete", me.user_id)
        except groups_repo.NotFound:
            raise ApiError(404, "not_found", f"no user {data.user_id}") from None
    return MemberChange(user_id=data.user_id, role="athlete", status="added")


@delete("/v1/groups/{group_id:uuid}/members/{user_id:uuid}", status_code=HTTP_204_NO_CONTENT,
        summary="Remove a member (coaches of the group); their consents to it end")
async def remove_member(request: Request[Any, Any, Any], group_id: uuid.UUID,
                        user_id: uuid.UUID) -> None:
    await count_change(request)
    async with request.app.state.pool.connection() as conn:
        await _coach_of(request, conn, group_id)
        await _remove(request, conn, group_id, user_id)


@post("/v1/groups/{group_id:uuid}/leave", status_code=HTTP_204_NO_CONTENT,
      summary="Leave a group; your consents to it end")
async def leave_group(request: Request[Any, Any, Any], group_id: uuid.UUID) -> None:
    await count_change(request)
    me = principal_of(request)
    async with request.app.state.pool.connection() as conn:
        await _remove(request, conn, group_id, me.user_id)


async def _remove(request: Request[Any, Any, Any], conn: Any, group_id: uuid.UUID,
                  user_id: uuid.UUID) -> None:
    try:
        await groups_repo.remove_member(conn, group_id, user_id, principal_of(request).user_id)
    except groups_repo.NotFound:
        raise ApiError(404, "not_found", f"no member {user_id} in group {group_id}") from None
    except groups_repo.LastCoach:
        raise ApiError(409, "last_coach", "the group's only coach cannot go while it has other "
                       "members: invite another coach first") from None
    watch = request.app.state.access_watch
    await watch.announce(AccessChanged(user_id=user_id))
    await watch.announce(AccessChanged(athlete_id=user_id, group_id=group_id))


@delete("/v1/groups/{group_id:uuid}/invitations/{invitation_id:uuid}",
        status_code=HTTP_204_NO_CONTENT, summary="Withdraw a pending invitation (coaches)")
async def revoke_invitation(request: Request[Any, Any, Any], group_id: uuid.UUID,
                            invitation_id: uuid.UUID) -> None:
    await count_change(request)
    async with request.app.state.pool.connection() as conn:
        await _coach_of(request, conn, group_id)
        try:
            await groups_repo.revoke_invitation(conn, group_id, invitation_id,
                                                principal_of(request).user_id)
        except groups_repo.NotFound:
            raise ApiError(404, "not_found", f"no pending invitation {invitation_id}") from None


@get("/v1/invitations", summary="Your pending invitations to coach groups")
async def list_invitations(
    request: Request[Any, Any, Any], limit: Annotated[int, Parameter(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Parameter(max_length=200)] = None,
) -> Response[list[groups_repo.Invitation]]:
    async with request.app.state.pool.connection() as conn:
        rows = await groups_repo.my_invitations(conn, principal_of(request).user_id,
                                                limit=limit + 1, before=cursors.keyset_of(cursor))
    return Response(rows[:limit], headers=page_headers(rows, limit, "created_at"))


@post("/v1/invitations/{invitation_id:uuid}/accept", status_code=200,
      summary="Accept an invitation: you coach the group; its consenting athletes are told")
async def accept_invitation(request: Request[Any, Any, Any],
                            invitation_id: uuid.UUID) -> groups_repo.Invitation:
    await count_change(request)
    me = principal_of(request)
    async with request.app.state.pool.connection() as conn, conn.transaction():
        try:
            invitation = await groups_repo.answer_invitation(conn, invitation_id, me.user_id, True)
        except groups_repo.NotFound:
            raise ApiError(404, "not_found", f"no pending invitation {invitation_id}") from None
        told = await consents.consenting(conn, invitation.group_id, scope=None)
        names = await groups_repo.athlete_names(conn, {me.user_id})
        # Told before the change commits: if Kafka cannot take the notes, nothing changes.
        await _tell(request, [events.NotificationRequested(
            user_id=athlete, notification_id=uuid.uuid5(_TOLD, f"{invitation.id}:{athlete}"),
            kind="group.coach_added",
            message=f"{names.get(me.user_id, 'Someone')} now coaches {invitation.group_name}, a "
                    "group you let see your data. Your consents list its coaches; withdraw one "
                    "at any time.")
            for athlete in sorted(told) if athlete != me.user_id])
    return invitation


@post("/v1/invitations/{invitation_id:uuid}/decline", status_code=200,
      summary="Decline an invitation")
async def decline_invitation(request: Request[Any, Any, Any],
                             invitation_id: uuid.UUID) -> groups_repo.Invitation:
    await count_change(request)
    async with request.app.state.pool.connection() as conn:
        try:
            return await groups_repo.answer_invitation(conn, invitation_id,
                                                       principal_of(request).user_id, False)
        except groups_repo.NotFound:
            raise ApiError(404, "not_found", f"no pending invitation {invitation_id}") from None


async def _tell(request: Request[Any, Any, Any], notes: list[events.NotificationRequested]) -> None:
    if not notes:
        return
    try:
        await asyncio.wait_for(request.app.state.events.publish(
            [(topics.NOTIFICATIONS, note) for note in notes]), PUBLISH_TIMEOUT_S)
    except Exception:
        raise ApiError(503, "unavailable", "could not notify the group's athletes; nothing "
                       "changed, try again") from None


@post("/v1/admin/users/{user_id:uuid}/roles", status_code=HTTP_204_NO_CONTENT,
      opt={"roles": ["admin"]}, summary="Grant a role (admins)")
async def grant_role(request: Request[Any, Any, Any], user_id: uuid.UUID, data: RoleIn) -> None:
    async with request.app.state.pool.connection() as conn:
        if not await accounts.grant_role(conn, user_id, data.role, principal_of(request).user_id):
            raise ApiError(404, "not_found", f"no user {user_id}")
    await request.app.state.access_watch.announce(AccessChanged(user_id=user_id))


@delete("/v1/admin/users/{user_id:uuid}/roles/{role:str}", status_code=HTTP_204_NO_CONTENT,
        opt={"roles": ["admin"]}, summary="Revoke a role (admins)")
async def revoke_role(request: Request[Any, Any, Any], user_id: uuid.UUID, role: str) -> None:
    async with request.app.state.pool.connection() as conn:
        if not await accounts.revoke_role(conn, user_id, role):
            raise ApiError(404, "not_found", f"user {user_id} does not have the role {role}")
    await request.app.state.access_watch.announce(AccessChanged(user_id=user_id))


ROUTES = [create_group, list_groups, list_members, add_member, remove_member, leave_group,
          revoke_invitation, list_invitations, accept_invitation, decline_invitation, grant_role,
          revoke_role]
