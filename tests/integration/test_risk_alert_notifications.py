"""Risk alerts → in-app notifications: who is told (consent, preferences), idempotence, and
the whole path through the real Faust worker (Kafka in, PostgreSQL rows, Redis pub/sub)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import psycopg
import pytest
import redis.asyncio as aioredis

from stack.settings import Settings
from stack.worker_process import StreamWorker
from storage import consents
from storage import groups as groups_repo
from storage import notifications as repo
from streams import topics
from streams.events import RiskAlert
from streams.producer import EventProducer

pytestmark = pytest.mark.integration

REASONS = ["acute:chronic load 1.62 ≥ 1.5", "heart rate ≥ 90 % of max for 3 min"]


def alert(athlete: uuid.UUID, workout: uuid.UUID, level: str = "high", at_ms: int = 1_700_000_000_000,
          reasons: list[str] | None = None) -> RiskAlert:
    return RiskAlert(workout_id=workout, user_id=athlete, at_ms=at_ms, level=level,  # type: ignore[arg-type]
                     reasons=REASONS if reasons is None else reasons, acwr=1.62)


@pytest.fixture
async def conn(migrated_db: str) -> AsyncIterator[psycopg.AsyncConnection]:
    async with await psycopg.AsyncConnection.connect(migrated_db, autocommit=True) as c:
        yield c


async def user(conn: psycopg.AsyncConnection, first_name: str | None = None) -> uuid.UUID:
    cur = await conn.execute("INSERT INTO users (email, first_name) VALUES (%s, %s) RETURNING id",
                             (f"u-{uuid.uuid4().hex[:12]}@example.org", first_name))
    row = await cur.fetchone()
    assert row is not None
    return uuid.UUID(str(row[0]))


async def coached(conn: psycopg.AsyncConnection, athlete: uuid.UUID, *, consent: bool = True
                  ) -> tuple[uuid.UUID, uuid.UUID]:
    """A new group with a new coach and `athlete` as member; returns (group, coach)."""
    coach = await user(conn, "Coach")
    group = await groups_repo.create_group(conn, coach, "Track club", "run")
    await groups_repo.add_member(conn, group, athlete, "athlete")
    if consent:
        await consents.grant(conn, athlete, group, "live", "live coaching")
    return group, coach


async def rows(conn: psycopg.AsyncConnection, workout: uuid.UUID | None = None
               ) -> list[tuple[uuid.UUID, str, str, str, str]]:
    cur = await conn.execute(
        "SELECT user_id, notification_type, channel, status, message FROM notification_logs"
        " WHERE %(w)s::text IS NULL OR dedupe_key LIKE 'risk.alert:' || %(w)s::text || ':%%'"
        " ORDER BY message", {"w": workout})
    return [(uuid.UUID(str(r[0])), r[1], r[2], r[3], r[4]) for r in await cur.fetchall()]


def recipients(found: list[tuple[uuid.UUID, str, str, str, str]]) -> list[uuid.UUID]:
    return sorted(r[0] for r in found)


async def test_the_athlete_and_the_coach_they_consented_to_are_told(conn: psycopg.AsyncConnection) -> None:
    athlete = await user(conn, "Anna")
    _, coach = await coached(conn, athlete)
    _, other_coach = await coached(conn, athlete, consent=False)
    stranger = await user(conn, "Sam")
    workout = uuid.uuid4()
    a = alert(athlete, workout)

    created = await repo.enqueue_risk_alert(conn, a)

    assert sorted(c.user_id for c in created) == sorted([athlete, coach])
    found = {r[0]: r for r in await rows(conn)}
    assert set(found) == {athlete, coach}
    assert other_coach not in found and stranger not in found
    assert found[athlete][1:4] == ("risk.alert", "in_app", "delivered")
    assert found[athlete][4] == (
        "High injury-risk flag on your workout: acute:chronic load 1.62 ≥ 1.5; heart rate ≥ 90 %"
        " of max for 3 min. It is a flag to take into account, not a diagnosis.")
    assert found[coach][4] == repo.coach_message(a, "Anna")
    assert found[coach][4].startswith("Anna's workout raised a high injury-risk flag: acute:chronic")
    assert "diagnos" in found[coach][4] and "not a diagnosis" in found[coach][4]


async def test_a_coach_without_an_active_consent_is_not_told(conn: psycopg.AsyncConnection) -> None:
    athlete = await user(conn, "Anna")
    _, withdrawn_coach = await coached(conn, athlete)
    consent = (await consents.mine(conn, athlete))[0]
    await consents.withdraw(conn, athlete, consent.id, "withdrawn")
    left_group, left_coach = await coached(conn, athlete)
    # consent alone does not imply membership: an athlete who left keeps no coach informed
    await conn.execute("DELETE FROM user_groups WHERE group_id = %s AND user_id = %s",
                       (left_group, athlete))

    await repo.enqueue_risk_alert(conn, alert(athlete, uuid.uuid4()))

    assert recipients(await rows(conn)) == [athlete]


async def test_one_row_per_coach_whatever_the_number_of_shared_groups(conn: psycopg.AsyncConnection) -> None:
    athlete = await user(conn)
    group, coach = await coached(conn, athlete)
    second = await groups_repo.create_group(conn, coach, "Second club", "ride")
    await groups_repo.add_member(conn, second, athlete, "athlete")
    await consents.grant(conn, athlete, second, "live", "live coaching")
    # the athlete coaching a group of their own is told once, as the athlete
    await groups_repo.add_member(conn, group, athlete, "coach")
    a = alert(athlete, uuid.uuid4(), level="moderate", reasons=[])

    await repo.enqueue_risk_alert(conn, a)

    found = {r[0]: r[4] for r in await rows(conn)}
    assert sorted(found) == sorted([athlete, coach])
    assert found[athlete] == repo.athlete_message(a)
    assert found[coach] == ("An athlete's workout raised a moderate injury-risk flag."
                            " It is a flag to take into account, not a diagnosis.")


async def test_in_app_risk_alerts_turned_off_are_respected(conn: psycopg.AsyncConnection) -> None:
    athlete = await user(conn, "Anna")
    _, coach_off = await coached(conn, athlete)
    _, coach_push_off = await coached(conn, athlete)
    _, coach_on = await coached(conn, athlete)
    prefs = [(athlete, "risk.alert", "in_app", False), (coach_off, "risk.alert", "in_app", False),
             (coach_push_off, "risk.alert", "push", False), (coach_on, "risk.alert", "in_app", True),
             (coach_on, "workout.summary", "in_app", False)]
    for p in prefs:
        await conn.execute("INSERT INTO notification_preferences (user_id, notification_type,"
                           " channel, enabled) VALUES (%s, %s, %s, %s)", p)

    await repo.enqueue_risk_alert(conn, alert(athlete, uuid.uuid4()))

    assert recipients(await rows(conn)) == sorted([coach_push_off, coach_on])


async def test_a_redelivered_alert_never_doubles_a_notification(conn: psycopg.AsyncConnection) -> None:
    athlete = await user(conn, "Anna")
    _, coach = await coached(conn, athlete)
    workout = uuid.uuid4()
    first = await repo.enqueue_risk_alert(conn, alert(athlete, workout, "moderate"))

    again = await repo.enqueue_risk_alert(conn, alert(athlete, workout, "moderate"))
    replayed = await repo.enqueue_risk_alert(conn, alert(athlete, workout, "moderate",
                                                         at_ms=1_700_000_009_000))
    risen = await repo.enqueue_risk_alert(conn, alert(athlete, workout, "high"))

    assert len(first) == 2 and again == [] and replayed == []
    assert sorted(r.user_id for r in risen) == sorted([athlete, coach])
    assert len(await rows(conn, workout)) == 4


async def test_an_alert_for_an_unknown_athlete_notifies_nobody(conn: psycopg.AsyncConnection) -> None:
    assert await repo.enqueue_risk_alert(conn, alert(uuid.uuid4(), uuid.uuid4())) == []
    assert await rows(conn) == []


async def test_the_inbox_pages_newest_first_and_marks_read(conn: psycopg.AsyncConnection) -> None:
    athlete = await user(conn)
    other = await user(conn)
    workouts = [uuid.uuid4() for _ in range(3)]
    async with conn.transaction():  # one transaction: every row has the same created_at
        for w in workouts:
            for level in ("moderate", "high"):
                await repo.enqueue_risk_alert(conn, alert(athlete, w, level))
    await repo.enqueue_risk_alert(conn, alert(other, uuid.uuid4()))

    seen: list[repo.Notification] = []
    before = None
    while True:
        page = await repo.list_inbox(conn, athlete, limit=4, before=before)
        seen.extend(page)
        if len(page) < 4:
            break
        before = repo.Cursor(page[-1].created_at, page[-1].id)
    assert len(seen) == 6 and len({n.id for n in seen}) == 6
    assert {n.workout_id for n in seen} == set(workouts)
    assert [(n.created_at, n.id) for n in seen] == sorted(((n.created_at, n.id) for n in seen),
                                                          reverse=True)

    assert await repo.unread_count(conn, athlete) == 6
    assert await repo.mark_read(conn, athlete, seen[0].id) is True
    assert await repo.mark_read(conn, athlete, seen[0].id) is False
    assert await repo.mark_read(conn, other, seen[1].id) is None
    assert await repo.mark_read(conn, athlete, uuid.uuid4()) is None
    assert await repo.unread_count(conn, athlete) == 5
    unread = await repo.list_inbox(conn, athlete, limit=10, unread_only=True)
    assert seen[0].id not in {n.id for n in unread} and len(unread) == 5


async def test_the_worker_notifies_once_and_announces_on_redis(
    stack: Settings, stream_worker: StreamWorker, migrated_db: str, eventually: Any
) -> None:
    async with await psycopg.AsyncConnection.connect(migrated_db, autocommit=True) as conn:
        athlete = await user(conn, "Anna")
        _, coach = await coached(conn, athlete)
    workout = uuid.uuid4()
    r = aioredis.from_url(stack.redis_url)
    pubsub = r.pubsub()
    channels = {f"{stream_worker.redis_prefix}:notify:user:{u}": u for u in (athlete, coach)}
    await pubsub.subscribe(*channels)
    producer = EventProducer(stack.kafka, topic_prefix=stream_worker.topic_prefix)
    try:
        await producer.publish([(topics.RISK_ALERTS, alert(athlete, workout, "moderate"))])

        async def moderate_rows() -> list[tuple[uuid.UUID, str, str, str, str]]:
            async with await psycopg.AsyncConnection.connect(migrated_db) as c:
                found = await rows(c, workout)
            return found if len(found) >= 2 else []

        await eventually(moderate_rows, timeout_s=60)

        announced: dict[uuid.UUID, dict[str, str]] = {}

        async def announcements() -> bool:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.5)
            if message is not None:
                announced[channels[message["channel"].decode()]] = msgspec.json.decode(message["data"])
            return len(announced) == 2

        await eventually(announcements, timeout_s=30)
        assert {m["type"] for m in announced.values()} == {"notification"}
        assert {m["workout_id"] for m in announced.values()} == {str(workout)}

        # a redelivery and a replay of the same rise, then a rise to high on the same
        # partition (same key): once the high rows are there, the duplicates were handled
        await producer.publish([
            (topics.RISK_ALERTS, alert(athlete, workout, "moderate")),
            (topics.RISK_ALERTS, alert(athlete, workout, "moderate", at_ms=1_700_000_005_000)),
            (topics.RISK_ALERTS, alert(athlete, workout, "high", at_ms=1_700_000_006_000)),
        ])

        async def all_rows() -> list[tuple[uuid.UUID, str, str, str, str]]:
            async with await psycopg.AsyncConnection.connect(migrated_db) as c:
                found = await rows(c, workout)
            return found if any(m[4].startswith("High") for m in found) else []

        await eventually(all_rows, timeout_s=60)
        async with await psycopg.AsyncConnection.connect(migrated_db) as c:
            found = await rows(c, workout)
        assert sorted(m[0] for m in found) == sorted([athlete, athlete, coach, coach])
        assert sum("oderate injury-risk flag" in m[4] for m in found) == 2
        assert stream_worker.health()["dead_lettered"] == 0
    finally:
        await producer.stop()
        await pubsub.aclose()
        await r.aclose()
