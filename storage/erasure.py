"""Erasing a person from PostgreSQL and Redis: the ports of privacy/erasure.py.

`REGISTRY` says, for every uuid column of every table, what erasure does with it. A test
(tests/e2e/test_erasure.py) compares it with the live schema — every uuid column and every
foreign key to users or workouts must be listed, and a `cascade`/`set_null` entry must match
the foreign key's ON DELETE — so a later table holding a person's id fails that test until
its author decides how it is erased. The rules:
- `subject`: the person's own users row, deleted last;
- `cascade`: deleted by its foreign key (ON DELETE CASCADE) with the users row, or with a
  workouts row;
- `workout`: deleted workout by workout (storage/workout_changes.py delete_workout);
- `explicit`: no foreign key; deleted by the erasure routine itself (`_later_tables`);
- `set_null`: someone else's row that merely names the person (who granted a role, created
  a group, deployed a model): the foreign key clears it;
- `pseudonymise`: journals kept as an audit trail (consents, group changes, admin actions,
  dead letters settled): the id is replaced by the person's stand-in (privacy/erasure.py);
- `tombstone`: workout_ids keeps each id reserved, with user_id cleared — no personal data;
- `other`: not a person or a workout (row ids, groups, models, campaigns).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from pathlib import Path
from typing import Any, Literal

import msgspec
from psycopg import AsyncConnection

from privacy.erasure import Begun, Report, WorkoutRef, stand_in
from storage import exports, keyspace, workout_changes
from storage.timeseries import dialect_of

Rule = Literal["subject", "cascade", "workout", "explicit", "set_null", "pseudonymise",
               "tombstone", "other"]

REGISTRY: dict[str, dict[str, Rule]] = {
    "users": {"id": "subject"},
    "social_logins": {"user_id": "cascade"},
    "roles": {"user_id": "cascade", "granted_by": "set_null"},
    "sessions": {"id": "other", "user_id": "cascade"},
    "workouts": {"id": "workout", "user_id": "workout"},
    "sensor_data": {"workout_id": "workout"},
    "workout_metrics": {"workout_id": "workout"},
    "workout_metrics_1m": {"workout_id": "workout"},
    "groups": {"id": "other", "created_by": "set_null"},
    "user_groups": {"user_id": "cascade", "group_id": "other"},
    "consents": {"id": "other", "athlete_id": "cascade", "group_id": "other"},
    "consent_journal": {"id": "other", "actor_id": "pseudonymise", "athlete_id": "pseudonymise",
                        "consent_id": "other", "group_id": "other"},
    "achievements": {"id": "other"},
    "user_achievements": {"user_id": "cascade", "achievement_id": "other", "workout_id": "set_null"},
    "leaderboard": {"user_id": "cascade"},
    "leaderboard_entries": {"workout_id": "workout", "user_id": "cascade"},
    "notification_preferences": {"user_id": "cascade"},
    "notification_logs": {"id": "other", "user_id": "cascade"},
    "marketing_metrics": {"campaign_id": "other"},
    "ai_models": {"id": "other", "created_by": "set_null", "deployed_by": "set_null",
                  "previous_id": "other"},
    "ai_model_deployments": {"actor": "set_null", "from_model_id": "other", "to_model_id": "other"},
    "recommendations": {"id": "other", "user_id": "cascade", "model_id": "other"},
    "inference_log": {"id": "other", "user_id": "cascade", "workout_id": "workout",
                      "trigger_id": "workout"},
    "workout_ids": {"id": "tombstone", "user_id": "tombstone"},
    "device_tokens": {"id": "other", "user_id": "cascade"},
    "mfa_totp": {"user_id": "cascade"},
    "mfa_recovery_codes": {"user_id": "cascade"},
    "group_invitations": {"id": "other", "group_id": "other", "invitee_id": "cascade",
                          "invited_by": "set_null"},
    "group_journal": {"id": "other", "group_id": "other", "actor_id": "pseudonymise",
                      "subject_id": "pseudonymise"},
    "privacy_settings": {"user_id": "cascade"},
    "admin_audit": {"id": "other", "actor_id": "pseudonymise"},
    "dead_letter_journal": {"id": "other", "actor_id": "pseudonymise"},
    "erasure_journal": {"id": "other"},
    "user_data_keys": {"key_id": "other", "user_id": "cascade"},
    "export_jobs": {"id": "other", "user_id": "cascade"},
    "workout_breaks": {"workout_id": "cascade"},
    "health_access_log": {"id": "other", "subject_id": "explicit", "workout_id": "explicit",
                          "viewer_id": "pseudonymise", "consent_id": "other"},
    "guardian_consents": {"id": "other", "athlete_id": "cascade", "guardian_id": "set_null"},
}

BATCH_ROWS = 5000
"""Rows per DELETE of the person's larger tables: short transactions, bounded locks."""
BY_USER_BATCHED = ("inference_log", "notification_logs", "recommendations")
"""Tables that grow with use: emptied in batches before the users row cascades the rest."""
PSEUDONYMISED = (("consent_journal", "athlete_id"), ("consent_journal", "actor_id"),
                 ("group_journal", "subject_id"), ("group_journal", "actor_id"),
                 ("admin_audit", "actor_id"), ("dead_letter_journal", "actor_id"))


async def schema_problems(conn: AsyncConnection[Any]) -> list[str]:
    """Where the live schema and REGISTRY disagree (empty: every reference is covered)."""
    cur = await conn.execute(
        "SELECT c.relname, a.attname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid"
        " JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND NOT c.relispartition"
        "   AND a.attnum > 0 AND NOT a.attisdropped AND a.atttypid = 'uuid'::regtype"
        "   AND c.relname NOT LIKE '\\_%%'")  # TimescaleDB's own tables start with _
    problems = [f"{table}.{column} (uuid) is not in storage/erasure.py REGISTRY"
                for table, column in await cur.fetchall()
                if column not in REGISTRY.get(table, {})]
    cur = await conn.execute(
        "SELECT c.relname, a.attname, f.relname, con.confdeltype FROM pg_constraint con"
        " JOIN pg_class c ON c.oid = con.conrelid JOIN pg_class f ON f.oid = con.confrelid"
        " JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = ANY (con.conkey)"
        " WHERE con.contype = 'f' AND f.relname IN ('users', 'workouts') AND NOT c.relispartition")
    expected = {"cascade": "c", "set_null": "n", "tombstone": "n"}
    for table, column, target, action in await cur.fetchall():
        rule = REGISTRY.get(table, {}).get(column)
        if rule is None:
            problems.append(f"{table}.{column} references {target} and is not in REGISTRY")
        elif rule in expected and action != expected[rule]:
            problems.append(f"{table}.{column} is registered as {rule} but its foreign key"
                            f" does ON DELETE {action!r}")
    return sorted(set(problems))


class PgAccount:
    """privacy.erasure.Account on PostgreSQL. `export_dir`: where export ZIPs lie (their
    files are removed once the rows are gone)."""

    def __init__(self, pool: Any, *, export_dir: Path | None = None) -> None:
        self._pool = pool
        self._export_dir = export_dir

    async def begin(self, user_id: uuid.UUID, pseudonym: str) -> Begun | None:
        async with self._pool.connection() as conn, conn.transaction():
            cur = await conn.execute(
                "UPDATE users SET erasure_requested_at = coalesce(erasure_requested_at, now()),"
                " locked_at = coalesce(locked_at, now()) WHERE id = %s"
                " RETURNING erasure_requested_at, email", (user_id,))
            row = await cur.fetchone()
            if row is None:
                return None
            await conn.execute(
                "INSERT INTO erasure_journal (pseudonym, requested_at) VALUES (%s, %s)"
                " ON CONFLICT (pseudonym) WHERE completed_at IS NULL DO NOTHING",
                (pseudonym, row[0]))
            ended = [r[0] for r in await (await conn.execute(
                "DELETE FROM sessions WHERE user_id = %s RETURNING id", (user_id,))).fetchall()]
            ended += [r[0] for r in await (await conn.execute(
                "DELETE FROM device_tokens WHERE user_id = %s RETURNING id", (user_id,))).fetchall()]
            await conn.execute("UPDATE workout_ids SET deleted_at = coalesce(deleted_at, now())"
                               " WHERE user_id = %s", (user_id,))
            cur = await conn.execute(
                "SELECT i.id, coalesce(w.status, 'created') <> 'finished' FROM workout_ids i"
                " LEFT JOIN workouts w ON w.id = i.id WHERE i.user_id = %(u)s"
                " UNION SELECT id, status <> 'finished' FROM workouts WHERE user_id = %(u)s",
                {"u": user_id})
            found: dict[uuid.UUID, bool] = {}
            for workout_id, recording in await cur.fetchall():
                found[workout_id] = found.get(workout_id, False) or recording
        return Begun(email=row[1], ended_tokens=ended,
                     workouts=[WorkoutRef(id=w, recording=r) for w, r in found.items()])

    async def delete_workout(self, workout_id: uuid.UUID, user_id: uuid.UUID) -> dict[str, int]:
        async with self._pool.connection() as conn:
            cur = await conn.execute("SELECT start_time, coalesce(end_time, updated_at)"
                                     " FROM workouts WHERE id = %s", (workout_id,))
            span = await cur.fetchone()
            deleted = await workout_changes.delete_workout(conn, workout_id, user_id)
            if span is not None:
                await workout_changes.refresh_rollup(conn, span[0], span[1])
        return deleted.rows

    async def finish(self, user_id: uuid.UUID, email: str, pseudonym: str,
                     report: Report) -> dict[str, int]:
        rows: dict[str, int] = {}
        files: list[Path] = []
        async with self._pool.connection() as conn:
            for table in BY_USER_BATCHED:
                rows[table] = await _delete_in_batches(conn, table, user_id)
            async with conn.transaction():
                rows |= await _pseudonymise(conn, user_id, email, stand_in(pseudonym))
                rows |= await _later_tables(conn, user_id, email)
                if self._export_dir is not None:
                    files = await exports.delete_for(conn, user_id, self._export_dir)
                    rows["export_jobs"] = len(files) // 2
                cur = await conn.execute("DELETE FROM users WHERE id = %s", (user_id,))
                rows["users"] = cur.rowcount
                stores = msgspec.to_builtins(report)
                stores["rows"] = {**report.rows, **{k: v for k, v in rows.items() if v}}
                await conn.execute(
                    "UPDATE erasure_journal SET completed_at = greatest(now(), requested_at),"
                    " stores = %s::jsonb WHERE pseudonym = %s AND completed_at IS NULL",
                    (msgspec.json.encode(stores).decode(), pseudonym))
        for path in files:  # after the commit: a failed commit keeps the files of kept rows
            path.unlink(missing_ok=True)
        return rows


async def _later_tables(conn: AsyncConnection[Any], user_id: uuid.UUID,
                        email: str) -> dict[str, int]:
    """Rows of others that name the person, and tables of issue 18 that need more than the
    users row's cascade (each looked up, so this runs on a database migrated to any point)."""
    rows: dict[str, int] = {}
    cur = await conn.execute("SELECT to_regclass('user_data_keys') IS NOT NULL,"
                             " to_regprocedure('erase_health_access_log(uuid)') IS NOT NULL,"
                             " to_regclass('guardian_consents') IS NOT NULL")
    keys, access_log, guardians = await cur.fetchone() or (False, False, False)
    if keys:  # counted apart from the cascade: it is what makes the Kafka records unreadable
        cur = await conn.execute("DELETE FROM user_data_keys WHERE user_id = %s", (user_id,))
        rows["user_data_keys"] = cur.rowcount
    if access_log:  # reads of their data go; their reads of others' lose the viewer (0020)
        cur = await conn.execute("SELECT erase_health_access_log(%s)", (user_id,))
        rows["health_access_log"] = int((await cur.fetchone() or (0,))[0])
    # Told to the athletes of a group when someone began to coach it, by name (groups_api).
    cur = await conn.execute(
        "UPDATE notification_logs n SET message = 'Someone' || substr(n.message, length(u.name) + 1)"
        " FROM (SELECT nullif(btrim(concat_ws(' ', first_name, last_name)), '') AS name"
        "       FROM users WHERE id = %(u)s) u"
        " WHERE u.name IS NOT NULL AND n.notification_type = 'group.coach_added'"
        "   AND n.user_id <> %(u)s AND starts_with(n.message, u.name || ' now coaches ')",
        {"u": user_id})
    rows["notification_logs:unnamed"] = cur.rowcount
    if guardians:  # as someone's guardian: the consent ends, the address goes
        cur = await conn.execute(
            "UPDATE guardian_consents SET withdrawn_at = coalesce(withdrawn_at, now()),"
            " guardian_email = 'erased@invalid' WHERE guardian_email = %s OR guardian_id = %s",
            (email, user_id))
        rows["guardian_consents:withdrawn"] = cur.rowcount
    return rows


async def _delete_in_batches(conn: AsyncConnection[Any], table: str, user_id: uuid.UUID) -> int:
    total = 0
    while True:
        async with conn.transaction():
            cur = await conn.execute(
                f"DELETE FROM {table} WHERE ctid = ANY (ARRAY(SELECT ctid FROM {table}"  # noqa: S608 -- names from BY_USER_BATCHED
                f" WHERE user_id = %s LIMIT {BATCH_ROWS}))", (user_id,))
        total += cur.rowcount
        if cur.rowcount < BATCH_ROWS:
            return total


async def _pseudonymise(conn: AsyncConnection[Any], user_id: uuid.UUID, email: str,
                        stand: uuid.UUID) -> dict[str, int]:
    """Replace the person's id in the journals by their stand-in (inside the caller's
    transaction; the journals' triggers let this one UPDATE through: 0019)."""
    await conn.execute("SET LOCAL stride.erasure = 'pseudonymise'")
    rows: dict[str, int] = {}
    for table, column in PSEUDONYMISED:
        cur = await conn.execute(
            f"UPDATE {table} SET {column} = %s WHERE {column} = %s",  # noqa: S608 -- fixed names
            (stand, user_id))
        key = f"{table}:pseudonymised"
        rows[key] = rows.get(key, 0) + cur.rowcount
    # An admin's action on the person: the target names them, and the detail (a lock's
    # reason, say) is about them — kept as "an action on an erased account".
    cur = await conn.execute(
        "UPDATE admin_audit SET target = replace(target, %(u)s, %(s)s),"
        " detail = jsonb_build_object('erased', true) WHERE strpos(target, %(u)s) > 0",
        {"u": str(user_id), "s": f"erased-{stand}"})
    rows["admin_audit:pseudonymised"] += cur.rowcount
    for text, by in ((str(user_id), str(stand)), (email, "erased")):
        cur = await conn.execute(
            "UPDATE admin_audit SET detail = replace(detail::text, %(u)s, %(s)s)::jsonb"
            " WHERE strpos(detail::text, %(u)s) > 0", {"u": text, "s": by})
        rows["admin_audit:pseudonymised"] += cur.rowcount
    await conn.execute("RESET stride.erasure")
    return rows


class RedisCaches:
    """privacy.erasure.Caches on Redis: SCANs the deployment's keys once for any that names
    the person (their id, or the digests gateway/quotas.py and gateway/throttle.py key them
    by) or one of their workouts, and takes them off every leaderboard."""

    def __init__(self, redis: Any, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix

    async def purge(self, user_id: uuid.UUID, email: str, workout_ids: list[uuid.UUID]) -> int:
        names = {str(user_id), _digest(str(user_id)), _digest(email), *(str(w) for w in workout_ids)}
        # Boards, and boards being rebuilt (`stride leaderboards rebuild`).
        boards = (keyspace.leaderboard_pattern(self._prefix).rstrip("*"),
                  keyspace.leaderboard_rebuild(self._prefix, ""))
        doomed: list[str] = []
        removed = 0
        async for raw in self._redis.scan_iter(match=f"{self._prefix}:*", count=1000):
            key = raw.decode() if isinstance(raw, bytes) else raw
            if any(name in key for name in names):
                doomed.append(key)
            elif key.startswith(boards):
                removed += await self._redis.zrem(key, str(user_id))
            elif key.startswith(f"{self._prefix}:oidc:"):
                value = await self._redis.get(key)
                if value is not None and str(user_id).encode() in value:
                    doomed.append(key)
        for first in range(0, len(doomed), 500):
            removed += await self._redis.delete(*doomed[first:first + 500])
        return removed


def _digest(text: str) -> str:
    """How gateway/quotas.py and gateway/throttle.py name an account in their keys."""
    return hashlib.sha256(text.encode()).hexdigest()[:32]


LATE_TABLES = ("sensor_data", "workout_metrics", "workout_metrics_1m", "inference_log")


async def sweep_late_rows(conn: AsyncConnection[Any],
                          within: dt.timedelta = dt.timedelta(days=1)) -> dict[str, int]:
    """Delete rows of workouts deleted (or erased) in the last `within` that were written
    after all: a sink's write that began before the tombstone committed can commit after the
    workout's rows went. Rows deleted per table."""
    cur = await conn.execute("SELECT id FROM workout_ids WHERE deleted_at IS NOT NULL"
                             " AND deleted_at > now() - %s", (within,))
    ids = [r[0] for r in await cur.fetchall()]
    rows: dict[str, int] = {}
    if not ids:
        return rows
    native = await dialect_of(conn) == "native"
    for table in LATE_TABLES:
        if table == "workout_metrics_1m" and not native:
            continue  # a continuous aggregate: it follows workout_metrics
        cur = await conn.execute(f"DELETE FROM {table} WHERE workout_id = ANY(%s)",  # noqa: S608
                                 (ids,))
        if cur.rowcount:
            rows[table] = cur.rowcount
    return rows


async def unfinished(conn: AsyncConnection[Any]) -> list[uuid.UUID]:
    """Accounts whose erasure was asked for and has not completed (the users row goes last)."""
    cur = await conn.execute("SELECT id FROM users WHERE erasure_requested_at IS NOT NULL"
                             " AND erasure_requested_at < now() - interval '1 minute'")
    return [r[0] for r in await cur.fetchall()]



