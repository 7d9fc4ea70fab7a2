"""REST: the in-app inbox — `GET /v1/notifications/me`, `POST /v1/notifications/{id}/read`."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

import msgspec
from litestar import Request, get, post
from litestar.params import Parameter
from litestar.status_codes import HTTP_204_NO_CONTENT

from gateway import cursors
from gateway.access import principal_of
from gateway.errors import ApiError
from storage import notifications as notifications_repo


class NotificationOut(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    id: uuid.UUID
    type: str
    """e.g. `risk.alert`."""
    channel: str
    message: str
    status: str
    """`delivered` until read, then `read`."""
    created_at: dt.datetime
    workout_id: uuid.UUID | None = None
    """The workout the notification is about, when it is about one."""


class InboxOut(msgspec.Struct, frozen=True, kw_only=True):
    items: list[NotificationOut]
    next: str | None
    """Pass as `before` for the next (older) page; null on the last page."""
    unread: int
    """Unread notifications in the whole inbox (whatever the filter)."""


def _out(n: notifications_repo.Notification) -> NotificationOut:
    return NotificationOut(id=n.id, type=n.type, channel=n.channel, message=n.message,
                           status=n.status, created_at=n.created_at.astimezone(dt.UTC),
                           workout_id=n.workout_id)


@get("/v1/notifications/me", summary="Your in-app notifications, newest first")
async def my_notifications(
    request: Request[Any, Any, Any],
    unread: Annotated[bool, Parameter(description="only those not read yet")] = False,
    limit: Annotated[int, Parameter(ge=1, le=100)] = 20,
    before: Annotated[str | None, Parameter(description="`next` of the previous page",
                                            max_length=200)] = None,
) -> InboxOut:
    me = principal_of(request)
    cursor = (cursors.decode(before, notifications_repo.Cursor, "before")
              if before is not None else None)
    async with request.app.state.pool.connection() as conn:
        rows = await notifications_repo.list_inbox(conn, me.user_id, limit=limit + 1,
                                                   before=cursor, unread_only=unread)
        unread_n = await notifications_repo.unread_count(conn, me.user_id)
    page = rows[:limit]
    more = len(rows) > limit
    next_cursor = (cursors.encode(notifications_repo.Cursor(page[-1].created_at, page[-1].id))
                   if more else None)
    return InboxOut(items=[_out(n) for n in page], next=next_cursor, unread=unread_n)


@post("/v1/notifications/{notification_id:uuid}/read", status_code=HTTP_204_NO_CONTENT,
      summary="Mark one of your notifications read (idempotent)")
async def mark_read(request: Request[Any, Any, Any], notification_id: uuid.UUID) -> None:
    me = principal_of(request)
    async with request.app.state.pool.connection() as conn:
        changed = await notifications_repo.mark_read(conn, me.user_id, notification_id)
    if changed is None:  # someone else's answers exactly like a missing one
        raise ApiError(404, "not_found", f"no notification {notification_id}")


ROUTES = [my_notifications, mark_read]
