"""`stride backup`: a backup set of the stack's PostgreSQL and Redis, and its key material apart.

A set is a folder `stride-backup-<UTC time>` holding
- `postgres.dump` — `pg_dump --format=custom` of the stack's database (one consistent snapshot);
- `redis.records` — the Redis keys worth keeping (stack/backup_redis.py says which and why);
- `erasure-journal.json` — the erasure journal again, for restores of older sets;
- `manifest.json` — when, from which code, the migration level, the servers' versions, counts,
  and each file's size and SHA-256, so a restore can refuse a damaged or foreign set.
Beside it, never inside, the folder `<set>.keys` (or `--keys-out`) holds the key material the
dump needs: the keyring (the KEK's id and check value, the pseudonym pepper sealed under the
KEK), for a development keyring only its shares, and the stack's server secret
(`.stack/secret_key`: leaderboard handles are derived from it). The machine's unsealed KEK
is never copied: in production the KEK comes back only from the threshold of shares their holders
keep. The dump holds the data keys wrapped by the KEK, so the data set alone opens nothing
that was sealed — and whoever keeps the sets should not also keep the keys.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

import msgspec
import psycopg
import redis
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

from stack import backup_redis
from stack.postgres_local import pg_bin
from stack.settings import REPO_ROOT, Settings

console = Console(stderr=True, soft_wrap=True)

FORMAT = 1
PG_FILE = "postgres.dump"
REDIS_FILE = "redis.records"
JOURNAL_FILE = "erasure-journal.json"
MANIFEST_FILE = "manifest.json"
KEYS_MANIFEST_FILE = "keys-manifest.json"
KEYRING_FILE = "keyring.json"
DEV_SHARES_DIR = "dev-shares"
SECRET_FILE = "secret_key"
"""The keys folder's files a backup copies (privacy/key_ceremony.py); `kek.unsealed`, the
machine's KEK in the clear, is deliberately not among them."""


class FileEntry(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    size_bytes: int
    sha256: str


class Manifest(msgspec.Struct, frozen=True, kw_only=True):
    format: int = FORMAT
    created_at: dt.datetime
    stride_commit: str
    migrations: list[str]
    """Every migration applied in the dumped database, in order; the last is its level."""
    postgres_server: str
    pg_dump: str
    redis_server: str
    redis_prefix: str
    redis_keys: int
    redis_families: list[str]
    users: int
    workouts: int
    erasure_journal: int
    """Rows of the erasure journal in the dump (people erased before the backup)."""
    kek_id: str
    """The KEK the dump's data keys are wrapped by ("" when the stack had no keyring)."""
    files: list[FileEntry]
    keys_files: list[FileEntry]
    """The key material written apart (names and checksums only)."""


class JournalRow(msgspec.Struct, frozen=True, array_like=True):
    """One row of the erasure journal (migration 0019): a pseudonym, no personal data."""

    id: uuid.UUID
    pseudonym: str
    requested_at: dt.datetime
    completed_at: dt.datetime | None
    stores: msgspec.Raw


def read_journal(conn: psycopg.Connection[Any]) -> list[JournalRow]:
    """The database's erasure journal ([] before migration 0019)."""
    found = conn.execute("SELECT to_regclass('erasure_journal') IS NOT NULL").fetchone()
    if not (found and found[0]):
        return []
    return [JournalRow(r[0], r[1], r[2], r[3], msgspec.Raw(msgspec.json.encode(r[4])))
            for r in conn.execute("SELECT id, pseudonym, requested_at, completed_at, stores"
                                  " FROM erasure_journal ORDER BY requested_at").fetchall()]


class BackupError(Exception):
    """The backup or restore cannot go on; the message says why and what to do."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as src:
        while chunk := src.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def file_entry(path: Path, name: str) -> FileEntry:
    return FileEntry(name=name, size_bytes=path.stat().st_size, sha256=sha256_of(path))


def libpq_call(dsn: str) -> tuple[str, dict[str, str]]:
    """The DSN without its password, and an environment carrying the password: a password on
    a command line is readable by every local user (/proc/PID/cmdline)."""
    params = conninfo_to_dict(dsn)
    password = params.pop("password", None)
    env = dict(os.environ)
    if password is not None:
        env["PGPASSWORD"] = str(password)
    return make_conninfo("", **params), env


def _tool_version(tool: str) -> str:
    out = subprocess.run([pg_bin(tool), "--version"], capture_output=True, text=True, timeout=30)
    return out.stdout.strip()


def _commit() -> str:
    out = subprocess.run(["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"],
                         capture_output=True, text=True, timeout=30)
    return out.stdout.strip() if out.returncode == 0 else "unknown"


def private_dir(path: Path) -> Path:
    """A new folder only its owner can enter (the sets hold health data)."""
    try:
        path.mkdir(parents=True, exist_ok=False, mode=0o700)
    except FileExistsError:
        raise BackupError(f"{path} exists already (sets are named by the second): "
                          "choose another --out, or try again") from None
    return path


class DatabaseFacts(msgspec.Struct, frozen=True, kw_only=True):
    postgres_server: str
    migrations: list[str]
    users: int
    workouts: int
    erasure_journal: int


def database_facts(dsn: str) -> DatabaseFacts:
    with psycopg.connect(dsn, connect_timeout=10) as conn:
        def one(query: str) -> object:
            row = conn.execute(query).fetchone()
            return row[0] if row else None

        has_journal = bool(one("SELECT to_regclass('erasure_journal') IS NOT NULL"))
        return DatabaseFacts(
            postgres_server=str(one("SHOW server_version")),
            migrations=[r[0] for r in conn.execute(
                "SELECT name FROM schema_migrations ORDER BY name").fetchall()],
            users=int(str(one("SELECT count(*) FROM users"))),
            workouts=int(str(one("SELECT count(*) FROM workouts"))),
            erasure_journal=int(str(one("SELECT count(*) FROM erasure_journal")))
            if has_journal else 0)


def _copy_keys(keys_dir: Path, secret_file: Path, out: Path) -> tuple[list[FileEntry], str]:
    """Copy the keyring (and a development keyring's shares) and the stack's server secret
    (leaderboard handles are derived from it) into `out`; returns their entries and the KEK
    id ("" when the keys were never initialised)."""
    keyring = keys_dir / KEYRING_FILE
    kek_id = str(msgspec.json.decode(keyring.read_bytes()).get("kek_id", "")) \
        if keyring.exists() else ""
    sources = [(keyring, KEYRING_FILE)] if keyring.exists() else []
    sources += [(share, f"{DEV_SHARES_DIR}/{share.name}")
                for share in sorted((keys_dir / DEV_SHARES_DIR).glob("share-*"))]
    if secret_file.exists():
        sources.append((secret_file, SECRET_FILE))
    entries = []
    for source, name in sources:
        target = out / name
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        shutil.copyfile(source, target)
        target.chmod(0o600)
        entries.append(file_entry(target, name))
    return entries, kek_id


def backup(settings: Settings, out_dir: Path, keys_out: Path | None = None) -> Path:
    """Write a backup set under `out_dir` and its key material apart; returns the set."""
    stamp = dt.datetime.now(dt.UTC)
    name = f"stride-backup-{stamp:%Y%m%dT%H%M%SZ}"
    try:
        facts = database_facts(settings.pg_dsn)
    except psycopg.Error as exc:
        raise BackupError(f"cannot read the database: {exc}".strip()) from None
    out_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    target = private_dir(out_dir / name)
    try:
        keys_target = private_dir(keys_out if keys_out is not None else out_dir / f"{name}.keys")
    except BackupError:
        target.rmdir()
        raise
    umask = os.umask(0o077)  # every file of the set, pg_dump's too, readable by its owner only
    client = redis.Redis.from_url(settings.redis_url, socket_timeout=30)
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
               MofNCompleteColumn(), TimeElapsedColumn())
    try:
        with Progress(*columns, console=console) as progress:
            step = progress.add_task("PostgreSQL: pg_dump", total=None)
            conninfo, env = libpq_call(settings.pg_dsn)
            dumped = subprocess.run(
                [pg_bin("pg_dump"), "--format=custom",
                 f"--file={target / PG_FILE}", f"--dbname={conninfo}"],
                capture_output=True, text=True, env=env, timeout=24 * 3600)
            if dumped.returncode != 0:
                raise BackupError("pg_dump failed: " + dumped.stderr.strip()[-2000:])
            # The journal again, on its own: a restore of an OLDER set can merge it from this
            # one (--journal-from) when the database that held it is lost. Read after the
            # dump, so it holds at least the dump's rows.
            with psycopg.connect(settings.pg_dsn, connect_timeout=10) as conn:
                (target / JOURNAL_FILE).write_bytes(msgspec.json.encode(read_journal(conn)))
            progress.update(step, total=1, completed=1)
            keys = progress.add_task("Redis: kept keys", total=backup_redis.count_kept(
                client, settings.redis_prefix))
            with (target / REDIS_FILE).open("wb") as sink:
                redis_keys = backup_redis.dump_keys(client, settings.redis_prefix, sink,
                                                    lambda n: progress.advance(keys, n))
            redis_server = str(client.info("server").get("redis_version", ""))
            material = progress.add_task("key material, apart", total=None)
            keys_files, kek_id = _copy_keys(settings.keys_path, settings.home_path / SECRET_FILE,
                                            keys_target)
            progress.update(material, total=1, completed=1)
            sums = progress.add_task("checksums", total=None)
            manifest = Manifest(
                created_at=stamp, stride_commit=_commit(), migrations=facts.migrations,
                postgres_server=facts.postgres_server, pg_dump=_tool_version("pg_dump"),
                redis_server=redis_server, redis_prefix=settings.redis_prefix,
                redis_keys=redis_keys, redis_families=list(backup_redis.KEPT_FAMILIES),
                users=facts.users, workouts=facts.workouts,
                erasure_journal=facts.erasure_journal, kek_id=kek_id,
                files=[file_entry(target / n, n) for n in (PG_FILE, REDIS_FILE, JOURNAL_FILE)],
                keys_files=keys_files)
            encoded = msgspec.json.format(msgspec.json.encode(manifest))
            (target / MANIFEST_FILE).write_bytes(encoded)
            (keys_target / KEYS_MANIFEST_FILE).write_bytes(msgspec.json.format(msgspec.json.encode(
                {"backup": name, "kek_id": kek_id, "files": keys_files})))
            progress.update(sums, total=1, completed=1)
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)  # never leave a set that looks whole
        shutil.rmtree(keys_target, ignore_errors=True)
        raise
    finally:
        os.umask(umask)
        client.close()
    return target


def run_backup(settings: Settings, out_dir: Path, keys_out: Path | None) -> Path:
    """`stride backup`: the set, then what it holds and where the key material went."""
    target = backup(settings, out_dir, keys_out)
    manifest = read_manifest(target)
    size_mb = sum(f.size_bytes for f in manifest.files) / 1e6
    keys_dir = keys_out if keys_out is not None else out_dir / f"{target.name}.keys"
    console.print(f"[green]✓[/] {target} ({size_mb:.1f} MB): {manifest.users} account(s), "
                  f"{manifest.workouts} workout(s), {manifest.redis_keys} Redis key(s), "
                  f"migration level {manifest.migrations[-1] if manifest.migrations else 'none'}")
    if any(f.name == KEYRING_FILE for f in manifest.keys_files):
        console.print(f"  key material apart in {keys_dir} (keyring {manifest.kek_id}): store it "
                      "somewhere other than the sets; the dump's data keys open only with it")
    else:
        console.print("  [yellow]![/] no keyring in the keys folder (`stride keys init` makes "
                      "one): no data key can be in the dump")
    print(target)  # stdout: the set's path alone, for scripts
    return target


def read_manifest(backup_dir: Path) -> Manifest:
    path = backup_dir / MANIFEST_FILE
    try:
        return msgspec.json.decode(path.read_bytes(), type=Manifest)
    except FileNotFoundError:
        raise BackupError(f"{backup_dir} is not a backup set (no {MANIFEST_FILE})") from None
    except msgspec.DecodeError as exc:
        raise BackupError(f"{path} is damaged or of another format: {exc}") from None


def set_journal(backup_dir: Path) -> list[JournalRow]:
    """The erasure journal a set carries beside its dump (checked first)."""
    verify(backup_dir, read_manifest(backup_dir))
    try:
        return msgspec.json.decode((backup_dir / JOURNAL_FILE).read_bytes(), type=list[JournalRow])
    except msgspec.DecodeError as exc:
        raise BackupError(f"{backup_dir / JOURNAL_FILE} does not read: {exc}") from None


def verify(backup_dir: Path, manifest: Manifest) -> None:
    """Every file of the set is there with the size and checksum the manifest gives."""
    if manifest.format != FORMAT:
        raise BackupError(f"backup format {manifest.format}; this code reads format {FORMAT}")
    for entry in manifest.files:
        path = backup_dir / entry.name
        if not path.is_file():
            raise BackupError(f"{path} is missing from the set")
        if path.stat().st_size != entry.size_bytes or sha256_of(path) != entry.sha256:
            raise BackupError(f"{path} does not match its checksum in the manifest: damaged")
