"""Stack health (admins): each part's probe, the stream worker's consumer lag per topic and
the dead-letter count, probed from this gateway at the moment of asking
(gateway/internal/probes.py: bounded, and a part that is down is reported, not raised)."""

from __future__ import annotations

import datetime as dt

import strawberry
from strawberry.types import Info

from gateway.internal.permissions import Admin, context_of
from gateway.internal.probes import stack_health


@strawberry.type(description="One part of the platform and whether it answered.")
class HealthProbe:
    component: str = strawberry.field(
        description="postgres, redis, kafka, worker (the stream worker) or gateway (the public one).")
    ok: bool
    latency_ms: float = strawberry.field(description="How long the probe took, in milliseconds.")
    detail: str = strawberry.field(description="What it found, or why it failed.")


@strawberry.type(description="Records of a topic the stream worker has not committed yet.")
class TopicLag:
    topic: str
    records: int


@strawberry.type(description="The platform's health at `checkedAt`.")
class StackHealth:
    checked_at: dt.datetime
    probes: list[HealthProbe]
    lag: list[TopicLag] = strawberry.field(
        description="Per topic the worker consumes; empty when Kafka did not say.")
    dead_letters: int | None = strawberry.field(
        description="Records on the dead-letter topic; null when Kafka did not say.")


@strawberry.type
class Query:
    @strawberry.field(permission_classes=[Admin],
                      description="Probe every part of the platform now (a few seconds at most).")
    async def stack_health(self, info: Info) -> StackHealth:
        state = context_of(info).state
        checked_at = dt.datetime.now(dt.UTC)
        found = await stack_health(state.pool, state.redis, state.ops)
        return StackHealth(
            checked_at=checked_at,
            probes=[HealthProbe(component=p.component, ok=p.ok, latency_ms=p.latency_ms,
                                detail=p.detail) for p in found.probes],
            lag=[TopicLag(topic=lag.topic, records=lag.records) for lag in found.lag],
            dead_letters=found.dead_letters)
