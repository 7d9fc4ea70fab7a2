"""The offline-first device against the running stack: samples recorded without a network
reach PostgreSQL exactly once, through a gateway killed mid-stream and a device process
killed mid-stream and restarted; the buffer on the device never holds them in clear, and a
buffer an older version wrote in clear is sealed on open and still syncs."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import struct
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import msgspec
import psycopg
import pytest
from helper_processes import REPO, STRIDE, Gateway, Processes, free_port, http_url, ws_url
from user_accounts import Account

from gateway.offline import SCHEMA, OfflineDevice
from stack.settings import Settings
from streams.retry import wait_until

pytestmark = pytest.mark.e2e


def _stored(stack: Settings, wid: uuid.UUID, n: int) -> tuple[int, int]:
    """(rows, distinct seqs) of the workout in PostgreSQL, once the sink has written n."""
    def count() -> tuple[int, int]:
        with psycopg.connect(stack.pg_dsn) as conn:
            row = conn.execute("SELECT count(*), count(DISTINCT seq) FROM sensor_data"
                               " WHERE workout_id = %s", (wid,)).fetchone()
        assert row is not None
        return int(row[0]), int(row[1])

    # A resent sample cannot add a row (its (workout_id, seq, t) is unique in the table), so
    # once n rows are there, rows == distinct seqs == n means all of them, once.
    wait_until(lambda: count()[0] >= n, 60, interval_s=0.5)
    return count()


async def _until(condition: Callable[[], bool], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)  # polling the condition, bounded by the deadline


def _pending(path: Path) -> int:
    with sqlite3.connect(path) as db:
        return int(db.execute("SELECT count(*) FROM samples").fetchone()[0])


def _in_clear(path: Path, samples: list[tuple[int, float, float, float, float, float]]) -> int:
    """How many of `samples` can be read from the buffer's files as they lie on disk: a whole
    sample as the SDK encodes it, or its latitude as the 8-byte double msgpack stores."""
    raw = b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())
    return sum(1 for s in samples if msgspec.msgpack.encode(list(s)) in raw
               or struct.pack(">d", s[1]) in raw)


async def test_a_gateway_killed_mid_stream_loses_and_doubles_nothing(
        stack: Settings, processes: Processes, tmp_path: Path, session_athlete: Account) -> None:
    port = free_port()
    env = {"STRIDE_GATEWAY_PORT": str(port)}
    health = f"{http_url(f'127.0.0.1:{port}')}/healthz"
    gateway = processes.start([*STRIDE, "gateway", "run"], health, env, name="gateway")
    wid, t0, n = uuid.uuid4(), int(time.time() * 1000) - 3_600_000, 1200
    device = OfflineDevice(ws_url(f"127.0.0.1:{port}"), session_athlete.token, tmp_path / "watch.sqlite3",
                           batch_size=20, max_backoff_s=1.0)
    device.begin(wid, "run", t0)  # recorded offline: nothing is sent yet
    device.record_many(wid, [(t0 + 1000 * i, 45.0 + 2.5e-5 * i, 7.0, 200.0, 140.0, 97.0)
                             for i in range(n)])
    device.finish(wid, t0 + 1000 * n)
    syncing = asyncio.create_task(device.sync(timeout_s=120))
    await _until(lambda: device.pending() < n - 100, 30)
    os.killpg(gateway.pid, signal.SIGKILL)  # mid-stream
    assert 0 < device.pending() < n
    processes.start([*STRIDE, "gateway", "run"], health, env, name="gateway")  # same port
    stats = await syncing
    assert device.pending() == 0 and device.unfinished() == 0
    assert stats.reconnects >= 1 and stats.acked == n
    assert await asyncio.to_thread(_stored, stack, wid, n) == (n, n)
    device.close()


def test_a_device_killed_mid_stream_resumes_after_a_restart(
        stack: Settings, tmp_path: Path, session_athlete: Account) -> None:
    wid, t0, n = uuid.uuid4(), int(time.time() * 1000) - 3_600_000, 1200
    path = tmp_path / "phone.sqlite3"
    argv = [sys.executable, str(REPO / "tests" / "e2e" / "offline_client.py"), stack.gateway_ws_url,
            session_athlete.token, str(path), str(wid), str(n), str(t0)]
    first = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert first.stdout is not None and first.stdout.readline().strip() == "recorded"
        assert wait_until(lambda: _pending(path) < n - 100, 30, interval_s=0.01)
        first.kill()  # SIGKILL, mid-stream
        first.wait(10)
        assert 0 < _pending(path) < n
        recorded = [(t0 + 1000 * i, 45.0 + 2.5e-5 * i, 7.0, 200.0, 140.0 + i % 20, 97.0) for i in range(n)]
        assert _in_clear(path, recorded) == 0  # what a lost phone's file gives away
    finally:
        if first.poll() is None:
            first.kill()
    again = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "synced" in again.stdout and _pending(path) == 0
    assert _stored(stack, wid, n) == (n, n)


@pytest.mark.timeout(600)
async def test_a_day_offline_resyncs(stack: Settings, production_gateway: Gateway, tmp_path: Path,
                                     session_athlete: Account) -> None:
    """24 h at 1 Hz (86,400 samples) recorded offline, then synced — through a gateway with
    the production quotas: a resent backlog draws on its own, larger allowance — and stored
    exactly once. How long it takes is printed (the README quotes it), not asserted: a
    figure that depends on the machine's load belongs to a report, not to a pass/fail."""
    wid, n = uuid.uuid4(), 86_400
    t0 = int(time.time() * 1000) - (n + 60) * 1000
    device = OfflineDevice(production_gateway.ws_url, session_athlete.token,
                           tmp_path / "day.sqlite3")
    device.begin(wid, "walk", t0)
    device.record_many(wid, [(t0 + 1000 * i, 45.0 + 1e-5 * (i % 5000), 7.0, None, 90.0, None)
                             for i in range(n)])
    begun = time.monotonic()
    stats = await device.sync(timeout_s=300)
    took = time.monotonic() - begun
    assert device.pending() == 0 and stats.acked == n
    print(f"resynced {n} samples in {took:.1f} s")  # the README quotes this figure
    assert await asyncio.to_thread(_stored, stack, wid, n) == (n, n)


async def test_a_workout_the_server_refuses_is_set_aside_and_the_others_go_on(
        stack: Settings, tmp_path: Path, session_athlete: Account) -> None:
    """E.g. a workout the server finished while the device was away (auto-finish after a
    long silence): its samples stay in the buffer, reported by `refused()`."""
    from gateway.client import DeviceClient

    t0 = int(time.time() * 1000) - 600_000
    gone, fine = uuid.uuid4(), uuid.uuid4()
    async with DeviceClient(stack.gateway_ws_url, session_athlete.token) as other_phone:
        await other_phone.start(gone, "run", t0)
        await other_phone.finish(gone, t0 + 1000)
    device = OfflineDevice(stack.gateway_ws_url, session_athlete.token, tmp_path / "b.sqlite3")
    for wid in (gone, fine):
        device.begin(wid, "run", t0)
        device.record_many(wid, [(t0 + 1000 * i, 45.0, 7.0, None, 120.0, None) for i in range(5)])
        device.finish(wid, t0 + 10_000)
    with pytest.raises(ValueError, match="finished"):
        device.record(fine, (t0 + 20_000, 45.0, 7.0, None, 120.0, None))
    stats = await device.sync(timeout_s=60)
    assert list(device.refused()) == [gone] and "workout_finished" in device.refused()[gone]
    assert device.pending() == 5 and device.unfinished() == 0 and stats.errors >= 1
    assert await asyncio.to_thread(_stored, stack, fine, 5) == (5, 5)
    device.close()


async def test_the_optional_sample_fields_travel_through_the_buffer(
        stack: Settings, tmp_path: Path, session_athlete: Account) -> None:
    """Doppler speed, accuracy and power recorded offline reach `sensor_data` as recorded;
    six-element samples beside them stay valid (their extra columns are null)."""
    t0 = int(time.time() * 1000) - 600_000
    wid = uuid.uuid4()
    device = OfflineDevice(stack.gateway_ws_url, session_athlete.token, tmp_path / "c.sqlite3")
    device.begin(wid, "ride", t0)
    with pytest.raises(ValueError, match="refused"):
        device.record(wid, (t0, 45.0, 7.0, None, 120.0, None, -1.0))  # a negative speed
    device.record_many(wid, [(t0 + 1000 * i, 45.0 + 6e-5 * i, 7.0, None, 120.0, None, 6.5, 4.0, 180.0)
                             for i in range(3)])
    device.record_many(wid, [(t0 + 3000, 45.00018, 7.0, None, 121.0, None),
                             (t0 + 4000, 45.00024, 7.0, None, 121.0, None, None, 12.0)])
    device.finish(wid, t0 + 5000)
    await device.sync(timeout_s=60)
    assert await asyncio.to_thread(_stored, stack, wid, 5) == (5, 5)
    with psycopg.connect(stack.pg_dsn) as conn:
        rows = conn.execute("SELECT seq, speed_mps, accuracy_m, power_w FROM sensor_data"
                            " WHERE workout_id = %s ORDER BY seq", (wid,)).fetchall()
    assert rows == [(0, 6.5, 4.0, 180.0), (1, 6.5, 4.0, 180.0), (2, 6.5, 4.0, 180.0),
                    (3, None, None, None), (4, None, 12.0, None)]
    device.close()


async def test_a_plain_buffer_of_an_older_version_is_sealed_and_syncs(
        stack: Settings, tmp_path: Path, session_athlete: Account) -> None:
    """A buffer written before sealing (plain msgpack rows, as the older SDK kept them) is
    sealed when the new SDK opens it, and every sample, old and new, reaches PostgreSQL as
    recorded."""
    t0 = int(time.time() * 1000) - 600_000
    wid, path = uuid.uuid4(), tmp_path / "old.sqlite3"
    track = [(t0 + 1000 * i, 45.1 + 3e-5 * i, 7.2, 150.0, 120.0 + i % 30, 96.0) for i in range(60)]
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA journal_mode=WAL")
        db.executescript(SCHEMA)
        db.execute("INSERT INTO workouts (workout_id, sport, started_at, next_seq) VALUES (?, ?, ?, ?)",
                   (str(wid), "run", t0, 40))
        db.executemany("INSERT INTO samples VALUES (?, ?, ?)",
                       [(str(wid), i, msgspec.msgpack.encode(list(s))) for i, s in enumerate(track[:40])])
    assert _in_clear(path, track[:40]) == 40  # the check sees plain samples
    device = OfflineDevice(stack.gateway_ws_url, session_athlete.token, path)
    assert _in_clear(path, track[:40]) == 0 and device.pending() == 40
    device.record_many(wid, track[40:])
    device.finish(wid, t0 + 60_000)
    stats = await device.sync(timeout_s=60)
    assert stats.acked == 60 and device.pending() == 0
    assert await asyncio.to_thread(_stored, stack, wid, 60) == (60, 60)
    with psycopg.connect(stack.pg_dsn) as conn:
        rows = conn.execute("SELECT lat, hr_bpm FROM sensor_data WHERE workout_id = %s ORDER BY seq",
                            (wid,)).fetchall()
    assert rows == [(s[1], s[4]) for s in track]
    device.close()
