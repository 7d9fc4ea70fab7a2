"""`stride bench live`: device-send → coach-receive latency through the whole running stack.

`--coaches` coaches each watch a group of `--athletes-per-coach` athletes (accounts, groups,
memberships and live consents created directly in PostgreSQL, marked by their e-mail
`bench-live-<run>-…@stride.test`). Every athlete's device streams a workout at 1 Hz,
sending a batch every `--batch-every` s; every coach holds `WS /v1/live?group=…`. A batch's
latency is from the moment its device sent it to the moment a coach receives an update
whose `last_seq` covers it (device → gateway → workout actor → Redis pub/sub → gateway →
coach; the durable copy goes on through Kafka meanwhile). Written to bench/results/live-<time>.{json,md}.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from collections.abc import Callable
from typing import Any

import msgspec
import psycopg
import websockets
from rich.console import Console
from rich.progress import Progress

from gateway import protocol
from gateway.auth import new_token
from gateway.client import DeviceClient, DeviceError
from stack.bench_actors import _pct, _process_memory, save_report
from stack.processes import ProcessTable
from stack.settings import Settings

console = Console()
WARM_UP_S = 5.0


class Athlete:
    def __init__(self, user_id: uuid.UUID, token: str) -> None:
        self.user_id = user_id
        self.token = token
        self.workout = uuid.uuid4()
        self.seq = 0
        self.sent: dict[int, float] = {}
        """Last seq of each batch not yet seen by a coach → when it was sent."""
        self.client: DeviceClient | None = None


async def watch_group(ws_url: str, token: str, group: uuid.UUID, by_workout: dict[uuid.UUID, Athlete],
                      seen: Callable[[float, float], None], stop: asyncio.Event) -> None:
    """A coach watching `group` on WS /v1/live until `stop`: for every batch an update covers
    (its summary's `last_seq` reaches the batch's last seq), `seen(now, latency_ms)` with the
    time from the batch's send (`Athlete.sent`) to the update's arrival."""
    async with websockets.connect(f"{ws_url}/v1/live?group={group}", max_size=2**22,
                                  additional_headers={"Authorization": f"Bearer {token}"}) as feed:
        while not stop.is_set():
            try:
                raw = await asyncio.wait_for(feed.recv(), 1.0)
            except TimeoutError:
                continue
            now = time.monotonic()
            message = msgspec.json.decode(raw)
            if message.get("type") != "update" or "summary" not in message:
                continue
            athlete = by_workout.get(uuid.UUID(message["workout_id"]))
            if athlete is None:
                continue
            covered = message["summary"].get("last_seq", -1)
            for last in [s for s in athlete.sent if s <= covered]:
                seen(now, (now - athlete.sent.pop(last)) * 1000)


async def _accounts(conn: psycopg.AsyncConnection, email: str,
                    role: str) -> tuple[uuid.UUID, str]:
    # Made-up athletes, given the consent to process health data so their HR is computed on.
    row = await (await conn.execute("INSERT INTO users (email, first_name, health_consent_at,"
                                    " health_consent_policy) VALUES (%s, %s, now(), 'bench')"
                                    " RETURNING id", (email, email.split("@")[0][-12:]))).fetchone()
    assert row is not None
    await conn.execute("INSERT INTO roles (user_id, role) VALUES (%s, %s)", (row[0], role))
    token, digest = new_token()
    await conn.execute("INSERT INTO sessions (user_id, token_hash, expires_at)"
                       " VALUES (%s, %s, now() + interval '1 day')", (row[0], digest))
    return row[0], token


async def _world(settings: Settings, run_id: str, coaches: int,
                 per_coach: int) -> list[tuple[str, uuid.UUID, list[Athlete]]]:
    """(coach token, group id, athletes) per coach."""
    out = []
    async with await psycopg.AsyncConnection.connect(settings.pg_dsn) as conn:
        for c in range(coaches):
            coach_id, coach_token = await _accounts(
                conn, f"bench-live-{run_id}-c{c}@stride.test", "coach")
            group = (await (await conn.execute(
                "INSERT INTO groups (name, sport, created_by) VALUES (%s, 'run', %s) RETURNING id",
                (f"bench {run_id} {c}", coach_id))).fetchone())[0]  # type: ignore[index]
            await conn.execute("INSERT INTO user_groups (user_id, group_id, role)"
                               " VALUES (%s, %s, 'coach')", (coach_id, group))
            athletes = []
            for a in range(per_coach):
                user_id, token = await _accounts(
                    conn, f"bench-live-{run_id}-c{c}-a{a}@stride.test", "athlete")
                await conn.execute("INSERT INTO user_groups (user_id, group_id) VALUES (%s, %s)",
                                   (user_id, group))
                await conn.execute("INSERT INTO consents (athlete_id, group_id) VALUES (%s, %s)",
                                   (user_id, group))
                athletes.append(Athlete(user_id, token))
            out.append((coach_token, group, athletes))
        await conn.commit()
    return out


async def run_bench(settings: Settings, coaches: int, per_coach: int, seconds: int,
                    batch_every: float) -> dict[str, Any]:
    if settings.placement == "dedicated" and coaches * per_coach > 50:
        console.print("[yellow]The stack runs the dedicated placement (one Ray actor per workout), "
                      "which saturates this node near 100 workouts: start it with "
                      "STRIDE_PLACEMENT=sharded for this bench.[/]")
    run_id = uuid.uuid4().hex[:8]
    with console.status("creating coaches, groups and athletes …"):
        world = await _world(settings, run_id, coaches, per_coach)
    by_workout = {a.workout: a for _, _, athletes in world for a in athletes}
    latencies: list[float] = []
    errors: dict[str, int] = {}
    measuring = [False]
    gateway_pid = ProcessTable(settings.home_path).running_pid("gateway")

    def seen(_now: float, latency_ms: float) -> None:
        if measuring[0]:
            latencies.append(latency_ms)

    async def watch(token: str, group: uuid.UUID, stop: asyncio.Event) -> None:
        await watch_group(settings.gateway_ws_url, token, group, by_workout, seen, stop)

    async def stream(athlete: Athlete, offset: float, until: float) -> None:
        t0 = int(time.time() * 1000) - 600_000
        client = athlete.client
        assert client is not None
        await asyncio.sleep(offset)  # devices spread over the batch interval
        per_batch = max(1, round(batch_every))
        while time.monotonic() < until:
            tick = time.monotonic()
            batch = [(t0 + 1000 * (athlete.seq + i), 45.0 + 2.5e-5 * (athlete.seq + i), 7.0, None,
                      140.0 + (athlete.seq + i) % 30, 97.0) for i in range(per_batch)]
            athlete.sent[athlete.seq + per_batch - 1] = tick
            try:
                ack = await client.send_samples(athlete.workout, athlete.seq, batch)
                athlete.seq = ack.seq + 1
            except DeviceError as exc:
                errors[exc.error.code] = errors.get(exc.error.code, 0) + 1
            await asyncio.sleep(max(0.0, tick + batch_every - time.monotonic()))  # the device pace

    athletes = [a for _, _, group_athletes in world for a in group_athletes]
    with Progress(console=console, transient=True) as progress:
        opening = progress.add_task(f"starting {len(athletes)} workouts", total=len(athletes))
        gate = asyncio.Semaphore(50)

        async def open_one(athlete: Athlete) -> None:
            async with gate:
                athlete.client = DeviceClient(settings.gateway_ws_url, athlete.token,
                                              subprotocol=protocol.MSGPACK)
                await athlete.client.__aenter__()
                await athlete.client.start(athlete.workout, "run", int(time.time() * 1000) - 600_000)
                progress.advance(opening)

        await asyncio.gather(*(open_one(a) for a in athletes))
        stop = asyncio.Event()
        watchers = [asyncio.create_task(watch(token, group, stop)) for token, group, _ in world]
        until = time.monotonic() + WARM_UP_S + seconds
        streams = [asyncio.create_task(stream(a, i / len(athletes) * batch_every, until))
                   for i, a in enumerate(athletes)]
        steady = progress.add_task(f"{len(athletes)} athletes, {coaches} coaches", total=seconds)
        await asyncio.sleep(WARM_UP_S)  # the first batches are not measured
        measuring[0] = True
        cpu_before = _process_memory(gateway_pid)[2] if gateway_pid else 0.0
        began = time.monotonic()
        while time.monotonic() < until:
            progress.update(steady, completed=time.monotonic() - began)
            await asyncio.sleep(0.5)  # refreshing the progress bar
        elapsed = time.monotonic() - began
        cpu = ((_process_memory(gateway_pid)[2] - cpu_before) / elapsed) if gateway_pid else None
        await asyncio.gather(*streams, return_exceptions=True)
        await asyncio.sleep(2.0)  # the last updates on their way to the coaches
        measuring[0] = False
        stop.set()
        await asyncio.gather(*watchers, return_exceptions=True)
        for a in athletes:
            assert a.client is not None
            try:
                await asyncio.wait_for(a.client.finish(a.workout, int(time.time() * 1000)), 30)
            except (DeviceError, TimeoutError, OSError):
                pass
            await a.client.close()
    unseen = sum(len(a.sent) for a in athletes)
    return {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "coaches": coaches, "athletes": len(athletes), "batch_every_s": batch_every,
        "seconds": seconds, "placement": settings.placement,
        "batches_seen": len(latencies), "batches_unseen": unseen,
        "send_to_coach_ms": {"p50": _pct(latencies, 0.5), "p99": _pct(latencies, 0.99),
                             "max": max(latencies, default=float("nan"))},
        "errors": errors, "gateway_cpu_cores": cpu,
    }


def _markdown(r: dict[str, Any]) -> str:
    lat = r["send_to_coach_ms"]
    return "\n".join([
        f"# Live view latency ({r['when']})", "",
        "| figure | value |", "|---|---|",
        f"| load | {r['athletes']:,} athletes streaming (a batch every {r['batch_every_s']:g} s), "
        f"{r['coaches']} coaches watching a group each, {r['seconds']} s, {r['placement']} placement |",
        f"| device send → coach receive p50 / p99 / max | {lat['p50']:.0f} / {lat['p99']:.0f} / "
        f"{lat['max']:.0f} ms ({r['batches_seen']:,} batches) |",
        f"| batches no coach saw | {r['batches_unseen']:,} |",
        f"| device errors | {r['errors'] or 'none'} |",
        "| gateway CPU | " + (f"{r['gateway_cpu_cores']:.2f} cores |"
                             if r["gateway_cpu_cores"] is not None else "n/a |"),
    ]) + "\n"


def run(settings: Settings, coaches: int, per_coach: int, seconds: int, batch_every: float) -> int:
    result = asyncio.run(run_bench(settings, coaches, per_coach, seconds, batch_every))
    save_report("live", result, _markdown(result))
    return 0
