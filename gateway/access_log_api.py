"""REST: `GET /v1/me/access-log` — who looked at your health data (GDPR art. 15): each read of
your heart rate, SpO2 or what derives from them by someone else — a coach under your
consent, an admin, support staff exporting your data, a coach's live feed (one entry per
feed) — newest first, a page at a time (`X-Next-Cursor`, gateway/cursors.py). Your own
reads are not logged. The log is append-only (0020); admins query everyone's through the
internal GraphQL API (`accessLog`)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

import msgspec
from litestar import Request, Response, get
from litestar.params import Parameter

from gateway import cursors
from gateway.access import principal_of
from storage import access_log


class AccessLogEntryOut(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    at: dt.datetime
    viewer_name: str
    """Who read: their name now ("Erased account" once erased, "Stride support" for staff)."""
    viewer_role: str
    """coach (under your consent), admin, or staff (an export by support staff)."""
    what: str
    """workout, workouts (a list of them), samples, minutes, splits, live (a live-feed
    session), export."""
    workout_id: uuid.UUID | None
    via: str
    """rest, live or export."""
    basis: str
    """consent, role (an admin's) or staff (`staff_reason` says why)."""
    consent_id: uuid.UUID | None
    consent_scope: str | None
    group_name: str | None
    """The group your consent was given to."""
    staff_reason: str | None


def _out(entry: access_log.Entry) -> AccessLogEntryOut:
    return msgspec.convert(msgspec.structs.asdict(entry), AccessLogEntryOut)


@get("/v1/me/access-log",
     summary="Who read your health data: each read by someone else, newest first")
async def my_access_log(
    request: Request[Any, Any, Any], limit: Annotated[int, Parameter(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Parameter(
        description="`X-Next-Cursor` of the previous page", max_length=200)] = None,
) -> Response[list[AccessLogEntryOut]]:
    async with request.app.state.pool.connection() as conn:
        rows = await access_log.entries(conn, subject_id=principal_of(request).user_id,
                                        limit=limit + 1, before=cursors.keyset_of(cursor))
    page = rows[:limit]
    headers = cursors.next_page_headers(len(rows) > limit, page[-1].at if page else None,
                                        page[-1].id if page else None)
    return Response([_out(r) for r in page], headers=headers)


ROUTES = [my_access_log]
