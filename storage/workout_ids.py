"""Who owns a workout id: claimed by the first account that starts it, for ever.

The row outlives the workout's snapshot, its rows, and even the account: erasure leaves
a tombstone (user_id NULL) that keeps the id reserved and holds no personal data.
"""

from __future__ import annotations

import uuid

from psycopg import AsyncConnection


async def owner_of(conn: AsyncConnection, workout_id: uuid.UUID) -> tuple[bool, uuid.UUID | None]:
    """(claimed at all, by whom: None for an erased account's tombstone, or a workout its
    athlete deleted — its id is never started again)."""
    cur = await conn.execute("SELECT CASE WHEN deleted_at IS NULL THEN user_id END"
                             " FROM workout_ids WHERE id = %s", (workout_id,))
    row = await cur.fetchone()
    return (False, None) if row is None else (True, row[0])


async def deleted_by(conn: AsyncConnection, workout_id: uuid.UUID, user_id: uuid.UUID) -> bool:
    """Whether the id is of a workout `user_id` owned and deleted (only its owner is told:
    anyone else learns no more than that the id is not theirs)."""
    cur = await conn.execute("SELECT 1 FROM workout_ids WHERE id = %s AND user_id = %s"
                             " AND deleted_at IS NOT NULL", (workout_id, user_id))
    return await cur.fetchone() is not None


async def claim(conn: AsyncConnection, workout_id: uuid.UUID, user_id: uuid.UUID) -> bool:
    """Claim the id for `user_id`, or find who has it; True if it is (now) the user's."""
    cur = await conn.execute(
        "WITH claimed AS (INSERT INTO workout_ids (id, user_id) VALUES (%(w)s, %(u)s)"
        "   ON CONFLICT (id) DO NOTHING RETURNING user_id)"
        " SELECT user_id FROM claimed UNION ALL SELECT user_id FROM workout_ids WHERE id = %(w)s",
        {"w": workout_id, "u": user_id})
    row = await cur.fetchone()
    if row is None:  # a concurrent claim committed after this statement's snapshot
        cur = await conn.execute("SELECT user_id FROM workout_ids WHERE id = %s", (workout_id,))
        row = await cur.fetchone()
    return row is not None and row[0] == user_id
