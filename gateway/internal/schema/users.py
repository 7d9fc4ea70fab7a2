"""Accounts (admins): find them, their roles and sessions, lock and unlock them.

Roles are granted and revoked with the same storage calls as `/v1/admin/users/{id}/roles`,
and every change is announced, so open sockets of the account are re-checked at once
(gateway/access_watch.py).
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Any

import strawberry
from psycopg import AsyncConnection
from strawberry.types import Info

from gateway.access_watch import AccessChanged
from gateway.internal.audit_trail import audited
from gateway.internal.paging import Page, convert, keyset, page
from gateway.internal.permissions import Admin, context_of, principal_of, refuse
from storage import accounts, admin_accounts


@strawberry.enum(description="The roles of an account (the `roles` table's CHECK lists the same).")
class Role(enum.Enum):
    ATHLETE = "athlete"
    COACH = "coach"
    ADMIN = "admin"
    PARTNER = "partner"
    ML_ENGINEER = "ml_engineer"


@strawberry.type(description="An account: who it is and its state; no health data.")
class User:
    id: uuid.UUID
    email: str
    first_name: str | None
    last_name: str | None
    country: str | None
    city: str | None
    roles: list[str]
    created_at: dt.datetime
    locked_at: dt.datetime | None
    mfa: bool = strawberry.field(description="TOTP is enrolled.")


@strawberry.type(description="An open session, on the public or the internal gateway.")
class Session:
    id: uuid.UUID
    user_id: uuid.UUID
    audience: str
    mfa_verified: bool
    created_at: dt.datetime
    last_seen_at: dt.datetime
    expires_at: dt.datetime


async def _user(conn: AsyncConnection[Any], user_id: uuid.UUID) -> User:
    found = await admin_accounts.account(conn, user_id)
    if found is None:
        refuse("not_found", f"no user {user_id}")
    return convert(User, found)


async def _announce(info: Info, note: AccessChanged) -> None:
    await context_of(info).state.access_watch.announce(note)


@strawberry.type
class Query:
    @strawberry.field(permission_classes=[Admin],
                      description="Accounts whose e-mail or name contains `search`, newest first.")
    async def users(self, info: Info, search: str | None = None, limit: int = 50,
                    cursor: str | None = None) -> Page[User]:
        before = keyset(cursor, limit)
        async with context_of(info).state.pool.connection() as conn:
            rows = await admin_accounts.search(conn, search or None, limit=limit + 1, before=before)
        return page(rows, limit, lambda r: convert(User, r), at="created_at")

    @strawberry.field(permission_classes=[Admin], description="One account, or null.")
    async def user(self, info: Info, id: uuid.UUID) -> User | None:
        async with context_of(info).state.pool.connection() as conn:
            found = await admin_accounts.account(conn, id)
        return None if found is None else convert(User, found)

    @strawberry.field(permission_classes=[Admin],
                      description="An account's open sessions on either gateway, newest first.")
    async def user_sessions(self, info: Info, user_id: uuid.UUID, limit: int = 50,
                            cursor: str | None = None) -> Page[Session]:
        before = keyset(cursor, limit)
        async with context_of(info).state.pool.connection() as conn:
            rows = await admin_accounts.sessions_of(conn, user_id, limit=limit + 1, before=before)
        return page(rows, limit, lambda r: convert(Session, r), at="created_at")


@strawberry.type
class Mutation:
    @strawberry.mutation(permission_classes=[Admin], description="Grant a role.")
    async def grant_role(self, info: Info, user_id: uuid.UUID, role: Role) -> User:
        async with audited(info, f"user:{user_id}", {"role": role.value}) as conn:
            if not await accounts.grant_role(conn, user_id, role.value, principal_of(info).user_id):
                refuse("not_found", f"no user {user_id}")
            user = await _user(conn, user_id)
        await _announce(info, AccessChanged(user_id=user_id))
        return user

    @strawberry.mutation(permission_classes=[Admin], description="Revoke a role.")
    async def revoke_role(self, info: Info, user_id: uuid.UUID, role: Role) -> User:
        async with audited(info, f"user:{user_id}", {"role": role.value}) as conn:
            if not await accounts.revoke_role(conn, user_id, role.value):
                refuse("not_found", f"user {user_id} does not have the role {role.value}")
            user = await _user(conn, user_id)
        await _announce(info, AccessChanged(user_id=user_id))
        return user

    @strawberry.mutation(permission_classes=[Admin],
                         description="End one session of an account; true when it ended.")
    async def revoke_session(self, info: Info, user_id: uuid.UUID, session_id: uuid.UUID) -> bool:
        async with audited(info, f"session:{session_id}", {"user_id": str(user_id)}) as conn:
            if not await accounts.revoke_session(conn, user_id, session_id):
                refuse("not_found", f"no open session {session_id} of user {user_id}")
        await _announce(info, AccessChanged(session_id=session_id))
        return True

    @strawberry.mutation(permission_classes=[Admin],
                         description="Lock an account: no login and no token works until it is "
                                     "unlocked; its open sessions end.")
    async def lock_user(self, info: Info, user_id: uuid.UUID, reason: str | None = None) -> User:
        async with audited(info, f"user:{user_id}", {"reason": (reason or "")[:500]}) as conn:
            if user_id == principal_of(info).user_id:
                refuse("cannot_lock_self", "you cannot lock your own account")
            if await admin_accounts.lock(conn, user_id) is None:
                refuse("not_found", f"no user {user_id}")
            user = await _user(conn, user_id)
        await _announce(info, AccessChanged(user_id=user_id))
        return user

    @strawberry.mutation(permission_classes=[Admin], description="Unlock an account.")
    async def unlock_user(self, info: Info, user_id: uuid.UUID) -> User:
        async with audited(info, f"user:{user_id}") as conn:
            if not await admin_accounts.unlock(conn, user_id):
                refuse("not_found", f"no user {user_id}")
            user = await _user(conn, user_id)
        return user
