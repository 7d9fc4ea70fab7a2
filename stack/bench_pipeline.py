"""`stride bench`: the whole pipeline on this machine, device → ack → PostgreSQL, with coaches.

One run, on the running local stack, in four parts:
1. **Steady load.** `--workouts` athletes (bench accounts `bench-live-<run>-…@stride.test`,
   in groups of GROUP athletes with a consenting coach each) stream a workout at `--rate`
   samples a second, a batch a second, for `--duration` s through a gateway process of the
   bench's own started with `--placement`. Per batch: device send → ack; per update a coach
   receives: device send → coach receive; per workout: start → its ack. Every second: acked
   samples and latency percentiles; every 2 s: the stream worker's consumer lag; CPU and
   memory of each component. Afterwards, PostgreSQL must hold every acked sample once.
2. **Ceiling of a bare WebSocket echo server** (stack/echo_server.py) and **the pipeline's
   own ceiling**: the same number of connections send the same 50-sample frames closed loop
   (the next frame when the ack arrives) for a few seconds, to the echo server and then
   through the gateway; the ratio of the two makes results comparable across machines.
3. With `--find-max`: the number of concurrent workouts held at 1 Hz with p99 ack latency
   under 250 ms, doubling from 100 (dedicated: 25) in 15-s steps. With `--profile`: py-spy samples the bench's
   gateway, the stream worker and the workout hosts during the steady run, and the report
   lists the functions their CPU goes to.
4. The report: bench/results/pipeline-<placement>-<time>.{json,md,png} (+ the raw profiles).

`--quick` is a smoke run of about a minute (no thresholds).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import msgspec
import psycopg
import websockets
from rich.console import Console
from rich.progress import Progress

from gateway import protocol
from gateway.client import DeviceClient, DeviceError
from stack.bench_actors import RESULTS, _pct, _process_memory, memory_per_workout
from stack.bench_live import Athlete, _world, watch_group
from stack.processes import ProcessTable, component_members, private_log
from stack.settings import REPO_ROOT, Settings, raised_limits
from stack.worker_process import free_port
from storage import keyspace
from streams import topics
from streams.lag import consumer_lag
from streams.retry import wait_until

console = Console()
GROUP = 50
"""Athletes per coach."""
ACK_P99_LIMIT_MS = 250.0
COACH_P99_AT_MAX_MS = 1000.0
"""Issue 16: at the most the node sustains, coaches' p99 stays within a second (and flat)."""
SATURATION_FRAME = 50
"""Samples per frame in the ceiling runs."""
WARM_POOL_MAX = 100
"""The most spare hosts the bench's gateway keeps for the dedicated placement (~90 MiB each)."""
COMPONENTS = ("redis", "postgres", "kafka", "ray", "worker", "gateway")


class Options(msgspec.Struct, frozen=True, kw_only=True):
    workouts: int = 200
    rate: float = 1.0
    """Samples a second per workout (one batch a second)."""
    duration: int = 60
    placement: str = "sharded"
    coaches: int = 0
    """Coaches watching, each a group of its own (0: one per GROUP athletes)."""
    ceiling_s: int = 10
    find_max: bool = False
    profile: bool = False
    """Sample the busiest processes with py-spy during the steady run."""

    @classmethod
    def quick(cls, placement: str) -> Options:
        return cls(workouts=40, duration=15, placement=placement, ceiling_s=4)


class _Gateway:
    """A gateway process of the bench's own, with the placement under test."""

    def __init__(self, settings: Settings, placement: str, warm: int = 0) -> None:
        self.port = free_port()
        env = {**os.environ, **raised_limits(), "STRIDE_GATEWAY_PORT": str(self.port),
               "STRIDE_PLACEMENT": placement, "STRIDE_WARM_HOSTS": str(warm)}
        log = private_log(settings.home_path, f"bench-gateway-{self.port}").open("ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "stack.cli", "gateway", "run"], env=env,
                                     cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        log.close()  # the child has its own descriptor
        # The stack's TLS setting reaches this gateway too: HTTPS/WSS when it is on.
        http, ws = ("https", "wss") if settings.tls else ("http", "ws")
        url = f"{http}://127.0.0.1:{self.port}/healthz"

        def ready() -> bool:
            assert self.proc.poll() is None, "the bench's gateway exited"
            try:
                return httpx.get(url, timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        if not wait_until(ready, 60, interval_s=0.2):
            self.stop()
            raise RuntimeError("the bench's gateway did not start within 60 s")
        self.ws_url = f"{ws}://127.0.0.1:{self.port}"
        if warm:  # the dedicated placement's starts are measured with its pool full
            import redis

            with redis.Redis.from_url(settings.redis_url) as client:
                from actors.placement import spares_key
                from stack.wiring import actor_config

                spares = spares_key(actor_config(settings))
                if not wait_until(lambda: client.llen(spares) >= warm, 300, interval_s=1.0):
                    console.print(f"[yellow]the warm pool holds {client.llen(spares)} of {warm} hosts[/]")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)


class _Usage:
    """CPU seconds and memory of each stack component (all processes of its session)."""

    def __init__(self, settings: Settings, gateway_session: int) -> None:
        table = ProcessTable(settings.home_path)
        self.sessions: dict[str, tuple[int, int]] = {"bench gateway": (gateway_session, 0)}
        for name in COMPONENTS:
            rec = table.record(name)
            if rec is not None:
                self.sessions[name] = (rec.pid, rec.start_ticks)

    def _pids(self) -> dict[str, list[int]]:
        out = {name: component_members(pid, ticks) for name, (pid, ticks) in self.sessions.items()}
        out["bench client"] = [os.getpid()]
        return out

    def sample(self) -> dict[str, tuple[float, int]]:
        """name → (CPU seconds so far, PSS bytes now)."""
        out = {}
        for name, pids in self._pids().items():
            cpu, pss = 0.0, 0
            for pid in pids:
                try:
                    _, p, c = _process_memory(pid)
                except (OSError, IndexError):
                    continue
                cpu, pss = cpu + c, pss + p
            out[name] = (cpu, pss)
        return out


class _Series:
    """Per-second figures of the steady run."""

    def __init__(self) -> None:
        self.acks: list[tuple[float, float, int]] = []
        """(time since start, latency ms, samples) per acked batch."""
        self.coach: list[tuple[float, float]] = []
        self.lag: list[tuple[float, int]] = []

    def per_second(self, seconds: int) -> list[dict[str, float]]:
        acks: list[list[tuple[float, float, int]]] = [[] for _ in range(seconds)]
        coach: list[list[float]] = [[] for _ in range(seconds)]
        for a in self.acks:
            if 0 <= a[0] < seconds:
                acks[int(a[0])].append(a)
        for at, latency in self.coach:
            if 0 <= at < seconds:
                coach[int(at)].append(latency)
        return [{"t": s, "samples_per_s": float(sum(a[2] for a in acks[s])),
                 "ack_p99_ms": _pct([a[1] for a in acks[s]], 0.99),
                 "coach_p99_ms": _pct(coach[s], 0.99)} for s in range(seconds)]


def _batch(seq: int, n: int, t0: int) -> list[tuple[int, float, float, float | None, float, float]]:
    return [(t0 + 1000 * (seq + i), 45.0 + 2.5e-5 * (seq + i), 7.0, None, 140.0 + (seq + i) % 30, 97.0)
            for i in range(n)]


def _percentiles(values: list[float]) -> dict[str, float]:
    return {"p50": _pct(values, 0.5), "p95": _pct(values, 0.95), "p99": _pct(values, 0.99),
            "max": max(values, default=float("nan")), "n": len(values)}


async def _steady(settings: Settings, gateway: _Gateway, workouts: int, rate: float, seconds: int,
                  progress: Progress, usage: _Usage | None = None,
                  on_steady: Callable[[], None] | None = None, coaches: int = 0) -> dict[str, Any]:
    """`workouts` devices at `rate` samples/s for `seconds` after a 3-s warm-up; `coaches`
    coaches (default one per GROUP athletes) each watch a group of their own."""
    run_id = uuid.uuid4().hex[:8]
    groups = coaches or max(1, -(-workouts // GROUP))
    world = await _world(settings, run_id, groups, max(1, -(-workouts // groups)))
    athletes = [a for _, _, group in world for a in group][:workouts]
    by_workout = {a.workout: a for a in athletes}
    series, starts, errors = _Series(), [], {}  # type: ignore[var-annotated]
    per_batch = max(1, round(rate))
    t0 = int(time.time() * 1000) - 2 * 3600 * 1000
    began = [0.0]
    measuring = [False]
    stop = asyncio.Event()

    def seen(now: float, latency_ms: float) -> None:
        if measuring[0]:
            series.coach.append((now - began[0], latency_ms))

    async def watch(token: str, group: uuid.UUID) -> None:
        await watch_group(gateway.ws_url, token, group, by_workout, seen, stop)

    async def open_one(athlete: Athlete, gate: asyncio.Semaphore, task: Any) -> bool:
        """Connect and start; False (counted in `errors`) if the stack did not answer in time."""
        async with gate:
            try:
                athlete.client = DeviceClient(gateway.ws_url, athlete.token, subprotocol=protocol.MSGPACK)
                await athlete.client.__aenter__()
                sent = time.monotonic()
                await athlete.client.start(athlete.workout, "run", t0)
                starts.append((time.monotonic() - sent) * 1000)
                return True
            except (DeviceError, TimeoutError, OSError, websockets.ConnectionClosed) as exc:
                key = f"start: {type(exc).__name__}"
                errors[key] = errors.get(key, 0) + 1
                if athlete.client is not None:
                    await athlete.client.close()
                return False
            finally:
                progress.advance(task)

    async def stream(athlete: Athlete, offset: float, until: float) -> None:
        client = athlete.client
        assert client is not None
        await asyncio.sleep(offset)  # devices spread over the second
        while time.monotonic() < until:
            tick = time.monotonic()
            athlete.sent[athlete.seq + per_batch - 1] = tick
            try:
                batch = _batch(athlete.seq, per_batch, t0)
                ack = await client.send_samples(athlete.workout, athlete.seq, batch)  # type: ignore[arg-type]
                done = time.monotonic()
                if measuring[0]:
                    series.acks.append((done - began[0], (done - tick) * 1000, ack.seq + 1 - athlete.seq))
                athlete.seq = ack.seq + 1
            except DeviceError as exc:
                errors[exc.error.code] = errors.get(exc.error.code, 0) + 1
            except (OSError, websockets.ConnectionClosed) as exc:
                errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                return
            await asyncio.sleep(max(0.0, tick + 1.0 - time.monotonic()))  # one batch a second

    async def sample_lag() -> None:
        while not stop.is_set():
            try:
                lag = await consumer_lag(settings.kafka, settings.worker_group,
                                         [settings.topic_prefix + t for t in topics.WORKER_CONSUMES])
                if measuring[0]:
                    series.lag.append((time.monotonic() - began[0], sum(lag.values())))
            except Exception as exc:  # the lag is a figure; a failed probe is left out
                console.print(f"[yellow]lag probe failed: {exc!r}[/]")
            await asyncio.sleep(2.0)  # one probe every 2 s

    opening = progress.add_task(f"starting {len(athletes)} workouts", total=len(athletes))
    gate = asyncio.Semaphore(50)
    opened = await asyncio.gather(*(open_one(a, gate, opening) for a in athletes))
    athletes = [a for a, ok in zip(athletes, opened, strict=True) if ok]
    by_workout = {a.workout: a for a in athletes}
    if not athletes:
        raise RuntimeError(f"no workout could start: {errors}")
    watchers = [asyncio.create_task(watch(token, group)) for token, group, _ in world]
    lagging = asyncio.create_task(sample_lag())
    warm_up = 3.0
    until = time.monotonic() + warm_up + seconds
    streams = [asyncio.create_task(stream(a, i / len(athletes), until)) for i, a in enumerate(athletes)]
    steady = progress.add_task(f"{len(athletes)} workouts at {rate:g} Hz", total=seconds)
    await asyncio.sleep(warm_up)  # the first batches are not measured
    measuring[0], began[0] = True, time.monotonic()
    if on_steady is not None:
        on_steady()
    before = usage.sample() if usage else {}
    live_before = await asyncio.to_thread(_live_stats, settings)
    while time.monotonic() < until:
        progress.update(steady, completed=time.monotonic() - began[0])
        await asyncio.sleep(0.5)  # refreshing the progress bar
    elapsed = time.monotonic() - began[0]
    after = usage.sample() if usage else {}
    live_after = await asyncio.to_thread(_live_stats, settings)
    await asyncio.gather(*streams, return_exceptions=True)
    await asyncio.sleep(2.0)  # the last updates on their way to the coaches
    measuring[0] = False
    stop.set()
    await asyncio.gather(*watchers, lagging, return_exceptions=True)
    acked = {a.workout: a.seq for a in athletes}
    for a in athletes:
        assert a.client is not None
        try:
            await asyncio.wait_for(a.client.finish(a.workout, int(time.time() * 1000)), 30)
        except (DeviceError, TimeoutError, OSError, websockets.ConnectionClosed):
            pass
        await a.client.close()
    acks = [a[1] for a in series.acks]
    used = {name: {"cores": (after[name][0] - before[name][0]) / elapsed, "pss_mib": after[name][1] / 2**20}
            for name in after if name in before}
    stack_cores = sum(u["cores"] for name, u in used.items() if name != "bench client")
    acked_per_s = sum(a[2] for a in series.acks) / elapsed
    per_second = series.per_second(seconds)
    return {
        "workouts": len(athletes), "coaches": len(world), "rate_hz": rate, "seconds": seconds,
        "samples_acked_per_s": acked_per_s,
        "ack_ms": _percentiles(acks), "coach_ms": _percentiles([c[1] for c in series.coach]),
        "start_ms": _percentiles(starts), "errors": errors,
        "lag_max": max((n for _, n in series.lag), default=None),
        "lag_last": series.lag[-1][1] if series.lag else None,
        "per_second": per_second, "lag": series.lag,
        "lag_grows": _grows([(t, float(n)) for t, n in series.lag], slack=max(500.0, acked_per_s)),
        "coach_p99_thirds_ms": _thirds([(r["t"], r["coach_p99_ms"]) for r in per_second]),
        "live": {k: live_after.get(k, 0) - live_before.get(k, 0) for k in ("published", "dropped", "stale")},
        "usage": used, "stack_cores": stack_cores,
        "cpu_us_per_sample": stack_cores * 1e6 / acked_per_s if acked_per_s else float("nan"),
        "acked": {str(w): n for w, n in acked.items()},
    }


def _trim_pool(settings: Settings) -> None:
    """Back to the stack's own pool of spare dedicated hosts once the bench's gateway is gone."""
    import ray

    from actors.placement import DedicatedPlacement
    from stack.wiring import actor_config

    if not ray.is_initialized():
        ray.init(address=settings.ray_address, namespace=settings.ray_namespace, log_to_driver=False)
    placement = DedicatedPlacement(actor_config(settings), settings.ray_namespace)
    stopped = placement.trim(settings.warm_hosts)
    placement.stop()
    console.print(f"stopped {stopped} spare hosts the bench's gateway had started")


def _live_stats(settings: Settings) -> dict[str, int]:
    """The workout hosts' live-path counters (actors/live_publish.py), summed in Redis."""
    import redis

    client = redis.Redis.from_url(settings.redis_url)
    try:
        raw = client.hgetall(keyspace.live_stats(settings.redis_prefix))
    finally:
        client.close()
    return {k.decode(): int(v) for k, v in raw.items()}


def _thirds(points: list[tuple[float, float]]) -> list[float]:
    """Medians of a series' first, middle and last third (a trend, robust to one bad second)."""
    values = [v for _, v in points if v == v]  # NaN: a second without a figure
    if len(values) < 3:
        return [float("nan")] * 3
    k = len(values) // 3
    return [_pct(values[:k], 0.5), _pct(values[k:-k], 0.5), _pct(values[-k:], 0.5)]


def _grows(points: list[tuple[float, float]], slack: float) -> bool:
    """A series grows when its last third sits above its first third by more than `slack`."""
    first, _, last = _thirds(points)
    return bool(last > first + slack)


def _stored(settings: Settings, acked: dict[str, int], stalled_s: float = 60) -> dict[str, Any]:
    """Wait until PostgreSQL holds every acked sample, however long the stream worker's
    backlog takes to drain, but give up once `stalled_s` pass without a new row; then count
    the missing and doubled ones."""
    ids = list(acked)

    def counts() -> tuple[int, int]:
        with psycopg.connect(settings.pg_dsn) as conn:
            row = conn.execute("SELECT count(*), count(DISTINCT (workout_id, seq)) FROM sensor_data"
                               " WHERE workout_id = ANY(%s::uuid[])", (ids,)).fetchone()
        assert row is not None
        return int(row[0]), int(row[1])

    want = sum(acked.values())
    began = time.monotonic()
    last = (-1, time.monotonic())  # (distinct rows, when that count was first seen)

    def drained_or_stalled() -> bool:
        nonlocal last
        distinct = counts()[1]
        if distinct != last[0]:
            last = (distinct, time.monotonic())
        return distinct >= want or time.monotonic() - last[1] > stalled_s

    wait_until(drained_or_stalled, 24 * 3600, interval_s=1.0)  # gives up by itself when stalled
    rows, distinct = counts()
    return {"acked": want, "stored": distinct, "lost": max(0, want - distinct),
            "duplicated": rows - distinct, "drain_s": time.monotonic() - began}


async def _closed_loop(url: str, connections: int, seconds: float, token: str | None,
                       workouts: list[uuid.UUID] | None) -> float:
    """Samples a second through `url` with `connections` sending 50-sample frames closed loop."""
    done = [0]
    t0 = int(time.time() * 1000) - 6 * 3600 * 1000
    deadline = [0.0]

    async def one(k: int) -> None:
        if workouts is None:  # the echo server: the same bytes a device would send
            codec = msgspec.msgpack.Encoder()
            async with websockets.connect(url, subprotocols=[protocol.MSGPACK]) as ws:  # type: ignore[list-item]
                seq = 0
                while time.monotonic() < deadline[0]:
                    frame = protocol.Samples(workout_id=uuid.uuid4(), seq=seq,
                                             samples=_batch(seq, SATURATION_FRAME, t0))  # type: ignore[arg-type]
                    await ws.send(codec.encode(frame))
                    await ws.recv()
                    seq += SATURATION_FRAME
                    done[0] += SATURATION_FRAME
            return
        assert token is not None
        wid = workouts[k]
        async with DeviceClient(url, token, subprotocol=protocol.MSGPACK) as client:
            await client.start(wid, "run", t0)
            seq = 0
            while time.monotonic() < deadline[0]:
                ack = await client.send_samples(wid, seq, _batch(seq, SATURATION_FRAME, t0))  # type: ignore[arg-type]
                done[0] += ack.seq + 1 - seq
                seq = ack.seq + 1
            await client.finish(wid, t0 + 1000 * seq)

    deadline[0] = time.monotonic() + seconds
    started = time.monotonic()
    await asyncio.gather(*(one(k) for k in range(connections)), return_exceptions=True)
    return done[0] / (time.monotonic() - started)


def _start_echo(port: int, tls: list[str]) -> subprocess.Popen[str]:
    echo = subprocess.Popen([sys.executable, "-m", "stack.echo_server", str(port), *tls], cwd=REPO_ROOT,
                            stdout=subprocess.PIPE, text=True, start_new_session=True)
    assert echo.stdout is not None and echo.stdout.readline().strip() == "ready", "echo server failed"
    return echo


async def _ceilings(settings: Settings, gateway: _Gateway, connections: int, seconds: int) -> dict[str, Any]:
    port = free_port()
    # Like for like: the echo speaks TLS when the gateway does.
    files = settings.tls_files("gateway")
    tls = [str(files.cert), str(files.key)] if settings.tls else []
    echo = await asyncio.to_thread(_start_echo, port, tls)
    try:
        echo_rate = await _closed_loop(f"{'wss' if tls else 'ws'}://127.0.0.1:{port}", connections,
                                       seconds, None, None)
    finally:
        os.killpg(echo.pid, signal.SIGTERM)
        await asyncio.to_thread(echo.wait, 10)
    run_id = uuid.uuid4().hex[:8]
    world = await _world(settings, run_id, max(1, -(-connections // GROUP)), GROUP)
    tokens = [a.token for _, _, g in world for a in g][:connections]
    # One account per connection: the gateway caps connections per account.
    rates = await asyncio.gather(*(
        _closed_loop(gateway.ws_url, 1, seconds, tokens[k], [uuid.uuid4()]) for k in range(connections)))
    pipeline_rate = sum(rates)
    return {"connections": connections, "frame_samples": SATURATION_FRAME, "seconds": seconds,
            "echo_samples_per_s": echo_rate, "pipeline_samples_per_s": pipeline_rate,
            "ratio": pipeline_rate / echo_rate if echo_rate else float("nan")}


class _Profiler:
    """py-spy on the bench's gateway, the stream worker and the workout hosts, for the
    steady run: where their CPU goes, as the share of samples in each function (leaf)."""

    def __init__(self, settings: Settings, gateway_pid: int, seconds: int, stem: Path) -> None:
        targets = {"gateway": gateway_pid}
        worker = ProcessTable(settings.home_path).running_pid("worker")
        if worker is not None:
            targets["worker"] = worker
        for pid_dir in Path("/proc").iterdir():
            if pid_dir.name.isdigit():
                try:
                    cmd = (pid_dir / "cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
                except OSError:
                    continue
                if cmd.startswith("ray::WorkoutHost"):
                    targets[f"workout host {pid_dir.name}"] = int(pid_dir.name)
        spy = Path(sys.executable).with_name("py-spy")
        self.files = {name: stem.with_name(f"{stem.name}-{name.replace(' ', '-')}.txt")
                      for name in targets}
        self.procs = [subprocess.Popen([str(spy), "record", "-p", str(pid), "-d", str(seconds),
                                        "-r", "50", "-f", "raw", "--nonblocking",
                                        "-o", str(self.files[name])],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                      for name, pid in targets.items()]

    def top(self, n: int = 6) -> dict[str, list[tuple[str, float]]]:
        """Per process, the packages its samples were in (innermost frame), largest first."""
        for proc in self.procs:
            proc.wait(120)
        out = {}
        for name, path in self.files.items():
            shares: dict[str, int] = {}
            total = 0
            if path.exists():
                for line in path.read_text().splitlines():
                    stack, _, count = line.rpartition(" ")
                    where = _package_of(stack.rsplit(";", 1)[-1])
                    shares[where] = shares.get(where, 0) + int(count)
                    total += int(count)
            out[name] = [(where, k / total) for where, k in
                         sorted(shares.items(), key=lambda kv: -kv[1])[:n]] if total else []
        return out


OWN_CODE = ("actors", "gateway", "models", "serve", "stack", "storage", "streams")


def _package_of(frame: str) -> str:
    """Where a py-spy frame is: 'send (websockets/protocol.py:12)' → 'websockets',
    'select (selectors.py:468)' → 'selectors', Stride's own code one level deeper:
    'fold (actors/metrics/distance.py:40)' → 'actors/metrics/distance'."""
    path = frame.rpartition("(")[2].rpartition(":")[0]
    for marker in ("site-packages/", "/lib/python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    if path.startswith(str(REPO_ROOT)):
        path = path[len(str(REPO_ROOT)) + 1:]
    parts = path.removesuffix(".py").split("/")
    if parts[0] in OWN_CODE:
        return "/".join(parts[:3])
    return parts[0] or "native"


FIND_MAX_STEP_S = 20


async def _step(settings: Settings, gateway: _Gateway, progress: Progress, workouts: int) -> dict[str, Any]:
    """One load of the search, judged: held when ack p99 ≤ 250 ms, coach p99 ≤ 1 s, no device
    error, and the consumer lag not growing."""
    try:
        run = await _steady(settings, gateway, workouts, 1.0, FIND_MAX_STEP_S, progress)
    except RuntimeError as exc:  # not one workout started
        return {"workouts": workouts, "ack_p99_ms": float("nan"), "coach_p99_ms": float("nan"),
                "lag_grows": None, "errors": str(exc), "held": False}
    ack, coach = run["ack_ms"]["p99"], run["coach_ms"]["p99"]
    held = (ack <= ACK_P99_LIMIT_MS and coach <= COACH_P99_AT_MAX_MS and not run["errors"]
            and not run["lag_grows"])
    return {"workouts": workouts, "ack_p99_ms": ack, "coach_p99_ms": coach, "lag_grows": run["lag_grows"],
            "errors": run["errors"], "held": held}


async def _find_max(settings: Settings, gateway: _Gateway, progress: Progress,
                    first: int) -> dict[str, Any]:
    """Doubling from `first` until a load is not held, then one step halfway back."""
    steps: list[dict[str, Any]] = []
    held, failed = 0, None
    workouts = first
    while workouts <= 12_800:
        steps.append(await _step(settings, gateway, progress, workouts))
        if not steps[-1]["held"]:
            failed = workouts
            break
        held, workouts = workouts, workouts * 2
    if held and failed is not None:
        middle = (held + failed) // 2
        steps.append(await _step(settings, gateway, progress, middle))
        if steps[-1]["held"]:
            held = middle
    return {"held_at_1hz": held, "steps": steps}


async def _run(settings: Settings, options: Options, stem: Path) -> dict[str, Any]:
    with console.status(f"starting a gateway with the {options.placement} placement …"):
        # Dedicated: spare hosts for every start of the run (STRIDE_WARM_HOSTS), so a start
        # is measured as a warm pool serves it; the search for the most workouts starts more.
        warm = min(options.workouts, WARM_POOL_MAX) if options.placement == "dedicated" else 0
        gateway = await asyncio.to_thread(_Gateway, settings, options.placement, warm)
    try:
        usage = _Usage(settings, gateway.proc.pid)
        profilers: list[_Profiler] = []

        def profile_now() -> None:  # the workout hosts exist once the workouts run
            if options.profile:
                profilers.append(_Profiler(settings, gateway.proc.pid, options.duration, stem))

        with Progress(console=console, transient=True) as progress:
            steady = await _steady(settings, gateway, options.workouts, options.rate, options.duration,
                                   progress, usage, profile_now, options.coaches)
        profile = await asyncio.to_thread(profilers[0].top) if profilers else None
        with console.status("checking that PostgreSQL holds every acked sample once …"):
            storage = await asyncio.to_thread(_stored, settings, steady.pop("acked"))
        with console.status(f"ceilings: bare WebSocket echo and the pipeline, {options.ceiling_s} s each …"):
            ceilings = await _ceilings(settings, gateway, min(options.workouts, 50), options.ceiling_s)
        found = None
        if options.find_max:
            with Progress(console=console, transient=True) as progress:
                # A dedicated actor is a process of its own: start lower (its target is 200).
                found = await _find_max(settings, gateway, progress,
                                        first=25 if options.placement == "dedicated" else 100)
    finally:
        await asyncio.to_thread(gateway.stop)
        if warm:
            await asyncio.to_thread(_trim_pool, settings)
    memory = await asyncio.to_thread(memory_per_workout, 200)
    return {"when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "options": msgspec.to_builtins(options), "steady": steady, "storage": storage,
            "ceilings": ceilings, "max_workouts": found, "memory_per_workout": memory,
            "profile": profile, "tls": settings.tls}


TLS_FIGURES = (
    ("samples/s end to end", lambda r: r["steady"]["samples_acked_per_s"], "", True),
    ("device → ack p50", lambda r: r["steady"]["ack_ms"]["p50"], " ms", False),
    ("device → ack p99", lambda r: r["steady"]["ack_ms"]["p99"], " ms", False),
    ("device → coach p99", lambda r: r["steady"]["coach_ms"]["p99"], " ms", False),
    ("workout start → ack p99", lambda r: r["steady"]["start_ms"]["p99"], " ms", False),
    ("whole-stack CPU per sample", lambda r: r["steady"]["cpu_us_per_sample"], " µs", False),
    ("bare WebSocket echo ceiling, samples/s", lambda r: r["ceilings"]["echo_samples_per_s"], "",
     True),
    ("pipeline ceiling, samples/s", lambda r: r["ceilings"]["pipeline_samples_per_s"], "", True),
)
"""What the TLS section sets side by side (name, figure, unit, higher is better)."""


def other_mode(report: dict[str, Any], folder: Path) -> dict[str, Any] | None:
    """The newest report of the other TLS mode with the same load (placement, workouts, rate,
    duration, coaches), to set this one against: the cost of TLS is the difference."""
    same = ("placement", "workouts", "rate", "duration", "coaches")
    best = None
    for path in sorted(folder.glob(f"pipeline-{report['options']['placement']}-*.json")):
        try:
            other = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if other.get("tls", False) != report["tls"] and all(
                other["options"].get(k) == report["options"].get(k) for k in same):
            best = other  # sorted by time: the last one is the newest
    return best


def _tls_section(r: dict[str, Any]) -> list[str]:
    mode = "on" if r["tls"] else "off"
    rows = ["", f"TLS: {mode} (STRIDE_TLS; mutual TLS on every hop inside, HTTPS/WSS at the "
            "gateway, and the echo server speaks TLS too when it is on)."]
    other = r.get("tls_compared")
    if other is None:
        rows.append(f"No run of this load with TLS {'off' if r['tls'] else 'on'} to compare with: "
                    f"restart the stack with STRIDE_TLS={'off' if r['tls'] else 'on'} and run the "
                    "same bench, and its report sets the two side by side.")
        return rows
    plain, tls = (other, r) if r["tls"] else (r, other)
    rows += ["", f"Cost of TLS (against the plain run of {plain['when']} / TLS run of "
             f"{tls['when']}, same load):", "",
             "| figure | plain | TLS | cost |", "|---|---|---|---|"]
    for name, figure, unit, higher in TLS_FIGURES:
        try:
            a, b = float(figure(plain)), float(figure(tls))
        except (KeyError, TypeError):
            continue
        change = (b - a) / a if a else float("nan")
        cost = -change if higher else change
        rows.append(f"| {name} | {a:,.0f}{unit} | {b:,.0f}{unit} | {cost:+.0%} |")
    return rows


def _plot(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = report["steady"]["per_second"]
    t = [r["t"] for r in rows]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 6), sharex=True)
    top.plot(t, [r["samples_per_s"] for r in rows], color="tab:blue")
    top.set_ylabel("acked samples/s")
    lag = report["steady"]["lag"]
    if lag:
        right = top.twinx()
        right.plot([x for x, _ in lag], [n for _, n in lag], color="tab:gray", linestyle="--")
        right.set_ylabel("consumer lag (records)", color="tab:gray")
    bottom.plot(t, [r["ack_p99_ms"] for r in rows], label="device → ack p99")
    bottom.plot(t, [r["coach_p99_ms"] for r in rows], label="device → coach p99")
    bottom.axhline(ACK_P99_LIMIT_MS, color="tab:red", linewidth=0.8, linestyle=":")
    bottom.set_ylabel("ms")
    bottom.set_xlabel("seconds into the steady run")
    bottom.legend(loc="upper left")
    s = report["steady"]
    fig.suptitle(f"{s['workouts']} workouts at {s['rate_hz']:g} Hz, {report['options']['placement']} "
                 f"placement ({report['when']})")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


class Target(msgspec.Struct, frozen=True):
    what: str
    measured: float
    target: float
    unit: str
    higher_is_better: bool
    judged: str
    """Empty when this run is the load the target is stated at; else why it is not judged."""
    before: str
    """The figure the issue measured before the work on it (issue 16)."""


def _flat(thirds: list[float]) -> bool:
    first, _, last = thirds
    return bool(last <= 1.5 * first + 50)


def _targets(r: dict[str, Any]) -> list[Target]:
    """Issue 16's targets on this 2-core node, each with the figure before it and whether this
    run is the load it is stated at."""
    s, c, o = r["steady"], r["ceilings"], r["options"]
    one_hz = s["rate_hz"] == 1
    rows = [
        Target("device → coach p99 at 400 workouts and 100 coaches", s["coach_ms"]["p99"], 250.0, " ms",
               False, "" if (s["workouts"] >= 400 and s["coaches"] >= 100 and one_hz)
               else f"{s['workouts']} workouts and {s['coaches']} coaches ran", "40,000 ms"),
        Target("whole-stack CPU per 1 Hz sample", s["cpu_us_per_sample"], 800.0, " µs", False,
               "" if one_hz else f"{s['rate_hz']:g} Hz ran", "≈ 4,500 µs (3,400 µs re-measured)"),
        Target("pipeline ceiling, % of the bare WebSocket echo", 100 * c["ratio"], 35.0, " %", True, "",
               "19 %"),
    ]
    if s["seconds"] >= 600 and one_hz:
        flat = _flat(s["coach_p99_thirds_ms"])
        rows.append(Target(f"device → coach p99 over {s['seconds']} s at {s['workouts']:,} workouts "
                           f"({'flat' if flat else 'growing'})",
                           s["coach_ms"]["p99"] if flat else float("inf"), 1000.0, " ms", False, "",
                           "growing without bound"))
    if o["placement"] == "dedicated":
        rows.append(Target("dedicated start → first ack p99", s["start_ms"]["p99"], 200.0, " ms", False, "",
                           "1,400 ms"))
    if r["max_workouts"] and o["placement"] == "sharded":
        rows.append(Target("1 Hz workouts held (ack p99 ≤ 250 ms, coach p99 ≤ 1 s, lag flat)",
                           float(r["max_workouts"]["held_at_1hz"]), 2000.0, "", True, "", "fewer than 400"))
    return rows


def _markdown(r: dict[str, Any], png: str) -> str:
    s, st, c = r["steady"], r["storage"], r["ceilings"]

    def lat(x: dict[str, float]) -> str:
        return f"{x['p50']:.0f} / {x['p95']:.0f} / {x['p99']:.0f} ms (n = {x['n']:,})"

    rows = [
        f"# Stride pipeline bench ({r['when']})", "",
        f"{s['workouts']:,} workouts at {s['rate_hz']:g} samples/s each, {s['coaches']} coaches, "
        f"{s['seconds']} s, {r['options']['placement']} placement.", "",
        "| figure | value |", "|---|---|",
        f"| samples/s end to end (acked, then found in PostgreSQL) | {s['samples_acked_per_s']:,.0f} |",
        f"| acked / stored / lost / duplicated | {st['acked']:,} / {st['stored']:,} / {st['lost']} / "
        f"{st['duplicated']} |",
        f"| all of it in PostgreSQL, after the load stopped | {st['drain_s']:.0f} s |",
        f"| device → ack p50 / p95 / p99 | {lat(s['ack_ms'])} |",
        f"| device → coach p50 / p95 / p99 | {lat(s['coach_ms'])} |",
        f"| workout start → ack p50 / p95 / p99 | {lat(s['start_ms'])} |",
        f"| consumer lag max / at the end | {s['lag_max']} / {s['lag_last']} records "
        f"({'growing' if s['lag_grows'] else 'not growing'}) |",
        "| device → coach p99, medians of the run's thirds | "
        + " / ".join(f"{x:,.0f}" for x in s["coach_p99_thirds_ms"]) + " ms |",
        f"| live updates published / dropped as stale (newest wins) / refused as older | "
        f"{s['live']['published']:,} / {s['live']['dropped']:,} / {s['live']['stale']:,} |",
        f"| whole-stack CPU (every component's processes, not the load client) | {s['stack_cores']:.2f} "
        f"cores: {s['cpu_us_per_sample']:,.0f} µs per sample |",
        f"| device errors | {s['errors'] or 'none'} |",
        f"| bare WebSocket echo ceiling ({c['connections']} connections, {c['frame_samples']}-sample "
        f"frames) | {c['echo_samples_per_s']:,.0f} samples/s |",
        f"| pipeline ceiling, same load | {c['pipeline_samples_per_s']:,.0f} samples/s "
        f"({c['ratio']:.0%} of the echo) |",
        f"| memory per workout (actor state, measured in process) | "
        f"{r['memory_per_workout'].get('bytes_per_workout', float('nan')) / 1024:.1f} KiB |",
    ]
    if r["max_workouts"]:
        m = r["max_workouts"]
        rows.append(f"| concurrent workouts held at 1 Hz (ack p99 ≤ {ACK_P99_LIMIT_MS:.0f} ms, coach p99 ≤ "
                    f"{COACH_P99_AT_MAX_MS:.0f} ms, lag flat) | {m['held_at_1hz']:,} (steps: " + ", ".join(
                        f"{x['workouts']}: ack {x['ack_p99_ms']:.0f} / coach {x['coach_p99_ms']:.0f} ms"
                        f"{', lag grew' if x['lag_grows'] else ''}{'' if x['held'] else ' ✗'}"
                        for x in m["steps"]) + ") |")
    rows += ["", "Targets (issue 16, this 2-core machine):", "",
             "| target | before | measured | verdict |", "|---|---|---|---|"]
    for t in _targets(r):
        met = t.measured >= t.target if t.higher_is_better else t.measured <= t.target
        verdict = t.judged and f"not judged: {t.judged}" or (
            "met" if met else f"missed by {abs(t.measured - t.target):,.0f}{t.unit} "
                              f"({t.measured / t.target:.1f}× the target)")
        rows.append(f"| {t.what} {'≥' if t.higher_is_better else '≤'} {t.target:,.0f}{t.unit} | {t.before} | "
                    f"{t.measured:,.0f}{t.unit} | {verdict} |")
    rows += _tls_section(r)
    rows += ["", "| component | CPU (cores) | memory (PSS) |", "|---|---|---|"]
    for name, u in sorted(s["usage"].items(), key=lambda kv: -kv[1]["cores"]):
        rows.append(f"| {name} | {u['cores']:.2f} | {u['pss_mib']:.0f} MiB |")
    if r.get("profile"):
        rows += ["", "Where the CPU goes (py-spy: share of each process's samples by the package of "
                 "the innermost frame):", ""]
        for name, top in r["profile"].items():
            rows.append(f"- {name}: " + ("; ".join(f"{leaf} {share:.0%}" for leaf, share in top)
                                         or "no samples"))
    rows += ["", f"![throughput and latency over time]({png})"]
    return "\n".join(rows) + "\n"


def run(settings: Settings, options: Options) -> int:
    RESULTS.mkdir(parents=True, exist_ok=True)
    stem = RESULTS / f"pipeline-{options.placement}-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%SZ}"
    report = asyncio.run(_run(settings, options, stem))
    stem.with_suffix(".json").write_text(json.dumps(report, indent=2))
    report["tls_compared"] = other_mode(report, RESULTS)  # in the .md only, not the .json
    _plot(report, stem.with_suffix(".png"))
    markdown = _markdown(report, stem.with_suffix(".png").name)
    stem.with_suffix(".md").write_text(markdown)
    console.print(markdown, markup=False, highlight=False)
    console.print(f"written: {stem}.json, .md and .png")
    return 0 if report["storage"]["lost"] == 0 and report["storage"]["duplicated"] == 0 else 1
