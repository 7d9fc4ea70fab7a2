"""`stride bench gateway`: many device connections through the running stack's gateway.

Each connection is one device of a bench account (`bench-<run>-<k>@stride.test`, created
directly in PostgreSQL with a session, `max_connections_per_user` devices each). It starts a
workout and then sends one-sample frames at `--frames-per-s`, spread evenly over time. The
report: frames acknowledged per second, frame → ack latency, errors, and the gateway
process's CPU and memory. The accounts and workouts stay (marked by their e-mail).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import statistics
import time
import uuid
from typing import Any

import psycopg
from rich.console import Console
from rich.progress import Progress

from gateway import protocol
from gateway.auth import new_token
from gateway.client import DeviceClient, DeviceError
from gateway.quotas import Quotas
from stack.bench_actors import _pct, _process_memory, save_report
from stack.processes import ProcessTable
from stack.settings import Settings

console = Console()


async def _tokens(settings: Settings, run_id: str, accounts: int) -> list[str]:
    tokens = []
    async with await psycopg.AsyncConnection.connect(settings.pg_dsn) as conn:
        for k in range(accounts):
            row = await (await conn.execute(
                "INSERT INTO users (email, health_consent_at, health_consent_policy)"
                " VALUES (%s, now(), 'bench') RETURNING id",  # made-up: HR is processed
                (f"bench-{run_id}-{k}@stride.test",))).fetchone()
            assert row is not None
            await conn.execute("INSERT INTO roles (user_id, role) VALUES (%s, 'athlete')", (row[0],))
            token, digest = new_token()
            await conn.execute("INSERT INTO sessions (user_id, token_hash, expires_at) "
                               "VALUES (%s, %s, now() + interval '1 day')", (row[0], digest))
            tokens.append(token)
        await conn.commit()
    return tokens


class Device:
    def __init__(self, url: str, token: str) -> None:
        self.client = DeviceClient(url, token, subprotocol=protocol.MSGPACK)
        self.wid = uuid.uuid4()
        self.seq = 0
        self.started = False
        self.t0 = int(time.time() * 1000) - 3_600_000


async def run_bench(settings: Settings, connections: int, seconds: int,
                    frames_per_s: float) -> dict[str, Any]:
    if settings.placement == "dedicated" and connections > 50:
        console.print("[yellow]Unless the stack was started with STRIDE_PLACEMENT=sharded, it "
                      "runs the dedicated placement: one Ray actor per "
                      "workout, which saturates this node near 100. Start it with "
                      "STRIDE_PLACEMENT=sharded for a gateway bench.[/]")
    run_id = uuid.uuid4().hex[:8]
    per_account = Quotas().device_connections
    tokens = await _tokens(settings, run_id, -(-connections // per_account))
    devices = [Device(settings.gateway_ws_url, tokens[i // per_account]) for i in range(connections)]
    gateway_pid = ProcessTable(settings.home_path).running_pid("gateway")
    latencies: list[float] = []
    errors: dict[str, int] = {}
    opened = 0

    async def open_one(device: Device, gate: asyncio.Semaphore) -> None:
        nonlocal opened
        async with gate:
            await device.client.__aenter__()
            await device.client.start(device.wid, "run", device.t0)
            device.started = True
            opened += 1

    async def stream(device: Device, offset: float, until: float, measuring: list[bool]) -> None:
        period = 1.0 / frames_per_s
        await asyncio.sleep(offset)
        while time.monotonic() < until:
            tick = time.monotonic()
            sample = (device.t0 + 1000 * device.seq, 45.0 + 2.5e-5 * device.seq, 7.0, None, 140.0, None)
            try:
                ack = await device.client.send_samples(device.wid, device.seq, [sample])
                device.seq = ack.seq + 1
                if measuring[0]:
                    latencies.append((time.monotonic() - tick) * 1000)
            except DeviceError as exc:
                errors[exc.error.code] = errors.get(exc.error.code, 0) + 1
            await asyncio.sleep(max(0.0, tick + period - time.monotonic()))
        try:  # finish, so a dedicated actor ends too
            await asyncio.wait_for(device.client.finish(device.wid, device.t0 + 1000 * device.seq), 30)
        except (DeviceError, TimeoutError, OSError):
            pass

    with Progress(console=console, transient=True) as progress:
        bar = progress.add_task(f"opening {connections} device connections", total=connections)
        gate = asyncio.Semaphore(50)
        opening = asyncio.gather(*(open_one(d, gate) for d in devices), return_exceptions=True)
        while not opening.done():
            progress.update(bar, completed=opened)
            await asyncio.sleep(0.2)  # refreshing the progress bar
        failed = [r for r in opening.result() if isinstance(r, BaseException)]
        live = [d for d in devices if d.started]
        progress.update(bar, completed=opened)
        warmup = 3.0
        until = time.monotonic() + warmup + seconds
        measuring = [False]
        streams = [asyncio.create_task(stream(d, i / max(1, len(live)) / frames_per_s, until, measuring))
                   for i, d in enumerate(live)]
        steady = progress.add_task(f"{len(live)} devices at {frames_per_s:g} frames/s", total=seconds)
        await asyncio.sleep(warmup)
        measuring[0] = True
        cpu_before = _process_memory(gateway_pid)[2] if gateway_pid else 0.0
        began = time.monotonic()
        while time.monotonic() < until:
            progress.update(steady, completed=time.monotonic() - began)
            await asyncio.sleep(0.5)  # refreshing the progress bar
        elapsed = time.monotonic() - began
        measuring[0] = False
        memory = _process_memory(gateway_pid) if gateway_pid else (0, 0, 0.0)
        await asyncio.gather(*streams, return_exceptions=True)
    for d in devices:
        await d.client.close()
    return {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "connections": connections, "open": len(live), "failed_to_open": len(failed),
        "first_open_failure": repr(failed[0]) if failed else None,
        "frames_per_s_each": frames_per_s, "seconds": seconds,
        "acked_frames_per_s": len(latencies) / elapsed,
        "ack_ms": {"p50": statistics.median(latencies) if latencies else None,
                   "p99": _pct(latencies, 0.99)},
        "errors": errors,
        "gateway_cpu_cores": (memory[2] - cpu_before) / elapsed if gateway_pid else None,
        "gateway_rss_mib": memory[0] / 2**20, "gateway_pss_mib": memory[1] / 2**20,
    }


def run(settings: Settings, connections: int, seconds: int, frames_per_s: float) -> int:
    report = asyncio.run(run_bench(settings, connections, seconds, frames_per_s))
    lines = ["# Gateway, one process", "", "| figure | value |", "|---|---|",
             f"| device connections open | {report['open']} of {report['connections']} |",
             f"| offered | {report['frames_per_s_each']:g} one-sample frames/s each |",
             f"| acked frames per second | {report['acked_frames_per_s']:.0f} |",
             f"| frame → ack p50 / p99 | {report['ack_ms']['p50'] or float('nan'):.1f} / "
             f"{report['ack_ms']['p99']:.1f} ms |",
             f"| errors | {report['errors'] or 'none'} |",
             f"| gateway CPU | {report['gateway_cpu_cores'] or float('nan'):.2f} cores |",
             f"| gateway memory RSS / PSS | {report['gateway_rss_mib']:.0f} / "
             f"{report['gateway_pss_mib']:.0f} MiB |"]
    save_report("gateway", report, "\n".join(lines) + "\n")
    return 0 if report["open"] else 1

