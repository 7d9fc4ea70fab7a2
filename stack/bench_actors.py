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
import statistics
import time
import tracemalloc
import uuid
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import Progress

from actors.workout import Workout
from stack.settings import REPO_ROOT, Settings

console = Console()
RESULTS = REPO_ROOT / "bench" / "results"


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


def _actor_rss_bytes() -> int:
    total = 0
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            text = status.read_text()
        except OSError:
            continue
        if "Name:\tray::WorkoutHos" in text:
            total += int(text.split("VmRSS:")[1].split()[0]) * 1024
    return total


async def stack_run(settings: Settings, placement: str, workouts: int, seconds: int) -> dict[str, Any]:
    import ray

    from actors.placement import make_placement
    from stack.wiring import actor_config

    ray.init(address=settings.ray_address, namespace=f"stride-bench-{uuid.uuid4().hex[:6]}",
             log_to_driver=False)
    place = make_placement(placement, actor_config(settings), ray.get_runtime_context().namespace,
                           settings.placement_hosts)
    user, t0 = str(uuid.uuid4()), int(time.time() * 1000)
    ids = [uuid.uuid4() for _ in range(workouts)]
    rss_before = _actor_rss_bytes()
    starts: list[float] = []
    acks: list[float] = []
    try:
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task(f"starting {workouts} workouts ({placement})", total=workouts)
            for wid in ids:
                handle = await asyncio.to_thread(place.handle, wid)
                begun = time.perf_counter()
                await handle.start.remote(str(wid), user, "run", t0)
                await handle.samples.remote(str(wid), user, 0, _track(1, t0))
                starts.append((time.perf_counter() - begun) * 1000)
                progress.advance(task)
            task = progress.add_task(f"streaming at 1 Hz for {seconds} s", total=seconds)
            for second in range(1, seconds + 1):
                tick = time.perf_counter()

                async def one(wid: uuid.UUID, sec: int = second) -> None:
                    sent = time.perf_counter()
                    handle = place.handle(wid)
                    await handle.samples.remote(str(wid), user, sec, _track(sec + 1, t0)[sec:])
                    acks.append((time.perf_counter() - sent) * 1000)

                await asyncio.gather(*(one(w) for w in ids))
                progress.advance(task)
                await asyncio.sleep(max(0.0, 1.0 - (time.perf_counter() - tick)))
        rss = _actor_rss_bytes() - (rss_before if placement == "sharded" else 0)
    finally:
        for wid in ids:
            place.release(wid)
        ray.shutdown()
    return {
        "placement": placement, "workouts": workouts, "seconds": seconds,
        "start_to_first_ack_ms": {"p50": statistics.median(starts), "p99": _pct(starts, 0.99)},
        "ack_ms_at_1hz": {"p50": statistics.median(acks) if acks else None,
                          "p99": _pct(acks, 0.99), "count": len(acks)},
        "actor_rss_bytes_per_workout": rss / workouts,
    }


def run(settings: Settings, placement: str, workouts: int, seconds: int) -> int:
    with console.status("timing the pure fold …"):
        cost = fold_cost()
    with console.status("measuring memory per workout …"):
        memory = memory_per_workout()
    live = asyncio.run(stack_run(settings, placement, workouts, seconds))
    report = {"when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
              "fold_us_per_sample": cost, "memory": memory, "stack": live}
    RESULTS.mkdir(parents=True, exist_ok=True)
    stem = RESULTS / f"actors-{placement}-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%SZ}"
    stem.with_suffix(".json").write_text(json.dumps(report, indent=2))
    stem.with_suffix(".md").write_text(_markdown(report))
    console.print(_markdown(report))
    console.print(f"written: {stem}.json and .md")
    return 0


def _markdown(r: dict[str, Any]) -> str:
    s, m, c = r["stack"], r["memory"], r["fold_us_per_sample"]
    lines = [f"# Workout actors, {s['placement']} ({r['when']})", "",
             "| figure | value |", "|---|---|"]
    lines += [f"| fold, batches of {k.split('_')[1]} | {v:.1f} µs/sample |" for k, v in c.items()]
    lines += [f"| memory per workout (Python objects) | {m['bytes_per_workout'] / 1024:.1f} KiB |",
              f"| snapshot size | {m['snapshot_bytes'] / 1024:.1f} KiB |",
              f"| workouts on the stack | {s['workouts']} for {s['seconds']} s at 1 Hz |",
              f"| start → first ack p50 / p99 | {s['start_to_first_ack_ms']['p50']:.1f} / "
              f"{s['start_to_first_ack_ms']['p99']:.1f} ms |",
              f"| ack at 1 Hz p50 / p99 | {s['ack_ms_at_1hz']['p50'] or float('nan'):.1f} / "
              f"{s['ack_ms_at_1hz']['p99']:.1f} ms ({s['ack_ms_at_1hz']['count']} acks) |",
              f"| actor resident memory per workout | "
              f"{s['actor_rss_bytes_per_workout'] / 2**20:.2f} MiB |"]
    return "\n".join(lines) + "\n"

