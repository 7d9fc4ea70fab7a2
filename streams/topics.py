"""Kafka topics of Stride and their creation (explicit partitions, never auto-created)."""

from __future__ import annotations

import asyncio

import msgspec
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from streams.tls import kafka_options

SAMPLES = "telemetry.samples"
METRICS = "workout.metrics"
LIFECYCLE = "workout.lifecycle"
RISK_ALERTS = "risk.alerts"
DEAD_LETTER = "stride.deadletter"
RECOMMENDATIONS = "recommendations.ready"
USER_METRICS = "user.metrics"
"""UserMetricsUpdated from the gateway, keyed by user_id."""
NOTIFICATIONS = "notifications.requested"
"""NotificationRequested from any part of Stride, keyed by the recipient."""
PROBE = "stride.probe"
"""Health probes' records (a throwaway workout's completion); nothing consumes them."""

WORKER_GROUP = "stride-streams"
"""The Faust app id, which is the worker's Kafka consumer group."""
WORKER_CONSUMES = (SAMPLES, METRICS, LIFECYCLE, RISK_ALERTS, RECOMMENDATIONS, USER_METRICS,
                   NOTIFICATIONS)
"""Topics the worker's agents consume (streams/agents/)."""
METADATA_MAX_AGE_MS = 5000
"""How old a Kafka client's view of the partition leaders may get (aiokafka's default: five
minutes). aiokafka's consumer answers a "not the leader" reply to its offset lookup by
asking the same broker again, without refreshing its metadata, and sends no fetches to that
broker meanwhile: after a broker came back and took its partitions' leadership again, every
partition that broker had led stalled until the next refresh (found by the cluster suite).
One metadata request every few seconds per client is nothing beside that."""


class TopicSpec(msgspec.Struct, frozen=True):
    name: str
    retention_ms: int
    compact: bool = False


DAY_MS = 24 * 3600 * 1000
TOPICS = (
    TopicSpec(SAMPLES, 7 * DAY_MS),
    TopicSpec(METRICS, 2 * DAY_MS),
    TopicSpec(LIFECYCLE, 30 * DAY_MS),
    TopicSpec(RISK_ALERTS, 30 * DAY_MS),
    TopicSpec(DEAD_LETTER, 30 * DAY_MS),
    TopicSpec(RECOMMENDATIONS, 7 * DAY_MS),
    TopicSpec(USER_METRICS, 7 * DAY_MS),
    TopicSpec(NOTIFICATIONS, 7 * DAY_MS),
    TopicSpec(PROBE, 3600 * 1000),
)


async def list_topics(bootstrap: str, timeout_s: float = 5.0) -> list[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap,
                                **kafka_options(), request_timeout_ms=int(timeout_s * 1000))
    await asyncio.wait_for(admin.start(), timeout_s)
    try:
        return list(await asyncio.wait_for(admin.list_topics(), timeout_s))
    finally:
        await admin.close()


async def ensure_topics(
    bootstrap: str, *, partitions: int, replication: int, min_insync: int, prefix: str = ""
) -> list[str]:
    """Create the topics that are missing; returns the names created.

    `prefix` lets tests run against their own copies of the topics.
    """
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **kafka_options(), request_timeout_ms=15000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [
            NewTopic(
                prefix + spec.name,
                num_partitions=partitions,
                replication_factor=replication,
                topic_configs={
                    "min.insync.replicas": str(min_insync),
                    "retention.ms": str(spec.retention_ms),
                    "cleanup.policy": "compact" if spec.compact else "delete",
                },
            )
            for spec in TOPICS
            if prefix + spec.name not in existing
        ]
        if wanted:
            await admin.create_topics(wanted, timeout_ms=15000)
        return [t.name for t in wanted]
    finally:
        await admin.close()
