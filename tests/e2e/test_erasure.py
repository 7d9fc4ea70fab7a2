"""Erasing an account (DELETE /v1/me) on the whole stack, and the registry that keeps every
later table part of it.

The scenario: an athlete with a finished workout (leaderboards, recommendations, alerts…),
in a coach's group with a live consent, streams a second workout while the coach watches
live; then erases their account mid-stream. Their device socket and the coach's feed of
them close, a login with their e-mail fails as for an unknown one, and once the pipeline
has drained no store holds a readable trace: every text, uuid, jsonb and bytea column of
every table, every Redis key and value, the raw records of every Kafka topic (dead letters
included) since the test began, and the stack's logs (no e-mail; ids are allowed there:
random, and tied to no one once the account is gone)."""

from __future__ import annotations

import asyncio
import struct
import time
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import msgspec
import psycopg
import pytest
import redis.asyncio as aioredis
import websockets
from aiokafka import AIOKafkaConsumer, TopicPartition
from user_accounts import make_account

from gateway.client import DeviceClient
from stack.settings import Settings
from storage.erasure import REGISTRY, schema_problems
from streams import topics
from streams.tls import kafka_options

pytestmark = pytest.mark.e2e

LON = 98.7654321
"""The erased athlete's longitude: a GPS trace of them is this number, as text or packed."""
TOMBSTONES = {("workout_ids", "id")}
"""Kept on purpose (storage/erasure.py): a workout id stays reserved, owned by no one."""


def samples(t0: int, first: int, n: int) -> list[tuple[Any, ...]]:
    return [(t0 + (first + i) * 1000, 45.0 + (first + i) * 3e-5, LON, 300.0, 150.0, 97.0)
            for i in range(n)]


async def lag_is_zero(stack: Settings) -> bool:
    from streams.lag import consumer_lag

    lag = await consumer_lag(stack.kafka, stack.worker_group,
                             [stack.topic_prefix + t for t in topics.WORKER_CONSUMES])
    return all(v == 0 for v in lag.values())


class Erased(msgspec.Struct):
    user_id: uuid.UUID
    email: str
    names: list[str]
    workouts: list[uuid.UUID]
    started_ms: int
    device_closed: bool
    feed_closed: bool
    own_feed_closed: bool
    login_status: int
    login_body: dict[str, Any]
    unknown_body: dict[str, Any]
    sql_before: list[str]
    redis_before: list[str]
    """What the scans found just before the erasure: proof that they can find the person."""

    def needles(self) -> list[str]:
        return [str(self.user_id), self.email, *self.names, *(str(w) for w in self.workouts)]


@pytest.fixture(scope="module")
async def erased(stack: Settings, eventually) -> Erased:  # type: ignore[no-untyped-def]
    started_ms = int(time.time() * 1000)
    tag = uuid.uuid4().hex[:8]
    names = [f"Ersa{tag}", f"Gone{tag}"]
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=60) as http:
        coach = make_account(stack.gateway_url, stack.pg_dsn)
        athlete = make_account(stack.gateway_url, stack.pg_dsn, first_name=names[0],
                               last_name=names[1], city="Erasetown")
        group = (await http.post("/v1/groups", headers=coach.headers,
                                 json={"name": f"Erasure {tag}", "sport": "run"})).json()["id"]
        added = await http.post(f"/v1/groups/{group}/members", headers=coach.headers,
                                json={"user_id": str(athlete.id), "role": "athlete"})
        assert added.status_code == 200, added.text
        consent = await http.post("/v1/consents", headers=athlete.headers, json={"group_id": group})
        assert consent.status_code in (200, 201), consent.text
        done, live = uuid.uuid4(), uuid.uuid4()
        t0 = int(time.time() * 1000) - 600_000
        async with DeviceClient(stack.gateway_ws_url, athlete.token) as device:
            await device.start(done, "run", t0)
            for first in range(0, 120, 30):
                await device.send_samples(done, first, samples(t0, first, 30))
            await device.finish(done, t0 + 121_000)

        async def stored() -> bool:
            got = await http.get(f"/v1/workouts/{done}", headers=athlete.headers)
            return got.status_code == 200 and got.json()["status"] == "finished"
        await eventually(stored, timeout_s=60)

        feed = await websockets.connect(f"{stack.gateway_ws_url}/v1/live?athlete={athlete.id}",
                                        additional_headers=coach.headers)
        own = await websockets.connect(f"{stack.gateway_ws_url}/v1/live?athlete={athlete.id}",
                                       additional_headers=athlete.headers)
        device = DeviceClient(stack.gateway_ws_url, athlete.token)
        await device.__aenter__()
        t1 = int(time.time() * 1000) - 60_000
        await device.start(live, "run", t1)
        await device.send_samples(live, 0, samples(t1, 0, 30))

        async def watched() -> bool:  # the coach sees the live workout
            while True:
                message = msgspec.json.decode(await asyncio.wait_for(feed.recv(), 30))
                if str(live) in msgspec.json.encode(message).decode():
                    return True
        assert await asyncio.wait_for(watched(), 60)

        ids = [athlete.id, done, live]
        texts = [str(athlete.id), athlete.email, *names, str(done), str(live)]
        sql_before = await sql_traces(stack, ids, texts)
        redis_before = await redis_traces(stack, texts)
        erase = await http.request("DELETE", "/v1/me", headers=athlete.headers,
                                   json={"password": athlete.password})
        assert erase.status_code == 204, erase.text

        async def closed(ws: Any) -> bool:
            """Whether the socket closes within 20 s (heartbeats and updates read meanwhile)."""
            async def drain() -> None:
                while True:
                    await ws.recv()
            try:
                await asyncio.wait_for(drain(), 20)
            except websockets.ConnectionClosed:
                return True
            except TimeoutError:
                return False
            return False
        device_closed = await closed(device._ws)
        await device.close()
        feed_closed = await closed(feed)
        await feed.close()
        own_closed = await closed(own)
        await own.close()
        login = await http.post("/v1/auth/login", json={"email": athlete.email,
                                                         "password": athlete.password})
        unknown = await http.post("/v1/auth/login", json={
            "email": f"nobody-{tag}@example.org", "password": athlete.password})
    await eventually(lambda: lag_is_zero(stack), timeout_s=120)
    return Erased(user_id=athlete.id, email=athlete.email, names=names, workouts=[done, live],
                  started_ms=started_ms, device_closed=device_closed,
                  feed_closed=feed_closed, own_feed_closed=own_closed, login_status=login.status_code,
                  login_body=login.json(), unknown_body=unknown.json(),
                  sql_before=sql_before, redis_before=redis_before)


async def test_the_person_is_signed_out_everywhere_and_cannot_log_in(erased: Erased) -> None:
    assert erased.device_closed, "the device socket stayed open after the erasure"
    assert erased.feed_closed, "the coach's feed of the erased athlete stayed open"
    assert erased.own_feed_closed, "the athlete's own live feed stayed open"
    assert erased.login_status == 401
    assert erased.login_body == erased.unknown_body  # as for an account that never was


async def sql_traces(stack: Settings, ids: list[uuid.UUID], texts: list[str]) -> list[str]:
    """Every column of every table (uuid, text, json, bytea) holding one of `ids` or `texts`
    (any case), but the tombstones kept on purpose."""
    found = []
    async with await psycopg.AsyncConnection.connect(stack.pg_dsn, autocommit=True) as conn:
        cur = await conn.execute(
            "SELECT c.relname, a.attname, format_type(a.atttypid, NULL) FROM pg_attribute a"
            " JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p', 'm')"
            "   AND NOT c.relispartition AND a.attnum > 0 AND NOT a.attisdropped"
            "   AND format_type(a.atttypid, NULL) IN ('uuid', 'text', 'jsonb', 'json', 'bytea',"
            "       'character varying', 'uuid[]', 'text[]')")
        columns = await cur.fetchall()
        assert len(columns) > 50
        for table, column, kind in columns:
            if (table, column) in TOMBSTONES:
                continue
            if kind == "uuid":
                sql = f'SELECT count(*) FROM "{table}" WHERE "{column}" = ANY(%s)'
                args: tuple[Any, ...] = (ids,)
            else:
                sql = (f'SELECT count(*) FROM "{table}", unnest(%s::text[]) AS x'
                       f' WHERE strpos(lower("{column}"::text), lower(x)) > 0')
                args = (texts,)
            n = (await (await conn.execute(sql, args)).fetchone())[0]  # type: ignore[index]
            if n:
                found.append(f"{table}.{column}: {n}")
    return found


async def test_no_table_holds_a_trace(stack: Settings, erased: Erased) -> None:
    assert {"users.email", "workouts.id", "sensor_data.workout_id"} <= {
        f.split(":")[0] for f in erased.sql_before}, "the scan found the person before the erasure"
    found = await sql_traces(stack, [erased.user_id, *erased.workouts],
                             [*erased.needles(), repr(LON)])
    assert found == []
    async with await psycopg.AsyncConnection.connect(stack.pg_dsn, autocommit=True) as conn:
        journal = await (await conn.execute(
            "SELECT stores FROM erasure_journal WHERE requested_at >= to_timestamp(%s / 1000.0)"
            " AND completed_at IS NOT NULL", (erased.started_ms - 1000,))).fetchall()
    assert any(s["workouts"] == 2 and s["rows"].get("users") == 1 for (s,) in journal)


async def test_an_erased_coach_is_no_longer_named_to_the_athletes(
        stack: Settings, account, eventually) -> None:  # type: ignore[no-untyped-def]
    """Athletes were told, by name, that someone began to coach their group: once that coach
    is erased, the notice says "Someone"."""
    tag = uuid.uuid4().hex[:8]
    coach, athlete = account(), account()
    newcomer = account(first_name=f"Coach{tag}", last_name=f"Erased{tag}")
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as http:
        group = (await http.post("/v1/groups", headers=coach.headers,
                                 json={"name": f"Told {tag}", "sport": "run"})).json()["id"]
        await http.post(f"/v1/groups/{group}/members", headers=coach.headers,
                        json={"user_id": str(athlete.id), "role": "athlete"})
        await http.post("/v1/consents", headers=athlete.headers, json={"group_id": group})
        invited = await http.post(f"/v1/groups/{group}/members", headers=coach.headers,
                                  json={"user_id": str(newcomer.id), "role": "coach"})
        accepted = await http.post(f"/v1/invitations/{invited.json()['invitation_id']}/accept",
                                   headers=newcomer.headers)
        assert accepted.status_code == 200, accepted.text

        async def told() -> str | None:
            page = (await http.get("/v1/notifications/me", headers=athlete.headers)).json()
            items = page["items"] if isinstance(page, dict) else page
            return next((n["message"] for n in items if "now coaches" in n["message"]), None)
        assert f"Coach{tag} Erased{tag} now coaches" in await eventually(told, timeout_s=30)
        gone = await http.request("DELETE", "/v1/me", headers=newcomer.headers,
                                  json={"password": newcomer.password})
        assert gone.status_code == 204, gone.text
        assert (await told() or "").startswith(f"Someone now coaches Told {tag}")
    assert await sql_traces(stack, [newcomer.id],
                            [newcomer.email, f"Coach{tag}", f"Erased{tag}"]) == []


async def redis_traces(stack: Settings, needles: list[str]) -> list[str]:
    """Every Redis key whose name or value (of any type) holds one of `needles`."""
    wanted = [n.encode() for n in needles]
    redis = aioredis.from_url(stack.redis_url)
    found = []
    try:
        async for key in redis.scan_iter(count=1000):
            kind = (await redis.type(key)).decode()
            parts: list[bytes] = [key]
            if kind == "string":
                parts.append(await redis.get(key) or b"")
            elif kind == "list":
                parts += await redis.lrange(key, 0, -1)
            elif kind == "hash":
                for k, v in (await redis.hgetall(key)).items():
                    parts += [k, v]
            elif kind == "set":
                parts += list(await redis.smembers(key))
            elif kind == "zset":
                parts += await redis.zrange(key, 0, -1)
            blob = b"\n".join(parts)
            found += [f"{key!r} holds {n!r}" for n in wanted if n in blob]
    finally:
        await redis.aclose()
    return found


async def test_no_redis_key_or_value_holds_a_trace(stack: Settings, erased: Erased) -> None:
    assert erased.redis_before, "the scan found the person before the erasure"
    assert await redis_traces(stack, erased.needles()) == []


async def kafka_traces(stack: Settings, names: list[str], since_ms: int,
                       needles: list[bytes]) -> tuple[int, list[str]]:
    """(records read, those holding a needle in key, value or headers) of `names` since
    `since_ms`, read raw with a plain consumer."""
    consumer = AIOKafkaConsumer(bootstrap_servers=stack.kafka, **kafka_options(), enable_auto_commit=False)
    await consumer.start()
    found: list[str] = []
    records = 0
    try:
        partitions = [TopicPartition(t, p) for t in names
                      for p in (consumer.partitions_for_topic(t) or await _partitions(consumer, t))]
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        starts = await consumer.offsets_for_times({tp: since_ms for tp in partitions})
        todo = {tp for tp in partitions if starts[tp] is not None and starts[tp].offset < ends[tp]}
        for tp in todo:
            consumer.seek(tp, starts[tp].offset)
        deadline = time.monotonic() + 120
        while todo:
            assert time.monotonic() < deadline, f"could not read {sorted(map(str, todo))} to the end"
            batch = await consumer.getmany(*todo, timeout_ms=2000)
            for tp, messages in batch.items():
                for m in messages:
                    records += 1
                    blob = b"".join([m.key or b"", m.value or b"",
                                     *(v for _, v in (m.headers or ()))])
                    found += [f"{tp.topic}@{m.offset} holds {n!r}" for n in needles if n in blob]
                    if m.offset + 1 >= ends[tp]:
                        todo.discard(tp)
    finally:
        await consumer.stop()
    return records, found


def kafka_needles(erased: Erased) -> list[bytes]:
    needles = [n.encode() for n in (str(erased.user_id), erased.email, *erased.names)]
    return needles + [repr(LON).encode(), struct.pack(">d", LON), struct.pack("<d", LON)]


async def test_no_kafka_record_holds_a_readable_trace(stack: Settings, erased: Erased) -> None:
    names = [stack.topic_prefix + spec.name for spec in topics.TOPICS]
    records, found = await kafka_traces(stack, names, erased.started_ms, kafka_needles(erased))
    assert records > 0, "the athlete's workouts went through Kafka"
    assert found == []


async def test_the_kafka_scan_finds_a_record_in_clear(stack: Settings, erased: Erased,
                                                      unique: str) -> None:
    """The scan above can fail: a record written in clear, with the same needles, is found."""
    from aiokafka import AIOKafkaProducer
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    topic = f"{unique}.control"
    admin = AIOKafkaAdminClient(bootstrap_servers=stack.kafka, **kafka_options())
    await admin.start()
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka, **kafka_options())
    await producer.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
        since = int(time.time() * 1000) - 1000
        await producer.send_and_wait(topic, msgspec.json.encode(
            {"user_id": str(erased.user_id), "lon": LON}))
        records, found = await kafka_traces(stack, [topic], since, kafka_needles(erased))
        assert records == 1 and len(found) == 2
    finally:
        await producer.stop()
        await admin.delete_topics([topic])
        await admin.close()


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    await consumer._client.force_metadata_update()  # noqa: SLF001 -- a topic not yet known
    return consumer.partitions_for_topic(topic) or set()


def test_the_logs_hold_no_email(stack: Settings, erased: Erased) -> None:
    logs = sorted((stack.home_path / "logs").rglob("*.log"))
    assert any(p.name == "gateway.log" for p in logs)
    ray_logs = Path("/tmp/ray/session_latest/logs")  # the workout actors' own output
    if ray_logs.exists():
        logs += sorted(ray_logs.glob("worker-*.out")) + sorted(ray_logs.glob("worker-*.err"))
    found = []
    for path in logs:
        try:
            if erased.email in path.read_text(errors="replace"):
                found.append(path.name)
        except FileNotFoundError:  # a Ray worker's log, gone with its process since the listing
            continue
    assert found == []


async def test_every_reference_to_a_person_or_workout_is_in_the_registry(stack: Settings) -> None:
    async with await psycopg.AsyncConnection.connect(stack.pg_dsn) as conn:
        assert await schema_problems(conn) == []


async def test_a_new_table_with_a_person_in_it_fails_the_registry(migrated_db: str) -> None:
    async with await psycopg.AsyncConnection.connect(migrated_db, autocommit=True) as conn:
        await conn.execute("CREATE TABLE shoes (id uuid PRIMARY KEY,"
                           " owner uuid REFERENCES users (id) ON DELETE CASCADE)")
        await conn.execute("ALTER TABLE roles DROP CONSTRAINT roles_user_id_fkey, ADD CONSTRAINT"
                           " roles_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id)")
        problems = await schema_problems(conn)
    assert "shoes" not in REGISTRY
    assert problems == ["roles.user_id is registered as cascade but its foreign key does"
                        " ON DELETE 'a'",
                        "shoes.id (uuid) is not in storage/erasure.py REGISTRY",
                        "shoes.owner (uuid) is not in storage/erasure.py REGISTRY",
                        "shoes.owner references users and is not in REGISTRY"]


async def test_erasure_needs_the_password_or_a_fresh_login(stack: Settings, account) -> None:  # type: ignore[no-untyped-def]
    person = account()
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as http:
        wrong = await http.request("DELETE", "/v1/me", headers=person.headers,
                                   json={"password": "not my password at all"})
        assert wrong.status_code == 401 and wrong.json()["code"] == "invalid_credentials"
        bad = await http.request("DELETE", "/v1/me", headers=person.headers,
                                 json={"password": 5})
        assert bad.status_code == 400 and "code" in bad.json()
        unknown = await http.request("DELETE", "/v1/me", headers=person.headers,
                                     json={"passwd": "x"})
        assert unknown.status_code == 400
        assert (await http.get("/v1/users/me", headers=person.headers)).status_code == 200
        async with await psycopg.AsyncConnection.connect(stack.pg_dsn, autocommit=True) as conn:
            await conn.execute("UPDATE sessions SET reauth_at = now() - interval '1 day'"
                               " WHERE user_id = %s", (person.id,))
        stale = await http.delete("/v1/me", headers=person.headers)
        assert stale.status_code == 403 and stale.json()["code"] == "reauth_required"
        async with await psycopg.AsyncConnection.connect(stack.pg_dsn, autocommit=True) as conn:
            await conn.execute("UPDATE sessions SET reauth_at = now() WHERE user_id = %s",
                               (person.id,))
        # A fresh login (here: just re-authenticated): no body needed.
        gone = await http.delete("/v1/me", headers=person.headers)
        assert gone.status_code == 204, gone.text
        after = await http.get("/v1/users/me", headers=person.headers)
        assert after.status_code == 401


async def test_an_erasure_stopped_half_way_is_found_and_finished(stack: Settings, account) -> None:  # type: ignore[no-untyped-def]
    """A gateway that died after the first step leaves the account locked and marked; the
    worker's maintenance finds it (after a minute, so as not to race a live request) and
    runs the erasure again from the start."""

    async def _ready(p: Any) -> Any:
        return p

    from privacy.erasure import Erasure
    from privacy.keys import load_keyring
    from storage import data_keys
    from storage.erasure import PgAccount, RedisCaches, unfinished
    from storage.pool import open_pool
    from streams.agents import maintenance

    person = account()
    ring = load_keyring(stack.keys_path)
    pool = open_pool(stack.pg_dsn, min_size=1, max_size=2)
    await pool.open(wait=True)
    redis = aioredis.from_url(stack.redis_url)
    try:
        erasure = Erasure(PgAccount(pool), RedisCaches(redis, stack.redis_prefix), ring.pseudonym)
        begun = await PgAccount(pool).begin(person.id, ring.pseudonym(person.id))
        assert begun is not None and begun.email == person.email
        async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as http:
            me = await http.get("/v1/users/me", headers=person.headers)
            assert me.status_code == 401  # its sessions ended at the first step
            login = await http.post("/v1/auth/login", json={"email": person.email,
                                                             "password": person.password})
            assert login.status_code == 403 and login.json()["code"] == "account_locked"
        async with pool.connection() as conn:
            assert person.id not in await unfinished(conn)  # a request may still be at it
            await conn.execute("UPDATE users SET erasure_requested_at = now() - interval '2 min'"
                               " WHERE id = %s", (person.id,))
            assert person.id in await unfinished(conn)
        # The stream worker's hourly maintenance, with this test's pool, Redis and keys.
        deps = SimpleNamespace(pool=lambda: _ready(pool), redis=redis,
                               config=SimpleNamespace(redis_prefix=stack.redis_prefix),
                               data_keys=data_keys.on_pool(pool, str(stack.keys_path)))
        assert await maintenance.finish_erasures(deps) >= 1  # type: ignore[arg-type]
        assert await erasure.erase(person.id) is None  # nothing left to erase
        async with pool.connection() as conn:
            assert person.id not in await unfinished(conn)
            rows = await (await conn.execute(
                "SELECT completed_at IS NOT NULL FROM erasure_journal WHERE pseudonym = %s",
                (ring.pseudonym(person.id),))).fetchall()
        assert rows == [(True,)]  # one row, completed: the second run found the open one
    finally:
        await redis.aclose()
        await pool.close()


async def test_rows_written_after_their_workout_was_deleted_are_swept(migrated_db: str) -> None:
    """A sink's write that began before a workout's tombstone can commit after its rows
    were deleted; the worker's hourly sweep takes such rows away."""
    from storage.erasure import sweep_late_rows

    async with await psycopg.AsyncConnection.connect(migrated_db, autocommit=True) as conn:
        gone, kept = uuid.uuid4(), uuid.uuid4()
        for workout_id, deleted in ((gone, True), (kept, False)):
            await conn.execute("INSERT INTO workout_ids (id, deleted_at) VALUES (%s,"
                               " CASE WHEN %s THEN now() END)", (workout_id, deleted))
            await conn.execute("INSERT INTO sensor_data (workout_id, seq, t) VALUES (%s, 1, now())",
                               (workout_id,))
            await conn.execute("INSERT INTO workout_metrics (workout_id, t, seq, distance_m,"
                               " moving_time_s) VALUES (%s, now(), 1, 1, 1)", (workout_id,))
        assert await sweep_late_rows(conn) == {"sensor_data": 1, "workout_metrics": 1}
        left = await (await conn.execute("SELECT workout_id FROM sensor_data")).fetchall()
        assert left == [(kept,)]
        assert await sweep_late_rows(conn) == {}
