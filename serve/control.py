"""Deploy and roll back model versions on Ray Serve, keeping the registry in step.

One Serve application per model type, named after it (`risk`, `recommend`), reached through
`serve.get_app_handle(type)`; the HTTP proxy is disabled (callers use handles). A deploy:
1. takes the type's advisory lock (one deploy or rollback of a type at a time),
2. checks the model was trained on the serving code's feature schema
   (models.features.FEATURE_SCHEMA), stages the artifact and recomputes its checksum; a
   mismatch of either refuses the deploy (a rollback and a restore check the same),
3. `serve.run`s the application with the new version in `user_config`. Serve rolls it out
   as a new replica next to the old one (`max_surge_percent=100`, serve/deployments.py): the
   new one loads the model and reports healthy, the router moves traffic to it, and the old
   one stops only after finishing the requests it holds (graceful shutdown). No request is
   dropped; callers see v1 until the switch, then v2. (Ray 2.60's Python API gives every
   `serve.run` a new code version, so even a `user_config`-only change restarts replicas
   rather than calling `reconfigure` in place; the rolling path is the supported one.)
4. waits until the application answers with the new version, then commits the registry row.
If Serve fails, the transaction rolls back and the registry still names what is served.

The caller says where Ray is (`ServeTarget`); settings are read by the composition roots
(stack/models_cli.py, the gateway's app), never here.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import msgspec
import psycopg

from models.features import FEATURE_SCHEMA
from serve import artifacts
from storage import models_registry as registry
from streams.retry import wait_until

TYPES = ("risk", "recommend")

log = logging.getLogger("stride.serve")


class DeployError(Exception):
    """The deploy or rollback did not happen; the message says why."""


class ServeTarget(msgspec.Struct, frozen=True, kw_only=True):
    """Where deploys go: the Ray cluster to join (unless this process already has) and the
    local cache for artifacts behind URLs."""

    ray_address: str = ""
    ray_namespace: str = "stride"
    cache_dir: str | None = None


class AppStatus(msgspec.Struct, frozen=True, kw_only=True):
    type: str
    registered: str | None
    """The version the registry marks deployed."""
    serving: str | None
    """The version the Serve application answers with (None: not running)."""
    status: str
    """Serve's application status (RUNNING, DEPLOYING, …) or NOT_STARTED."""
    batching: bool | None = None
    answered_ms: float | None = None
    """How long the application took to answer an `info` call just now (None: not asked)."""


_JOINING = threading.Lock()
"""A gateway asks for the status (polled by the ML pages) while a deploy may be joining Ray
in another thread; `ray.init` twice at once fails, so joining is one thread at a time."""


def connect(target: ServeTarget) -> None:
    """Join the stack's Ray as a driver (unless joined already) and make sure Serve runs; when
    this starts Serve, its HTTP proxy is off (callers use handles)."""
    import ray
    from ray import serve

    with _JOINING:
        if not ray.is_initialized():
            ray.init(address=target.ray_address or "auto", namespace=target.ray_namespace,
                     log_to_driver=False, logging_level=logging.WARNING)
        serve.start(proxy_location="Disabled", logging_config={"enable_access_log": False,
                                                               "log_level": "WARNING"})


def _deployment(type: str) -> Any:
    from serve.deployments import Recommender, RiskModel

    if type not in TYPES:
        raise DeployError(f"unknown model type {type!r}; one of {', '.join(TYPES)}")
    return RiskModel if type == "risk" else Recommender


def model_config(record: registry.ModelRecord, batching: bool = True) -> dict[str, Any]:
    if record.checksum is None:
        raise DeployError(f"{record.type} {record.version} has no checksum: register it again")
    return {"version": record.version, "path": record.path, "checksum": record.checksum,
            "batching": batching}


def apply(type: str, config: dict[str, Any], timeout_s: float = 120.0, prefix: str = "") -> None:
    """Run (or update in place) the application `prefix + type` with `config`; returns once it
    answers with config["version"]. Blocking: call it in a thread from async code."""
    from ray import serve

    app = _deployment(type).options(user_config=config).bind()
    serve.run(app, name=prefix + type, route_prefix=None)
    handle = serve.get_app_handle(prefix + type)

    def answers_with_it() -> bool:
        return bool(handle.info.remote().result(timeout_s=timeout_s)["version"] == config["version"])

    if not wait_until(answers_with_it, timeout_s, interval_s=0.05):
        raise DeployError(f"{type} does not answer with {config['version']} after {timeout_s:.0f} s")


async def _stage(target: ServeTarget, record: registry.ModelRecord) -> None:
    if record.feature_schema != FEATURE_SCHEMA:
        trained = ("an unrecorded feature schema" if record.feature_schema is None
                   else f"feature schema {record.feature_schema}")
        raise DeployError(f"{record.type} {record.version} was trained on {trained}; the serving"
                          f" code builds schema {FEATURE_SCHEMA}: train it again"
                          f" (stride models train {record.type} <version>)")
    if record.checksum is None:
        raise DeployError(f"{record.type} {record.version} has no checksum: register it again")
    try:
        await asyncio.to_thread(artifacts.stage, record.path, record.checksum,
                                None if target.cache_dir is None else Path(target.cache_dir))
    except artifacts.ChecksumMismatch as exc:
        raise DeployError(str(exc)) from None
    except (FileNotFoundError, OSError) as exc:
        raise DeployError(f"cannot read the artifact of {record.type} {record.version}: {exc}") from None


async def deploy_with(conn: psycopg.AsyncConnection[Any], target: ServeTarget, type: str,
                      version: str, by: uuid.UUID | None = None,
                      batching: bool = True, prefix: str = "") -> registry.ModelRecord:
    """Deploy `type` `version` (see the module doc); `conn` must not be in a transaction.
    `prefix` goes before the application's name (tests run their own applications)."""
    _deployment(type)
    async with conn.transaction():
        await registry.lock_type(conn, type)
        record = await registry.get(conn, type, version)
        if record is None:
            raise DeployError(f"no {type} model {version} is registered")
        await _stage(target, record)
        await asyncio.to_thread(connect, target)
        await asyncio.to_thread(apply, type, model_config(record, batching), prefix=prefix)
        return await registry.mark_deployed(conn, type, version, by)


async def rollback_with(conn: psycopg.AsyncConnection[Any], target: ServeTarget, type: str,
                        by: uuid.UUID | None = None, prefix: str = "") -> registry.ModelRecord:
    """Serve the version deployed before the current one again, and record it."""
    _deployment(type)
    async with conn.transaction():
        await registry.lock_type(conn, type)
        previous = await registry.rollback_target(conn, type)
        if previous is None:
            current = await registry.deployed(conn, type)
            raise DeployError(f"no {type} model is deployed" if current is None else
                              f"{type} {current.version} has no previous version to roll back to")
        await _stage(target, previous)
        await asyncio.to_thread(connect, target)
        await asyncio.to_thread(apply, type, model_config(previous), prefix=prefix)
        return await registry.mark_rolled_back(conn, type, by)


async def status_with(conn: psycopg.AsyncConnection[Any], target: ServeTarget) -> list[AppStatus]:
    """Per model type: the version the registry says is deployed and what Serve answers with."""
    registered = {t: await registry.deployed(conn, t) for t in TYPES}
    await asyncio.to_thread(connect, target)
    return await asyncio.to_thread(_serving, registered)


def _serving(registered: dict[str, registry.ModelRecord | None]) -> list[AppStatus]:
    from ray import serve

    apps = serve.status().applications
    out = []
    for type in TYPES:
        record = registered[type]
        app = apps.get(type)
        app_status = "NOT_STARTED" if app is None else str(getattr(app.status, "value", app.status))
        serving, batching, answered_ms = None, None, None
        if app_status == "RUNNING":
            asked = time.perf_counter()
            info = serve.get_app_handle(type).info.remote().result(timeout_s=30)
            answered_ms = (time.perf_counter() - asked) * 1000
            serving = info["version"]
            batching = (info["config"] or {}).get("batching")
        out.append(AppStatus(type=type, registered=None if record is None else record.version,
                             serving=serving, batching=batching,
                             status=app_status, answered_ms=answered_ms))
    return out


async def restore_with(conn: psycopg.AsyncConnection[Any],
                       target: ServeTarget) -> tuple[list[str], list[str]]:
    """Start every model the registry marks deployed that Serve does not run (after Ray was
    restarted, say); returns what was started and, for each type that could not be (its
    artifact gone, say), why. One type's failure does not keep the other from serving.
    Without a deployed model Ray is not touched."""
    deployed = [r for r in [await registry.deployed(conn, t) for t in TYPES] if r is not None]
    if not deployed:
        return [], []
    started, failed = [], []
    for app in await status_with(conn, target):
        record = next((r for r in deployed if r.type == app.type), None)
        if record is not None and app.serving != record.version:
            try:
                await _stage(target, record)
            except DeployError as exc:
                failed.append(f"{app.type} {record.version}: {exc}")
                continue
            await asyncio.to_thread(apply, app.type, model_config(record))
            started.append(f"{app.type} {record.version}")
    return started, failed


def delete(type: str) -> None:
    """Remove the Serve application of `type` (the registry is left as it is)."""
    from ray import serve

    serve.delete(type)
