"""Dead letters through the internal GraphQL API, on the running stack: a poisoned record goes to
the dead-letter topic, the admin sees it, fixes its cause, replays it, and it is written exactly
once, however many admins replay it at the same moment; a second replay is refused
(`already_settled`); another record is discarded; every change is journalled and audited.

The poison is one an admin can fix: a workout's start for an account the database does not
have (an account restored from a backup a moment later, say), which the workouts
projection cannot write (the workouts row's foreign key to users refuses it) and dead-letters.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import psycopg
import pyotp
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from helper_processes import tls_client_options
from user_accounts import Account, remember

from gateway.internal import persisted
from stack.settings import Settings
from streams import events, topics
from streams.producer import EventProducer
from streams.tls import kafka_options

pytestmark = pytest.mark.e2e
OPERATIONS = persisted.load()


class Admin:
    """An admin signed in on the internal gateway, running persisted operations."""

    def __init__(self, http: httpx.AsyncClient, account: Account, token: str) -> None:
        self.http, self.account, self.token = http, account, token

    async def call(self, operation: str, **variables: Any) -> dict[str, Any]:
        wanted = {"version": 1, "sha256Hash": persisted.query_id(OPERATIONS[operation])}
        answer = await self.http.post("/graphql", headers={"Authorization": f"Bearer {self.token}"},
                                      json={"extensions": {"persistedQuery": wanted},
                                            "variables": variables})
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body

    async def data(self, operation: str, **variables: Any) -> Any:
        body = await self.call(operation, **variables)
        assert "errors" not in body, body
        return body["data"]

    async def refused(self, operation: str, **variables: Any) -> list[str]:
        """The error codes of an operation that must be refused (and return no data)."""
        body = await self.call(operation, **variables)
        assert body.get("data") is None or not any(body["data"].values()), body
        return [e["extensions"]["code"] for e in body.get("errors", [])]

    async def letters_of(self, workout: uuid.UUID) -> list[dict[str, Any]]:
        listed = (await self.data("DeadLetters", limit=200))["deadLetters"]
        return [d for d in listed if d["workoutId"] == str(workout)]


@asynccontextmanager
async def signed_in_admin(stack: Settings, account: Account) -> AsyncIterator[Admin]:
    assert account.totp_secret
    async with httpx.AsyncClient(base_url=stack.internal_gateway_url, timeout=60,
                                 **tls_client_options()) as http:
        # The current step's code went to the enrolment: the next one (within the drift).
        answer = await http.post("/internal/v1/auth/login", json={
            "email": account.email, "password": account.password,
            "otp": pyotp.TOTP(account.totp_secret).at(time.time() + 30)})
        assert answer.status_code == 200, answer.text
        token = answer.json()["token"]
        remember(token)
        yield Admin(http, account, token)


def started(workout: uuid.UUID, user: uuid.UUID) -> events.WorkoutStarted:
    return events.WorkoutStarted(workout_id=workout, user_id=user, summary=events.WorkoutSummary(
        version=1, status="active", sport="run", started_at_ms=int(time.time() * 1000)))


async def publish(stack: Settings, event: events.WorkoutStarted) -> None:
    producer = EventProducer(stack.kafka, topic_prefix=stack.topic_prefix)
    try:
        await producer.publish([(topics.LIFECYCLE, event)])
    finally:
        await producer.stop()


async def poisoned(stack: Settings, admin: Admin, eventually) -> tuple[uuid.UUID, uuid.UUID, dict[str, Any]]:  # type: ignore[no-untyped-def]
    """(workout, its missing user, its dead letter as listed) of a start nobody can write yet."""
    workout, user = uuid.uuid4(), uuid.uuid4()
    await publish(stack, started(workout, user))
    letters = await eventually(lambda: admin.letters_of(workout), timeout_s=90)
    assert len(letters) == 1, letters
    return workout, user, letters[0]


async def workout_rows(stack: Settings, workout: uuid.UUID) -> list[tuple[Any, ...]]:
    async with await psycopg.AsyncConnection.connect(stack.pg_dsn) as conn:
        cur = await conn.execute("SELECT user_id, status, version FROM workouts WHERE id = %s",
                                 (workout,))
        return await cur.fetchall()


async def end_offsets(stack: Settings, topic: str) -> dict[TopicPartition, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=stack.kafka, **kafka_options(), group_id=None,
                                enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in range(stack.topic_partitions)]
        return dict(await consumer.end_offsets(partitions))
    finally:
        await consumer.stop()


async def replayed_copies(stack: Settings, since: dict[TopicPartition, int], origin: str) -> int:
    """Records on the topic after `since` whose replay header names `origin`."""
    consumer = AIOKafkaConsumer(bootstrap_servers=stack.kafka, **kafka_options(), group_id=None,
                                enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(list(since))
        ends = await consumer.end_offsets(list(since))
        unread = {tp: ends[tp] for tp in since if since[tp] < ends[tp]}
        for tp, start in since.items():
            consumer.seek(tp, start)
        copies = 0
        while unread:
            batch = await consumer.getmany(*unread, timeout_ms=10_000)
            assert batch, f"Kafka stopped answering with {unread} unread"
            for tp, records in batch.items():
                copies += sum(1 for r in records if r.offset < unread[tp]
                              and dict(r.headers).get("replayed-from") == origin.encode())
                if records and records[-1].offset + 1 >= unread[tp]:
                    del unread[tp]
        return copies
    finally:
        await consumer.stop()


async def audit_rows(stack: Settings, actor: uuid.UUID) -> list[tuple[Any, ...]]:
    async with await psycopg.AsyncConnection.connect(stack.pg_dsn) as conn:
        cur = await conn.execute("SELECT action, target, outcome, detail->>'note' FROM admin_audit"
                                 " WHERE actor_id = %s ORDER BY at, id", (actor,))
        return await cur.fetchall()


async def test_a_poisoned_record_is_replayed_once_its_cause_is_fixed_and_written_exactly_once(
        stack: Settings, account, eventually) -> None:  # type: ignore[no-untyped-def]
    async with signed_in_admin(stack, account(roles=("admin",))) as admin:
        workout, user, letter = await poisoned(stack, admin, eventually)
        assert (letter["source"], letter["eventType"], letter["userId"]) == (
            "workout.lifecycle", "workout_started", str(user))
        assert letter["error"].startswith("workout projection: ForeignKeyViolation"), letter
        assert letter["settlement"] is None and letter["sizeBytes"] > 0
        position = {"partition": letter["partition"], "offset": letter["offset"]}
        detail = (await admin.data("DeadLetterDetail", **position))["deadLetter"]
        assert detail == letter
        assert await workout_rows(stack, workout) == []

        # The admin fixes the cause: the account is back.
        async with await psycopg.AsyncConnection.connect(stack.pg_dsn, autocommit=True) as conn:
            await conn.execute("INSERT INTO users (id, email) VALUES (%s, %s)",
                               (user, f"restored-{user.hex[:10]}@example.org"))
        lifecycle = stack.topic_prefix + topics.LIFECYCLE
        before = await end_offsets(stack, lifecycle)
        note = "account restored from the backup"
        # Two admins replay it at the same moment: one replay runs, the other is refused.
        answers = await asyncio.gather(*(admin.call("ReplayDeadLetter", **position, note=note)
                                         for _ in range(2)))
        ok, refused = sorted(answers, key=lambda body: "errors" in body)
        assert "errors" not in ok, ok
        assert [e["extensions"]["code"] for e in refused["errors"]] == ["already_settled"], refused
        settlement = ok["data"]["replayDeadLetter"]["settlement"]
        assert (settlement["action"], settlement["replayedTo"], settlement["actorId"],
                settlement["note"]) == ("REPLAYED", "workout.lifecycle", str(admin.account.id), note)

        async def written() -> list[tuple[Any, ...]]:
            return await workout_rows(stack, workout)
        assert await eventually(written, timeout_s=60) == [(user, "active", 1)]

        # A second replay, another click or another admin, is refused and sends nothing.
        assert await admin.refused("ReplayDeadLetter", **position, note="again") == ["already_settled"]
        assert await admin.refused("DiscardDeadLetter", **position, note="and away") == [
            "already_settled"]
        origin = f"{topics.DEAD_LETTER}:{letter['partition']}:{letter['offset']}"
        assert await replayed_copies(stack, before, origin) == 1
        assert await workout_rows(stack, workout) == [(user, "active", 1)]
        # The replayed copy was written, not dead-lettered again; the list shows it settled.
        [listed] = await admin.letters_of(workout)
        assert listed["settlement"] == settlement

        # Another poisoned record, discarded: journalled, never written, not replayable after.
        other, _, second = await poisoned(stack, admin, eventually)
        other_position = {"partition": second["partition"], "offset": second["offset"]}
        discarded = (await admin.data("DiscardDeadLetter", **other_position,
                                      note="test event, nobody's workout"))["discardDeadLetter"]
        assert discarded["settlement"]["action"] == "DISCARDED"
        assert discarded["settlement"]["replayedTo"] is None
        assert await admin.refused("ReplayDeadLetter", **other_position, note="after all?") == [
            "already_settled"]
        [listed] = await admin.letters_of(other)
        assert listed["settlement"] == discarded["settlement"]
        assert await workout_rows(stack, other) == []

    first, later = (f"deadletter:{p['partition']}:{p['offset']}" for p in (position, other_position))
    audited = await audit_rows(stack, admin.account.id)
    assert sorted(audited[:2]) == [("replayDeadLetter", first, "already_settled", note),
                                   ("replayDeadLetter", first, "ok", note)]
    assert audited[2:] == [
        ("replayDeadLetter", first, "already_settled", "again"),
        ("discardDeadLetter", first, "already_settled", "and away"),
        ("discardDeadLetter", later, "ok", "test event, nobody's workout"),
        ("replayDeadLetter", later, "already_settled", "after all?"),
    ]
    async with await psycopg.AsyncConnection.connect(stack.pg_dsn) as conn:
        cur = await conn.execute(
            "SELECT partition, record_offset, action, replayed_to, note FROM dead_letter_journal"
            " WHERE actor_id = %s ORDER BY at", (admin.account.id,))
        journal = await cur.fetchall()
    assert journal == [
        (position["partition"], position["offset"], "replayed", lifecycle, note),
        (other_position["partition"], other_position["offset"], "discarded", None,
         "test event, nobody's workout")]


async def test_bad_requests_are_refused_clearly_and_change_nothing(stack: Settings, account) -> None:  # type: ignore[no-untyped-def]
    async with signed_in_admin(stack, account(roles=("admin",))) as admin:
        nowhere = {"partition": 0, "offset": 2**40}
        assert (await admin.data("DeadLetterDetail", **nowhere))["deadLetter"] is None
        assert await admin.refused("ReplayDeadLetter", **nowhere, note="why not") == ["not_found"]
        assert await admin.refused("DiscardDeadLetter", **nowhere, note="why not") == ["not_found"]
        for note in ("", "   ", "a" * 501, "bell\x07"):
            assert await admin.refused("ReplayDeadLetter", partition=0, offset=0, note=note) == [
                "invalid"], note
        assert await admin.refused("DiscardDeadLetter", partition=-1, offset=0, note="x") == [
            "invalid"]
        assert await admin.refused("DeadLetterDetail", partition=0, offset=-1) == ["invalid_query"]
        assert await admin.refused("DeadLetterDetail", partition=0, offset="7") == ["invalid_query"]
        assert await admin.refused("DeadLetters", limit=0) == ["invalid"]
        assert await admin.refused("DeadLetters", limit=201) == ["invalid"]
    async with await psycopg.AsyncConnection.connect(stack.pg_dsn) as conn:
        cur = await conn.execute("SELECT count(*) FROM dead_letter_journal WHERE actor_id = %s",
                                 (admin.account.id,))
        assert await cur.fetchone() == (0,)
    # Refusals after authorization are audited with their code.
    outcomes = [row[2] for row in await audit_rows(stack, admin.account.id)]
    assert outcomes == ["not_found", "not_found", "invalid", "invalid", "invalid", "invalid",
                        "invalid"]
