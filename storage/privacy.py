"""Each athlete's privacy settings: one model, private by default, read by every shared
surface (leaderboards now; profile, feed and percentiles as they come)."""

from __future__ import annotations

import uuid
from typing import Literal

import msgspec
from psycopg import AsyncConnection

Visibility = Literal["private", "followers", "public"]


class PrivacySettings(msgspec.Struct, frozen=True, kw_only=True):
    leaderboard_name: bool = False
    """Show my name on leaderboards (otherwise I am "Athlete" there)."""
    profile_visibility: Visibility = "private"
    workout_visibility: Visibility = "private"
    """The default for new workouts (the social features use it)."""
    in_percentiles: bool = False
    """Count me in other athletes' percentiles (anonymously, in cohorts of 20 or more)."""


FIELDS = PrivacySettings.__struct_fields__


async def settings_of(conn: AsyncConnection, user_id: uuid.UUID) -> PrivacySettings:
    cur = await conn.execute(
        f"SELECT {', '.join(FIELDS)} FROM privacy_settings WHERE user_id = %s", (user_id,))
    row = await cur.fetchone()
    return PrivacySettings() if row is None else PrivacySettings(**dict(zip(FIELDS, row, strict=True)))


async def update(conn: AsyncConnection, user_id: uuid.UUID, changes: dict[str, object]) -> PrivacySettings:
    unknown = set(changes) - set(FIELDS)
    if unknown:
        raise ValueError(f"not privacy settings: {sorted(unknown)}")
    if changes:
        columns = list(changes)
        await conn.execute(
            f"INSERT INTO privacy_settings (user_id, {', '.join(columns)})"
            f" VALUES (%s, {', '.join(['%s'] * len(columns))})"
            f" ON CONFLICT (user_id) DO UPDATE SET"
            f" {', '.join(f'{c} = EXCLUDED.{c}' for c in columns)}, updated_at = now()",
            [user_id, *changes.values()])
    return await settings_of(conn, user_id)

