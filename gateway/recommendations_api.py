"""REST: `GET /v1/recommendations/me` — the newest workouts and promo codes suggested for
you (Redis first, then PostgreSQL). Until the recommender has produced a set the lists are
empty and `id` is null."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from typing import Any

import msgspec
import redis.exceptions
from litestar import Request, get

from gateway.access import principal_of
from storage import keyspace
from storage import recommendations as repo
from streams.events import PromoOffer, RecommendationsReady, RecommendedWorkout, Trigger

log = logging.getLogger("stride.gateway")


class RecommendationsOut(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID | None
    generated_at: dt.datetime | None
    expires_at: dt.datetime | None
    model_version: str | None
    """What ranked the workouts: the `recommend` model's version, or `rules` when none was
    deployed."""
    risk_model_version: str | None
    """What judged the risk the ranking took into account: the `risk` model's version, or
    `rules` (the workout's rule-based level)."""
    trigger: Trigger | None
    """What brought this set: a completed workout or a change of your profile."""
    after_workout: uuid.UUID | None
    workouts: list[RecommendedWorkout]
    promos: list[PromoOffer]


def _from_event(ready: RecommendationsReady) -> RecommendationsOut:
    return RecommendationsOut(
        id=ready.recommendation_id,
        generated_at=dt.datetime.fromtimestamp(ready.generated_at_ms / 1000, tz=dt.UTC),
        expires_at=dt.datetime.fromtimestamp(ready.expires_at_ms / 1000, tz=dt.UTC),
        model_version=ready.model_version, risk_model_version=ready.risk_model_version,
        trigger=ready.trigger, after_workout=ready.workout_id,
        workouts=ready.workouts, promos=ready.promos)


async def _cached(request: Request[Any, Any, Any], user: uuid.UUID) -> RecommendationsOut | None:
    try:
        state = request.app.state
        raw = await state.redis.get(keyspace.recommendations(state.redis_prefix, user))
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
        log.warning("recommendations cache unavailable, reading PostgreSQL: %s", exc)
        return None
    return None if raw is None else _from_event(msgspec.json.decode(raw, type=RecommendationsReady))


@get("/v1/recommendations/me", summary="Workouts and promo codes suggested for you")
async def my_recommendations(request: Request[Any, Any, Any]) -> RecommendationsOut:
    user = principal_of(request).user_id
    cached = await _cached(request, user)
    if cached is not None:
        return cached
    async with request.app.state.pool.connection() as conn:
        stored = await repo.latest(conn, user)
    if stored is None:  # none yet: they follow the next completed workout or profile change
        return RecommendationsOut(id=None, generated_at=None, expires_at=None,
                                  model_version=None, risk_model_version=None, trigger=None,
                                  after_workout=None,
                                  workouts=[], promos=[])
    items = stored.items
    after = items.get("after_workout")
    return RecommendationsOut(
        id=stored.id, generated_at=stored.generated_at, expires_at=stored.expires_at,
        model_version=str(items.get("model_version", "")),
        risk_model_version=items.get("risk_model_version"),
        trigger=items.get("trigger", "workout_completed"),
        after_workout=uuid.UUID(after) if after else None,
        workouts=msgspec.convert(items.get("workouts", []), list[RecommendedWorkout]),
        promos=msgspec.convert(items.get("promos", []), list[PromoOffer]))


ROUTES = [my_recommendations]
