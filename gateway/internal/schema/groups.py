"""Groups and their members (admins): every group, anyone's membership.

Members change through storage/groups.py, as on the REST routes: each change is journaled
(`group_journal`), a removed member's consents to the group end, and the change is
announced so open live feeds are re-checked. Coaches still join only by accepting an
invitation (a coach sees what the athletes consent to show), so an admin adds athletes.
"""

from __future__ import annotations

import datetime as dt
import uuid

import strawberry
from strawberry.types import Info

from gateway.access_watch import AccessChanged
from gateway.internal.audit_trail import audited
from gateway.internal.paging import Page, convert, keyset, page
from gateway.internal.permissions import Admin, context_of, principal_of, refuse
from storage import admin_records
from storage import groups as groups_repo


@strawberry.type(description="A group with its member counts.")
class Group:
    id: uuid.UUID
    name: str
    sport: str
    created_at: dt.datetime
    created_by: uuid.UUID | None
    athletes: int
    coaches: int


@strawberry.type(description="A member of a group.")
class Member:
    user_id: uuid.UUID
    role: str
    joined_at: dt.datetime
    email: str | None = strawberry.field(
        default=None, description="The member's e-mail address, so an admin knows who it is.")


def _member(row: groups_repo.Member, emails: dict[uuid.UUID, str]) -> Member:
    return Member(user_id=row.user_id, role=row.role, joined_at=row.joined_at,
                  email=emails.get(row.user_id))


@strawberry.type
class Query:
    @strawberry.field(permission_classes=[Admin],
                      description="Every group (whose name contains `search`), newest first.")
    async def groups(self, info: Info, search: str | None = None, limit: int = 50,
                     cursor: str | None = None) -> Page[Group]:
        before = keyset(cursor, limit)
        async with context_of(info).state.pool.connection() as conn:
            rows = await admin_records.groups(conn, search or None, limit=limit + 1, before=before)
        return page(rows, limit, lambda r: convert(Group, r), at="created_at")

    @strawberry.field(permission_classes=[Admin], description="One group, or null.")
    async def group(self, info: Info, id: uuid.UUID) -> Group | None:
        async with context_of(info).state.pool.connection() as conn:
            found = await admin_records.group(conn, id)
        return None if found is None else convert(Group, found)

    @strawberry.field(permission_classes=[Admin], description="A group's members, newest first.")
    async def group_members(self, info: Info, group_id: uuid.UUID, limit: int = 50,
                            cursor: str | None = None) -> Page[Member]:
        before = keyset(cursor, limit)
        async with context_of(info).state.pool.connection() as conn:
            rows = await groups_repo.members(conn, group_id, limit=limit + 1, before=before)
            emails = await admin_records.emails(conn, [r.user_id for r in rows])
        return page(rows, limit, lambda r: _member(r, emails), at="joined_at", ident="user_id")


@strawberry.type
class Mutation:
    @strawberry.mutation(permission_classes=[Admin], description="Add an athlete to a group.")
    async def add_group_member(self, info: Info, group_id: uuid.UUID, user_id: uuid.UUID) -> Member:
        async with audited(info, f"group:{group_id}", {"user_id": str(user_id)}) as conn:
            if not await admin_records.group_exists(conn, group_id):
                refuse("not_found", f"no group {group_id}")
            current = await groups_repo.role_in_group(conn, user_id, group_id)
            if current is not None:
                refuse("already_member", f"this user is a member already ({current})")
            try:
                await groups_repo.add_member(conn, group_id, user_id, "athlete",
                                             principal_of(info).user_id)
            except groups_repo.NotFound:
                refuse("not_found", f"no user {user_id}")
            member = await admin_records.membership(conn, group_id, user_id)
            emails = await admin_records.emails(conn, [user_id])
        await context_of(info).state.access_watch.announce(AccessChanged(user_id=user_id))
        assert member is not None
        return _member(member, emails)

    @strawberry.mutation(permission_classes=[Admin],
                         description="Remove a member; their consents to the group end.")
    async def remove_group_member(self, info: Info, group_id: uuid.UUID,
                                  user_id: uuid.UUID) -> bool:
        async with audited(info, f"group:{group_id}", {"user_id": str(user_id)}) as conn:
            try:
                await groups_repo.remove_member(conn, group_id, user_id, principal_of(info).user_id)
            except groups_repo.NotFound:
                refuse("not_found", f"no member {user_id} in group {group_id}")
            except groups_repo.LastCoach:
                refuse("last_coach", "the group's only coach cannot go while it has other members")
        watch = context_of(info).state.access_watch
        await watch.announce(AccessChanged(user_id=user_id))
        await watch.announce(AccessChanged(athlete_id=user_id, group_id=group_id))
        return True
