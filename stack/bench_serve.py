"""`stride bench serve`: the risk model on the stack's Ray Serve, with batching on and off.

Trains two small risk versions (seeds 1 and 2) into a scratch folder, deploys the first as a
Serve application of the bench's own (`bench-<run>-risk`), and sends `--rate` requests a
second through a Serve handle for `--seconds`, open loop (a request does not wait for the
one before), first with batching on and then off. Then it deploys the second version while
the load runs and counts failed requests. Latency is from sending a request to its answer.
Written to bench/results/serve-<time>.{json,md}; the application is deleted at the end.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from rich.console import Console

from stack.bench_actors import _pct, save_report
from stack.settings import Settings

console = Console()
DEPLOY_RATE = 200
"""Requests a second while a new version rolls out: the new replica needs CPU to start."""
REQUEST_TIMEOUT_S = 15.0
"""A request unanswered by then counts as failed, so the bench always ends."""
REQUEST = {"acute_load": 120.0, "chronic_load": 80.0, "acwr": 1.5, "monotony": 2.0,
           "strain": 900.0, "trimp_7d": 450.0, "cardiac_drift_pct": 4.0, "min_spo2": 96.0,
           "age": 34.0}


def _config(folder: Path, version: str, batching: bool) -> dict[str, Any]:
    from models.train import artifact_sha256

    return {"version": version, "path": str(folder), "checksum": artifact_sha256(folder),
            "batching": batching}


def _apply(prefix: str, config: dict[str, Any]) -> None:
    """Run or update the bench's risk application; returns once it answers with the version."""
    from serve.control import apply

    apply("risk", config, prefix=prefix)


async def _load(app: str, rate: int, seconds: float) -> dict[str, Any]:
    """Open-loop load: `rate` requests a second, each timed from send to answer."""
    from ray import serve

    handle = serve.get_app_handle(app)
    latencies: list[float] = []
    failures: list[str] = []
    versions: dict[str, int] = {}

    async def one() -> None:
        sent = time.perf_counter()
        try:
            answer = await asyncio.wait_for(handle.remote(REQUEST), REQUEST_TIMEOUT_S)
            latencies.append((time.perf_counter() - sent) * 1000)
            versions[answer["version"]] = versions.get(answer["version"], 0) + 1
        except Exception as exc:  # counted: a failed request is a figure of the bench
            failures.append(repr(exc)[:200])

    tasks: list[asyncio.Task[None]] = []
    started = time.perf_counter()
    sent = 0
    while (elapsed := time.perf_counter() - started) < seconds:
        due = int(elapsed * rate) - sent
        tasks += [asyncio.create_task(one()) for _ in range(due)]
        sent += due
        await asyncio.sleep(0.005)  # the pace of the open loop
    await asyncio.gather(*tasks)
    took = time.perf_counter() - started
    return {"sent": sent, "answered": len(latencies), "failed": len(failures),
            "first_failure": failures[0] if failures else None,
            "throughput_per_s": len(latencies) / took,
            "p50_ms": _pct(latencies, 0.5), "p99_ms": _pct(latencies, 0.99),
            "max_ms": max(latencies, default=float("nan")), "versions": versions}


async def _run(settings: Settings, rate: int, seconds: int) -> dict[str, Any]:
    from ray import serve

    from models.train import train_risk
    from serve.control import connect, target_of

    prefix = f"bench-{uuid.uuid4().hex[:6]}-"
    app = prefix + "risk"
    with tempfile.TemporaryDirectory() as tmp:
        v1, v2 = Path(tmp) / "v1", Path(tmp) / "v2"
        with console.status("training two risk versions …"):
            train_risk(1, v1, n=4000, epochs=4)
            train_risk(2, v2, n=4000, epochs=4)
        with console.status("connecting to Ray Serve and deploying v1 …"):
            await asyncio.to_thread(connect, target_of(settings))
            await asyncio.to_thread(_apply, prefix, _config(v1, "v1", batching=True))
        try:
            report: dict[str, Any] = {"rate": rate, "seconds": seconds}
            with console.status(f"{rate} requests/s for {seconds} s, batching on …"):
                await _load(app, rate, 2)  # warm-up
                report["batching_on"] = await _load(app, rate, seconds)
            with console.status("batching off …"):
                await asyncio.to_thread(_apply, prefix, _config(v1, "v1-unbatched", batching=False))
                await _load(app, rate, 2)
                report["batching_off"] = await _load(app, rate, seconds)
            deploy_rate = min(rate, DEPLOY_RATE)
            report["deploy_rate"] = deploy_rate
            with console.status(f"deploying v2 under {deploy_rate} requests/s …"):
                await asyncio.to_thread(_apply, prefix, _config(v1, "v1", batching=True))
                loading = asyncio.create_task(_load(app, deploy_rate, seconds + 15))
                await asyncio.sleep(3)  # v1 under steady load before the deploy
                deploy_started = time.perf_counter()
                try:
                    await asyncio.to_thread(_apply, prefix, _config(v2, "v2", batching=True))
                    report["deploy_s"] = time.perf_counter() - deploy_started
                except Exception as exc:  # a figure too: the deploy did not finish
                    report["deploy_s"] = float("nan")
                    report["deploy_error"] = repr(exc)[:300]
                report["during_deploy"] = await loading
        finally:
            serve.delete(app)
    return report


def _markdown(r: dict[str, Any]) -> str:
    rows = ["# Risk model on Ray Serve", "",
            f"Open loop, {r['rate']} requests/s for {r['seconds']} s, one replica (0.5 CPU).", "",
            "| run | answered / sent | failed | throughput | p50 / p99 / max |", "|---|---|---|---|---|"]
    for name in ("batching_on", "batching_off", "during_deploy"):
        x = r[name]
        rows.append(f"| {name.replace('_', ' ')} | {x['answered']:,} / {x['sent']:,} | {x['failed']} | "
                    f"{x['throughput_per_s']:.0f}/s | {x['p50_ms']:.1f} / {x['p99_ms']:.1f} / "
                    f"{x['max_ms']:.1f} ms |")
    rows += ["", f"Deploying v2 under {r['deploy_rate']} requests/s took {r['deploy_s']:.1f} s"
             + (f" ({r['deploy_error']})" if "deploy_error" in r else "")
             + f"; answers by version during it: {r['during_deploy']['versions']}."]
    return "\n".join(rows) + "\n"


def run(settings: Settings, rate: int, seconds: int) -> int:
    report = asyncio.run(_run(settings, rate, seconds))
    save_report("serve", report, _markdown(report))
    return 0 if report["during_deploy"]["failed"] == 0 else 1
