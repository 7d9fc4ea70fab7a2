"""risk.alerts → in-app notifications (`notification_logs`) for the athlete and their coaches.

Who is told, and the message, are decided by `storage.notifications.enqueue_risk_alert`.
After the rows are committed, each recipient of a new row gets a small message on Redis
pub/sub `{prefix}:notify:user:{user_id}` so an open app can refresh its inbox. That is
best effort: the database row is the truth, so a Redis failure is logged, never retried
and never holds the alert back. The pub/sub message carries ids only, no health data.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import msgspec

from storage import notifications
from streams import events, topics
from streams.sink import Record, batches, write_batch

if TYPE_CHECKING:
    from streams.app import Deps

log = logging.getLogger("stride.streams")

BATCH_MAX = 100
BATCH_WITHIN_S = 0.2
PUBLISH_TIMEOUT_S = 2.0


class NotificationPushed(msgspec.Struct, frozen=True, kw_only=True, tag="notification",
                         tag_field="type"):
    """What `{prefix}:notify:user:{user_id}` carries: fetch the inbox to see it."""

    id: str
    notification_type: str
    workout_id: str


def notify_channel(redis_prefix: str, user_id: object) -> str:
    return f"{redis_prefix}:notify:user:{user_id}"


def register(app: Any, deps: Deps) -> None:
    @app.agent(deps.topic(topics.RISK_ALERTS), name="risk_alert_notifications")
    async def risk_alert_notifications(stream: Any) -> None:
        async for records in batches(stream, deps, (events.RiskAlert,), size=BATCH_MAX,
                                     within_s=BATCH_WITHIN_S):
            await write_batch(deps, "risk alert notifications", records,
                              lambda chunk: _notify(deps, chunk))


async def _notify(deps: Deps, records: Sequence[Record[events.RiskAlert]]) -> None:
    pool = await deps.pool()
    created: list[tuple[events.RiskAlert, notifications.Enqueued]] = []
    async with pool.connection() as conn, conn.transaction():
        for record in records:
            for row in await notifications.enqueue_risk_alert(conn, record.event):
                created.append((record.event, row))
    await _publish(deps, created)


async def _publish(deps: Deps, created: list[tuple[events.RiskAlert, notifications.Enqueued]]) -> None:
    if not created:
        return
    try:
        async with deps.redis.pipeline(transaction=False) as pipe:
            for alert, row in created:
                pipe.publish(notify_channel(deps.config.redis_prefix, row.user_id),
                             msgspec.json.encode(NotificationPushed(
                                 id=str(row.id), notification_type=notifications.RISK_ALERT,
                                 workout_id=str(alert.workout_id))))
            await asyncio.wait_for(pipe.execute(), PUBLISH_TIMEOUT_S)
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # the rows are committed; an open app refreshes on its own later
        log.warning("%d risk notification(s) written but not announced on Redis: %s",
                    len(created), exc)
