"""The dedicated placement's warm pool on the stack's real Ray and Redis (a namespace and key
prefix of the test's own): a start takes a spare host that is already running, two gateways
starting one workout at once end on the same host, the pool refills itself, a spare gone with
a Ray restart is skipped, and a finish kills the host and forgets it."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import ray
import redis

from actors.placement import DedicatedPlacement
from actors.shell import ActorConfig
from stack.settings import Settings
from streams import topics
from streams.retry import wait_until

pytestmark = pytest.mark.integration
USER = str(uuid.uuid4())


@pytest.fixture
def pool(stack: Settings, unique: str) -> Iterator[tuple[DedicatedPlacement, DedicatedPlacement, str]]:
    if not ray.is_initialized():
        ray.init(address=stack.ray_address, namespace="stride-tests", log_to_driver=False)
    asyncio.run(topics.ensure_topics(stack.kafka, partitions=2, replication=1, min_insync=1,
                                     prefix=f"{unique}."))
    config = ActorConfig(kafka=stack.kafka, redis_url=stack.redis_url, redis_prefix=unique,
                         topic_prefix=f"{unique}.")
    namespace = f"stride-tests-{unique}"
    one, other = (DedicatedPlacement(config, namespace, warm=3) for _ in range(2))
    yield one, other, namespace
    one.stop(wait_s=150)  # a round under way lists its spares, which go below
    other.stop(wait_s=150)
    for name in ray.util.list_named_actors(all_namespaces=True):
        if name["namespace"] == namespace:
            ray.kill(ray.get_actor(name["name"], namespace=namespace), no_restart=True)


def _spares(stack: Settings, placement: DedicatedPlacement) -> list[str]:
    with redis.Redis.from_url(stack.redis_url) as client:
        return [n.decode() for n in client.lrange(placement.spares_key, 0, -1)]


@pytest.mark.timeout(600)
def test_a_start_takes_a_running_spare_and_the_pool_refills(
        stack: Settings, unique: str, pool: tuple[DedicatedPlacement, DedicatedPlacement, str]) -> None:
    one, other, namespace = pool
    assert one.fill() == 2 and one.fill() == 1 and other.fill() == 0  # shared, 2 a round: 3
    spares = _spares(stack, one)
    assert len(spares) == 3
    with redis.Redis.from_url(stack.redis_url) as client:  # a spare gone with a Ray restart
        client.lpush(one.spares_key, "workout-spare:gone")

    wid = uuid.uuid4()
    got: dict[str, Any] = {}

    def resolve(name: str, placement: DedicatedPlacement) -> None:
        got[name] = placement.handle(wid)

    racers = [threading.Thread(target=resolve, args=(n, p)) for n, p in (("one", one), ("other", other))]
    for racer in racers:
        racer.start()
    for racer in racers:
        racer.join(60)
    # Both gateways talk to the same host, a spare that was running already.
    assert got["one"]._actor_id == got["other"]._actor_id
    host = one.host_name(wid)
    assert host in spares and host == other.host_name(wid)
    assert len(_spares(stack, one)) == 2  # one taken, the gone one dropped

    reply = ray.get(got["one"].start.remote(str(wid), USER, "run", 1_790_000_000_000))
    assert reply.error_code is None and reply.status == "active"
    reply = ray.get(got["other"].samples.remote(str(wid), USER, 0,
                                                [(1_790_000_000_000, 45.0, 7.0, None, 140.0, 97.0)]))
    assert reply.error_code is None and reply.acked_seq == 0

    one.keep_warm()
    # A refill starts new Ray worker processes, which Ray starts a few at a time: on a loaded
    # machine (CI, after hundreds of actors) a round can take long, hence the generous wait.
    assert wait_until(lambda: len(_spares(stack, one)) == 3, 240, interval_s=0.2), \
        f"not refilled: {_spares(stack, one)}"

    one.release(wid)
    assert one.host_name(wid) is None
    assert wait_until(lambda: host not in {a["name"] for a in ray.util.list_named_actors(True)
                                           if a["namespace"] == namespace}, 30, interval_s=0.2)


def test_without_a_spare_the_host_is_made_on_the_spot(
        stack: Settings, unique: str, pool: tuple[DedicatedPlacement, DedicatedPlacement, str]) -> None:
    one, _, namespace = pool
    wid = uuid.uuid4()
    host = one.handle(wid)  # the pool is empty: a host named after the workout
    assert ray.get(host.start.remote(str(wid), USER, "run", 1_790_000_000_000)).status == "active"
    assert one.host_name(wid) is None
    assert ray.get_actor(one.actor_name(wid), namespace=namespace)._actor_id == host._actor_id
    one.release(wid)


def test_two_gateways_refilling_at_once_do_not_overfill(
        stack: Settings, unique: str, pool: tuple[DedicatedPlacement, DedicatedPlacement, str]) -> None:
    """Both count the same shortfall; only the one holding the pool's fill lock makes it up."""
    one, other, _ = pool
    filled: list[int] = []
    fillers = [threading.Thread(target=lambda p=p: filled.append(p.fill())) for p in (one, other)]
    for filler in fillers:
        filler.start()
    for filler in fillers:
        filler.join(180)
    assert len(filled) == 2 and sum(filled) == len(_spares(stack, one)) <= 3, (filled, _spares(stack, one))
