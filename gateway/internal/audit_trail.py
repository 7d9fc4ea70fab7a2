"""Every change made through the internal API leaves a row in `admin_audit`.

A mutation runs its change inside `audited(...)`: on success the row (outcome `ok`) is
written in the same transaction as the change, so there is never one without the other;
when the change is refused after authorization (no such user, the last coach …) it is
rolled back and the row records the refusal's code. Changes that manage their own
transactions (a model deploy waits for Ray Serve) pass `transaction=False`: the row is
then written right after.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from graphql import GraphQLError
from psycopg import AsyncConnection
from strawberry.types import Info

from gateway.internal.permissions import context_of, principal_of
from storage import admin_audit


@contextlib.asynccontextmanager
async def audited(info: Info[Any, Any], target: str, detail: dict[str, Any] | None = None, *,
                  transaction: bool = True) -> AsyncIterator[AsyncConnection[Any]]:
    """A connection to make one change on, audited as the mutation being resolved (its
    GraphQL field name is the action) on `target` (`kind:id`)."""
    context = context_of(info)
    row: dict[str, Any] = {"actor_id": principal_of(info).user_id, "action": info.field_name,
                           "target": target, "address": context.address, "detail": detail}
    async with context.state.pool.connection() as conn:
        try:
            if transaction:
                async with conn.transaction():
                    yield conn
                    await admin_audit.record(conn, **row)
            else:
                yield conn
                await admin_audit.record(conn, **row)
        except GraphQLError as exc:
            code = (exc.extensions or {}).get("code", "refused")
            await conn.rollback()  # whatever the change left open; the refusal is kept
            async with conn.transaction():
                await admin_audit.record(conn, **row, outcome=str(code))
            raise
