"""notifications.requested → the recipient's in-app inbox (`notification_logs`).

Every part of Stride that wants to tell someone something raises a NotificationRequested
on Kafka; this agent alone delivers it: once per `notification_id`, never against the
recipient's preferences, never health content to someone the field policy excludes
(storage.notifications.enqueue_requested). New rows are nudged to open pages.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from storage import notifications
from streams import events, inbox, topics
from streams.sink import Record, batches, write_batch

if TYPE_CHECKING:
    from streams.app import Deps


def register(app: Any, deps: Deps) -> None:
    @app.agent(deps.topic(topics.NOTIFICATIONS), name="notifications")
    async def deliver_notifications(stream: Any) -> None:
        async for records in batches(stream, deps, (events.NotificationRequested,), size=100,
                                     within_s=0.2):
            await write_batch(deps, "notifications", records, lambda chunk: _deliver(deps, chunk))


async def _deliver(deps: Deps, records: Sequence[Record[events.NotificationRequested]]) -> None:
    pool = await deps.pool()
    pushed: list[tuple[Any, inbox.NotificationPushed]] = []
    async with pool.connection() as conn, conn.transaction():
        for record in records:
            row = await notifications.enqueue_requested(conn, record.event)
            if row is not None:
                pushed.append((row.user_id, inbox.NotificationPushed(
                    id=str(row.id), notification_type=record.event.kind)))
    await inbox.nudge(deps.redis, deps.config.redis_prefix, pushed)
