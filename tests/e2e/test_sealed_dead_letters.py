"""A sealed record the samples sink refuses, on the running stack: the admin area's dead
letters show its event type, athlete and workout while the athlete's data key exists, and
nothing of the kind once the key is shredded (erasure), while the record itself stays."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from psycopg_pool import AsyncConnectionPool
from test_dead_letters import signed_in_admin

from privacy.keys import DataKeys, load_keyring
from stack.settings import Settings
from streams import events, topics
from streams.producer import EventProducer

pytestmark = pytest.mark.e2e


async def test_a_sealed_dead_letter_names_its_athlete_only_until_the_key_is_shredded(
        stack: Settings, account, eventually) -> None:  # type: ignore[no-untyped-def]
    athlete, workout = account(), uuid.uuid4()
    refused = events.SamplesAccepted(  # 400 bpm: the samples table's check refuses it
        workout_id=workout, user_id=athlete.id, sport="run", seq=0,
        samples=[(int(time.time() * 1000), 45.0, 7.0, 100.0, 400.0, 97.0)])
    async with AsyncConnectionPool(stack.pg_dsn, min_size=1, max_size=2, open=False) as pool:
        producer = EventProducer(stack.kafka, topic_prefix=stack.topic_prefix,
                                 keys=DataKeys(pool, load_keyring(stack.keys_path)))
        try:
            await producer.publish([(topics.SAMPLES, refused)])
        finally:
            await producer.stop()
        async with signed_in_admin(stack, account(roles=("admin",))) as admin:
            letters = await eventually(lambda: admin.letters_of(workout), timeout_s=90)
            assert len(letters) == 1, letters
            letter = letters[0]
            assert (letter["source"], letter["eventType"], letter["userId"]) == (
                "telemetry.samples", "samples_accepted", str(athlete.id))
            assert "sensor_data_hr_bpm_check" in letter["error"]

            async with pool.connection() as conn:
                await conn.execute("DELETE FROM user_data_keys WHERE user_id = %s", (athlete.id,))
            position = {"partition": letter["partition"], "offset": letter["offset"]}

            async def unnamed() -> dict[str, Any] | None:  # the gateway's cache lasts ≤ 30 s
                found: dict[str, Any] = (await admin.data("DeadLetterDetail", **position))["deadLetter"]
                return found if found["eventType"] is None else None
            shredded = await eventually(unnamed, timeout_s=60, interval_s=1.0)
    assert shredded["userId"] is None and shredded["workoutId"] is None
    assert (shredded["source"], shredded["sizeBytes"]) == ("telemetry.samples", letter["sizeBytes"])
