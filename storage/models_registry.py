"""The model registry (`ai_models`, `ai_model_deployments`): register, list, deploy, roll back.

At most one model per type is `deployed` (a partial unique index). Deploying retires the
current model and records it as the new one's `previous_id`, in one transaction; a rollback
retires the current model and deploys its `previous_id` again. Every change takes a
transaction-level advisory lock on the type first, so two deploys of one type queue
instead of failing on the unique index.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Literal

import msgspec
from psycopg import AsyncConnection, errors
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

Status = Literal["registered", "deployed", "retired"]


class RegistryError(Exception):
    """A registry rule refused the change; the message says which."""


class NotFound(RegistryError):
    pass


class AlreadyExists(RegistryError):
    pass


class ModelRecord(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    type: str
    version: str
    path: str
    """Where the artifact lives: a local folder or an fsspec URL."""
    checksum: str | None
    """SHA-256 (hex) of the artifact when it was registered."""
    feature_schema: int | None
    """models.features.FEATURE_SCHEMA the model was trained on (None: not recorded)."""
    metrics: dict[str, Any]
    status: Status
    created_at: dt.datetime
    created_by: uuid.UUID | None
    deployed_at: dt.datetime | None
    deployed_by: uuid.UUID | None
    previous_id: uuid.UUID | None


class Deployment(msgspec.Struct, frozen=True, kw_only=True):
    """One deploy or rollback of a type, for the audit trail."""

    action: Literal["deploy", "rollback"]
    from_version: str | None
    to_version: str
    actor: uuid.UUID | None
    at: dt.datetime


_COLUMNS = ("id, type, version, path, checksum, feature_schema, metrics, status, created_at, created_by,"
            " deployed_at, deployed_by, previous_id")


def _record(row: dict[str, Any]) -> ModelRecord:
    return msgspec.convert(row, ModelRecord, from_attributes=False, strict=False)


async def _one(conn: AsyncConnection[Any], sql: str, params: tuple[Any, ...]) -> ModelRecord | None:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(sql, params)
        row = await cur.fetchone()
    return None if row is None else _record(row)


async def register(conn: AsyncConnection[Any], *, type: str, version: str, path: str,
                   checksum: str, metrics: dict[str, Any], created_by: uuid.UUID | None,
                   feature_schema: int | None = None) -> ModelRecord:
    """Add a version (status `registered`); AlreadyExists if (type, version) is taken."""
    try:
        async with conn.transaction():
            record = await _one(
                conn,
                f"INSERT INTO ai_models (type, version, path, checksum, feature_schema, metrics,"
                f" created_by) VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING {_COLUMNS}",
                (type, version, path, checksum, feature_schema, Jsonb(metrics), created_by))
    except errors.UniqueViolation:
        raise AlreadyExists(f"{type} {version} is already registered") from None
    except errors.CheckViolation as exc:
        raise RegistryError(f"refused by the registry: {exc.diag.constraint_name}") from None
    assert record is not None
    return record


async def list_models(conn: AsyncConnection[Any], type: str | None = None) -> list[ModelRecord]:
    """Every version (of one type, or all), newest first within each type."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"SELECT {_COLUMNS} FROM ai_models WHERE %(type)s::text IS NULL OR type = %(type)s"
            " ORDER BY type, created_at DESC, version DESC", {"type": type})
        return [_record(row) for row in await cur.fetchall()]


async def get(conn: AsyncConnection[Any], type: str, version: str) -> ModelRecord | None:
    return await _one(conn, f"SELECT {_COLUMNS} FROM ai_models WHERE type = %s AND version = %s",
                      (type, version))


async def deployed(conn: AsyncConnection[Any], type: str) -> ModelRecord | None:
    return await _one(conn, f"SELECT {_COLUMNS} FROM ai_models WHERE type = %s"
                            " AND status = 'deployed'", (type,))


async def history(conn: AsyncConnection[Any], type: str, limit: int = 20) -> list[Deployment]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT d.action, f.version AS from_version, t.version AS to_version, d.actor, d.at"
            " FROM ai_model_deployments d JOIN ai_models t ON t.id = d.to_model_id"
            " LEFT JOIN ai_models f ON f.id = d.from_model_id"
            " WHERE d.type = %s ORDER BY d.at DESC, d.id DESC LIMIT %s", (type, limit))
        return [msgspec.convert(row, Deployment) for row in await cur.fetchall()]


async def lock_type(conn: AsyncConnection[Any], type: str) -> None:
    """Serialise changes of one type until the current transaction ends."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext('ai_models:' || %s))", (type,))


async def rollback_target(conn: AsyncConnection[Any], type: str) -> ModelRecord | None:
    """The model a rollback of `type` would deploy (the current one's previous), if any."""
    return await _one(
        conn, f"SELECT {', '.join('p.' + c.strip() for c in _COLUMNS.split(','))}"
              " FROM ai_models c JOIN ai_models p ON p.id = c.previous_id"
              " WHERE c.type = %s AND c.status = 'deployed'", (type,))


async def mark_deployed(conn: AsyncConnection[Any], type: str, version: str,
                        by: uuid.UUID | None) -> ModelRecord:
    """Make `version` the deployed model of `type`, retiring the current one (which becomes
    its previous). Run inside a transaction that holds `lock_type`."""
    target = await get(conn, type, version)
    if target is None:
        raise NotFound(f"no {type} model {version}")
    current = await deployed(conn, type)
    if current is not None and current.id == target.id:
        return target
    return await _switch(conn, current, target, by, "deploy",
                         previous=None if current is None else current.id)


async def mark_rolled_back(conn: AsyncConnection[Any], type: str,
                           by: uuid.UUID | None) -> ModelRecord:
    """Retire the deployed model of `type` and deploy its previous one again; NotFound when
    there is nothing to go back to. Run inside a transaction that holds `lock_type`."""
    current = await deployed(conn, type)
    if current is None:
        raise NotFound(f"no {type} model is deployed")
    target = await rollback_target(conn, type)
    if target is None:
        raise NotFound(f"{type} {current.version} has no previous version to roll back to")
    return await _switch(conn, current, target, by, "rollback", previous=target.previous_id)


async def _switch(conn: AsyncConnection[Any], current: ModelRecord | None, target: ModelRecord,
                  by: uuid.UUID | None, action: str, previous: uuid.UUID | None) -> ModelRecord:
    async with conn.transaction():
        if current is not None:
            await conn.execute("UPDATE ai_models SET status = 'retired' WHERE id = %s", (current.id,))
        record = await _one(
            conn, f"UPDATE ai_models SET status = 'deployed', deployed_at = now(), deployed_by = %s,"
                  f" previous_id = %s WHERE id = %s RETURNING {_COLUMNS}", (by, previous, target.id))
        await conn.execute(
            "INSERT INTO ai_model_deployments (type, action, from_model_id, to_model_id, actor)"
            " VALUES (%s, %s, %s, %s, %s)",
            (target.type, action, None if current is None else current.id, target.id, by))
    assert record is not None
    return record
