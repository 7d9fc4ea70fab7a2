"""workout.lifecycle (WorkoutCompleted) → the recommender on Ray Serve → recommendations.ready.

For each completed workout: the athlete's profile and daily training loads (PostgreSQL)
become a `RecommendInput`; the deployed `recommend` application on Ray Serve ranks the
workout templates (never a hard one for a high-risk athlete); regional promo codes are
matched by the athlete's country and the workout's sport; the set goes out as
`RecommendationsReady` (its id derived from the workout, so a redelivery changes nothing),
and the inference is logged in `inference_log`. The risk probability comes from the
deployed `risk` application when there is one, else from the workout's rule-based level.

Recommendations are advice, not data an athlete sent: with no model deployed (or Ray
away) a completed workout gets none, and the worker says so in its log rather than
holding the stream.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import sys
import time
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import msgspec

from storage.athletes import daily_loads, profile_of
from storage.recommendations import log_inference
from streams import events, topics
from streams.sink import Record, batches, write_batch

if TYPE_CHECKING:
    from streams.app import Deps

log = logging.getLogger("stride.streams")

RECOMMENDATION_NS = uuid.UUID("5d1b7e2a-7f0e-4d53-9a53-9f5a1c2e7b10")
VALID_FOR = dt.timedelta(days=7)
LEVEL_PROBABILITY = {"low": 0.1, "moderate": 0.35, "high": 0.75}
"""The rule-based level as a probability, when no risk model is deployed."""
HISTORY = 28
SERVE_TIMEOUT_S = 10.0


class ServeClient:
    """The worker's way into Ray Serve: joins the stack's Ray once, on first use."""

    def __init__(self, deps: Deps) -> None:
        self._deps = deps
        self._connected = False

    async def ask(self, app: str, request: dict[str, Any]) -> dict[str, Any] | None:
        """The application's answer, or None when it is not deployed or Ray is away."""
        try:
            if not self._connected:
                await asyncio.to_thread(self._connect)
            from ray import serve

            handle = serve.get_app_handle(app)
            return dict(await asyncio.wait_for(handle.remote(request), SERVE_TIMEOUT_S))
        except Exception as exc:  # not deployed, Ray away, a timeout: no advice this time
            log.warning("no %s model answer: %r", app, exc)
            return None

    def _connect(self) -> None:
        import ray

        from stack.settings import RAY_LOOPBACK_ENV

        for key, value in RAY_LOOPBACK_ENV.items():
            os.environ.setdefault(key, value)
        if not ray.is_initialized():
            # Faust replaces sys.stderr by a logging proxy without a file descriptor, and
            # ray.init hands stderr to faulthandler: give it the real one meanwhile.
            proxy, sys.stderr = sys.stderr, sys.__stderr__
            try:
                ray.init(address=self._deps.config.ray_address,
                         namespace=self._deps.config.ray_namespace,
                         log_to_driver=False, logging_level=logging.WARNING)
            finally:
                sys.stderr = proxy
        self._connected = True


def register(app: Any, deps: Deps) -> None:
    serve_client = ServeClient(deps)
    out = deps.topic(topics.RECOMMENDATIONS)

    @app.agent(deps.topic(topics.LIFECYCLE), name="recommender")
    async def recommender(stream: Any) -> None:
        async for records in batches(stream, deps, (events.WorkoutCompleted,), size=50,
                                     within_s=0.2):
            await write_batch(deps, "recommendations", records,
                              lambda rs: _recommend(deps, serve_client, out, rs))


async def _recommend(deps: Deps, serve_client: ServeClient, out: Any,
                     records: Sequence[Record[events.WorkoutCompleted]]) -> None:
    from models.features import RecommendInput, load_features
    from models.promo import promos_for

    pool = await deps.pool()
    today = dt.datetime.now(dt.UTC).date()
    for record in records:
        done = record.event
        async with pool.connection() as conn:
            profile = await profile_of(conn, done.user_id, today)
            history = dict(await daily_loads(conn, done.user_id, today, HISTORY))
            cur = await conn.execute("SELECT country FROM users WHERE id = %s", (done.user_id,))
            row = await cur.fetchone()
        country = (row[0] if row else None) or "GLOBAL"
        days = [history.get(today - dt.timedelta(days=d), 0.0) for d in range(HISTORY - 1, 0, -1)]
        loads = load_features([[*days, done.summary.trimp]])
        request = msgspec.to_builtins(RecommendInput(
            age=profile.age_y or 35.0, sex=profile.sex or "male",
            weight_kg=profile.weight_kg or 70.0, goal="endurance", inventory="none",
            acute_load=float(loads["acute_load"][0]), chronic_load=float(loads["chronic_load"][0]),
            acwr=float(loads["acwr"][0]),
            risk_probability=LEVEL_PROBABILITY[done.summary.risk.level]))
        started = time.perf_counter()
        answer = await serve_client.ask("recommend", request)
        latency_ms = (time.perf_counter() - started) * 1000
        if answer is None:
            continue
        now = dt.datetime.now(dt.UTC)
        ready = events.RecommendationsReady(
            workout_id=done.workout_id, user_id=done.user_id,
            recommendation_id=uuid.uuid5(RECOMMENDATION_NS, str(done.workout_id)),
            model_type="recommend", model_version=str(answer["version"]),
            generated_at_ms=int(now.timestamp() * 1000),
            expires_at_ms=int((now + VALID_FOR).timestamp() * 1000),
            workouts=[events.RecommendedWorkout(
                template_id=item["template_id"], sport=item["sport"],
                duration_min=item["duration_min"], target_zone=item["target_zone"],
                intensity=item["intensity"], score=item["score"]) for item in answer["items"]],
            promos=[events.PromoOffer(code=p.code, title=p.description,
                                      expires_on=p.expires_on.isoformat())
                    for p in promos_for(country, [done.summary.sport], today)[:3]])
        async with pool.connection() as conn:
            await log_inference(conn, model_type="recommend", model_version=ready.model_version,
                                inputs=request, output=answer, latency_ms=latency_ms,
                                user_id=done.user_id, workout_id=done.workout_id)
        delivered = await out.send(key=done.workout_id.bytes, value=events.encode(ready))
        await delivered
