"""How fast each model version answered lately, from the inference log.

The latency logged with an inference is what its caller waited (the recommender agent,
from asking Ray Serve to holding the answer), so these figures are what the platform saw,
queueing and batching included — the number an ML engineer watches during and after a
deploy. Read straight from `inference_log` (indexed by type and time); nothing is cached.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import msgspec
from psycopg import AsyncConnection


class VersionLatency(msgspec.Struct, frozen=True, kw_only=True):
    model_type: str
    model_version: str
    answers: int
    """Inferences logged in the window."""
    p50_ms: float
    p95_ms: float
    max_ms: float
    last_at: dt.datetime
    """When the newest of them was logged."""


async def recent(conn: AsyncConnection, types: Sequence[str],
                 since: dt.datetime) -> list[VersionLatency]:
    """Per version of `types` answering since `since`: count, median, 95th percentile and
    maximum latency (ms); busiest first within a type. (By type, so the (type, at) index
    serves it.)"""
    cur = await conn.execute(
        "SELECT model_type, model_version, count(*),"
        " percentile_cont(0.5) WITHIN GROUP (ORDER BY latency_ms),"
        " percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms),"
        " max(latency_ms), max(at)"
        " FROM inference_log WHERE model_type = ANY(%s) AND at >= %s"
        " GROUP BY model_type, model_version ORDER BY model_type, count(*) DESC, model_version",
        (list(types), since))
    return [VersionLatency(model_type=r[0], model_version=r[1], answers=r[2], p50_ms=r[3],
                           p95_ms=r[4], max_ms=r[5], last_at=r[6])
            for r in await cur.fetchall()]
