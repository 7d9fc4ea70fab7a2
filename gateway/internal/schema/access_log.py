"""The health-data access log of every athlete (admins): who read whose heart rate, SpO2 or
what derives from them, when, through what and under which consent (storage/access_log.py).

Reading it is itself audited — the log says who looked at people's data, so looking at it
is a privacy officer's act worth a trace: each query leaves an `admin_audit` row (action
`accessLog`, target the athlete or viewer asked about, or `access_log:all`). No health data
is returned, only the record of reads.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid

import strawberry
from strawberry.types import Info

from gateway.internal.paging import Page, convert, keyset, page
from gateway.internal.permissions import Admin, context_of, principal_of
from storage import access_log, admin_audit


@strawberry.enum(description="Which health data was read.")
class AccessWhat(enum.Enum):
    WORKOUT = "workout"
    WORKOUTS = "workouts"
    SAMPLES = "samples"
    MINUTES = "minutes"
    SPLITS = "splits"
    LIVE = "live"
    EXPORT = "export"


@strawberry.type(description="One read of an athlete's health data by someone else.")
class AccessLogEntry:
    id: uuid.UUID
    at: dt.datetime
    viewer_id: uuid.UUID | None = strawberry.field(
        description="Null for a staff tool without an account, or a viewer erased since.")
    viewer_name: str
    viewer_role: str = strawberry.field(description="coach, admin or staff.")
    viewer_erased: bool
    subject_id: uuid.UUID = strawberry.field(description="Whose data was read.")
    what: str
    workout_id: uuid.UUID | None
    via: str = strawberry.field(description="rest, live or export.")
    basis: str = strawberry.field(description="consent, role (an admin's) or staff.")
    consent_id: uuid.UUID | None
    consent_scope: str | None
    group_name: str | None
    staff_reason: str | None


def _target(subject_id: uuid.UUID | None, viewer_id: uuid.UUID | None) -> str:
    if subject_id is not None:
        return f"user:{subject_id}"
    return f"viewer:{viewer_id}" if viewer_id is not None else "access_log:all"


@strawberry.type
class Query:
    @strawberry.field(permission_classes=[Admin],
                      description="Reads of athletes' health data by others, newest first; each "
                                  "argument narrows it (`until` is exclusive). Audited.")
    async def access_log(self, info: Info, subject_id: uuid.UUID | None = None,
                         viewer_id: uuid.UUID | None = None, what: AccessWhat | None = None,
                         since: dt.datetime | None = None, until: dt.datetime | None = None,
                         limit: int = 50, cursor: str | None = None) -> Page[AccessLogEntry]:
        before = keyset(cursor, limit)
        context = context_of(info)
        async with context.state.pool.connection() as conn:
            await admin_audit.record(
                conn, actor_id=principal_of(info).user_id, action=info.field_name,
                target=_target(subject_id, viewer_id), address=context.address,
                detail={k: str(v) for k, v in {"what": what and what.value, "since": since,
                                              "until": until, "cursor": cursor}.items() if v})
            rows = await access_log.entries(
                conn, subject_id=subject_id, viewer_id=viewer_id,
                what=None if what is None else what.value, since=since, until=until,
                limit=limit + 1, before=before)
        return page(rows, limit, lambda r: convert(AccessLogEntry, r))
