"""A two-node Ray cluster on this machine loses the node that hosts a workout actor.

Run by test_ray_node_loss.py in a process of its own (a process joins one Ray cluster, and
the test's own is the stack's). Usage: ray_two_nodes.py KAFKA REDIS_URL PREFIX WORKOUT_ID T0 RESULT.json.

Builds the cluster with `ray.cluster_utils.Cluster` (head + one worker node, both on
127.0.0.1), starts the workout actor on the worker node (soft node affinity, so Ray may
restart it elsewhere), acknowledges half the samples, removes that node without warning,
then carries on like a device: a call that fails is resent from the last acknowledged seq.
Writes RESULT.json: the last seq acknowledged, the workout's status after finish, whether
the actor moved, and the seconds from the node's loss to the next acknowledgement.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from typing import Any

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")

import ray  # noqa: E402
from ray.cluster_utils import Cluster  # noqa: E402
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy  # noqa: E402

from actors.placement import RemoteWorkoutHost  # noqa: E402
from actors.shell import ActorConfig  # noqa: E402
from streams.retry import wait_until  # noqa: E402

N, BATCH = 400, 20
USER = "0b9c1f64-5f8e-4a53-8d7a-3c3b7d1e2f10"
NODE = {"node_ip_address": "127.0.0.1", "num_cpus": 2, "object_store_memory": 100_000_000}


def samples(seq: int, n: int, t0: int) -> list[tuple[int, float, float, float, float, float]]:
    return [(t0 + 1000 * (seq + i), 45.0 + 2.5e-5 * (seq + i), 7.0, 100.0 + (seq + i) % 7, 150.0, 98.0)
            for i in range(n)]


def main(kafka: str, redis_url: str, prefix: str, workout_id: str, t0: int, result: str) -> None:
    cluster = Cluster(initialize_head=True, connect=True,
                      head_node_args={**NODE, "include_dashboard": False})
    try:
        doomed = cluster.add_node(**NODE)
        cluster.wait_for_nodes()
        config = ActorConfig(kafka=kafka, redis_url=redis_url, redis_prefix=prefix, topic_prefix=prefix)
        actor: Any = None
        attempts = [0]

        def placed_on_doomed() -> bool:
            """Soft affinity may fall back to the head while the node settles: place again."""
            nonlocal actor
            if actor is not None:
                ray.kill(actor, no_restart=True)
            attempts[0] += 1
            actor = RemoteWorkoutHost.options(
                name=f"workout:{workout_id}:{attempts[0]}", namespace="faults", lifetime="detached",
                max_restarts=-1, max_task_retries=0, num_cpus=0,
                scheduling_strategy=NodeAffinitySchedulingStrategy(doomed.node_id, soft=True),
            ).remote(config)
            return bool(ray.get(actor.node_id.remote()) == doomed.node_id)

        if not wait_until(placed_on_doomed, 30, interval_s=0.5):
            raise SystemExit("the actor never landed on the worker node")
        assert ray.get(actor.start.remote(workout_id, USER, "run", t0)).error_code is None
        acked, lost_at, recovered_s = -1, None, None

        def send_from_last_ack() -> bool:
            """One batch from the last acknowledged seq, as a device resends; False on failure."""
            nonlocal acked, recovered_s
            seq = acked + 1
            try:
                reply = ray.get(actor.samples.remote(workout_id, USER, seq, samples(seq, BATCH, t0)),
                                timeout=30)
            except (ray.exceptions.RayActorError, ray.exceptions.GetTimeoutError):
                return False
            assert reply.error_code is None, reply
            acked = reply.acked_seq
            if lost_at is not None and recovered_s is None:
                recovered_s = time.monotonic() - lost_at
            return True

        while acked < N - 1:
            if lost_at is None and acked >= N // 2 - 1:
                pid = ray.get(actor.pid.remote())
                cluster.remove_node(doomed, allow_graceful=False)  # the node dies …
                try:  # … with every process on it; its workers may outlive the raylet briefly
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                lost_at = time.monotonic()
            assert wait_until(send_from_last_ack, 120, interval_s=0.2), "the actor never came back"
        finished = ray.get(actor.control.remote(workout_id, USER, "finish", t0 + 1000 * N), timeout=30)
        moved = ray.get(actor.node_id.remote()) != doomed.node_id
        ray.kill(actor, no_restart=True)
        with open(result, "w") as out:
            json.dump({"acked": acked, "status": finished.status, "recovered_s": recovered_s,
                       "moved": moved}, out)
    finally:
        ray.shutdown()
        cluster.shutdown()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), sys.argv[6])
