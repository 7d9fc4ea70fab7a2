"""Notifications: risk alerts enqueued for the athlete and their coaches, and the in-app inbox.

In-app notifications are delivered by being in the inbox, so they are written with status
`delivered` and become `read` when the user reads them. (`queued` is the push/email
delivery worker's queue, `notification_logs_queued_idx`; an in-app row must not wait there.)
The inbox lists the `in_app` channel only: other channels' rows are delivery records of the
same events and would show each notification twice.
"""

from __future__ import annotations

import datetime as dt
import uuid

import msgspec
from psycopg import AsyncConnection

from privacy import health
from streams.events import NotificationRequested, RiskAlert

RISK_ALERT = "risk.alert"
IN_APP = "in_app"

_NOT_A_DIAGNOSIS = "It is a flag to take into account, not a diagnosis."


class Enqueued(msgspec.Struct, frozen=True, kw_only=True):
    """A notification row that an enqueue call created (not one that existed already)."""

    id: uuid.UUID
    user_id: uuid.UUID
    created_at: dt.datetime


class Notification(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    type: str
    channel: str
    message: str
    status: str
    created_at: dt.datetime
    workout_id: uuid.UUID | None = None
    """The workout a risk alert is about; None for other types."""


class Cursor(msgspec.Struct, frozen=True, array_like=True):
    """Keyset position in a user's inbox: items strictly older than (created_at, id)."""

    created_at: dt.datetime
    id: uuid.UUID


def dedupe_key(workout_id: uuid.UUID, level: str, recipient: uuid.UUID) -> str:
    """One risk notification per workout, level and recipient.

    The actor raises a workout's level at most once per level, but a replay after a crash
    (the device resends unacked samples, batched differently) may re-emit the same rise
    with another `at_ms`; leaving `at_ms` out keeps such a replay from notifying twice.
    """
    return f"{_dedupe_prefix(workout_id, level)}{recipient}"


def _dedupe_prefix(workout_id: uuid.UUID, level: str) -> str:
    return f"{RISK_ALERT}:{workout_id}:{level}:"


def _workout_of(key: str | None) -> uuid.UUID | None:
    """The workout a risk alert's row is about, from its dedupe key (the table has no
    column for it)."""
    parts = (key or "").split(":")
    if len(parts) != 4 or parts[0] != RISK_ALERT:
        return None
    try:
        return uuid.UUID(parts[1])
    except ValueError:
        return None


def athlete_message(alert: RiskAlert) -> str:
    """What the athlete reads: the level and the actor's reasons, a flag, never a diagnosis."""
    return f"{alert.level.capitalize()} injury-risk flag on your workout{_reasons(alert)}"


def coach_message(alert: RiskAlert, first_name: str | None) -> str:
    """What a coach reads: whose workout, the level and the reasons."""
    whose = f"{first_name}'s workout" if first_name else _ANONYMOUS_WORKOUT
    return whose + _coach_suffix(alert)


_ANONYMOUS_WORKOUT = "An athlete's workout"


def _coach_suffix(alert: RiskAlert) -> str:
    return f" raised a {alert.level} injury-risk flag{_reasons(alert)}"


def _reasons(alert: RiskAlert) -> str:
    listed = f": {'; '.join(alert.reasons)}." if alert.reasons else "."
    return f"{listed} {_NOT_A_DIAGNOSIS}"


_ENQUEUE_RISK_ALERT = """
WITH athlete AS (
    SELECT id, nullif(btrim(first_name), '') AS first_name FROM users WHERE id = %(athlete)s
), recipients AS (
    SELECT id AS user_id, true AS own FROM athlete
    UNION
    -- coaches of every group in which the athlete is a member with an active live consent
    SELECT coach.user_id, false
    FROM consents c
    JOIN user_groups member ON member.group_id = c.group_id AND member.user_id = c.athlete_id
    JOIN user_groups coach ON coach.group_id = c.group_id AND coach.role = 'coach'
    WHERE c.athlete_id = %(athlete)s AND c.scope = 'live' AND c.withdrawn_at IS NULL
      AND coach.user_id <> %(athlete)s
      -- a risk flag is health data: only coaches the field policy lets receive it
      AND (NOT EXISTS (SELECT 1 FROM roles r WHERE r.user_id = coach.user_id
                       AND r.role = ANY(%(no_health)s))
           OR EXISTS (SELECT 1 FROM roles r WHERE r.user_id = coach.user_id
                      AND r.role = ANY(%(override)s)))
)
INSERT INTO notification_logs (user_id, notification_type, channel, message, status, dedupe_key)
SELECT r.user_id, %(type)s, %(channel)s,
       CASE WHEN r.own THEN %(own_message)s
            ELSE coalesce(a.first_name || '''s workout', %(anonymous)s) || %(coach_suffix)s
       END,
       'delivered', %(key_prefix)s || r.user_id::text
FROM recipients r CROSS JOIN athlete a
WHERE NOT EXISTS (
    SELECT 1 FROM notification_preferences p
    WHERE p.user_id = r.user_id AND p.notification_type = %(type)s AND p.channel = %(channel)s
      AND NOT p.enabled)
ON CONFLICT (dedupe_key) DO NOTHING
RETURNING id, user_id, created_at
"""


async def enqueue_risk_alert(conn: AsyncConnection, alert: RiskAlert) -> list[Enqueued]:
    """In-app notifications of one risk alert for the athlete and every coach of a group the
    athlete currently lets watch live, minus those who turned `risk.alert` in-app off and
    those the health field policy excludes (partners).

    Idempotent: a redelivered alert creates nothing (only new rows are returned). An
    athlete unknown to the database (erased) gets nothing.
    """
    cur = await conn.execute(_ENQUEUE_RISK_ALERT, {
        "athlete": alert.user_id, "type": RISK_ALERT, "channel": IN_APP,
        "own_message": athlete_message(alert), "anonymous": _ANONYMOUS_WORKOUT,
        "coach_suffix": _coach_suffix(alert),
        "key_prefix": _dedupe_prefix(alert.workout_id, alert.level),
        "no_health": sorted(health.NO_HEALTH_ROLES), "override": sorted(health.HEALTH_OVERRIDE_ROLES),
    })
    return [Enqueued(id=r[0], user_id=r[1], created_at=r[2]) for r in await cur.fetchall()]


_ENQUEUE_REQUESTED = """
INSERT INTO notification_logs (user_id, notification_type, channel, message, status, dedupe_key)
SELECT u.id, %(type)s, %(channel)s, %(message)s, 'delivered', %(key)s
FROM users u
WHERE u.id = %(user)s
  AND (NOT %(health)s
       OR NOT EXISTS (SELECT 1 FROM roles r WHERE r.user_id = u.id AND r.role = ANY(%(no_health)s))
       OR EXISTS (SELECT 1 FROM roles r WHERE r.user_id = u.id AND r.role = ANY(%(override)s)))
  AND NOT EXISTS (
    SELECT 1 FROM notification_preferences p
    WHERE p.user_id = u.id AND p.notification_type = %(type)s AND p.channel = %(channel)s
      AND NOT p.enabled)
ON CONFLICT (dedupe_key) DO NOTHING
RETURNING id, user_id, created_at
"""


async def enqueue_requested(conn: AsyncConnection, request: NotificationRequested) -> Enqueued | None:
    """The in-app notification a NotificationRequested asks for; None if it exists already
    (a redelivery), the recipient is gone, turned the kind off, or — for health content —
    may not receive health data."""
    cur = await conn.execute(_ENQUEUE_REQUESTED, {
        "user": request.user_id, "type": request.kind, "channel": IN_APP,
        "message": request.message, "key": f"{request.kind}:{request.notification_id}",
        "health": request.health, "no_health": sorted(health.NO_HEALTH_ROLES),
        "override": sorted(health.HEALTH_OVERRIDE_ROLES)})
    row = await cur.fetchone()
    return None if row is None else Enqueued(id=row[0], user_id=row[1], created_at=row[2])


async def list_inbox(conn: AsyncConnection, user_id: uuid.UUID, *, limit: int,
                     before: Cursor | None = None, unread_only: bool = False) -> list[Notification]:
    """A user's in-app notifications, newest first (ties by id), those after `before` only."""
    where = ["user_id = %(user)s", "channel = %(channel)s"]
    if before is not None:
        where.append("(created_at, id) < (%(before_at)s, %(before_id)s)")
    if unread_only:
        where.append("status <> 'read'")
    query = ("SELECT id, notification_type, channel, message, status, created_at, dedupe_key"
             f" FROM notification_logs WHERE {' AND '.join(where)}"
             " ORDER BY created_at DESC, id DESC LIMIT %(limit)s")
    cur = await conn.execute(query, {  # the WHERE is composed of literals only
        "user": user_id, "channel": IN_APP, "limit": limit,
        "before_at": before.created_at if before else None,
        "before_id": before.id if before else None})
    return [Notification(id=r[0], type=r[1], channel=r[2], message=r[3], status=r[4],
                         created_at=r[5], workout_id=_workout_of(r[6]))
            for r in await cur.fetchall()]


async def mark_read(conn: AsyncConnection, user_id: uuid.UUID, notification_id: uuid.UUID) -> bool | None:
    """Mark one of the user's in-app notifications read: True if it changed, False if it was
    read already, None if the user has no such notification (someone else's included)."""
    cur = await conn.execute(
        "WITH target AS (SELECT id, status FROM notification_logs"
        "   WHERE id = %(id)s AND user_id = %(user)s AND channel = %(channel)s FOR UPDATE),"
        " changed AS (UPDATE notification_logs n SET status = 'read', updated_at = now()"
        "   FROM target WHERE n.id = target.id AND target.status <> 'read' RETURNING n.id)"
        " SELECT (SELECT count(*) FROM target), (SELECT count(*) FROM changed)",
        {"id": notification_id, "user": user_id, "channel": IN_APP})
    row = await cur.fetchone()
    assert row is not None
    return None if row[0] == 0 else row[1] == 1


async def unread_count(conn: AsyncConnection, user_id: uuid.UUID) -> int:
    cur = await conn.execute(
        "SELECT count(*) FROM notification_logs"
        " WHERE user_id = %s AND channel = %s AND status <> 'read'", (user_id, IN_APP))
    row = await cur.fetchone()
    return int(row[0]) if row else 0
