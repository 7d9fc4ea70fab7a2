"""Migrations and repositories against the stack's real PostgreSQL (a scratch database each)."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import psycopg
import pytest

from storage import samples as samples_repo
from storage import workouts as workouts_repo
from storage.migrate import MIGRATIONS_DIR, MigrationError, migrate
from streams.events import SamplesAccepted, WorkoutSummary
from streams.retry import is_poison

pytestmark = pytest.mark.integration

USER = uuid.UUID("00000000-0000-4000-8000-000000000001")
SEED_TABLES = {
    "users", "social_logins", "roles", "sessions", "workouts", "sensor_data", "groups",
    "user_groups", "achievements", "user_achievements", "leaderboard", "marketing_metrics",
    "notification_preferences", "notification_logs", "ai_models",
}


def test_migrations_apply_each_file_once(scratch_db: str) -> None:
    first = migrate(scratch_db)
    assert first == sorted(p.name for p in MIGRATIONS_DIR.glob("*.sql"))
    assert migrate(scratch_db) == []
    with psycopg.connect(scratch_db) as conn:
        tables = {r[0] for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
        dialect = conn.execute("SELECT name FROM storage_dialect").fetchone()
        partitioned = conn.execute(
            "SELECT count(*) FROM pg_inherits WHERE inhparent = 'sensor_data'::regclass"
        ).fetchone()
    assert SEED_TABLES <= tables
    assert dialect is not None and dialect[0] in ("native", "timescaledb")
    if dialect[0] == "native":
        assert partitioned is not None and partitioned[0] >= 2  # daily partitions + default


def test_an_edited_applied_migration_is_refused(scratch_db: str, tmp_path: Path) -> None:
    folder = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, folder)
    migrate(scratch_db, folder)
    first = sorted(folder.glob("*.sql"))[0]
    first.write_text(first.read_text() + "\n-- edited\n")
    with pytest.raises(MigrationError, match="changed after it was applied"):
        migrate(scratch_db, folder)


def _batch(workout_id: uuid.UUID, seq: int, n: int, t0: int) -> SamplesAccepted:
    samples = [(t0 + 1000 * (seq + i), 45.0 + 1e-5 * (seq + i), 7.0, 120.0, 140.4 + i, 97.0)
               for i in range(n)]
    return SamplesAccepted(workout_id=workout_id, user_id=USER, sport="run", seq=seq,
                           samples=samples)  # type: ignore[arg-type]


async def test_sample_writes_are_idempotent(migrated_db: str) -> None:
    wid = uuid.uuid4()
    t0 = 1_790_000_000_000
    async with await psycopg.AsyncConnection.connect(migrated_db) as conn:
        assert await samples_repo.write_samples(conn, [_batch(wid, 0, 10, t0)]) == 10
        # The same batch again, and one overlapping it: only the 5 new samples land.
        assert await samples_repo.write_samples(conn, [_batch(wid, 0, 10, t0)]) == 0
        assert await samples_repo.write_samples(conn, [_batch(wid, 5, 10, t0)]) == 5
        await conn.commit()
        rows = await samples_repo.read_samples(conn, wid)
    assert [r.seq for r in rows] == list(range(15))
    assert rows[0].t_ms == t0 and rows[0].hr_bpm == 140  # stored as whole bpm
    assert rows[3].lat == pytest.approx(45.00003)


async def test_a_row_the_database_refuses_is_poison(migrated_db: str) -> None:
    bad = SamplesAccepted(workout_id=uuid.uuid4(), user_id=USER, sport="run", seq=0,
                          samples=[(1_790_000_000_000, 45.0, 7.0, None, 300.0, None)])
    async with await psycopg.AsyncConnection.connect(migrated_db) as conn:
        with pytest.raises(psycopg.Error) as caught:
            await samples_repo.write_samples(conn, [bad])
    assert is_poison(caught.value)


def _summary(version: int, status: str, distance_m: float) -> WorkoutSummary:
    return WorkoutSummary(version=version, status=status, sport="ride",  # type: ignore[arg-type]
                          started_at_ms=1_790_000_000_000, last_seq=version * 10,
                          samples_count=version * 10 + 1, distance_m=distance_m)


async def test_projection_keeps_the_newest_summary(migrated_db: str) -> None:
    wid = uuid.uuid4()
    async with await psycopg.AsyncConnection.connect(migrated_db, autocommit=True) as conn:
        assert await workouts_repo.project_summary(conn, wid, USER, _summary(3, "active", 900.0))
        # An older snapshot arriving late (another topic) does not overwrite it.
        assert not await workouts_repo.project_summary(conn, wid, USER, _summary(2, "active", 600.0))
        assert await workouts_repo.project_summary(conn, wid, USER, _summary(4, "finished", 950.0))
        row = await workouts_repo.get_workout(conn, wid)
        listed = await workouts_repo.list_workouts(conn, USER)
    assert row is not None
    assert row.summary.status == "finished" and row.summary.distance_m == 950.0
    assert [r.id for r in listed] == [wid]
