"""Who looked at whose health data (`health_access_log`, 0020): append-only, one row per read
of another person's heart rate, SpO2 or what derives from them.

Writers:
- `record(conn, …)`: one row now, in the caller's transaction (an export by support staff);
- `AccessLogWriter`: the REST API and the live feed. A read must not wait for its log row,
  so rows queue in the process and are written in batches (one pipelined statement per
  row, every FLUSH_S or BATCH rows); identical reads within one batch (a page of samples
  after another) are one row. Rows are kept and written again while PostgreSQL is away,
  and written out when the gateway stops.

The consent a coach's read rested on is found when the row is written (the active consent
of the athlete to a group the viewer coaches: `history` first for REST, `live` for the live
feed) — the read path has already checked it exists, and need not fetch its id.

Erasure (`erase_person`) is the only change the database lets through: the rows about the
person go, the rows where they were the viewer lose the viewer's id (`viewer_erased`).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import uuid
from typing import Any, Literal

import msgspec
import psycopg
from psycopg import AsyncConnection

from storage import paging

log = logging.getLogger("stride.access_log")

What = Literal["workout", "workouts", "samples", "minutes", "splits", "live", "export"]
Via = Literal["rest", "live", "export"]
ViewerRole = Literal["coach", "admin", "staff"]

FLUSH_S = 0.25
"""How long a read's row may wait in the process before it is written."""
BATCH = 500
RETRY_S = 2.0


class Read(msgspec.Struct, frozen=True, kw_only=True):
    """One read to log."""

    viewer_id: uuid.UUID | None
    """Who read; None for a staff tool without an account."""
    viewer_role: ViewerRole
    subject_id: uuid.UUID
    what: What
    via: Via
    workout_id: uuid.UUID | None = None
    consent_id: uuid.UUID | None = None
    staff_reason: str | None = None

    @property
    def basis(self) -> str:
        if self.staff_reason is not None:
            return "staff"
        return "role" if self.viewer_role == "admin" else "consent"


_INSERT = (
    "INSERT INTO health_access_log (at, viewer_id, viewer_role, subject_id, what, workout_id,"
    "  via, basis, consent_id, staff_reason)"
    " SELECT %(at)s, %(viewer)s, %(role)s, %(subject)s, %(what)s, %(workout)s, %(via)s,"
    "  %(basis)s, coalesce(%(consent)s::uuid, CASE WHEN %(basis)s = 'consent' THEN ("
    "    SELECT c.id FROM consents c"
    "    JOIN user_groups coach ON coach.group_id = c.group_id AND coach.role = 'coach'"
    "      AND coach.user_id = %(viewer)s"
    "    JOIN user_groups member ON member.group_id = c.group_id"
    "      AND member.user_id = c.athlete_id"
    "    WHERE c.athlete_id = %(subject)s AND c.withdrawn_at IS NULL"
    "    ORDER BY (c.scope = %(scope)s) DESC, c.granted_at DESC LIMIT 1) END),"
    "  %(reason)s"
    # Neither person is being erased (the erasure marks the account first and clears the log
    # last): a read queued just before an erasure must not write them back in after it.
    # FOR KEY SHARE holds the users rows until this insert commits.
    " WHERE EXISTS (SELECT 1 FROM users s WHERE s.id = %(subject)s"
    "   AND s.erasure_requested_at IS NULL FOR KEY SHARE)"
    " AND (%(viewer)s::uuid IS NULL OR EXISTS (SELECT 1 FROM users v WHERE v.id = %(viewer)s"
    "   AND v.erasure_requested_at IS NULL FOR KEY SHARE))")


def _params(read: Read, at: dt.datetime) -> dict[str, Any]:
    return {"at": at, "viewer": read.viewer_id, "role": read.viewer_role,
            "subject": read.subject_id, "what": read.what, "workout": read.workout_id,
            "via": read.via, "basis": read.basis, "consent": read.consent_id,
            "scope": "live" if read.via == "live" else "history", "reason": read.staff_reason}


async def record(conn: AsyncConnection, viewer_id: uuid.UUID | None, subject_id: uuid.UUID,
                 what: What, via: Via, consent_id: uuid.UUID | None = None,
                 staff_reason: str | None = None, *, viewer_role: ViewerRole | None = None,
                 workout_id: uuid.UUID | None = None) -> None:
    """Log one read now. With `staff_reason` it is support staff's (role `staff` unless
    given); otherwise a coach's under a consent, or an admin's (`viewer_role="admin"`)."""
    role: ViewerRole = viewer_role or ("staff" if staff_reason is not None else "coach")
    read = Read(viewer_id=viewer_id, viewer_role=role, subject_id=subject_id, what=what, via=via,
                workout_id=workout_id, consent_id=consent_id, staff_reason=staff_reason)
    await conn.execute(_INSERT, _params(read, dt.datetime.now(dt.UTC)))


class AccessLogWriter:
    """Rows of reads, queued in the process and written in batches (see the module doc)."""

    def __init__(self, pool: Any, flush_s: float = FLUSH_S) -> None:
        self.pool = pool
        self.flush_s = flush_s
        self._pending: dict[Read, dt.datetime] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.written = 0

    def add(self, read: Read) -> None:
        """Queue a read (never blocks); the first of identical pending reads keeps its time."""
        self._pending.setdefault(read, dt.datetime.now(dt.UTC))
        if len(self._pending) >= BATCH:
            self._wake.set()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        with contextlib.suppress(Exception):
            await self.flush()
        if self._pending:
            log.error("%d health-data reads not logged: PostgreSQL unreachable at shutdown",
                      len(self._pending))

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.flush_s)
            self._wake.clear()
            try:
                await self.flush()
            except Exception as exc:  # PostgreSQL away: the rows stay queued
                log.warning("access log not written yet (%d rows wait): %r", len(self._pending), exc)
                await asyncio.sleep(RETRY_S)

    async def flush(self) -> None:
        """Write what is queued, oldest first; when PostgreSQL is away it stays queued. A
        row the table refuses (a bug: it would be refused forever) is logged and dropped
        alone, so it cannot hold up the others."""
        if not self._pending:
            return
        batch = list(self._pending.items())[:BATCH]
        try:
            async with self.pool.connection() as conn, conn.cursor() as cur:
                await cur.executemany(_INSERT, [_params(read, at) for read, at in batch])
        except (psycopg.DataError, psycopg.IntegrityError):
            await self._one_by_one(batch)
        for read, _ in batch:
            self._pending.pop(read, None)
        self.written += len(batch)
        if self._pending:
            self._wake.set()

    async def _one_by_one(self, batch: list[tuple[Read, dt.datetime]]) -> None:
        async with self.pool.connection() as conn:
            for read, at in batch:
                try:
                    async with conn.transaction():
                        await conn.execute(_INSERT, _params(read, at))
                except (psycopg.DataError, psycopg.IntegrityError) as exc:
                    log.error("access log row refused, dropped: %r (%s)", read, exc)


class Entry(msgspec.Struct, frozen=True, kw_only=True):
    """One logged read, as the athlete and admins see it."""

    id: uuid.UUID
    at: dt.datetime
    viewer_id: uuid.UUID | None
    """None: a staff tool, or an account erased since (`viewer_erased`)."""
    viewer_name: str
    """The viewer's name now ("Erased account", "Stride support" without one)."""
    viewer_role: str
    """coach, admin or staff: the role the read was allowed under."""
    viewer_erased: bool
    subject_id: uuid.UUID
    what: str
    """workout, workouts (a list), samples, minutes, splits, live (a live-feed session), export."""
    workout_id: uuid.UUID | None
    via: str
    """rest, live or export."""
    basis: str
    """consent (consent_id names it), role (an admin) or staff (staff_reason says why)."""
    consent_id: uuid.UUID | None
    consent_scope: str | None
    group_name: str | None
    """The group the consent was given to (its name now)."""
    staff_reason: str | None


_SELECT = (
    "SELECT l.id, l.at, l.viewer_id,"
    "  CASE WHEN l.viewer_erased THEN 'Erased account'"
    "       WHEN l.viewer_id IS NULL THEN 'Stride support'"
    "       ELSE coalesce(nullif(btrim(concat_ws(' ', u.first_name, u.last_name)), ''),"
    "                     initcap(l.viewer_role)) END,"
    "  l.viewer_role, l.viewer_erased, l.subject_id, l.what, l.workout_id, l.via, l.basis,"
    "  l.consent_id, c.scope, g.name, l.staff_reason"
    " FROM health_access_log l"
    " LEFT JOIN users u ON u.id = l.viewer_id"
    " LEFT JOIN consents c ON c.id = l.consent_id"
    " LEFT JOIN groups g ON g.id = c.group_id")


def _entry(r: tuple[Any, ...]) -> Entry:
    return Entry(id=r[0], at=r[1], viewer_id=r[2], viewer_name=r[3], viewer_role=r[4],
                 viewer_erased=r[5], subject_id=r[6], what=r[7], workout_id=r[8], via=r[9],
                 basis=r[10], consent_id=r[11], consent_scope=r[12], group_name=r[13],
                 staff_reason=r[14])


async def entries(conn: AsyncConnection, *, subject_id: uuid.UUID | None = None,
                  viewer_id: uuid.UUID | None = None, what: str | None = None,
                  since: dt.datetime | None = None, until: dt.datetime | None = None,
                  limit: int = 50, before: paging.Keyset | None = None) -> list[Entry]:
    """Newest first; each filter narrows it when given (`until` exclusive)."""
    cur = await conn.execute(
        _SELECT +
        " WHERE (%(subject)s::uuid IS NULL OR l.subject_id = %(subject)s)"
        "   AND (%(viewer)s::uuid IS NULL OR l.viewer_id = %(viewer)s)"
        "   AND (%(what)s::text IS NULL OR l.what = %(what)s)"
        "   AND (%(since)s::timestamptz IS NULL OR l.at >= %(since)s)"
        "   AND (%(until)s::timestamptz IS NULL OR l.at < %(until)s)"
        "   AND (%(at)s::timestamptz IS NULL OR (l.at, l.id) < (%(at)s, %(id)s))"
        " ORDER BY l.at DESC, l.id DESC LIMIT %(limit)s",
        {"subject": subject_id, "viewer": viewer_id, "what": what, "since": since,
         "until": until, "limit": limit, **paging.after(before)})
    return [_entry(r) for r in await cur.fetchall()]


async def erase_person(conn: AsyncConnection, person_id: uuid.UUID) -> int:
    """The erasure of one person (storage of H3's `DELETE /v1/me`): delete the rows about
    their data, pseudonymise the rows where they were the viewer; the number of rows
    changed. Runs in the caller's transaction, like the rest of the erasure."""
    cur = await conn.execute("SELECT erase_health_access_log(%s)", (person_id,))
    row = await cur.fetchone()
    return int(row[0]) if row else 0
