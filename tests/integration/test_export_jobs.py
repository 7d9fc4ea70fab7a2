"""Export jobs on a real PostgreSQL (storage/exports.py, migration 0018): two gateways
claiming at once get different jobs, a job whose lease ran out is claimed again and the
attempt that lost it can no longer move it on, one open job per person, erasure returns the
files to remove, and a workout's pauses are stored once and go with the workout."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from pathlib import Path

import psycopg
import pytest

from storage import exports

pytestmark = pytest.mark.integration
LEASE = dt.timedelta(seconds=60)


async def connect(dsn: str) -> psycopg.AsyncConnection:
    return await psycopg.AsyncConnection.connect(dsn, autocommit=True)


async def person(conn: psycopg.AsyncConnection) -> uuid.UUID:
    cur = await conn.execute("INSERT INTO users (email) VALUES (%s) RETURNING id",
                             (f"p-{uuid.uuid4().hex[:8]}@example.org",))
    row = await cur.fetchone()
    assert row is not None
    return uuid.UUID(str(row[0]))


async def test_two_gateways_claim_different_jobs_and_a_lapsed_lease_is_taken_over(
        migrated_db: str) -> None:
    async with await connect(migrated_db) as a, await connect(migrated_db) as b:
        first = await exports.create(a, await person(a))
        second = await exports.create(a, await person(a))
        one, two = await asyncio.gather(exports.claim(a, LEASE), exports.claim(b, LEASE))
        assert one is not None and two is not None
        assert {one.id, two.id} == {first.id, second.id}
        assert await exports.claim(a, LEASE) is None  # both are being worked on
        # `one`'s gateway stops: its lease runs out, and another gateway takes the job.
        await a.execute("UPDATE export_jobs SET lease_until = now() - interval '1 s' WHERE id = %s",
                        (one.id,))
        again = await exports.claim(b, LEASE)
        assert again is not None and again.id == one.id and again.attempts == one.attempts + 1
        # The stopped attempt, back, can neither report nor finish; the new one can.
        assert not await exports.progress(a, one, 1, 2, LEASE)
        assert not await exports.finish(a, one, f"{one.id}.zip", 10, "0" * 64, dt.timedelta(days=7))
        assert await exports.progress(b, again, 1, 2, LEASE)
        assert await exports.finish(b, again, f"{one.id}.zip", 10, "0" * 64, dt.timedelta(days=7))
        done = await exports.get(a, again.user_id, again.id)
        assert done is not None and done.status == "ready" and done.workouts_done == 1


async def test_one_open_job_per_person_and_erasure_lists_its_files(migrated_db: str,
                                                                   tmp_path: Path) -> None:
    async with await connect(migrated_db) as conn:
        who = await person(conn)
        job = await exports.create(conn, who)
        with pytest.raises(exports.AlreadyOpen) as refused:
            await exports.create(conn, who)
        assert refused.value.job_id == job.id
        assert await exports.get(conn, await person(conn), job.id) is None  # not someone else's
        files = await exports.delete_for(conn, who, tmp_path)
        assert files == [tmp_path / f"{job.id}.zip", tmp_path / f"{job.id}.zip.part"]
        assert await exports.list_for(conn, who) == []


async def test_expired_exports_are_marked_and_their_files_named(migrated_db: str) -> None:
    async with await connect(migrated_db) as conn:
        who = await person(conn)
        job = await exports.create(conn, who)
        claimed = await exports.claim(conn, LEASE)
        assert claimed is not None and claimed.id == job.id
        assert await exports.finish(conn, claimed, f"{job.id}.zip", 1, "0" * 64,
                                    dt.timedelta(seconds=-1))
        assert await exports.expire(conn) == [f"{job.id}.zip"]
        gone = await exports.get(conn, who, job.id)
        assert gone is not None and gone.status == "expired"
        assert await exports.expire(conn) == []


async def test_breaks_are_stored_once_and_go_with_their_workout(migrated_db: str) -> None:
    async with await connect(migrated_db) as conn:
        who, workout = await person(conn), uuid.uuid4()
        await conn.execute("INSERT INTO workouts (id, user_id, sport, status, start_time, summary)"
                           " VALUES (%s, %s, 'run', 'active', now(), '{}')", (workout, who))
        rows = [(workout, 4, "pause", 1000, 9), (workout, 5, "resume", 2000, 9)]
        await exports.record_breaks(conn, rows)
        await exports.record_breaks(conn, rows)  # a redelivery adds nothing
        await exports.record_breaks(conn, [(uuid.uuid4(), 1, "pause", 1, 0)])  # no such workout
        assert [(b.kind, b.at_ms, b.after_seq) for b in await exports.breaks_of(conn, workout)] == [
            ("pause", 1000, 9), ("resume", 2000, 9)]
        await conn.execute("DELETE FROM workouts WHERE id = %s", (workout,))
        assert await exports.breaks_of(conn, workout) == []
