"""`stride backup` and `stride restore` (stack/backup.py, stack/restore.py) run as commands
against a database and Redis prefix of the test's own: a set round-trips every row and the
kept Redis keys; a database holding accounts is replaced only with --force; a damaged set is
refused; and a person erased after the backup does not come back from it."""

from __future__ import annotations

import asyncio
import math
import os
import subprocess
import sys
import uuid
from pathlib import Path

import msgspec
import psycopg
import pytest
import redis

from actors import replay
from privacy.key_ceremony import make_keyring
from privacy.keys import DataKey, DataKeys, KeyRing, load_keyring
from stack.backup import KEYS_MANIFEST_FILE, MANIFEST_FILE, PG_FILE, Manifest
from stack.restore import erase_again
from stack.settings import REPO_ROOT, Settings, ensure_secret_key
from storage import accounts, keyspace
from storage import workout_import as import_repo
from storage.pool import open_pool
from streams import leaderboards as redis_boards
from streams import redis_pool

pytestmark = pytest.mark.integration

T0_MS = 1_764_000_000_000


class Stride:
    """The `stride` CLI pointed at the test's database, Redis prefix, home and keys."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.settings = Settings.from_env(env)

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "stack.cli", *args], env=self.env,
                              cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)

    def backup(self, out: Path) -> Path:
        done = self("backup", "--out", str(out))
        assert done.returncode == 0, done.stderr
        return Path(done.stdout.strip().splitlines()[-1])


@pytest.fixture
def stride(stack: Settings, migrated_db: str, unique: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    keys = tmp_path / "keys"
    make_keyring(keys, shares=3, threshold=2, dev=True)
    ensure_secret_key(tmp_path / "home")
    env = {**os.environ, "STRIDE_PG_DSN": migrated_db, "STRIDE_REDIS_PREFIX": unique,
           "STRIDE_HOME": str(tmp_path / "home"), "STRIDE_KEYS_DIR": str(keys),
           "STRIDE_TLS_DIR": str(stack.tls_path)}  # the stack's certificates (STRIDE_TLS=on)
    yield Stride(env)
    client = redis.Redis.from_url(stack.redis_url)
    for key in client.scan_iter(match=f"{unique}:*", count=1000):
        client.delete(key)
    client.close()


def track(n: int, seed: int) -> list[tuple[int, float, float, float, float, float]]:
    """A steady run: n samples at 1 Hz, heading north-east, HR and SpO2 moving a little."""
    return [(T0_MS + seed * 86_400_000 + i * 1000, 46.05 + i * 2.5e-5, 14.5 + i * 1.5e-5,
             300.0 + 3 * math.sin(i / 30), 140.0 + seed + 10 * math.sin(i / 50), 97.0)
            for i in range(n)]


async def athlete(settings: Settings, name: str, workouts: int) -> tuple[uuid.UUID, str, list[uuid.UUID]]:
    """An account with `workouts` finished runs, stored as an upload is (samples, metrics,
    summary, path, leaderboard rows) and counted on the Redis boards, plus a cached
    recommendation set and a quota counter in Redis."""
    email = f"{name}-{uuid.uuid4().hex[:8]}@stride.test"
    client = redis_pool.connect(settings.redis_url, max_connections=2)
    ids = []
    async with await psycopg.AsyncConnection.connect(settings.pg_dsn, autocommit=True) as conn:
        user_id = await accounts.create_user(conn, email, None, {"first_name": name})
        for k in range(workouts):
            workout_id = uuid.uuid4()
            produced = replay.replay(workout_id, user_id, "run", track(600, k))
            standings = await import_repo.store_import(conn, workout_id, user_id, None, produced)
            await redis_boards.apply_standings(client, settings.redis_prefix, standings)
            ids.append(workout_id)
    await client.set(keyspace.recommendations(settings.redis_prefix, user_id), b"reco")
    await client.set(keyspace.quota(settings.redis_prefix, "uploads", user_id), b"1")
    await client.aclose()
    return user_id, email, ids


def table_rows(dsn: str) -> dict[str, list[str]]:
    """Every row of every table, as text, sorted: what a restore must give back."""
    with psycopg.connect(dsn) as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') ORDER BY 1").fetchall()]
        # The alias is no column's name (sensor_data has a column `t`, which would win).
        return {t: sorted(r[0] for r in conn.execute(
            f'SELECT whole_row::text FROM "{t}" whole_row').fetchall()) for t in tables}  # noqa: S608


def kept_redis(settings: Settings) -> dict[str, object]:
    """The values of the key families a backup keeps (stack/backup_redis.py)."""
    client = redis.Redis.from_url(settings.redis_url)
    found: dict[str, object] = {}
    for family in ("workout", "lb", "reco"):
        for key in client.scan_iter(match=f"{settings.redis_prefix}:{family}:*"):
            kind = client.type(key)
            found[key.decode()] = (client.zrange(key, 0, -1, withscores=True) if kind == b"zset"
                                   else client.get(key))
    client.close()
    return found


def test_a_set_round_trips_the_database_and_the_kept_redis_keys(stride: Stride, tmp_path: Path) -> None:
    settings = stride.settings
    asyncio.run(athlete(settings, "ana", 2))
    asyncio.run(athlete(settings, "ben", 1))
    rows, boards = table_rows(settings.pg_dsn), kept_redis(settings)
    assert len(rows["workouts"]) == 3 and len(rows["sensor_data"]) == 1800
    assert any(":lb:" in k for k in boards) and any(":reco:" in k for k in boards)

    backup_set = stride.backup(tmp_path / "sets")
    manifest = msgspec.json.decode((backup_set / MANIFEST_FILE).read_bytes(), type=Manifest)
    assert (manifest.users, manifest.workouts) == (3, 3)  # the stack's dev user, ana, ben
    assert manifest.migrations == sorted(p.name for p in (REPO_ROOT / "storage" / "migrations")
                                         .glob("*.sql"))
    assert manifest.redis_keys == len(boards)
    # The key material is apart from the set; the machine's unsealed KEK is in neither.
    keys_dir = backup_set.with_name(backup_set.name + ".keys")
    assert sorted(p.name for p in backup_set.iterdir()) == [
        "erasure-journal.json", "manifest.json", "postgres.dump", "redis.records"]
    assert (keys_dir / "keyring.json").read_bytes() == \
        (Path(stride.env["STRIDE_KEYS_DIR"]) / "keyring.json").read_bytes()
    assert manifest.kek_id and f'"{manifest.kek_id}"' in (keys_dir / "keyring.json").read_text()
    assert (keys_dir / KEYS_MANIFEST_FILE).exists()
    assert not list(keys_dir.rglob("kek.unsealed"))
    assert (keys_dir / "secret_key").read_bytes() == (settings.home_path / "secret_key").read_bytes()
    assert oct(backup_set.stat().st_mode & 0o777) == "0o700"
    assert oct((backup_set / PG_FILE).stat().st_mode & 0o777) == "0o600"

    # Changes after the backup: a third athlete, a workout deleted, a board and a cache gone.
    asyncio.run(athlete(settings, "cem", 1))
    with psycopg.connect(settings.pg_dsn) as conn:
        conn.execute("DELETE FROM sensor_data WHERE workout_id = (SELECT min(id::text)::uuid"
                     " FROM workouts)")
    client = redis.Redis.from_url(settings.redis_url)
    client.delete(*[k for k in boards if ":reco:" in k])
    client.close()

    refused = stride("restore", str(backup_set))
    assert refused.returncode == 1 and "--force" in refused.stderr
    assert len(table_rows(settings.pg_dsn)["users"]) == 4  # refused: nothing changed

    done = stride("restore", str(backup_set), "--force")
    assert done.returncode == 0, done.stderr
    assert table_rows(settings.pg_dsn) == rows
    assert kept_redis(settings) == boards


def test_a_damaged_set_or_a_busy_database_is_refused(stride: Stride, tmp_path: Path) -> None:
    asyncio.run(athlete(stride.settings, "dora", 1))
    backup_set = stride.backup(tmp_path / "sets")
    before = table_rows(stride.settings.pg_dsn)

    with psycopg.connect(stride.settings.pg_dsn):  # a gateway or worker left running
        busy = stride("restore", str(backup_set), "--force")
    assert busy.returncode == 1 and "stride stack down --only gateway internal worker" in busy.stderr

    dump = backup_set / PG_FILE
    data = bytearray(dump.read_bytes())
    data[len(data) // 2] ^= 0xFF
    dump.write_bytes(bytes(data))
    damaged = stride("restore", str(backup_set), "--force")
    assert damaged.returncode == 1 and "checksum" in damaged.stderr
    assert table_rows(stride.settings.pg_dsn) == before

    not_a_set = stride("restore", str(tmp_path), "--force")
    assert not_a_set.returncode == 1 and "not a backup set" in not_a_set.stderr


def test_a_person_erased_after_the_backup_does_not_come_back(stride: Stride, tmp_path: Path) -> None:
    settings = stride.settings
    kept_id, _, kept_workouts = asyncio.run(athlete(settings, "eva", 2))
    gone_id, gone_email, gone_workouts = asyncio.run(athlete(settings, "finn", 2))
    ring = load_keyring(settings.keys_path)
    # Both have a data key (their Kafka payloads are sealed with it): the set holds it,
    # wrapped, so a restore brings the erased one's back until the replay shreds it again.
    assert len({k.key_id for k in asyncio.run(data_keys(settings, ring, [kept_id, gone_id]))}) == 2
    kept_before = {t: [r for r in v if str(kept_id) in r or any(str(w) in r for w in kept_workouts)]
                   for t, v in table_rows(settings.pg_dsn).items()}
    assert len(kept_before["user_data_keys"]) == 1
    backup_set = stride.backup(tmp_path / "sets")

    assert asyncio.run(erase_again(settings, ring, [gone_id])) == 1
    assert not traces(settings, gone_id, gone_email, gone_workouts)  # the erasure itself worked

    done = stride("restore", str(backup_set), "--force")
    assert done.returncode == 0, done.stderr
    assert "1 account(s) erased again" in done.stderr
    assert traces(settings, gone_id, gone_email, gone_workouts) == []
    with psycopg.connect(settings.pg_dsn) as conn:
        tombstones = conn.execute("SELECT count(*) FROM workout_ids WHERE id = ANY(%s)"
                                  " AND user_id IS NULL AND deleted_at IS NOT NULL",
                                  (gone_workouts,)).fetchone()
    assert tombstones == (2,)
    with psycopg.connect(settings.pg_dsn) as conn:
        journal = conn.execute("SELECT count(*) FROM erasure_journal WHERE pseudonym = %s"
                               " AND completed_at IS NOT NULL", (ring.pseudonym(gone_id),)).fetchone()
    assert journal == (2,)  # erased, then erased again from the restored copy
    kept_after = {t: [r for r in v if str(kept_id) in r or any(str(w) in r for w in kept_workouts)]
                  for t, v in table_rows(settings.pg_dsn).items()}
    assert kept_after == kept_before and len(kept_after["sensor_data"]) == 1200
    boards = kept_redis(settings)
    assert any(str(kept_id).encode() == member for value in boards.values()
               if isinstance(value, list) for member, _ in value)
    # Nothing of the restore is left lying around: the saved journal went with the replay.
    assert not list((settings.home_path / "restore").glob("*"))


def test_when_the_database_is_lost_a_newer_sets_journal_keeps_the_erased_away(
        stride: Stride, tmp_path: Path) -> None:
    settings = stride.settings
    asyncio.run(athlete(settings, "gus", 1))
    gone_id, gone_email, gone_workouts = asyncio.run(athlete(settings, "hana", 1))
    older = stride.backup(tmp_path / "older")
    assert asyncio.run(erase_again(settings, load_keyring(settings.keys_path), [gone_id])) == 1
    newer = stride.backup(tmp_path / "newer")  # e.g. damaged later, or too big to restore
    assert msgspec.json.decode((newer / "erasure-journal.json").read_bytes())

    def lose_the_database() -> None:  # a new server: empty, then migrated by `stack up`
        with psycopg.connect(settings.pg_dsn, autocommit=True) as conn:
            conn.execute("DROP SCHEMA public CASCADE")
            conn.execute("CREATE SCHEMA public")
        assert stride("db", "migrate").returncode == 0

    lose_the_database()
    alone = stride("restore", str(older))  # no journal survived: the older set brings her back
    assert alone.returncode == 0, alone.stderr
    assert traces(settings, gone_id, gone_email, gone_workouts)

    lose_the_database()
    done = stride("restore", str(older), "--journal-from", str(newer))
    assert done.returncode == 0, done.stderr
    assert "1 account(s) erased again" in done.stderr
    assert traces(settings, gone_id, gone_email, gone_workouts) == []


def test_a_sets_data_keys_are_wrapped_again_after_a_key_rotation(stride: Stride,
                                                                  tmp_path: Path) -> None:
    settings = stride.settings
    user_id, _, _ = asyncio.run(athlete(settings, "ines", 1))
    old = load_keyring(settings.keys_path)
    [before] = asyncio.run(data_keys(settings, old, [user_id]))
    backup_set = stride.backup(tmp_path / "sets")
    rotated = stride("keys", "rotate")
    assert rotated.returncode == 0, rotated.stderr
    new = load_keyring(settings.keys_path)
    assert new.kek_id != old.kek_id

    done = stride("restore", str(backup_set), "--force")  # its data key: wrapped by the old KEK
    assert done.returncode == 0, done.stderr
    with psycopg.connect(settings.pg_dsn) as conn:
        wrapped_by = conn.execute("SELECT kek_id, count(*) FROM user_data_keys GROUP BY 1").fetchall()
    assert wrapped_by == [(new.kek_id, 1)]
    [after] = asyncio.run(data_keys(settings, new, [user_id]))
    assert (after.key_id, after.key) == (before.key_id, before.key)  # what it sealed still opens


async def data_keys(settings: Settings, ring: KeyRing, user_ids: list[uuid.UUID]) -> list[DataKey]:
    """Each person's data key, made on first use as a producer sealing their first payload
    does."""
    pool = open_pool(settings.pg_dsn, min_size=1, max_size=1)
    await pool.open()
    try:
        keys = DataKeys(pool, ring)
        return [await keys.for_user(user_id) for user_id in user_ids]
    finally:
        await pool.close()


def traces(settings: Settings, user_id: uuid.UUID, email: str,
           workout_ids: list[uuid.UUID]) -> list[str]:
    """Where the person's id, e-mail or a workout id still appears: any row of any table
    (as text), any Redis key under the prefix, any member of a leaderboard. `workout_ids`
    keeps an erased workout's id as a tombstone, tied to nobody (so events still on Kafka
    cannot bring the workout back): there only a row still naming the person counts."""
    needles = [str(user_id), email, *(str(w) for w in workout_ids)]

    def names_them(table: str, row: str) -> bool:
        return any(n in row for n in (needles[:2] if table == "workout_ids" else needles))

    found = [f"{table}: {row[:80]}" for table, rows in table_rows(settings.pg_dsn).items()
             for row in rows if names_them(table, row)]
    client = redis.Redis.from_url(settings.redis_url)
    for key in client.scan_iter(match=f"{settings.redis_prefix}:*"):
        if any(n.encode() in key for n in needles):
            found.append(f"redis key {key.decode()}")
        elif client.type(key) == b"zset" and client.zscore(key, str(user_id)) is not None:
            found.append(f"redis board {key.decode()}")
    client.close()
    return found
