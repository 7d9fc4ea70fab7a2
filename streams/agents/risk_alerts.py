"""risk.alerts → in-app notifications (`notification_logs`) for the athlete and their coaches.

Who is told, and the message, are decided by `storage.notifications.enqueue_risk_alert`
(partners among the coaches are not: a risk flag is health data, privacy/health.py).
After the rows are committed, each recipient of a new row is nudged (streams/inbox.py).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from storage import notifications
from streams import events, inbox, topics
from streams.sink import Record, batches, write_batch

if TYPE_CHECKING:
    from streams.app import Deps

log = logging.getLogger("stride.streams")

BATCH_MAX = 100
BATCH_WITHIN_S = 0.2


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
    await inbox.nudge(deps.redis, deps.config.redis_prefix, [
        (row.user_id, inbox.NotificationPushed(id=str(row.id),
                                               notification_type=notifications.RISK_ALERT,
                                               workout_id=str(alert.workout_id)))
        for alert, row in created])
