"""`/healthz` answers whether a new workout can start, not only whether connections answer:
a gateway (of the test's own, with topics of its own) whose hosts cannot write the probe's
Kafka topic reports 503 with the reason, and healthy again once they can; `stride stack
status` shows the stack's gateway healthy through the same check."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import httpx
import pytest
from aiokafka.admin import AIOKafkaAdminClient
from helper_processes import http_url

from stack.settings import Settings
from streams import topics
from streams.retry import wait_until_async
from streams.tls import kafka_options

pytestmark = pytest.mark.e2e


async def test_healthz_fails_while_a_workout_cannot_start_and_recovers(
        stack: Settings, processes, unique: str) -> None:  # type: ignore[no-untyped-def]
    prefix = f"{unique}."
    await topics.ensure_topics(stack.kafka, partitions=1, replication=1, min_insync=1, prefix=prefix)
    # Dedicated: its probe hosts are its own and released (sharded hosts are shared by name,
    # and this gateway's topic prefix must not reach the stack's).
    address = processes.gateway(STRIDE_TOPIC_PREFIX=prefix, STRIDE_HEALTH_PROBE_S="1",
                                STRIDE_PLACEMENT="dedicated", STRIDE_WARM_HOSTS="0")
    url = f"{http_url(address)}/healthz"
    async with httpx.AsyncClient(timeout=60) as http:
        healthy = (await http.get(url)).json()
        assert healthy["ok"] is True and healthy["workout_probe_ms"] > 0

        admin = AIOKafkaAdminClient(bootstrap_servers=stack.kafka, **kafka_options())
        await admin.start()
        try:
            await admin.delete_topics([prefix + topics.PROBE])  # the hosts' writes now fail
        finally:
            await admin.close()

        async def reports(status: int) -> bool:
            return (await http.get(url)).status_code == status

        assert await wait_until_async(lambda: reports(503), 90, interval_s=1.0)
        refused = (await http.get(url)).json()
        assert refused["ok"] is False and "cannot start" in refused["error"]

        await topics.ensure_topics(stack.kafka, partitions=1, replication=1, min_insync=1, prefix=prefix)
        assert await wait_until_async(lambda: reports(200), 90, interval_s=1.0)

    status = await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "stack.cli", "stack", "status",
                                                      "--json"], capture_output=True, text=True, timeout=120)
    assert status.returncode == 0 and json.loads(status.stdout)["gateway"]["healthy"] is True
