"""`stride demo`: bring the stack up, stream simulated athletes, show what the platform computes."""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

import httpx
from rich.console import Console
from rich.live import Live
from rich.table import Table

from gateway.client import DeviceClient
from stack.lifecycle import up
from stack.processes import wait_until_async
from stack.settings import Settings
from stack.simulator import Athlete, simulate

NAMES = ["Ada", "Bruno", "Chiara", "Dmitri", "Eun-ji", "Farid", "Greta", "Hugo", "Ines", "Jonas"]
# Piped output (CI logs) gets a fixed width instead of rich's 80 columns.
console = Console(width=None if sys.stdout.isatty() else 130)


def run_demo(settings: Settings, *, athletes: int, duration_s: float, sport: str,
             speedup: int = 5) -> int:
    if up(settings) != 0:
        return 1
    settings = Settings.from_env()
    return asyncio.run(_demo(settings, athletes, duration_s, sport, speedup))


async def _demo(settings: Settings, count: int, duration_s: float, sport: str, speedup: int) -> int:
    seconds = int(duration_s)
    t0 = int(time.time() * 1000) - seconds * speedup * 1000
    crowd = [simulate(NAMES[i % len(NAMES)] + ("" if i < len(NAMES) else f" {i}"), sport,  # type: ignore[arg-type]
                      seconds * speedup, t0, seed=i) for i in range(count)]
    headers = {"Authorization": f"Bearer {settings.dev_token}"}
    async with httpx.AsyncClient(base_url=settings.gateway_url, headers=headers) as http:
        streams = [asyncio.create_task(_stream(settings, a, speedup)) for a in crowd]
        with Live(_table(crowd, {}, "streaming"), console=console, refresh_per_second=2) as live:
            while not all(s.done() for s in streams):
                live.update(_table(crowd, await _summaries(http, crowd), "streaming"))
                await asyncio.wait(streams, timeout=1.0)
            errors = [s.exception() for s in streams if s.exception()]
            summaries: dict[Any, dict[str, Any]] = {}

            async def all_stored() -> bool:
                # The last events travel Kafka → worker → PostgreSQL after the last ack.
                summaries.update(await _summaries(http, crowd))
                live.update(_table(crowd, summaries, "finishing"))
                return len(summaries) == len(crowd) and all(
                    s["status"] == "finished" for s in summaries.values())

            done = await wait_until_async(all_stored, timeout_s=30)
            live.update(_table(crowd, summaries, "finished" if done else "not all stored yet"))
    for err in errors:
        console.print(f"[red]an athlete's stream failed:[/] {err}")
    _where_to_look(settings, crowd)
    return 1 if errors else 0


async def _stream(settings: Settings, athlete: Athlete, speedup: int) -> None:
    """Send `speedup` samples per second of wall time, as a phone batching its readings."""
    async with DeviceClient(settings.gateway_ws_url, settings.dev_token) as device:
        first_t = athlete.samples[0][0]
        await device.start(athlete.workout_id, athlete.sport, first_t)
        for seq in range(0, len(athlete.samples), speedup):
            tick = time.monotonic()
            await device.send_samples(athlete.workout_id, seq, athlete.samples[seq:seq + speedup])
            await asyncio.sleep(max(0.0, 1.0 - (time.monotonic() - tick)))
        await device.finish(athlete.workout_id, athlete.samples[-1][0])


async def _summaries(http: httpx.AsyncClient, crowd: list[Athlete]) -> dict[Any, dict[str, Any]]:
    out = {}
    for athlete in crowd:
        resp = await http.get(f"/v1/workouts/{athlete.workout_id}")
        if resp.status_code == 200:
            out[athlete.workout_id] = resp.json()
    return out


def _fmt(value: Any, pattern: str) -> str:
    return "-" if value is None else pattern.format(value)


def _table(crowd: list[Athlete], summaries: dict[Any, dict[str, Any]], phase: str) -> Table:
    table = Table(title=f"Live workouts ({phase}), as the API reads them from PostgreSQL")
    for col in ("athlete", "status", "dist", "moving", "pace/km", "HR avg", "HR max", "SpO2 min",
                "kcal", "TRIMP", "risk", "n"):
        table.add_column(col, justify="right" if col != "athlete" else "left", no_wrap=True)
    for a in crowd:
        s = summaries.get(a.workout_id, {})
        speed = s.get("avg_speed_mps") or 0
        pace = f"{int(1000 / speed // 60)}:{int(1000 / speed % 60):02d}" if speed > 0.3 else "-"
        table.add_row(a.name, s.get("status", "starting"), _fmt(s.get("distance_m"), "{:.0f} m"),
                      _fmt(s.get("moving_time_s"), "{:.0f} s"), pace,
                      _fmt(s.get("avg_hr"), "{:.0f}"), _fmt(s.get("max_hr"), "{:.0f}"),
                      _fmt(s.get("min_spo2"), "{:.1f}%"), _fmt(s.get("calories_kcal"), "{:.0f}"),
                      _fmt(s.get("trimp"), "{:.1f}"), (s.get("risk") or {}).get("level", "-"),
                      _fmt(s.get("samples_count"), "{}"))
    return table


def _where_to_look(settings: Settings, crowd: list[Athlete]) -> None:
    url = settings.gateway_url
    auth = f"Authorization: Bearer {settings.dev_token}"
    console.print(f"""
[bold]Where to look[/]
  API               {url}/v1/workouts   (header: {auth})
  OpenAPI page      {url}/schema
  one workout       curl -H '{auth}' {url}/v1/workouts/{crowd[0].workout_id}
  its samples       {url}/v1/workouts/{crowd[0].workout_id}/samples
  device WebSocket  {settings.gateway_ws_url}/v1/ingest  (stride.v1.json or stride.v1.msgpack)
  stack             stride stack status · stride stack logs · stride stack down
The stack keeps running until `.venv/bin/stride stack down`.""", soft_wrap=True)
