"""Recommendations (durable copy) and the inference log."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import msgspec
from psycopg import AsyncConnection

from streams.events import RecommendationsReady

_json = msgspec.json.Encoder()


def _ts(ms: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC)


async def store(conn: AsyncConnection, ready: RecommendationsReady) -> bool:
    """Keep a recommendation set once (its id comes from what triggered it); True if new.
    The model row is looked up by type and version; a version unknown to the registry
    leaves `model_id` empty rather than losing the set."""
    cur = await conn.execute(
        """
        INSERT INTO recommendations (id, user_id, model_id, items, generated_at, expires_at)
        VALUES (%(id)s, %(user)s,
                (SELECT id FROM ai_models WHERE type = %(type)s AND version = %(version)s),
                %(items)s, %(generated)s, %(expires)s)
        ON CONFLICT (id) DO NOTHING
        """,
        {"id": ready.recommendation_id, "user": ready.user_id, "type": ready.model_type,
         "version": ready.model_version, "generated": _ts(ready.generated_at_ms),
         "expires": _ts(ready.expires_at_ms),
         "items": _json.encode({"workouts": ready.workouts, "promos": ready.promos,
                                "model_version": ready.model_version,
                                "risk_model_version": ready.risk_model_version,
                                "trigger": ready.trigger,
                                "after_workout": ready.workout_id}).decode()},
    )
    return cur.rowcount == 1


class Latest(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    items: dict[str, Any]
    generated_at: dt.datetime
    expires_at: dt.datetime | None


async def latest(conn: AsyncConnection, user_id: uuid.UUID) -> Latest | None:
    """The newest unexpired set for a user."""
    cur = await conn.execute(
        "SELECT id, items::text, generated_at, expires_at FROM recommendations"
        " WHERE user_id = %s AND (expires_at IS NULL OR expires_at > now())"
        " ORDER BY generated_at DESC LIMIT 1", (user_id,))
    row = await cur.fetchone()
    if row is None:
        return None
    return Latest(id=row[0], items=msgspec.json.decode(row[1]), generated_at=row[2],
                  expires_at=row[3])


async def log_inference(conn: AsyncConnection, *, model_type: str, model_version: str,
                        inputs: object, output: object, latency_ms: float,
                        user_id: uuid.UUID | None = None, workout_id: uuid.UUID | None = None,
                        trigger_id: uuid.UUID | None = None) -> bool:
    """Log one inference; with `trigger_id`, once per model type and trigger (False when
    it was logged already)."""
    cur = await conn.execute(
        "INSERT INTO inference_log (model_type, model_version, user_id, workout_id, inputs,"
        " output, latency_ms, trigger_id) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (model_type, trigger_id) WHERE trigger_id IS NOT NULL DO NOTHING",
        (model_type, model_version, user_id, workout_id, _json.encode(inputs).decode(),
         _json.encode(output).decode(), latency_ms, trigger_id))
    return cur.rowcount == 1


async def logged_answer(conn: AsyncConnection, model_type: str,
                        trigger_id: uuid.UUID) -> dict[str, Any] | None:
    """The answer a model gave for this trigger, if it was asked already."""
    cur = await conn.execute(
        "SELECT output::text FROM inference_log WHERE model_type = %s AND trigger_id = %s",
        (model_type, trigger_id))
    row = await cur.fetchone()
    return None if row is None else msgspec.json.decode(row[0])
