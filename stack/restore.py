"""`stride restore BACKUP_DIR`: a backup set back into the stack's database and Redis, then the
erasure journal replayed, so nobody erased since the backup comes back.

The order, and why:
1. Check the set (checksums, format, a migration level this code knows) and the target: no
   other client may be connected (a gateway or worker left running would write into the
   database half-way through, or serve an erased person before the replay), and a database
   holding accounts is replaced only with --force. The keyring must open (the pseudonyms
   need its pepper) — all before anything is changed.
2. Save the live erasure journal to a file under `<home>/restore/` (0600): the journal
   outlives the database it is replaced with. The file stays until a replay completed, and
   a later run merges every such file, so a restore that stopped half-way loses no erasure.
3. PostgreSQL: the `public` schema dropped and the dump restored, in ONE transaction (psql
   --single-transaction), so a failed restore leaves the database as it was.
4. Migrations up to this code's level (a set from older code lacks the newest tables).
5. The saved journal merged into the restored one (rows by id; a row the dump has still open
   takes the live completion).
6. Redis: the kept key families under the stack's prefix replaced by the set's.
7. The replay: every restored account whose pseudonym (HMAC of its id under the pepper) is in
   the journal is erased again by privacy/erasure.py — PostgreSQL rows, Redis keys, and its
   data key (so its Kafka records are shredded again). Then the check that no restored account
   is in the journal any more.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path

import msgspec
import psycopg
import redis
from psycopg import sql
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

from privacy.keys import KeyRing
from stack import backup_redis
from stack.backup import (
    PG_FILE,
    REDIS_FILE,
    BackupError,
    JournalRow,
    Manifest,
    console,
    libpq_call,
    read_journal,
    read_manifest,
    set_journal,
    verify,
)
from stack.postgres_local import pg_bin
from stack.settings import Settings
from storage.migrate import MigrationError, load, migrate


class Target(msgspec.Struct, frozen=True, kw_only=True):
    """What the database to restore into holds now."""

    others_connected: int
    accounts: int
    """Users apart from the stack's development user."""
    workouts: int
    journal: list[JournalRow]


def check_level(manifest: Manifest) -> None:
    known = {m.name for m in load()}
    newer = [name for name in manifest.migrations if name not in known]
    if newer:
        raise BackupError(f"the set was made by newer code (migrations {', '.join(newer)} are "
                          "unknown here): restore it with that version of Stride")


def inspect_target(settings: Settings) -> Target:
    with psycopg.connect(settings.pg_dsn, connect_timeout=10) as conn:
        def count(query: sql.Composable | str, *params: object) -> int:
            row = conn.execute(query, params).fetchone()  # type: ignore[arg-type]
            return int(row[0]) if row else 0

        def exists(table: str) -> bool:
            row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (table,)).fetchone()
            return bool(row and row[0])

        others = count("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                       " AND pid <> pg_backend_pid() AND backend_type = 'client backend'")
        accounts = count("SELECT count(*) FROM users WHERE id <> %s",
                         settings.dev_user_id) if exists("users") else 0
        workouts = count("SELECT count(*) FROM workouts") if exists("workouts") else 0
        journal = read_journal(conn)
    return Target(others_connected=others, accounts=accounts, workouts=workouts, journal=journal)


def saved_journal_dir(settings: Settings) -> Path:
    return settings.home_path / "restore"


def save_journal(settings: Settings, rows: list[JournalRow]) -> Path:
    """Write the live journal where the restore cannot reach it; returns the file."""
    folder = saved_journal_dir(settings)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = folder / f"erasure-journal-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S%fZ}.json"
    tmp = path.with_suffix(".tmp")
    tmp.touch(mode=0o600)
    tmp.write_bytes(msgspec.json.encode(rows))
    tmp.replace(path)
    return path


def saved_journals(settings: Settings) -> tuple[list[Path], list[JournalRow]]:
    """Every journal saved by a restore that has not finished its replay yet."""
    paths = sorted(saved_journal_dir(settings).glob("erasure-journal-*.json"))
    rows: list[JournalRow] = []
    for path in paths:
        rows += msgspec.json.decode(path.read_bytes(), type=list[JournalRow])
    return paths, rows


def restore_postgres(settings: Settings, dump: Path) -> None:
    """Replace the `public` schema with the dump's, in one transaction."""
    conninfo, env = libpq_call(settings.pg_dsn)
    script = subprocess.Popen(
        [pg_bin("pg_restore"), "--no-owner", "--no-privileges", "--file=-", str(dump)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert script.stdout is not None
    applied = subprocess.run(
        [pg_bin("psql"), "--no-psqlrc", "--quiet", "--single-transaction",
         "--set=ON_ERROR_STOP=1", f"--dbname={conninfo}",
         "--command=DROP SCHEMA IF EXISTS public CASCADE",
         "--command=CREATE SCHEMA public AUTHORIZATION pg_database_owner",
         "--command=GRANT USAGE ON SCHEMA public TO PUBLIC",
         "--file=-"],
        stdin=script.stdout, capture_output=True, text=True, env=env, timeout=24 * 3600)
    script.stdout.close()
    script_err = script.stderr.read().decode(errors="replace") if script.stderr else ""
    if script.wait() != 0:
        raise BackupError(f"pg_restore could not read {dump}: {script_err.strip()[-2000:]}")
    if applied.returncode != 0:
        raise BackupError("the restore was rolled back, the database is as it was: "
                          + applied.stderr.strip()[-2000:])


def merge_journal(settings: Settings, rows: list[JournalRow]) -> int:
    """Put the saved rows into the restored journal; returns how many were not in it."""
    added = 0
    with psycopg.connect(settings.pg_dsn, autocommit=True) as conn, conn.transaction():
        for row in rows:
            stores = bytes(row.stores).decode()
            if row.completed_at is not None:
                # The dump caught this erasure under way: it completed since (the journal's
                # trigger lets an open row be completed once).
                conn.execute(
                    "UPDATE erasure_journal SET completed_at = %s, stores = %s::jsonb"
                    " WHERE id = %s AND completed_at IS NULL",
                    (row.completed_at, stores, row.id))
            cur = conn.execute(
                "INSERT INTO erasure_journal (id, pseudonym, requested_at, completed_at, stores)"
                " VALUES (%s, %s, %s, %s, %s::jsonb) ON CONFLICT DO NOTHING",
                (row.id, row.pseudonym, row.requested_at, row.completed_at, stores))
            added += cur.rowcount
    return added


def restore_redis(settings: Settings, records: Path, advance: Callable[[int], None]) -> tuple[int, int]:
    client = redis.Redis.from_url(settings.redis_url, socket_timeout=30)
    try:
        removed = backup_redis.clear_kept(client, settings.redis_prefix)
        restored = backup_redis.restore_keys(client, settings.redis_prefix, records, advance)
    finally:
        client.close()
    return removed, restored


def journaled_accounts(settings: Settings, pseudonym: Callable[[uuid.UUID], str]) -> list[uuid.UUID]:
    """Restored accounts whose pseudonym is in the erasure journal."""
    with psycopg.connect(settings.pg_dsn, connect_timeout=10) as conn:
        erased = {r[0] for r in conn.execute("SELECT pseudonym FROM erasure_journal").fetchall()}
        users = [r[0] for r in conn.execute("SELECT id FROM users").fetchall()]
    return [user_id for user_id in users if pseudonym(user_id) in erased]


def _keyring(settings: Settings) -> KeyRing:
    from privacy.keys import KeysError, load_keyring

    try:
        return load_keyring(settings.keys_path)
    except (KeysError, OSError) as exc:
        raise BackupError(f"the keyring does not open, and the erasure journal cannot be "
                          f"replayed without its pepper: {exc}") from None


async def erase_again(settings: Settings, ring: KeyRing, user_ids: list[uuid.UUID]) -> int:
    """Erase each of `user_ids` with the platform's erasure (privacy/erasure.py over
    storage/erasure.py); returns how many were there to erase. No socket to close and no
    actor to stop: the gateways are down (checked before the restore), and the actors of
    the person's workouts were stopped when they were first erased."""
    from privacy.erasure import Erasure
    from storage.erasure import PgAccount, RedisCaches
    from storage.pool import open_pool
    from streams import redis_pool

    pool = open_pool(settings.pg_dsn, min_size=1, max_size=2)
    client = redis_pool.connect(settings.redis_url, max_connections=2)
    await pool.open()
    try:
        # Export files made before the backup may still lie in the export folder.
        exports = Path(settings.export_dir or settings.home_path / "exports")
        erasure = Erasure(PgAccount(pool, export_dir=exports),
                          RedisCaches(client, settings.redis_prefix), ring.pseudonym)
        return sum([await erasure.erase(user_id) is not None for user_id in user_ids])
    finally:
        await pool.close()
        await client.aclose()


def rewrap_restored(settings: Settings, ring: KeyRing) -> int:
    """Re-wrap under the live KEK the restored data keys wrapped by one rotated away since the
    set was made (the keyring keeps the KEKs it replaced); returns how many."""
    from privacy.key_ceremony import rewrap_all
    from privacy.keys import KeysError

    async def run() -> int:
        async with await psycopg.AsyncConnection.connect(settings.pg_dsn) as conn, \
                conn.transaction():
            return await rewrap_all(conn, ring)

    try:
        return asyncio.run(run())
    except KeysError as exc:
        raise BackupError(f"restored, and the erasure journal replayed, but {exc}. Until then "
                          "the processes cannot open those people's data keys") from None


def run_restore(settings: Settings, backup_dir: Path, *, force: bool = False,
                journal_from: list[Path] | None = None) -> int:
    """`stride restore`; `journal_from`: newer sets whose erasure journals are merged too
    (for when the database that held the newest journal is lost)."""
    try:
        return _restore(settings, backup_dir, force, journal_from or [])
    except BackupError as exc:
        console.print(f"[red]✗ restore[/]: {exc}")
        return 1
    except (psycopg.Error, redis.RedisError, MigrationError, OSError) as exc:
        # A server's message only (psycopg's str() may carry a DETAIL naming row values).
        said = exc.diag.message_primary if isinstance(exc, psycopg.Error) else str(exc)
        console.print(f"[red]✗ restore stopped[/]: {type(exc).__name__}: {said}")
        console.print(f"  the erasure journal saved before it is kept in "
                      f"{saved_journal_dir(settings)}: once fixed, run the same restore again "
                      "with --force; keep the gateways and the worker stopped until it succeeds")
        return 1


def _restore(settings: Settings, backup_dir: Path, force: bool, journal_from: list[Path]) -> int:
    manifest = read_manifest(backup_dir)
    with console.status("checking the set's checksums …"):
        verify(backup_dir, manifest)
    check_level(manifest)
    try:
        target = inspect_target(settings)
    except psycopg.Error as exc:
        raise BackupError(f"cannot reach the database: {exc}".strip()) from None
    if target.others_connected:
        raise BackupError(
            f"{target.others_connected} other client(s) are connected to the database. Stop "
            "the gateways and the stream worker first (`stride stack down --only gateway "
            "internal worker`), close other sessions, and start them again after the restore")
    if (target.accounts or target.workouts) and not force:
        raise BackupError(
            f"the database holds {target.accounts} account(s) and {target.workouts} workout(s); "
            "the restore would replace them with the set's: add --force to do that")
    paths, saved = saved_journals(settings)
    journal = saved + target.journal
    for newer in journal_from:
        journal += set_journal(newer)
    # The pepper for the replay; the KEK for data keys wrapped by one rotated away since.
    ring = _keyring(settings) if journal or manifest.erasure_journal or manifest.kek_id else None
    paths.append(save_journal(settings, target.journal))
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
               MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        step = progress.add_task("PostgreSQL: the dump, in one transaction", total=None)
        restore_postgres(settings, backup_dir / PG_FILE)
        progress.update(step, total=1, completed=1)
        step = progress.add_task("PostgreSQL: migrations", total=None)
        applied = migrate(settings.pg_dsn)
        added = merge_journal(settings, journal)
        progress.update(step, total=1, completed=1)
        step = progress.add_task("Redis: kept keys", total=manifest.redis_keys)
        removed, restored = restore_redis(settings, backup_dir / REDIS_FILE,
                                          lambda n: progress.advance(step, n))
        erased = 0
        if ring is not None:
            found = journaled_accounts(settings, ring.pseudonym)
            step = progress.add_task("erasure journal: erasing again", total=len(found))
            erased = asyncio.run(erase_again(settings, ring, found))
            progress.update(step, completed=erased)
            left = journaled_accounts(settings, ring.pseudonym)
            if left:
                raise BackupError(f"{len(left)} erased account(s) are still in the restored "
                                  "database; run the same restore again with --force (the saved "
                                  f"journal in {saved_journal_dir(settings)} is kept for it)")
    for path in paths:
        path.unlink(missing_ok=True)
    rewrapped = rewrap_restored(settings, ring) if ring is not None else 0
    console.print(
        f"[green]✓[/] restored {backup_dir.name} (made {manifest.created_at:%Y-%m-%d %H:%M} UTC): "
        f"{manifest.users} account(s), {manifest.workouts} workout(s), {restored} Redis key(s) "
        f"(replacing {removed}); migrations applied after: {len(applied)}; erasure journal: "
        f"{added} entr{'y' if added == 1 else 'ies'} kept from before the restore, "
        f"{erased} account(s) erased again; data keys re-wrapped under {ring.kek_id if ring else '-'}: "
        f"{rewrapped}")
    console.print("next: start the gateways and the worker "
                  "(`stride stack up`); what happened after the backup was made is not in it")
    return 0
