"""The inference log (ML engineers): which model answered, when, for whom and how fast.

Inputs and outputs are not here: they are health-derived (heart-rate features, injury
risk), and this API carries no health data.
"""

from __future__ import annotations

import datetime as dt
import uuid

import strawberry
from strawberry.types import Info

from gateway.internal.paging import Page, convert, keyset, page
from gateway.internal.permissions import MlEngineer, context_of
from storage import admin_records


@strawberry.type(description="One model inference, without its inputs and output.")
class Inference:
    id: uuid.UUID
    at: dt.datetime
    model_type: str
    model_version: str
    user_id: uuid.UUID | None
    workout_id: uuid.UUID | None
    trigger_id: uuid.UUID | None = strawberry.field(
        description="The workout or profile change that asked for it.")
    latency_ms: float


@strawberry.type
class Query:
    @strawberry.field(permission_classes=[MlEngineer],
                      description="The inference log, newest first; each argument narrows it "
                                  "(`until` is exclusive).")
    async def inference_log(self, info: Info, model_type: str | None = None,
                            model_version: str | None = None, user_id: uuid.UUID | None = None,
                            workout_id: uuid.UUID | None = None,
                            min_latency_ms: float | None = None, since: dt.datetime | None = None,
                            until: dt.datetime | None = None, limit: int = 50,
                            cursor: str | None = None) -> Page[Inference]:
        before = keyset(cursor, limit)
        async with context_of(info).state.pool.connection() as conn:
            rows = await admin_records.inferences(
                conn, model_type=model_type, model_version=model_version, user_id=user_id,
                workout_id=workout_id, min_latency_ms=min_latency_ms, since=since, until=until,
                limit=limit + 1, before=before)
        return page(rows, limit, lambda r: convert(Inference, r))
