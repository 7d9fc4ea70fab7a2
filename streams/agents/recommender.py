"""Completed workouts and profile changes → the models on Ray Serve → recommendations.ready.

Two triggers, one path (the seed's AI engine, which follows WorkoutCompleted and
UserMetricsUpdated):
- `workout.lifecycle` (WorkoutCompleted): the set follows the workout just finished;
- `user.metrics` (UserMetricsUpdated, from PATCH /v1/users/me): a new goal, new equipment
  or new body data refresh the set at once.

For each trigger the athlete's profile (body data, goal, equipment, country), daily training
loads (PostgreSQL; the finished workout counted once, whether or not its row is written yet)
and the finished workout's cardiac drift and lowest SpO2 become the models' inputs, through
the feature code the models were trained with (models.features; what the athlete did not
give is sent as missing). The deployed `risk` application gives the injury probability; the
deployed `recommend` application ranks the workout templates (never a hard one for a
high-risk athlete, never one needing equipment the athlete lacks); regional promo codes are
matched by country and sport. The set goes out as `RecommendationsReady`, its id derived from the
trigger so a redelivery changes nothing, and every inference is logged in `inference_log`.

With no model deployed (or Ray away) the rules stand in: the risk is the workout's rule-based
level, and the templates are ranked by the heuristics the models were trained to learn
(models.recommend.rule_recommend). Every set names what made it: `model_version` (the
`recommend` model's version, or `rules`) and `risk_model_version` (likewise).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import sys
import time
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import msgspec

from actors.profile import AthleteProfile
from privacy.keys import Shredded
from storage.athletes import daily_loads, profile_of
from storage.recommendations import log_inference, logged_answer
from streams import events, sealing, topics
from streams.sink import Record, batches, write_batch

if TYPE_CHECKING:
    from streams.app import Deps

log = logging.getLogger("stride.streams")

RECOMMENDATION_NS = uuid.UUID("5d1b7e2a-7f0e-4d53-9a53-9f5a1c2e7b10")
VALID_FOR = dt.timedelta(days=7)
LEVEL_PROBABILITY = {"low": 0.1, "moderate": 0.35, "high": 0.75}
"""The rule-based level as a probability, when no risk model is deployed."""
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
                              lambda rs: _after_workouts(deps, serve_client, out, rs))

    @app.agent(deps.topic(topics.USER_METRICS), name="profile_recommender")
    async def profile_recommender(stream: Any) -> None:
        async for records in batches(stream, deps, (events.UserMetricsUpdated,), size=50,
                                     within_s=0.2):
            await write_batch(deps, "recommendations", records,
                              lambda rs: _after_profile_changes(deps, serve_client, out, rs))


class Trigger(msgspec.Struct, frozen=True, kw_only=True):
    """What a recommendation set follows: a finished workout, or a profile change."""

    user_id: uuid.UUID
    kind: events.Trigger
    trigger_id: uuid.UUID
    """The workout's id, or the profile change's update_id: names the set."""
    workout: events.WorkoutSummary | None = None


async def _after_workouts(deps: Deps, serve_client: ServeClient, out: Any,
                          records: Sequence[Record[events.WorkoutCompleted]]) -> None:
    for record in records:
        done = record.event
        await _recommend(deps, serve_client, out, Trigger(
            user_id=done.user_id, kind="workout_completed", trigger_id=done.workout_id,
            workout=done.summary))


async def _after_profile_changes(deps: Deps, serve_client: ServeClient, out: Any,
                                 records: Sequence[Record[events.UserMetricsUpdated]]) -> None:
    for record in records:
        change = record.event
        await _recommend(deps, serve_client, out, Trigger(
            user_id=change.user_id, kind="user_metrics_updated", trigger_id=change.update_id))


class ModelInputs(msgspec.Struct, frozen=True, kw_only=True):
    """The athlete's raw data, from which models.features builds both models' requests."""

    daily_loads: list[float]
    """Banister TRIMP per UTC day, HISTORY_DAYS of them, oldest first; today last, with the
    finished workout in it."""
    profile: AthleteProfile
    goal: str | None
    inventory: str | None
    country: str | None
    cardiac_drift_pct: float | None
    """The finished workout's (None without one, or when it was not assessed)."""
    min_spo2: float | None


async def model_inputs(conn: Any, trigger: Trigger, today: dt.date) -> ModelInputs | None:
    """What the models are told about the athlete; None if the account is gone."""
    from models.features import HISTORY_DAYS

    cur = await conn.execute("SELECT goal, inventory, country FROM users WHERE id = %s",
                             (trigger.user_id,))
    row = await cur.fetchone()
    if row is None:
        return None
    profile = await profile_of(conn, trigger.user_id, today)
    # Through today, the finished workout left out here and added below: its row may or may
    # not be written yet, and it must count once either way.
    history = dict(await daily_loads(conn, trigger.user_id, today + dt.timedelta(days=1),
                                     HISTORY_DAYS, excluding=trigger.trigger_id))
    days = [history.get(today - dt.timedelta(days=d), 0.0) for d in range(HISTORY_DAYS - 1, -1, -1)]
    workout = trigger.workout
    if workout is not None:
        days[-1] += workout.trimp
    goal, inventory, country = row
    return ModelInputs(daily_loads=days, profile=profile, goal=goal, inventory=inventory,
                       country=country,
                       cardiac_drift_pct=workout.cardiac_drift_pct if workout else None,
                       min_spo2=workout.min_spo2 if workout else None)


def risk_request(inputs: ModelInputs) -> Any:
    """The `risk` application's request (models.features.RiskFeatures)."""
    import numpy as np

    from models.features import risk_features

    return risk_features(np.array([inputs.daily_loads]), age=[inputs.profile.age_y],
                         cardiac_drift_pct=[inputs.cardiac_drift_pct],
                         min_spo2=[inputs.min_spo2])[0]


def recommend_request(inputs: ModelInputs, risk: Any, risk_probability: float) -> Any:
    """The `recommend` application's request (models.features.RecommendInput)."""
    from models.features import recommend_input

    p = inputs.profile
    return recommend_input(age=p.age_y, sex=p.sex, weight_kg=p.weight_kg,
                           goal=inputs.goal,  # type: ignore[arg-type]
                           inventory=inputs.inventory,  # type: ignore[arg-type]
                           acute_load=risk.acute_load, chronic_load=risk.chronic_load,
                           acwr=risk.acwr, risk_probability=risk_probability)


async def _ask(deps: Deps, serve_client: ServeClient, app: str, request: dict[str, Any],
               trigger: Trigger) -> dict[str, Any] | None:
    """One inference per trigger, logged with its inputs, output and latency when a model
    answered. A redelivered trigger gets the answer logged the first time: the model is not
    asked twice and the log holds one row."""
    pool = await deps.pool()
    async with pool.connection() as conn:
        earlier = await logged_answer(conn, app, trigger.trigger_id)
    if earlier is not None:
        return earlier
    started = time.perf_counter()
    answer = await serve_client.ask(app, request)
    latency_ms = (time.perf_counter() - started) * 1000
    if answer is not None:
        async with pool.connection() as conn:
            first = await log_inference(
                conn, model_type=app, model_version=str(answer["version"]), inputs=request,
                output=answer, latency_ms=latency_ms, user_id=trigger.user_id,
                workout_id=trigger.trigger_id if trigger.workout else None,
                trigger_id=trigger.trigger_id)
            if not first:  # a concurrent delivery logged it meanwhile: that answer stands
                return await logged_answer(conn, app, trigger.trigger_id)
    return answer


async def _risk_probability(deps: Deps, serve_client: ServeClient, risk: Any,
                            trigger: Trigger) -> tuple[float, str]:
    """(probability, the version that gave it: the risk model's, or `rules`)."""
    from models.recommend import RULES

    answer = await _ask(deps, serve_client, "risk", msgspec.to_builtins(risk), trigger)
    if answer is not None:
        return float(answer["probability"]), str(answer["version"])
    workout = trigger.workout
    return LEVEL_PROBABILITY[workout.risk.level if workout else "low"], RULES


def _by_rules(request: Any) -> dict[str, Any]:
    """The rule ranking, shaped as the `recommend` application answers."""
    from models.recommend import RULES, rule_recommend

    (items,) = rule_recommend([request])
    return {"version": RULES, "items": msgspec.to_builtins(items)}


async def _recommend(deps: Deps, serve_client: ServeClient, out: Any, trigger: Trigger) -> None:
    from models.promo import promos_for

    pool = await deps.pool()
    async with pool.connection() as conn:
        inputs = await model_inputs(conn, trigger, dt.datetime.now(dt.UTC).date())
    if inputs is None:
        return
    risk = risk_request(inputs)
    probability, risk_version = await _risk_probability(deps, serve_client, risk, trigger)
    request = recommend_request(inputs, risk, probability)
    answer = await _ask(deps, serve_client, "recommend", msgspec.to_builtins(request), trigger)
    if answer is None:  # no model deployed, or Ray away: the rules answer, and say so
        answer = _by_rules(request)
    now = dt.datetime.now(dt.UTC)
    sports = [trigger.workout.sport] if trigger.workout else sorted(
        {item["sport"] for item in answer["items"]})
    ready = events.RecommendationsReady(
        user_id=trigger.user_id, trigger=trigger.kind,
        workout_id=trigger.trigger_id if trigger.workout else None,
        recommendation_id=uuid.uuid5(RECOMMENDATION_NS, str(trigger.trigger_id)),
        model_type="recommend", model_version=str(answer["version"]),
        risk_model_version=risk_version,
        generated_at_ms=int(now.timestamp() * 1000),
        expires_at_ms=int((now + VALID_FOR).timestamp() * 1000),
        workouts=[events.RecommendedWorkout(
            template_id=item["template_id"], sport=item["sport"],
            duration_min=item["duration_min"], target_zone=item["target_zone"],
            intensity=item["intensity"], score=item["score"]) for item in answer["items"]],
        promos=[events.PromoOffer(code=p.code, title=p.description,
                                  expires_on=p.expires_on.isoformat())
                for p in promos_for(inputs.country or "GLOBAL", sports, now.date())[:3]])
    if deps.data_keys is None:
        key, value = events.key_of(ready), events.encode(ready)
    else:
        try:
            key, value = await sealing.seal(deps.data_keys, ready)
        except Shredded:  # erased while we ranked: nothing of theirs goes out again
            log.info("recommendations for an erased person were not sent")
            return
    delivered = await out.send(key=key, value=value)
    await delivered
