"""`stride simulate`: athletes streaming through the offline-first device SDK, over a network
that drops.

Each athlete gets an account of their own (made by stack/local_accounts.py, logged in
through the REST API), a plausible track (stack/simulator.py) and an `OfflineDevice` with
its SQLite buffer under `.stack/simulate/<run>/`. Samples are recorded in real time at
`--rate` Hz; the connection drops now and then (the device keeps recording and resends the
gap when it is back). At the end every device syncs and finishes, and the totals are
checked against what the API stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import secrets
import sys
import time
import uuid
from pathlib import Path

import httpx
import numpy as np
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from gateway.offline import OfflineDevice, SyncStats
from stack import local_accounts
from stack.settings import Settings
from stack.simulator import Athlete, Route, simulate
from streams.events import Sport
from streams.retry import wait_until_async

console = Console(width=None if sys.stdout.isatty() else 130)
DROPOUT_PER_S = 1 / 40
"""Chance per second that an athlete's connection drops (for 2–8 s)."""


def run_simulate(settings: Settings, *, athletes: int, sport: str, duration_s: float,
                 rate_hz: float, dropouts: bool = True, route_file: Path | None = None) -> int:
    route = None
    if route_file is not None:
        from actors.recordings import read_track

        try:
            points = read_track(route_file)
        except ValueError as exc:
            console.print(f"[red]{exc}[/]")
            return 2
        route = Route.of([(s[1], s[2], s[3]) for s in points if s[1] is not None and s[2] is not None])
    return asyncio.run(_simulate(settings, athletes, sport, duration_s, rate_hz, dropouts,  # type: ignore[arg-type]
                                 route))


async def _simulate(settings: Settings, count: int, sport: Sport, duration_s: float,
                    rate_hz: float, dropouts: bool, route: Route | None) -> int:
    run_id = uuid.uuid4().hex[:8]
    folder = settings.home_path / "simulate" / run_id
    folder.mkdir(parents=True, exist_ok=True)
    n = max(1, int(duration_s * rate_hz))
    t0 = int(time.time() * 1000)
    crowd = [simulate(f"athlete {i + 1}", sport, n, t0, seed=i, rate_hz=rate_hz, route=route)
             for i in range(count)]
    async with httpx.AsyncClient(base_url=settings.gateway_url, timeout=30) as http:
        with console.status(f"registering {count} athletes …"):
            try:
                tokens = await asyncio.gather(*(_account(settings, http, run_id, i)
                                                for i in range(count)))
            except (httpx.HTTPError, RuntimeError) as exc:
                console.print(f"[red]cannot register athletes at {settings.gateway_url}:[/] {exc}\n"
                              "Is the stack up? `stride stack up` (or `make demo`) starts it.")
                return 1
        devices = [OfflineDevice(settings.gateway_ws_url, token, folder / f"{i}.sqlite3")
                   for i, token in enumerate(tokens)]
        with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[acks]}"),
                      TimeRemainingColumn(), console=console) as progress:
            bar = progress.add_task(f"{count} athletes streaming", total=n * count, acks="")
            tasks = [asyncio.create_task(_athlete(device, athlete, rate_hz, dropouts, seed=i))
                     for i, (device, athlete) in enumerate(zip(devices, crowd, strict=True))]
            while not all(t.done() for t in tasks):
                await asyncio.wait(tasks, timeout=0.5)
                recorded = sum(d.stats.recorded for d in devices)
                acked = sum(d.stats.acked for d in devices)
                progress.update(bar, completed=recorded, acks=f"{acked:,} acked")
        failures = [t.exception() for t in tasks if t.exception() is not None]
        dropped = sum(t.result() for t in tasks if t.exception() is None)
        stored = await _stored(http, tokens, crowd)
    for device in devices:
        device.close()
    total = SyncStats()
    for d in devices:
        for field in SyncStats.__struct_fields__:
            setattr(total, field, getattr(total, field) + getattr(d.stats, field))
    lost = total.recorded - stored
    console.print(_table(total, stored, lost, count, dropped, folder))
    for failure in failures:
        console.print(f"[red]an athlete failed:[/] {failure!r}")
    return 0 if lost == 0 and not failures else 1


async def _account(settings: Settings, http: httpx.AsyncClient, run_id: str, i: int) -> str:
    email, password = f"sim-{run_id}-{i}@stride.test", secrets.token_urlsafe(16)
    profile = {"sex": "female" if i % 2 else "male", "weight_kg": 60 + i % 25,
               "birth_date": dt.date(1970 + i % 35, 6, 15), "hr_rest": 50 + i % 15}
    await local_accounts.create(settings, email, password, **profile)
    return await local_accounts.log_in(http, email, password)


async def _athlete(device: OfflineDevice, athlete: Athlete, rate_hz: float, dropouts: bool,
                   seed: int) -> int:
    """Record in real time while syncing; drop the connection now and then; then finish.
    Returns how many times the connection dropped."""
    dropped = 0
    rng = np.random.default_rng(seed)
    wid = athlete.workout_id
    device.begin(wid, athlete.sport, athlete.samples[0][0])
    syncing = asyncio.create_task(device.run())
    offline_until = 0.0
    begun = time.monotonic()
    for i, sample in enumerate(athlete.samples):
        await asyncio.sleep(max(0.0, begun + i / rate_hz - time.monotonic()))
        device.record(wid, sample)
        now = time.monotonic()
        if syncing.done() and now >= offline_until:
            if not syncing.cancelled():
                syncing.result()  # run() only returns by failing: let that failure surface
            syncing = asyncio.create_task(device.run())
        if dropouts and not syncing.done() and rng.random() < DROPOUT_PER_S / rate_hz:
            syncing.cancel()  # the network is gone; recording goes on
            offline_until = now + rng.uniform(2, 8)
            dropped += 1
    with contextlib.suppress(asyncio.CancelledError):
        syncing.cancel()
        await syncing
    device.finish(wid, athlete.samples[-1][0])
    await device.sync(timeout_s=120)
    return dropped


async def _stored(http: httpx.AsyncClient, tokens: list[str], crowd: list[Athlete]) -> int:
    """Samples the platform holds for the crowd's workouts, once the sinks have caught up."""
    counts: dict[uuid.UUID, int] = {}

    async def caught_up() -> bool:
        for token, athlete in zip(tokens, crowd, strict=True):
            resp = await http.get(f"/v1/workouts/{athlete.workout_id}",
                                  headers={"Authorization": f"Bearer {token}"})
            if resp.status_code == 200 and resp.json().get("status") == "finished":
                counts[athlete.workout_id] = int(resp.json()["samples_count"])
        return len(counts) == len(crowd)

    if not await wait_until_async(caught_up, timeout_s=60, interval_s=1.0):
        console.print(f"[yellow]{len(crowd) - len(counts)} workouts were not stored as finished "
                      "within 60 s; their samples count as lost[/]")
    return sum(counts.values())


def _table(total: SyncStats, stored: int, lost: int, athletes: int, dropped: int,
           folder: Path) -> Table:
    table = Table(title=f"stride simulate: {athletes} athletes (device buffers in {folder})")
    for col in ("recorded", "sent", "acked", "resent", "dropouts", "reconnects", "errors",
                "stored", "lost"):
        table.add_column(col, justify="right")
    table.add_row(*(f"{v:,}" for v in (total.recorded, total.sent, total.acked, total.resent,
                                        dropped, total.reconnects, total.errors, stored)),
                  f"[{'green' if lost == 0 else 'red'}]{lost:,}[/]")
    return table
