"""From a completed workout or a profile change to `GET /v1/recommendations/me`, through the
whole stack: the recommender agent asks the deployed `recommend` model on Ray Serve, the set
is published on `recommendations.ready`, stored, cached, served — and the inference is logged.
Without a model serving, the rules answer and the set says so."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import psycopg
import pytest

from gateway.client import DeviceClient
from stack.settings import Settings
from storage import models_registry as registry
from streams.retry import wait_until, wait_until_async

pytestmark = pytest.mark.e2e


@pytest.fixture
async def deployed_recommender(stack: Settings, tmp_path: Path) -> AsyncIterator[str]:
    """A tiny recommender trained, registered in the stack's database and deployed as the
    `recommend` application; removed again afterwards."""
    from models.train import artifact_sha256, train_recommender
    from serve import control
    from stack.models_cli import deploy_now

    version = f"e2e-{uuid.uuid4().hex[:8]}"
    folder = tmp_path / version
    train_recommender(3, folder, n=2000, epochs=2)
    meta = json.loads((folder / "meta.json").read_text())
    async with await psycopg.AsyncConnection.connect(stack.pg_dsn, autocommit=True) as conn:
        await registry.register(conn, type="recommend", version=version, path=str(folder),
                                checksum=artifact_sha256(folder), metrics=meta["metrics"],
                                created_by=None, feature_schema=meta["feature_schema"])
    await deploy_now(stack, "recommend", version)
    try:
        yield version
    finally:
        control.delete("recommend")


def _serve_nothing(stack: Settings) -> None:
    """Stop both model applications (the registry is left as it is)."""
    from serve import control
    from stack.models_cli import serve_target

    control.connect(serve_target(stack))
    for type in control.TYPES:
        control.delete(type)


async def test_a_restarted_ray_serves_the_deployed_models_again_or_says_why_not(
        stack: Settings, deployed_recommender: str, tmp_path: Path) -> None:
    """What `stride stack up` does after Ray restarted: serve what the registry marks
    deployed; a model whose artifact is gone is named with the reason, not fatal."""
    import shutil

    from stack.models_cli import restore

    await asyncio.to_thread(_serve_nothing, stack)
    started, failed = await restore(stack)
    assert f"recommend {deployed_recommender}" in started and failed == []

    shutil.rmtree(tmp_path / deployed_recommender)  # the artifact is gone
    await asyncio.to_thread(_serve_nothing, stack)
    started, failed = await restore(stack)
    assert not any(s.startswith("recommend") for s in started)
    assert len(failed) == 1 and failed[0].startswith(f"recommend {deployed_recommender}: ")
    assert "artifact" in failed[0]


async def _run_then_recommendations(stack: Settings, me, eventually) -> tuple[uuid.UUID, dict]:  # type: ignore[no-untyped-def,type-arg]
    """`me` runs two minutes; the recommendations that workout brings."""
    workout = uuid.uuid4()
    t0 = int(time.time() * 1000) - 300_000
    async with DeviceClient(stack.gateway_ws_url, me.token) as device:
        await device.start(workout, "run", t0)
        await device.send_samples(workout, 0, [(t0 + 1000 * i, 45.0 + 3e-5 * i, 7.0, 300.0,
                                                150.0, 97.0) for i in range(120)])
        await device.finish(workout, t0 + 121_000)
    async with httpx.AsyncClient(base_url=stack.gateway_url, headers=me.headers, timeout=30) as http:
        async def recommended() -> dict | None:  # type: ignore[type-arg]
            body = (await http.get("/v1/recommendations/me")).json()
            return body if body["id"] is not None else None

        return workout, await eventually(recommended, timeout_s=60)


async def test_without_a_model_the_rules_recommend_and_the_answer_says_so(
        stack: Settings, account, eventually) -> None:  # type: ignore[no-untyped-def]
    from models.recommend import CATALOGUE

    await asyncio.to_thread(_serve_nothing, stack)
    me = account(country="SI", sex="male", weight_kg=80)
    workout, body = await _run_then_recommendations(stack, me, eventually)
    assert (body["model_version"], body["risk_model_version"]) == ("rules", "rules")
    assert body["after_workout"] == str(workout) and len(body["workouts"]) == 5
    needs = {t.id: t.needs for t in CATALOGUE}
    assert all(needs[w["template_id"]] == "none" for w in body["workouts"])  # no equipment given
    with psycopg.connect(stack.pg_dsn) as conn:
        asked = conn.execute("SELECT count(*) FROM inference_log WHERE workout_id = %s",
                             (workout,)).fetchone()
    assert asked == (0,)  # no model was asked, so no inference is logged


async def test_a_completed_workout_brings_recommendations_and_is_logged(
        stack: Settings, account, deployed_recommender: str, eventually) -> None:  # type: ignore[no-untyped-def]
    me = account(country="SI", sex="female", weight_kg=61)
    workout, body = await _run_then_recommendations(stack, me, eventually)
    assert body["model_version"] == deployed_recommender
    assert body["risk_model_version"] in ("rules", *await _deployed_versions(stack, "risk"))
    assert body["after_workout"] == str(workout)
    assert body["trigger"] == "workout_completed"
    assert 1 <= len(body["workouts"]) <= 5
    assert all(w["intensity"] in ("easy", "moderate", "hard") for w in body["workouts"])
    scores = [w["score"] for w in body["workouts"]]
    assert scores == sorted(scores, reverse=True)
    with psycopg.connect(stack.pg_dsn) as conn:
        logged = conn.execute(
            "SELECT model_type, model_version, inputs, output->>'version', latency_ms"
            " FROM inference_log WHERE user_id = %s AND workout_id = %s AND model_type = 'recommend'",
            (me.id, workout)).fetchall()
    assert len(logged) == 1
    model_type, version, inputs, answered_by, latency_ms = logged[0]
    assert (model_type, version, answered_by) == ("recommend", deployed_recommender, deployed_recommender)
    assert latency_ms > 0
    # what the athlete did not give reaches the model as missing, never as a default
    assert (inputs["goal"], inputs["age"], inputs["sex"], inputs["weight_kg"]) == (None, None, "female", 61)
    await _redeliver_completion(stack, workout)
    with psycopg.connect(stack.pg_dsn) as conn:
        inferences = conn.execute("SELECT model_type, count(*) FROM inference_log"
                                  " WHERE workout_id = %s GROUP BY model_type", (workout,)).fetchall()
        sets = conn.execute("SELECT count(*) FROM recommendations WHERE user_id = %s",
                            (me.id,)).fetchone()
    assert all(n == 1 for _, n in inferences) and ("recommend", 1) in inferences
    assert sets == (1,)


async def _deployed_versions(stack: Settings, type: str) -> list[str]:
    async with await psycopg.AsyncConnection.connect(stack.pg_dsn, autocommit=True) as conn:
        record = await registry.deployed(conn, type)
    return [] if record is None else [record.version]


async def _redeliver_completion(stack: Settings, workout: uuid.UUID) -> None:
    """Publish the workout's WorkoutCompleted again, as Kafka does after a worker dies before
    committing, and wait until the worker has consumed past it."""
    from streams import events, topics
    from streams.lag import consumer_lag
    from streams.producer import EventProducer

    found: list[Any] = []

    def projected() -> bool:  # the projection reads its topics at its own pace
        with psycopg.connect(stack.pg_dsn) as conn:
            found.append(conn.execute("SELECT user_id, summary::text FROM workouts WHERE id = %s"
                                      " AND status = 'finished'", (workout,)).fetchone())
        return found[-1] is not None

    assert await asyncio.to_thread(wait_until, projected, 60, 0.5), \
        "the finished workout never reached `workouts`"
    row = found[-1]
    summary = msgspec.json.decode(row[1], type=events.WorkoutSummary)
    again = events.WorkoutCompleted(workout_id=workout, user_id=row[0], summary=summary,
                                    at_ms=summary.ended_at_ms or summary.started_at_ms)
    producer = EventProducer(stack.kafka, topic_prefix=stack.topic_prefix)
    try:
        await producer.publish([(topics.LIFECYCLE, again)])
    finally:
        await producer.stop()

    async def consumed() -> bool:
        lag = await consumer_lag(stack.kafka, stack.worker_group,
                                 [stack.topic_prefix + topics.LIFECYCLE])
        return sum(lag.values()) == 0

    assert await wait_until_async(consumed, 60, interval_s=0.5), "the worker never consumed it"


async def test_a_profile_change_refreshes_recommendations_for_the_new_goal_and_equipment(
        stack: Settings, account, deployed_recommender: str, eventually) -> None:  # type: ignore[no-untyped-def]
    from models.recommend import CATALOGUE

    me = account(country="SI", sex="male", weight_kg=80)
    async with httpx.AsyncClient(base_url=stack.gateway_url, headers=me.headers, timeout=30) as http:
        changed = await http.patch("/v1/users/me", json={"goal": "speed", "inventory": "treadmill"})
        assert changed.status_code == 200, changed.text
        assert (changed.json()["goal"], changed.json()["inventory"]) == ("speed", "treadmill")
        assert (await http.get("/v1/users/me")).json()["goal"] == "speed"

        async def recommended() -> dict | None:  # type: ignore[type-arg]
            body = (await http.get("/v1/recommendations/me")).json()
            return body if body["id"] is not None else None

        body = await eventually(recommended, timeout_s=60)
        # A name change is no model input: it publishes nothing and the set stays.
        assert (await http.patch("/v1/users/me", json={"first_name": "Ana"})).status_code == 200
    assert body["trigger"] == "user_metrics_updated" and body["after_workout"] is None
    assert body["model_version"] == deployed_recommender
    needs = {t.id: t.needs for t in CATALOGUE}
    assert body["workouts"] and all(needs[w["template_id"]] in ("treadmill", "none")
                                    for w in body["workouts"])
    with psycopg.connect(stack.pg_dsn) as conn:
        logged = conn.execute(
            "SELECT inputs->>'goal', inputs->>'inventory', workout_id FROM inference_log"
            " WHERE user_id = %s AND model_type = 'recommend'", (me.id,)).fetchall()
    assert logged == [("speed", "treadmill", None)]


async def test_goal_and_equipment_outside_their_lists_are_refused(stack: Settings, account) -> None:  # type: ignore[no-untyped-def]
    me = account()
    async with httpx.AsyncClient(base_url=stack.gateway_url, headers=me.headers, timeout=30) as http:
        for bad in ({"goal": "fame"}, {"inventory": "rowing machine"}):
            answer = await http.patch("/v1/users/me", json=bad)
            assert answer.status_code == 400, answer.text
            assert answer.json()["code"] == "invalid" and next(iter(bad)) in answer.text
        cleared = await http.patch("/v1/users/me", json={"goal": None, "inventory": None})
        assert cleared.status_code == 200
        assert (cleared.json()["goal"], cleared.json()["inventory"]) == (None, None)
