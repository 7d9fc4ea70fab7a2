"""`stride bench sinks`: do the stream worker's sinks keep up, and how fast do reads answer?

A worker of its own (`stride worker run`, every agent) runs beside the stack's on its own
topics, consumer group, database and Redis prefix. Synthetic workouts stream samples into
Kafka at `--rate` samples a second (batches of `--batch` samples, the way workout actors
emit them) with live metrics every `--metrics-every` s per workout, for `--seconds`. Every
5 s the consumer lag is sampled; every few seconds a workout completes and the time until
its leaderboard score shows in Redis is measured (from 5 s on: the first seconds of a
worker include opening its connections). Afterwards: how long the backlog took to
drain, whether the samples table holds exactly what was produced, and how long reading a
2-hour workout downsampled to 1-minute buckets takes.

Written to bench/results/sinks-<time>.{json,md} and sinks-lag-<time>.svg (the lag over time).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import statistics
import time
import uuid
from typing import Any

import psycopg
import redis.asyncio as aioredis
from psycopg.conninfo import make_conninfo
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from stack.bench_actors import RESULTS, _pct, _process_memory, save_report
from stack.settings import Settings
from stack.worker_process import StreamWorker
from storage import samples, timeseries
from storage.migrate import migrate
from streams import events, topics
from streams.lag import consumer_lag
from streams.producer import EventProducer

console = Console()
TICK_S = 0.1
LAG_EVERY_S = 5.0
COMPLETE_EVERY_S = 3.0
WARM_UP_S = 5.0
BOARD_ATHLETES = 20


class Load:
    """Synthetic workouts: each sends `batch` samples a time, spread evenly over a second."""

    def __init__(self, workouts: int, batch: int, t0: int) -> None:
        self.ids = [uuid.uuid4() for _ in range(workouts)]
        self.user = uuid.uuid4()
        self.batch = batch
        self.next_seq = dict.fromkeys(self.ids, 0)
        self.t0 = t0
        self.produced = 0
        self.cursor = 0

    def samples_events(self, count: int) -> list[tuple[str, events.AnyEvent]]:
        out: list[tuple[str, events.AnyEvent]] = []
        for _ in range(count):
            wid = self.ids[self.cursor % len(self.ids)]
            self.cursor += 1
            seq = self.next_seq[wid]
            self.next_seq[wid] = seq + self.batch
            out.append((topics.SAMPLES, events.SamplesAccepted(
                workout_id=wid, user_id=self.user, sport="run", seq=seq,
                samples=[(self.t0 + (seq + i) * 1000, 45.0 + (seq + i) * 1e-5, 7.0, 250.0,
                          float(120 + (seq + i) % 40), 97.0) for i in range(self.batch)])))
            self.produced += self.batch
        return out

    def metrics_events(self, count: int, start: int) -> list[tuple[str, events.AnyEvent]]:
        out: list[tuple[str, events.AnyEvent]] = []
        for k in range(count):
            wid = self.ids[(start + k) % len(self.ids)]
            seq = self.next_seq[wid] - 1
            summary = events.WorkoutSummary(version=seq + 2, status="active", sport="run",
                                            started_at_ms=self.t0, last_seq=seq,
                                            samples_count=seq + 1, distance_m=3.0 * seq)
            out.append((topics.METRICS, events.WorkoutMetricsUpdated(
                workout_id=wid, user_id=self.user, t_ms=self.t0 + max(seq, 0) * 1000,
                summary=summary, speed_mps=3.0, hr_bpm=140.0, spo2_pct=97.0)))
        return out


async def _lag(settings: Settings, worker: StreamWorker) -> int:
    lag = await consumer_lag(settings.kafka, worker.group,
                             [worker.topic_prefix + t for t in topics.WORKER_CONSUMES])
    return sum(lag.values())


async def _leaderboard_probe(settings: Settings, worker: StreamWorker, producer: EventProducer,
                             redis: aioredis.Redis, athlete: uuid.UUID, distance_m: float,
                             total_before: float) -> float | None:
    """Complete a workout; ms until the athlete's all-time score shows it in Redis."""
    now_ms = int(time.time() * 1000)
    summary = events.WorkoutSummary(version=2, status="finished", sport="run",
                                    started_at_ms=now_ms - 60_000, ended_at_ms=now_ms,
                                    distance_m=distance_m, duration_s=60.0)
    done = events.WorkoutCompleted(workout_id=uuid.uuid4(), user_id=athlete, at_ms=now_ms,
                                   summary=summary)
    key = f"{worker.redis_prefix}:lb:run:global:all:all"
    sent = time.perf_counter()
    await producer.publish([(topics.LIFECYCLE, done)])
    deadline = sent + 30
    while time.perf_counter() < deadline:
        score = await redis.zscore(key, str(athlete))
        if score is not None and score >= total_before + distance_m - 1e-6:
            return (time.perf_counter() - sent) * 1000
        await asyncio.sleep(0.005)  # polling Redis for the new score
    return None


async def _run(settings: Settings, rate: int, seconds: int, batch: int,
               metrics_every: float, sealed: bool = False) -> dict[str, Any]:
    run_id = uuid.uuid4().hex[:8]
    home = settings.home_path / "bench" / f"sinks-{run_id}"
    home.mkdir(parents=True, exist_ok=True)
    dbname = f"stride_bench_{run_id}"
    admin = make_conninfo(settings.pg_dsn, dbname="postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{dbname}"')
    dsn = make_conninfo(settings.pg_dsn, dbname=dbname)
    worker = StreamWorker(settings, f"bench-{run_id}", dsn, home,
                          partitions=settings.topic_partitions)
    redis = aioredis.from_url(settings.redis_url)
    try:
        migrate(dsn)
        athletes = [uuid.uuid4() for _ in range(BOARD_ATHLETES)]
        with psycopg.connect(dsn, autocommit=True) as conn:
            for a in athletes:
                conn.execute("INSERT INTO users (id, email, country) VALUES (%s, %s, 'SI')",
                             (a, f"bench-{a.hex[:12]}@stride.test"))
        await worker.create_topics()
        await asyncio.to_thread(worker.start)
        return await _measure(settings, worker, redis, dsn, athletes, rate, seconds, batch,
                              metrics_every, sealed)
    finally:
        worker.stop()
        await worker.delete_topics()
        async for key in redis.scan_iter(match=f"{worker.redis_prefix}:*", count=1000):
            await redis.delete(key)
        await redis.aclose()
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')


async def _measure(settings: Settings, worker: StreamWorker, redis: aioredis.Redis, dsn: str,
                   athletes: list[uuid.UUID], rate: int, seconds: int, batch: int,
                   metrics_every: float, sealed: bool = False) -> dict[str, Any]:
    workouts = max(1, rate // batch)  # each workout sends a batch a second: 1 Hz sampling
    load = Load(workouts, batch, t0=int(time.time() * 1000) - 3_600_000)
    keys_pool = None
    if sealed:  # as the stack sends them: each athlete's events under their data key
        from psycopg_pool import AsyncConnectionPool

        from privacy.keys import DataKeys, load_keyring

        async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
            await conn.execute("INSERT INTO users (id, email) VALUES (%s, %s)",
                               (load.user, f"bench-{load.user.hex[:12]}@stride.test"))
        keys_pool = AsyncConnectionPool(dsn, min_size=1, max_size=2, open=False)
        await keys_pool.open()
    producer = EventProducer(settings.kafka, topic_prefix=worker.topic_prefix,
                             keys=DataKeys(keys_pool, load_keyring(settings.keys_path))
                             if keys_pool is not None else None)
    lag_series: list[tuple[float, int]] = []
    board_ms: list[float] = []
    totals = dict.fromkeys(athletes, 0.0)
    assert worker.proc is not None
    cpu_before = _process_memory(worker.proc.pid)[2]
    started = time.perf_counter()
    async def sample_lag() -> None:
        while True:
            lag_series.append((time.perf_counter() - started, await _lag(settings, worker)))
            await asyncio.sleep(LAG_EVERY_S)  # the sampling period

    sampler = asyncio.create_task(sample_lag())
    try:
        with Progress(TextColumn("[bold]streaming[/] {task.description}"), BarColumn(),
                      TimeRemainingColumn(), console=console) as progress:
            task = progress.add_task("", total=seconds)
            next_complete = WARM_UP_S  # the worker's first DB and Redis connections aside
            sent_batches = sent_metrics = 0
            probes: list[asyncio.Task[float | None]] = []
            while (elapsed := time.perf_counter() - started) < seconds:
                # What is due by now (not per tick): a slow tick is made up by the next.
                due_batches = int(elapsed * workouts) - sent_batches
                due_metrics = int(elapsed * workouts / metrics_every) - sent_metrics
                items = (load.samples_events(due_batches)
                         + load.metrics_events(due_metrics, sent_metrics))
                sent_batches += due_batches
                sent_metrics += due_metrics
                await producer.publish(items)
                if elapsed >= next_complete:
                    athlete = athletes[len(probes) % len(athletes)]
                    distance = 1000.0 + len(probes)
                    probes.append(asyncio.create_task(_leaderboard_probe(
                        settings, worker, producer, redis, athlete, distance, totals[athlete])))
                    totals[athlete] += distance
                    next_complete += COMPLETE_EVERY_S
                progress.update(task, completed=elapsed, description=(
                    f"{load.produced / max(elapsed, 1e-9):,.0f} samples/s, lag "
                    f"{lag_series[-1][1] if lag_series else 0:,} records"))
                await asyncio.sleep(TICK_S)  # the pace of the synthetic devices
        sampler.cancel()
        streamed_s = time.perf_counter() - started
        board_ms = [m for m in await asyncio.gather(*probes) if m is not None]
        missed_boards = len(probes) - len(board_ms)
        drain_started = time.perf_counter()
        with console.status("draining the backlog …"):
            while (lag := await _lag(settings, worker)) > 0 and time.perf_counter() - drain_started < 600:
                lag_series.append((time.perf_counter() - started, lag))
                await asyncio.sleep(1.0)  # polling the consumer lag
        drain_s = time.perf_counter() - drain_started
        cpu_s = _process_memory(worker.proc.pid)[2] - cpu_before
        rss, pss, _ = _process_memory(worker.proc.pid)
    finally:
        sampler.cancel()
        await producer.stop()
        if keys_pool is not None:
            await keys_pool.close()
    async with await psycopg.AsyncConnection.connect(dsn) as conn:
        cur = await conn.execute("SELECT count(*), count(DISTINCT (workout_id, seq)) FROM sensor_data")
        stored, distinct = await cur.fetchone()  # type: ignore[misc]
    read_ms = await _read_two_hours(dsn)
    half = [lag for t, lag in lag_series if t <= streamed_s]
    first, second = half[: len(half) // 2], half[len(half) // 2:]
    return {
        "rate_target": rate, "seconds": seconds, "batch": batch, "workouts": workouts,
        "sealed": sealed,
        "metrics_every_s": metrics_every,
        "samples_produced": load.produced, "samples_per_s": load.produced / streamed_s,
        "samples_stored": stored, "samples_distinct": distinct,
        "lag_series": lag_series,
        "lag_max": max(half, default=0),
        "lag_mean_first_half": statistics.fmean(first) if first else 0.0,
        "lag_mean_second_half": statistics.fmean(second) if second else 0.0,
        "drain_s": drain_s,
        "worker_cpu_cores": cpu_s / (time.perf_counter() - started),
        "worker_rss_mib": rss / 2**20, "worker_pss_mib": pss / 2**20,
        "leaderboard_ms": {"p50": _pct(board_ms, 0.5), "p99": _pct(board_ms, 0.99),
                           "max": max(board_ms, default=float("nan")), "count": len(board_ms),
                           "missed": missed_boards},
        "read_2h_minutes_ms": read_ms,
    }


async def _read_two_hours(dsn: str, repeats: int = 50) -> dict[str, float]:
    """ms to read a 2-hour workout's samples downsampled to 1-minute buckets (120 rows)."""
    workout = uuid.uuid4()
    t0 = (int(time.time()) - 3 * 3600) // 60 * 60 * 1000  # on a whole minute: 120 buckets
    batches = [events.SamplesAccepted(
        workout_id=workout, user_id=uuid.uuid4(), sport="run", seq=b * 60,
        samples=[(t0 + (b * 60 + i) * 1000, 45.0 + i * 1e-5, 7.0, 250.0, 140.0, 97.0)
                 for i in range(60)]) for b in range(120)]
    timings = []
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        await samples.write_samples(conn, batches)
        await conn.execute("ANALYZE sensor_data")
        for _ in range(repeats):
            t = time.perf_counter()
            rows = await timeseries.downsampled_samples(conn, workout, 60)
            timings.append((time.perf_counter() - t) * 1000)
            assert len(rows) == 120
    return {"p50": _pct(timings, 0.5), "p99": _pct(timings, 0.99), "count": len(timings)}


def _svg(series: list[tuple[float, int]], streamed_s: float, width: int = 640,
         height: int = 240) -> str:
    """The consumer lag over time as a small SVG line chart."""
    pad = 40
    t_max = max([t for t, _ in series] + [1.0])
    y_max = max([lag for _, lag in series] + [1])
    points = " ".join(f"{pad + t / t_max * (width - 2 * pad):.1f},"
                      f"{height - pad - lag / y_max * (height - 2 * pad):.1f}" for t, lag in series)
    end_x = pad + min(streamed_s, t_max) / t_max * (width - 2 * pad)
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'font-family="sans-serif" font-size="11">'
            f'<rect width="100%" height="100%" fill="white"/>'
            f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" stroke="#888"/>'
            f'<line x1="{pad}" y1="{pad}" x2="{pad}" y2="{height - pad}" stroke="#888"/>'
            f'<line x1="{end_x:.1f}" y1="{pad}" x2="{end_x:.1f}" y2="{height - pad}" '
            f'stroke="#c33" stroke-dasharray="4 3"/>'
            f'<text x="{end_x + 4:.1f}" y="{pad + 10}" fill="#c33">load stops</text>'
            f'<polyline fill="none" stroke="#1565c0" stroke-width="2" points="{points}"/>'
            f'<text x="{pad}" y="{pad - 8}">consumer lag (records), max {y_max:,}</text>'
            f'<text x="{width - pad}" y="{height - pad + 16}" text-anchor="end">'
            f'{t_max:.0f} s</text><text x="{pad}" y="{height - pad + 16}">0 s</text></svg>')


def _markdown(r: dict[str, Any], when: str, svg_name: str) -> str:
    lb, rd = r["leaderboard_ms"], r["read_2h_minutes_ms"]
    exact = r["samples_stored"] == r["samples_produced"] == r["samples_distinct"]
    lines = [
        f"# Stream sinks ({when})", "",
        "| figure | value |", "|---|---|",
        f"| load | {r['samples_per_s']:,.0f} samples/s for {r['seconds']} s "
        f"(target {r['rate_target']:,}; {r['workouts']:,} workouts, batches of {r['batch']}, "
        f"metrics every {r['metrics_every_s']} s; "
        f"{'sealed with data keys' if r.get('sealed') else 'plain events'}) |",
        f"| consumer lag while streaming: max / mean 1st half / mean 2nd half | "
        f"{r['lag_max']:,} / {r['lag_mean_first_half']:,.0f} / {r['lag_mean_second_half']:,.0f} records |",
        f"| backlog drained after the load stopped in | {r['drain_s']:.1f} s |",
        f"| samples produced / stored / distinct | {r['samples_produced']:,} / "
        f"{r['samples_stored']:,} / {r['samples_distinct']:,} ({'exact' if exact else 'MISMATCH'}) |",
        f"| worker CPU / RSS / PSS | {r['worker_cpu_cores']:.2f} cores / "
        f"{r['worker_rss_mib']:.0f} MiB / {r['worker_pss_mib']:.0f} MiB |",
        f"| workout completed → leaderboard in Redis p50 / p99 / max (from {WARM_UP_S:.0f} s on) | "
        f"{lb['p50']:.0f} / "
        f"{lb['p99']:.0f} / {lb['max']:.0f} ms ({lb['count']} completions, {lb['missed']} missed) |",
        f"| 2-hour workout, samples in 1-minute buckets p50 / p99 | {rd['p50']:.1f} / "
        f"{rd['p99']:.1f} ms ({rd['count']} reads) |",
        "", f"![consumer lag]({svg_name})", "",
    ]
    return "\n".join(lines)


def run(settings: Settings, rate: int, seconds: int, batch: int = 5,
        metrics_every: float = 10.0, sealed: bool = False) -> int:
    result = asyncio.run(_run(settings, rate, seconds, batch, metrics_every, sealed))
    when = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    svg_name = f"sinks-lag-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%SZ}.svg"
    (RESULTS / svg_name).write_text(_svg(result["lag_series"], result["seconds"]))
    save_report("sinks", {"when": when, **result}, _markdown(result, when, svg_name))
    exact = result["samples_stored"] == result["samples_produced"]
    return 0 if exact else 1
