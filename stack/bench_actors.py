"""`stride bench actors`: what the workout actors cost, measured on this machine.

Three figures, written to bench/results/actors-<placement>-<time>.{json,md}:
- the pure fold: µs per sample of `Workout.apply_samples` for several batch sizes;
- memory per live workout: bytes held per `Workout` (tracemalloc) and snapshot size;
- on the running stack (Ray, Kafka, Redis), called directly on the host actors: start → first
  ack latency, and ack latency while every workout sends one sample a second, with the
  resident memory of the actor processes divided by the number of workouts.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import statistics
import time
import tracemalloc
import uuid
from pathlib import Path
from typing import Any

import msgspec
from rich.console import Console
from rich.progress import Progress

from actors.placement import HostCalls, Placement
from actors.workout import Workout
from stack.settings import REPO_ROOT, Settings
from streams.events import Sample
from streams.tls import kafka_options

console = Console()
RESULTS = REPO_ROOT / "bench" / "results"


def save_report(kind: str, report: dict[str, Any], markdown: str) -> Path:
    """Write a bench's figures to bench/results/<kind>-<time>.json and .md, print the
    Markdown, and say where they went."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    stem = RESULTS / f"{kind}-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%SZ}"
    stem.with_suffix(".json").write_text(json.dumps(report, indent=2))
    stem.with_suffix(".md").write_text(markdown)
    console.print(markdown)
    console.print(f"written: {stem}.json and .md")
    return stem


def _track(n: int, t0: int) -> list[tuple[int, float, float, float, float, float]]:
    return [(t0 + 1000 * i, 45.0 + 2.5e-5 * i, 7.0 + 1e-5 * (i % 7), 200.0 + (i % 50) * 0.2,
             130.0 + i % 30, 97.0) for i in range(n)]


def fold_cost(batch_sizes: tuple[int, ...] = (1, 5, 25, 100), samples: int = 6000) -> dict[str, float]:
    """µs per sample of the pure fold, by batch size."""
    out = {}
    track = _track(samples, 1_767_225_600_000)
    for size in batch_sizes:
        workout = Workout.create(uuid.uuid4(), uuid.uuid4(), "run", track[0][0])
        workout.start()
        started = time.perf_counter()
        for seq in range(0, samples, size):
            workout.apply_samples(seq, track[seq:seq + size])
        out[f"batch_{size}"] = (time.perf_counter() - started) / samples * 1e6
    return out


def memory_per_workout(count: int = 500, samples_each: int = 600) -> dict[str, float]:
    """Bytes a live workout holds after `samples_each` samples, and its snapshot size."""
    track = _track(samples_each, 1_767_225_600_000)
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    workouts = []
    for _ in range(count):
        workout = Workout.create(uuid.uuid4(), uuid.uuid4(), "run", track[0][0])
        workout.start()
        for seq in range(0, samples_each, 60):
            workout.apply_samples(seq, track[seq:seq + 60])
        workouts.append(workout)
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    held = sum(s.size_diff for s in after.compare_to(before, "filename"))
    return {"bytes_per_workout": held / count,
            "snapshot_bytes": float(len(workouts[0].snapshot()))}


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def _samples(first: int, n: int, t0: int) -> list[Sample]:
    """Samples number first … first+n-1 of a 1 Hz run (~2.8 m/s north)."""
    return [(t0 + 1000 * i, 45.0 + 2.5e-5 * i, 7.0 + 1e-5 * (i % 7), 200.0 + (i % 50) * 0.2,
             130.0 + i % 30, 97.0) for i in range(first, first + n)]


def _process_memory(pid: int) -> tuple[int, int, float]:
    """(RSS, PSS in bytes, CPU seconds) of a process. PSS shares common pages out fairly
    among the processes mapping them (the sum over processes is what the node holds)."""
    rss = int(Path(f"/proc/{pid}/status").read_text().split("VmRSS:")[1].split()[0]) * 1024
    pss = int(Path(f"/proc/{pid}/smaps_rollup").read_text().split("Pss:")[1].split()[0]) * 1024
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu_s = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return rss, pss, cpu_s


class Fleet:
    """Simulated devices: each samples at 1 Hz and sends what it has every `batch_every`
    seconds, the fleet's sends spread evenly over time (as independent devices are)."""

    TICK_S = 0.1

    def __init__(self, place: Placement, workouts: int, batch_every: int, t0: int,
                 user: uuid.UUID) -> None:
        self.place, self.batch_every, self.t0 = place, batch_every, t0
        self.user = str(user)
        self.ids = [uuid.uuid4() for _ in range(workouts)]
        """The fleet; athletes who join during the steady state are appended."""
        self.calls: dict[uuid.UUID, HostCalls] = {}
        self.started_at: dict[uuid.UUID, float] = {}
        self.sent: dict[uuid.UUID, int] = {}
        self.starts: list[float] = []
        self.joins: list[float] = []
        """Start → first sample acked, of workouts started during the steady state."""
        self.start_acks: list[float] = []
        """Start → the ack that answers `start` (the device's first ack), in the steady state."""
        self.acks: list[float] = []
        self.errors: list[str] = []
        self.measuring = False
        self._tasks: set[asyncio.Task[None]] = set()

    def spawn(self, job: Any) -> None:
        task = asyncio.create_task(job)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def start(self, wid: uuid.UUID) -> None:
        """Start → first ack, as an athlete pressing start sees it."""
        begun = time.perf_counter()
        calls = self.calls[wid] = await asyncio.to_thread(self.place.calls, wid)
        reply = await calls.actor.start.remote(str(wid), self.user, "run", self.t0)
        if self.measuring:
            self.start_acks.append((time.perf_counter() - begun) * 1000)
        if reply.error_code is None:
            reply = await calls.samples(str(wid), self.user, 0, _samples(0, 1, self.t0))
        if reply.error_code is not None:
            self.errors.append(f"{reply.error_code}: {reply.message}")
            return
        (self.joins if self.measuring else self.starts).append((time.perf_counter() - begun) * 1000)
        self.started_at[wid], self.sent[wid] = time.monotonic(), 1

    async def send(self, wid: uuid.UUID) -> None:
        """The samples recorded since the last send (one a second since the start)."""
        have = int(time.monotonic() - self.started_at[wid]) + 1
        first = self.sent[wid]
        if have <= first:
            return
        self.sent[wid] = have
        sent = time.perf_counter()
        reply = await self.calls[wid].samples(str(wid), self.user, first,
                                             _samples(first, have - first, self.t0))
        if reply.error_code is not None or reply.acked_seq != have - 1:
            self.errors.append(f"{reply.error_code}: {reply.message}" if reply.error_code
                               else f"acked {reply.acked_seq}, sent {have - 1}")
        elif self.measuring:
            self.acks.append((time.perf_counter() - sent) * 1000)

    async def drain(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks))


async def stack_run(settings: Settings, placement: str, workouts: int, seconds: int,
                    batch_every: int, metrics_every: float, start_rate: int) -> dict[str, Any]:
    """Ramp up `workouts` at `start_rate` a second while the started ones stream, then
    `seconds` of steady state. The run has its own Ray namespace, Kafka topics and Redis
    prefix (removed afterwards), so the stack's worker and data are not touched."""
    import ray
    import redis.asyncio as aioredis

    from actors.placement import make_placement
    from stack.wiring import actor_config
    from streams import topics

    run_id = uuid.uuid4().hex[:8]
    prefix = f"bench-{run_id}."
    await topics.ensure_topics(settings.kafka, partitions=settings.topic_partitions,
                               replication=1, min_insync=1, prefix=prefix)
    config = msgspec.structs.replace(actor_config(settings), topic_prefix=prefix,
                                     redis_prefix=f"{settings.redis_prefix}:bench-{run_id}",
                                     metrics_interval_s=metrics_every)
    ray.init(address=settings.ray_address, namespace=f"stride-bench-{run_id}", log_to_driver=False)
    place = make_placement(placement, config, ray.get_runtime_context().namespace,
                           settings.placement_hosts)
    # With the keys on (the stack's config), hosts seal with the athlete's data key, which
    # only an existing account has: the fleet streams as a made-up account of the run's own.
    user = await _bench_athlete(settings, run_id) if config.keys_dir else uuid.uuid4()
    fleet = Fleet(place, workouts, batch_every, int(time.time() * 1000), user)
    period = round(batch_every / Fleet.TICK_S)
    host_pids: list[int] = []
    empty_hosts: list[tuple[int, int, float]] = []
    if placement == "sharded":  # the hosts' memory before any workout, to subtract
        firsts = {place.shard_of(w): w for w in fleet.ids}  # type: ignore[attr-defined]
        host_pids = [ray.get(place.handle(w).pid.remote()) for w in firsts.values()]
        empty_hosts = [_process_memory(pid) for pid in host_pids]
    try:
        with Progress(console=console, transient=True) as progress:
            ramp = progress.add_task(f"starting {workouts} workouts ({placement})", total=workouts)
            steady = progress.add_task(f"steady state for {seconds} s", total=seconds)
            tick, next_start = 0, 0
            began = time.monotonic()
            measured_from = cpu_before = None
            while True:
                due = min(workouts, int((tick + 1) * Fleet.TICK_S * start_rate))
                for i in range(next_start, due):
                    fleet.spawn(fleet.start(fleet.ids[i]))
                next_start = max(next_start, due)
                if fleet.measuring and tick % round(1 / Fleet.TICK_S) == 0:
                    fleet.ids.append(uuid.uuid4())  # an athlete a second joins the steady state
                    fleet.spawn(fleet.start(fleet.ids[-1]))
                progress.update(ramp, completed=min(workouts, len(fleet.started_at)))
                for i in range(tick % period, len(fleet.ids), period):
                    if fleet.ids[i] in fleet.started_at:
                        fleet.spawn(fleet.send(fleet.ids[i]))
                if measured_from is None and len(fleet.started_at) + len(fleet.errors) >= workouts:
                    measured_from, fleet.measuring = time.monotonic(), True
                    cpu_before = sum(_process_memory(p)[2] for p in host_pids)
                if measured_from is not None:
                    done = time.monotonic() - measured_from
                    progress.update(steady, completed=min(done, seconds))
                    if done >= seconds:
                        break
                tick += 1
                await asyncio.sleep(max(0.0, began + tick * Fleet.TICK_S - time.monotonic()))
            fleet.measuring = False
            await fleet.drain()
        if placement == "dedicated":
            host_pids = [ray.get(c.actor.pid.remote()) for c in fleet.calls.values()]
        memory = [_process_memory(pid) for pid in host_pids]
        host_cpu = (sum(m[2] for m in memory) - (cpu_before or 0.0)) / seconds \
            if placement == "sharded" else None
    finally:
        await _clean_up(ray, place, placement, fleet, settings, prefix, config.redis_prefix,
                        aioredis)
        if config.keys_dir:
            await _drop_athlete(settings, user)
    live = max(1, len(fleet.started_at))
    rss, pss = sum(m[0] for m in memory), sum(m[1] for m in memory)
    return {
        "placement": placement, "workouts": workouts, "live_workouts": len(fleet.started_at),
        "seconds": seconds, "batch_every_s": batch_every, "metrics_every_s": metrics_every,
        "samples_per_s": len(fleet.started_at),
        "errors": len(fleet.errors), "first_errors": fleet.errors[:5],
        "start_rate": start_rate,
        "start_to_first_ack_ms": {"p50": statistics.median(fleet.starts) if fleet.starts else None,
                                  "p99": _pct(fleet.starts, 0.99)},
        "join_to_start_ack_ms": {"p50": statistics.median(fleet.start_acks) if fleet.start_acks
                                 else None, "p99": _pct(fleet.start_acks, 0.99)},
        "join_to_first_ack_ms": {"p50": statistics.median(fleet.joins) if fleet.joins else None,
                                 "p99": _pct(fleet.joins, 0.99), "max": max(fleet.joins, default=None),
                                 "count": len(fleet.joins)},
        "ack_ms": {"p50": statistics.median(fleet.acks) if fleet.acks else None,
                   "p99": _pct(fleet.acks, 0.99), "count": len(fleet.acks)},
        "host_processes": len(host_pids),
        "host_cpu_cores": host_cpu,
        "rss_bytes_per_workout": (rss - sum(m[0] for m in empty_hosts)) / live,
        "pss_bytes_per_workout": (pss - sum(m[1] for m in empty_hosts)) / live,
        "rss_bytes_per_host": rss / max(1, len(host_pids)),
        "pss_bytes_per_host": pss / max(1, len(host_pids)),
    }


async def _bench_athlete(settings: Settings, run_id: str) -> uuid.UUID:
    import psycopg

    async with await psycopg.AsyncConnection.connect(settings.pg_dsn, autocommit=True) as conn:
        row = await (await conn.execute("INSERT INTO users (email) VALUES (%s) RETURNING id",
                                        (f"bench-actors-{run_id}@example.invalid",))).fetchone()
    assert row is not None
    return uuid.UUID(str(row[0]))


async def _drop_athlete(settings: Settings, user: uuid.UUID) -> None:
    """The run's account and, with it, its data key (the run's Redis keys are gone already)."""
    import psycopg

    async with await psycopg.AsyncConnection.connect(settings.pg_dsn, autocommit=True) as conn:
        await conn.execute("DELETE FROM users WHERE id = %s", (user,))


async def _clean_up(ray: Any, place: Placement, placement: str, fleet: Fleet,
                    settings: Settings, prefix: str, redis_prefix: str, aioredis: Any) -> None:
    """Stop the run's actors, delete its topics and Redis keys."""
    from aiokafka.admin import AIOKafkaAdminClient

    if placement == "sharded":
        for calls in {id(c): c for c in fleet.calls.values()}.values():
            ray.kill(calls.actor, no_restart=True)
    else:
        for wid in fleet.calls:
            place.release(wid)
    ray.shutdown()
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka, **kafka_options())
    await admin.start()
    try:
        await admin.delete_topics([t for t in await admin.list_topics() if t.startswith(prefix)])
    finally:
        await admin.close()
    client = aioredis.from_url(settings.redis_url)
    try:
        async for key in client.scan_iter(match=f"{redis_prefix}:*", count=1000):
            await client.unlink(key)
    finally:
        await client.aclose()


def run(settings: Settings, placement: str, workouts: int, seconds: int, batch_every: int = 5,
        metrics_every: float = 5.0, start_rate: int = 200) -> int:
    with console.status("timing the pure fold …"):
        cost = fold_cost()
    with console.status("measuring memory per workout …"):
        memory = memory_per_workout()
    live = asyncio.run(stack_run(settings, placement, workouts, seconds, batch_every,
                                 metrics_every, start_rate))
    report = {"when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
              "fold_us_per_sample": cost, "memory": memory, "stack": live}
    save_report(f"actors-{placement}", report, _markdown(report))
    return 0


def _markdown(r: dict[str, Any]) -> str:
    s, m, c = r["stack"], r["memory"], r["fold_us_per_sample"]
    nan = float("nan")
    lines = [f"# Workout actors, {s['placement']} ({r['when']})", "",
             "| figure | value |", "|---|---|"]
    lines += [f"| fold, batches of {k.split('_')[1]} | {v:.1f} µs/sample |" for k, v in c.items()]
    lines += [
        f"| memory per workout (Python objects) | {m['bytes_per_workout'] / 1024:.1f} KiB |",
        f"| snapshot size | {m['snapshot_bytes'] / 1024:.1f} KiB |",
        f"| live workouts on the stack | {s['live_workouts']} of {s['workouts']} "
        f"({s['errors']} errors), {s['seconds']} s steady |",
        f"| device cadence | a sample a second, sent every {s['batch_every_s']} s; live metrics "
        f"every {s['metrics_every_s']} s |",
        f"| ramp ({s['start_rate']} starts/s): start → first ack p50 / p99 | "
        f"{s['start_to_first_ack_ms']['p50'] or nan:.1f} / {s['start_to_first_ack_ms']['p99']:.1f} ms |",
        f"| steady state, an athlete joining a second: start → its ack p50 / p99 | "
        f"{s['join_to_start_ack_ms']['p50'] or nan:.1f} / {s['join_to_start_ack_ms']['p99']:.1f} ms |",
        f"| steady state, an athlete joining a second: start → first sample acked p50 / max | "
        f"{s['join_to_first_ack_ms']['p50'] or nan:.1f} / {s['join_to_first_ack_ms']['max'] or nan:.1f}"
        f" ms ({s['join_to_first_ack_ms']['count']} starts) |",
        f"| ack p50 / p99 (steady) | {s['ack_ms']['p50'] or nan:.1f} / "
        f"{s['ack_ms']['p99']:.1f} ms ({s['ack_ms']['count']} acks) |",
        f"| host actors | {s['host_processes']}, CPU "
        + (f"{s['host_cpu_cores']:.2f} cores |" if s["host_cpu_cores"] is not None else "n/a |"),
        f"| host memory per workout, RSS / PSS | {s['rss_bytes_per_workout'] / 1024:.1f} / "
        f"{s['pss_bytes_per_workout'] / 1024:.1f} KiB |",
        f"| host memory per host process, RSS / PSS | {s['rss_bytes_per_host'] / 2**20:.1f} / "
        f"{s['pss_bytes_per_host'] / 2**20:.1f} MiB |",
    ]
    return "\n".join(lines) + "\n"
