"""A real GPS track through the device protocol, and one workout fed by two gateways."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tarfile
import time
import uuid

import httpx
import psycopg
import pytest
from helper_processes import Processes, ws_url
from user_accounts import Account

from actors.workout import Workout
from gateway.client import DeviceClient
from stack.settings import Settings
from streams.retry import wait_until, wait_until_async

pytestmark = pytest.mark.e2e
GPXPY_SDIST = "gpxpy==1.6.2"
TRACK = "cerknicko-jezero.gpx"  # a 2-hour ride near Cerknica, logged by a GPS device


@pytest.fixture(scope="module")
def real_track(stack: Settings) -> str:
    """A GPX file from gpxpy's source distribution (its test data), fetched from PyPI once."""
    cache = stack.home_path / "cache" / "gpx"
    path = cache / TRACK
    if not path.exists():
        cache.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps",
                        "--no-binary", ":all:", GPXPY_SDIST, "-d", str(cache)], check=True, timeout=300)
        sdist = next(cache.glob("gpxpy-*.tar.gz"))
        with tarfile.open(sdist) as tar:
            member = next(m for m in tar.getmembers() if m.name.endswith(f"test_files/{TRACK}"))
            path.write_bytes(tar.extractfile(member).read())  # type: ignore[union-attr]
    return path.read_text()


async def _final_summary(stack: Settings, token: str, wid: uuid.UUID) -> dict:
    headers = {"Authorization": f"Bearer {token}"}
    found: dict = {}
    async with httpx.AsyncClient(base_url=stack.gateway_url, headers=headers) as http:
        async def finished() -> bool:
            response = await http.get(f"/v1/workouts/{wid}")
            if response.status_code == 200 and response.json()["status"] == "finished":
                found.update(response.json())
            return bool(found)

        assert await wait_until_async(finished, 30, interval_s=0.1), \
            "the workout never reached the database as finished"
    return found


@pytest.mark.parametrize(("saved_as", "mismatch"), [("ride", None), ("hike", "ride")])
async def test_a_real_track_measures_within_2_percent_of_the_geodesic_whatever_the_sport(
        stack: Settings, real_track: str, session_athlete: Account, saved_as: str,
        mismatch: str | None) -> None:
    """The ride near Cerknica, saved as a ride and as a hike: the same distance (a hike's top
    speed rejects nothing), and the hike is told its speeds are a ride's."""
    import gpxpy
    from geographiclib.geodesic import Geodesic

    gpx = gpxpy.parse(real_track)
    points = [p for t in gpx.tracks for s in t.segments for p in s.points]
    samples = [(int(p.time.timestamp() * 1000), p.latitude, p.longitude, p.elevation, None, None)
               for p in points]
    # The oracle: WGS84 geodesics (Karney) between consecutive fixes, without the steps a
    # bicycle cannot make (the track has one: 184 m in 2 s). It sums raw fixes, so it keeps
    # the length their noise adds (about σ²/d a step), which Stride takes off.
    oracle = 0.0
    for a, b in zip(points, points[1:], strict=False):
        step = Geodesic.WGS84.Inverse(a.latitude, a.longitude, b.latitude, b.longitude)["s12"]
        if step <= 35.0 * (b.time - a.time).total_seconds():
            oracle += step
    wid = uuid.uuid4()
    async with DeviceClient(stack.gateway_ws_url, session_athlete.token) as device:
        await device.start(wid, saved_as, samples[0][0])  # type: ignore[arg-type]
        for seq in range(0, len(samples), 25):
            await device.send_samples(wid, seq, samples[seq:seq + 25])
        await device.finish(wid, samples[-1][0])
    summary = await _final_summary(stack, session_athlete.token, wid)
    assert summary["samples_count"] == len(samples) == 296
    assert summary["distance_m"] == pytest.approx(oracle, rel=0.02)
    assert 0 < summary["moving_time_s"] < summary["duration_s"] == pytest.approx(7190, abs=1)
    assert summary["sport_mismatch"] == mismatch


def test_stride_import_replays_a_gpx_file_and_simulate_follows_it(  # type: ignore[no-untyped-def]
        stack: Settings, real_track: str, tmp_path, account) -> None:
    path = tmp_path / "ride.gpx"
    path.write_text(real_track)
    nobody = subprocess.run([sys.executable, "-m", "stack.cli", "import", str(path)],
                            capture_output=True, text=True, timeout=60,
                            env={k: v for k, v in os.environ.items() if k != "STRIDE_TOKEN"})
    assert nobody.returncode == 2 and "--token" in nobody.stdout  # no anonymous uploads
    token = account().token
    out = subprocess.run([sys.executable, "-m", "stack.cli", "import", str(path), "--sport", "ride",
                          f"--token={token}"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    points = next(line for line in out.stdout.splitlines() if line.startswith("│ points"))
    assert points.count("296") == 2  # every timed point stored
    distance = next(line for line in out.stdout.splitlines() if line.startswith("│ distance"))
    ours, theirs = (float(cell.strip().removesuffix(" m")) for cell in distance.split("│")[2:4])
    assert ours == pytest.approx(theirs, rel=0.02)  # spikes filtered: a little shorter
    # The same file as a route for simulated athletes.
    sim = subprocess.run([sys.executable, "-m", "stack.cli", "simulate", "--athletes", "3",
                          "--duration", "6", "--sport", "ride", "--route", str(path)],
                         capture_output=True, text=True, timeout=120)
    assert sim.returncode == 0, sim.stdout[-2000:] + sim.stderr[-2000:]
    bad = tmp_path / "broken.gpx"
    bad.write_text("<gpx><trk>")
    refused = subprocess.run([sys.executable, "-m", "stack.cli", "import", str(bad), f"--token={token}"],
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and "cannot read" in refused.stdout


def test_stride_import_reads_fit_records(stack: Settings, tmp_path, account) -> None:  # type: ignore[no-untyped-def]
    """A FIT file (written by a small FIT writer: file_id and record messages, CRC-16) of a
    10-minute run due north at 2.78 m/s with heart rate."""
    from fit_writer import write

    t0 = (int(time.time()) - 3 * 3600) * 1000
    points = [(t0 + 1000 * i, 45.0 + 2.5e-5 * i, 7.0, 200.0 + 0.1 * i, 120 + i % 30) for i in range(600)]
    path = tmp_path / "run.fit"
    write(str(path), points)
    out = subprocess.run([sys.executable, "-m", "stack.cli", "import", str(path),
                          f"--token={account().token}"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    lines = out.stdout.splitlines()
    assert next(line for line in lines if line.startswith("│ points")).count("600") == 2
    distance = next(line for line in lines if line.startswith("│ distance"))
    ours = float(distance.split("│")[2].strip().removesuffix(" m"))
    assert ours == pytest.approx(599 * 2.5e-5 * 111_195.08, rel=0.01)  # the straight line
    heart = next(line for line in lines if line.startswith("│ heart rate"))
    assert "in the file" in heart and "None" not in heart


async def test_two_gateways_feed_one_workout_without_double_counting(
    stack: Settings, processes: Processes, session_athlete: Account
) -> None:
    second = processes.gateway()
    wid = uuid.uuid4()
    t0 = int(time.time() * 1000) - 60_000
    samples = [(t0 + 1000 * i, 45.0 + 3e-5 * i, 7.0, None, 140.0 + i % 20, 97.0) for i in range(40)]
    async with DeviceClient(stack.gateway_ws_url, session_athlete.token) as one, \
            DeviceClient(ws_url(second), session_athlete.token) as two:
        await one.start(wid, "run", t0)
        await two.start(wid, "run", t0)  # the phone reconnected through another gateway
        assert (await one.send_samples(wid, 0, samples[0:15])).seq == 14
        assert (await two.send_samples(wid, 10, samples[10:30])).seq == 29  # overlaps 10..14
        assert (await one.send_samples(wid, 20, samples[20:40])).seq == 39  # overlaps 20..29
        await two.finish(wid, t0 + 40_000)
    summary = await _final_summary(stack, session_athlete.token, wid)
    reference = Workout.create(wid, session_athlete.id, "run", t0)
    reference.start()
    reference.apply_samples(0, samples)
    reference.finish(t0 + 40_000)
    assert summary["samples_count"] == 40 and summary["last_seq"] == 39
    assert summary["distance_m"] == pytest.approx(reference.summary().distance_m, rel=1e-9)
    def rows() -> tuple[int, int]:
        # The samples sink and the workouts projection are separate agents: the summary
        # can be final before the last samples are written.
        with psycopg.connect(stack.pg_dsn) as conn:
            row = conn.execute("SELECT count(*), count(DISTINCT seq) FROM sensor_data"
                               " WHERE workout_id = %s", (wid,)).fetchone()
        return (int(row[0]), int(row[1])) if row else (0, 0)

    await asyncio.to_thread(wait_until, lambda: rows()[0] >= 40, 30, 0.2)
    assert rows() == (40, 40)
