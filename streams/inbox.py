"""The nudge an open app gets when its in-app inbox has something new.

After notification rows are committed, each recipient gets a small message on Redis
pub/sub `{prefix}:notify:user:{user_id}` so an open page can refresh its inbox. Best
effort: the database row is the truth, so a Redis failure is logged, never retried and
never holds a notification back. The message carries ids only — no health data.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

import msgspec

from storage import keyspace

log = logging.getLogger("stride.streams")
PUBLISH_TIMEOUT_S = 2.0


class NotificationPushed(msgspec.Struct, frozen=True, kw_only=True, tag="notification",
                         tag_field="type"):
    """What `{prefix}:notify:user:{user_id}` carries: fetch the inbox to see it."""

    id: str
    notification_type: str
    workout_id: str | None = None


async def nudge(redis: Any, redis_prefix: str,
                pushed: list[tuple[uuid.UUID, NotificationPushed]]) -> None:
    """Tell each (recipient, notification) pair's open pages; never raises but for cancel."""
    if not pushed:
        return
    try:
        async with redis.pipeline(transaction=False) as pipe:
            for user_id, message in pushed:
                pipe.publish(keyspace.notify(redis_prefix, user_id), msgspec.json.encode(message))
            await asyncio.wait_for(pipe.execute(), PUBLISH_TIMEOUT_S)
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # the rows are committed; an open app refreshes on its own later
        log.warning("%d notification(s) written but not announced on Redis: %s", len(pushed), exc)
