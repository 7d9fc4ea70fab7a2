"""Ordered plain-SQL migrations, each applied once inside its own transaction.

Applied files are recorded in `schema_migrations` with a checksum, so an edited file that
was already applied is reported instead of silently skipped. A transaction-level advisory
lock lets several processes run `migrate` at once safely.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import msgspec
import psycopg

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_LOCK_ID = 0x5752_4944  # any constant shared by every migrator


class Migration(msgspec.Struct, frozen=True):
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


class MigrationError(Exception):
    pass


def load(folder: Path = MIGRATIONS_DIR) -> list[Migration]:
    return [Migration(p.name, p.read_text()) for p in sorted(folder.glob("*.sql"))]


def migrate(dsn: str, folder: Path = MIGRATIONS_DIR) -> list[str]:
    """Apply the pending migrations; returns the names applied now."""
    applied_now: list[str] = []
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " name text PRIMARY KEY, checksum text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        for migration in load(folder):
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_ID,))
                row = conn.execute(
                    "SELECT checksum FROM schema_migrations WHERE name = %s", (migration.name,)
                ).fetchone()
                if row is not None:
                    if row[0] != migration.checksum:
                        raise MigrationError(
                            f"{migration.name} changed after it was applied; "
                            "add a new migration instead of editing an applied one"
                        )
                    continue
                try:
                    conn.execute(migration.sql.encode())
                except psycopg.Error as exc:
                    raise MigrationError(f"{migration.name} failed: {exc}") from exc
                conn.execute(
                    "INSERT INTO schema_migrations (name, checksum) VALUES (%s, %s)",
                    (migration.name, migration.checksum),
                )
                applied_now.append(migration.name)
    return applied_now
