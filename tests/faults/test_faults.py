"""The fault suite (`pytest -m faults`): while a device streams, SIGKILL one part of the stack,
bring it back, and check that nothing the device was told is safe went missing or doubled.

Each test streams the same two workouts (a run and a ride, 600 samples each, recorded live at
about 100 samples a second into the offline-first SDK, which forwards them over WebSocket and
resends whatever was not acknowledged). A little way into the stream one component is
SIGKILLed and restarted: the workout actor's process, the gateway, the stream worker, the
Kafka broker, PostgreSQL. Afterwards:
- acked ⊆ stored and stored exactly once: every workout has all its samples in `sensor_data`,
  each seq once (the device deletes a sample only when it is acknowledged, so all acked = all);
- the workouts' summaries in `workouts` equal those of an undisturbed run of the same samples,
  and so does each one's per-minute rollup of live metrics, row for row (a snapshot sent
  again after the kill is the same snapshot, stored once);
- the time from the kill until acknowledgements flow again is printed (run with -s to see it).

These tests stop and start the shared local stack's processes, so `make test` runs them on
their own, after every other test. The two-node Ray cluster case is in test_ray_node_loss.py.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import signal
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import msgspec
import psycopg
import pytest
from helper_processes import Processes, ws_url
from user_accounts import Account

from gateway.offline import OfflineDevice
from stack.processes import ProcessTable
from stack.settings import Settings
from streams.events import Sample
from streams.retry import wait_until, wait_until_async

pytestmark = pytest.mark.faults

REPO = Path(__file__).resolve().parents[2]
SAMPLES = 600
PER_TICK = 10
TICK_S = 0.1
KILL_AFTER_ACKED = 150
"""The fault comes once this many samples (of 1,200) are acknowledged: mid-stream."""
COMPARED = ("status", "samples_count", "last_seq", "distance_m", "duration_s", "moving_time_s",
            "elevation_gain_m", "elevation_loss_m", "avg_hr", "max_hr", "calories_kcal", "trimp",
            "min_spo2")


def _track(sport: str, t0: int) -> list[Sample]:
    """A deterministic track: 1 Hz, steady pace with some hills, HR drifting up, SpO2 normal."""
    step = 3.0e-5 if sport == "run" else 8.0e-5
    return [(t0 + 1000 * i, 46.05 + step * i, 14.5 + step * (i % 50) / 5, 300.0 + 10.0 * ((i // 60) % 3),
             130.0 + 0.05 * i, 97.0) for i in range(SAMPLES)]


class Workouts(msgspec.Struct, frozen=True):
    ids: dict[str, uuid.UUID]
    """sport → workout id."""
    t0: int


class Outcome(msgspec.Struct, frozen=True):
    summaries: dict[str, dict[str, Any]]
    """workout name (`run-0` …) → the stored summary's compared fields."""
    rollups: dict[str, list[tuple[Any, ...]]]
    """workout name → its per-minute rollup of live metrics (minutes counted from the
    start), row by row."""
    recovered_s: float | None = None
    """From the kill until acknowledgements flowed again."""


async def _until(condition: Callable[[], bool], timeout_s: float) -> bool:
    """Poll `condition` on this event loop (the device's SQLite stays on its thread)."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.01)  # polling, bounded by the deadline
    return True


def _stored(stack: Settings, wid: uuid.UUID) -> tuple[int, int]:
    with psycopg.connect(stack.pg_dsn, connect_timeout=5) as conn:
        row = conn.execute("SELECT count(*), count(DISTINCT seq) FROM sensor_data WHERE workout_id = %s",
                           (wid,)).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def _summary(stack: Settings, wid: uuid.UUID) -> dict[str, Any] | None:
    with psycopg.connect(stack.pg_dsn, connect_timeout=5) as conn:
        row = conn.execute("SELECT summary FROM workouts WHERE id = %s AND status = 'finished'",
                           (wid,)).fetchone()
    return None if row is None else {k: row[0].get(k) for k in COMPARED}


async def _rollup(stack: Settings, wid: uuid.UUID, t0: int) -> list[tuple[Any, ...]]:
    """The workout's per-minute rollup once its last snapshot (at the finish) is in."""
    from storage.timeseries import minute_metrics

    start = dt.datetime.fromtimestamp(t0 / 1000, tz=dt.UTC)
    finish = start + dt.timedelta(seconds=SAMPLES)  # the closing snapshot's time

    async def complete() -> list[Any] | None:
        try:
            async with await psycopg.AsyncConnection.connect(stack.pg_dsn, connect_timeout=5) as conn:
                rows = await minute_metrics(conn, wid)
        except psycopg.OperationalError:
            return None
        # The last sample's own snapshot carries the same seq as the closing one, so wait for
        # the minute holding the finish, not for the seq: the two can land in different minutes.
        return rows if rows and rows[-1].minute > finish - dt.timedelta(minutes=1) else None

    rows = await wait_until_async(complete, 120, interval_s=0.5)
    assert rows, f"{wid}: the rollup never reached the closing snapshot"
    return [((r.minute - start) // dt.timedelta(minutes=1), r.snapshots, r.last_seq, r.distance_m,
             r.moving_time_s, r.avg_speed_mps, r.avg_hr, r.max_hr, r.min_spo2, r.calories_kcal,
             r.trimp) for r in rows]


def _quietly(check: Callable[[], bool]) -> Callable[[], bool]:
    """A poll that counts a database still coming back as 'not yet'."""
    def poll() -> bool:
        try:
            return check()
        except psycopg.OperationalError:
            return False
    return poll


def _sport(name: str) -> str:
    return name.split("-")[0]


async def stream(stack: Settings, token: str, tmp_path: Path,
                 fault: Callable[[dict[str, uuid.UUID]], Awaitable[None]] | None = None,
                 ws_url: str | None = None, copies: int = 1) -> Outcome:
    """Stream the workouts — a run and a ride, `copies` times (named `run-0`, `ride-0` …) —
    through the stack (or the gateway at `ws_url`); run `fault` (given name → workout id)
    once mid-stream."""
    t0 = (int(time.time() * 1000) - 3_600_000) // 60_000 * 60_000  # on a minute: same buckets
    wids = {f"{sport}-{k}": uuid.uuid4() for k in range(copies) for sport in ("run", "ride")}
    tracks = {name: _track(_sport(name), t0) for name in wids}
    device = OfflineDevice(ws_url or stack.gateway_ws_url, token,
                           tmp_path / f"{uuid.uuid4()}.sqlite3", batch_size=50, max_backoff_s=1.0)
    for name, wid in wids.items():
        device.begin(wid, _sport(name), t0)  # type: ignore[arg-type]
    forwarding = asyncio.create_task(device.run())
    recovered_s: float | None = None

    async def record() -> None:
        for i in range(0, SAMPLES, PER_TICK):
            for name, wid in wids.items():
                device.record_many(wid, tracks[name][i:i + PER_TICK])
            await asyncio.sleep(TICK_S)  # the pace of a live recording
        for wid in wids.values():
            device.finish(wid, t0 + 1000 * SAMPLES)

    try:
        recording = asyncio.create_task(record())
        if fault is not None:
            assert await _until(lambda: device.stats.acked >= KILL_AFTER_ACKED, 60), \
                f"the stream did not start: {device.stats}"
            acked_before = device.stats.acked
            killed = time.monotonic()
            await fault(wids)
            assert await _until(lambda: device.stats.acked > acked_before, 180), \
                f"acknowledgements did not resume: {device.stats}"
            recovered_s = time.monotonic() - killed
        await recording
        done = await _until(lambda: device.pending() == 0 and device.unfinished() == 0, 180)
        assert done, f"the device still holds {device.pending()} samples: {device.stats}"
    finally:
        forwarding.cancel()
        await asyncio.gather(forwarding, return_exceptions=True)
        device.close()

    for sport, wid in wids.items():
        assert await asyncio.to_thread(
            wait_until, _quietly(lambda w=wid: _stored(stack, w)[0] >= SAMPLES), 120, 0.5), \
            f"{sport}: {_stored(stack, wid)[0]} of {SAMPLES} samples stored"
        assert _stored(stack, wid) == (SAMPLES, SAMPLES), f"{sport}: missing or doubled samples"
    summaries: dict[str, dict[str, Any]] = {}
    for sport, wid in wids.items():
        assert await asyncio.to_thread(
            wait_until, _quietly(lambda w=wid: _summary(stack, w) is not None), 120, 0.5), \
            f"{sport}: the finished workout never reached `workouts`"
        found = _summary(stack, wid)
        assert found is not None
        summaries[sport] = found
    rollups = {name: await _rollup(stack, wid, t0) for name, wid in wids.items()}
    return Outcome(summaries=summaries, rollups=rollups, recovered_s=recovered_s)


@pytest.fixture(scope="module")
async def undisturbed(stack: Settings, session_athlete: Account,
                      tmp_path_factory: pytest.TempPathFactory) -> Outcome:
    return await stream(stack, session_athlete.token, tmp_path_factory.mktemp("undisturbed"))


def _same_metrics(got: Outcome, want: Outcome) -> None:
    """Every workout's summary equals the undisturbed run's of its sport, and so does its
    per-minute rollup of live metrics, row for row: no snapshot counted twice or lost."""
    for name, actual in got.summaries.items():
        expected, sport = want.summaries[f"{_sport(name)}-0"], name
        for key in COMPARED:
            if isinstance(expected[key], float):
                # A batch split differently by a resend changes only float summation order.
                assert actual[key] == pytest.approx(expected[key], rel=1e-9, abs=1e-9), (sport, key)
            else:
                assert actual[key] == expected[key], (sport, key)
    for name, rows in got.rollups.items():
        expected_rows = want.rollups[f"{_sport(name)}-0"]
        assert [r[:3] for r in rows] == [r[:3] for r in expected_rows], name  # minute, n, last seq
        for row, expected_row in zip(rows, expected_rows, strict=True):
            assert row[3:] == pytest.approx(expected_row[3:], rel=1e-6, abs=1e-6), (name, row[0])


def _restart(stack: Settings, name: str) -> None:
    """SIGKILL the stack's `name` (all its processes) and start it again."""
    assert ProcessTable(stack.home_path).stop(name, signal.SIGKILL), f"{name} was not running"
    subprocess.run([str(REPO / ".venv" / "bin" / "stride"), "stack", "up", "--only", name],
                   check=True, cwd=REPO, timeout=300, capture_output=True)


def _report(what: str, outcome: Outcome) -> None:
    print(f"\n{what}: acknowledgements flowed again {outcome.recovered_s:.1f} s after the kill")


@pytest.fixture
async def ray_connected(stack: Settings) -> AsyncIterator[None]:
    import ray

    if not ray.is_initialized():
        ray.init(address=stack.ray_address, namespace=stack.ray_namespace, log_to_driver=False)
    yield


async def test_the_workout_actors_process_killed(stack: Settings, tmp_path: Path, undisturbed: Outcome,
                                                 ray_connected: None, session_athlete: Account) -> None:
    from actors.placement import make_placement
    from stack.wiring import actor_config

    placement = make_placement(stack.placement, actor_config(stack), stack.ray_namespace,
                               stack.placement_hosts)
    async def kill_actor(wids: dict[str, uuid.UUID]) -> None:
        pid = await placement.handle(wids["run-0"]).pid.remote()
        os.kill(pid, signal.SIGKILL)  # Ray restarts the actor; it resumes from its snapshot

    outcome = await stream(stack, session_athlete.token, tmp_path, kill_actor)
    _report("workout actor SIGKILLed", outcome)
    _same_metrics(outcome, undisturbed)


@pytest.mark.parametrize("component", ["gateway", "worker", "kafka", "postgres"])
async def test_a_stack_process_killed(stack: Settings, tmp_path: Path, undisturbed: Outcome,
                                      component: str, session_athlete: Account) -> None:
    outcome = await stream(stack, session_athlete.token, tmp_path,
                           lambda _: asyncio.to_thread(_restart, stack, component))
    _report(f"{component} SIGKILLed and restarted", outcome)
    _same_metrics(outcome, undisturbed)
    assert await asyncio.to_thread(wait_until, lambda: _stack_healthy(), 30, 1.0), \
        "the stack is not healthy again after the restart"


def _stack_healthy() -> bool:
    """Every component healthy, the gateway's /healthz (a database round trip) included."""
    status = subprocess.run([str(REPO / ".venv" / "bin" / "stride"), "stack", "status", "--json"],
                            cwd=REPO, capture_output=True, timeout=60)
    return status.returncode == 0


async def test_a_sharded_host_killed_takes_many_workouts_and_loses_none(
        stack: Settings, tmp_path: Path, undisturbed: Outcome, ray_connected: None,
        session_athlete: Account) -> None:
    """The sharded placement: one host holds many workouts, so one kill takes them all down
    at once; Ray restarts the host and each workout resumes from its own snapshot."""
    from actors.placement import ShardedPlacement
    from stack.wiring import actor_config

    processes = Processes()
    try:
        gateway = processes.gateway(STRIDE_PLACEMENT="sharded")
        placement = ShardedPlacement(actor_config(stack), stack.ray_namespace, stack.placement_hosts)

        async def kill_the_busiest_host(wids: dict[str, uuid.UUID]) -> None:
            shards = [placement.shard_of(w) for w in wids.values()]
            busiest = max(set(shards), key=shards.count)
            assert shards.count(busiest) >= 2, "each host holds one workout: nothing to show"
            pid = await placement.handle(wids[list(wids)[shards.index(busiest)]]).pid.remote()
            os.kill(pid, signal.SIGKILL)

        outcome = await stream(stack, session_athlete.token, tmp_path, kill_the_busiest_host,
                               ws_url=ws_url(gateway), copies=3)
    finally:
        processes.stop_all()
    _report("a sharded host (3+ workouts) SIGKILLed", outcome)
    _same_metrics(outcome, undisturbed)
