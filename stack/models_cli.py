"""`stride models train|register|list|show|deploy|rollback|status`: the model registry and Serve.

Each function takes the parsed values and the Settings, prints what happened, and returns an
exit code (0 ok, 1 refused or failed). Artifacts trained here go to the default store,
`<STRIDE_HOME>/models/<type>/<version>/`; `register` also takes any folder or fsspec URL.
`by` names who acts (an email or user id of a Stride account); it is recorded in the registry.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import shutil
import uuid
from pathlib import Path
from typing import Any

import psycopg
from rich.console import Console
from rich.table import Table

from serve import artifacts
from stack.settings import Settings
from storage import models_registry as registry

TYPES = ("risk", "recommend")
console = Console()


def store_path(settings: Settings, type: str, version: str) -> Path:
    return settings.home_path / "models" / type / version


def train(settings: Settings, type: str, version: str, seed: int = 0, register: bool = True,
          by: str | None = None) -> int:
    """Train `type` with `seed` into the store as `version`, print its metrics, and register it."""
    from models.train import train_recommender, train_risk

    if not _known(type):
        return 1
    out = store_path(settings, type, version)
    if out.exists():
        console.print(f"[red]{out} exists already[/]: pick another version")
        return 1
    metrics = (train_risk if type == "risk" else train_recommender)(seed, out)
    console.print(f"trained {type} {version} (seed {seed}) into {out}")
    console.print(_metrics_table(metrics))
    return _register(settings, type, version, str(out), by) if register else 0


def register(settings: Settings, type: str, version: str, source: str, by: str | None = None) -> int:
    """Register the artifact at `source` (a folder, copied into the store, or an fsspec URL,
    registered where it is) as `type` `version`, with its checksum and metrics."""
    if not _known(type):
        return 1
    if artifacts.is_url(source):
        return _register(settings, type, version, source, by)
    folder, dest = artifacts.local_path(source).resolve(), store_path(settings, type, version)
    if not (folder / "meta.json").is_file():
        console.print(f"[red]{folder} is not a model artifact[/] (no meta.json)")
        return 1
    if folder != dest.resolve():
        if dest.exists():
            console.print(f"[red]{dest} exists already[/]: pick another version")
            return 1
        shutil.copytree(folder, dest)
    return _register(settings, type, version, str(dest), by)


def _register(settings: Settings, type: str, version: str, path: str, by: str | None) -> int:
    try:
        folder = (artifacts.local_path(path) if not artifacts.is_url(path)
                  else artifacts.fetch(path, Path(_tmpdir())))
        meta = json.loads((folder / "meta.json").read_text())
        checksum = artifacts.checksum(folder)
    except (OSError, ValueError) as exc:
        console.print(f"[red]cannot read the artifact at {path}[/]: {exc}")
        return 1
    if meta.get("type") not in (None, type):
        console.print(f"[red]{path} holds a {meta['type']} model[/], not {type}")
        return 1
    schema = meta.get("feature_schema")
    if schema is not None and (not isinstance(schema, int) or isinstance(schema, bool) or schema < 1):
        console.print(f"[red]{path} names no valid feature schema[/] ({schema!r})")
        return 1

    async def run() -> registry.ModelRecord:
        async with await psycopg.AsyncConnection.connect(settings.pg_dsn, autocommit=True) as conn:
            return await registry.register(conn, type=type, version=version, path=path,
                                           checksum=checksum, metrics=meta.get("metrics", {}),
                                           created_by=await _user(conn, by),
                                           feature_schema=schema)
    try:
        record = asyncio.run(run())
    except registry.RegistryError as exc:
        console.print(f"[red]{exc}[/]")
        return 1
    console.print(f"registered {type} {version} ({record.path}, sha256 {checksum[:12]}…);"
                  f" deploy it: stride models deploy {type} {version}")
    return 0


def list_models(settings: Settings, type: str | None = None) -> int:
    records = asyncio.run(_with_conn(settings, lambda c: registry.list_models(c, type)))
    table = Table(title="Registered models")
    for column in ("type", "version", "status", "registered", "by", "schema", "key metrics", "path"):
        table.add_column(column)
    for r in records:
        style = "bold green" if r.status == "deployed" else ("dim" if r.status == "retired" else "")
        table.add_row(r.type, r.version, r.status, r.created_at.strftime("%Y-%m-%d %H:%M"),
                      str(r.created_by or "")[:8], str(r.feature_schema or "-"),
                      _key_metrics(r.metrics), r.path, style=style)
    console.print(table if records else "no models registered: stride models train risk --version v1")
    return 0


def show(settings: Settings, type: str, version: str | None = None) -> int:
    """One version in full (default: the deployed one) and the type's deploy history."""
    async def run(conn: Any) -> tuple[registry.ModelRecord | None, list[registry.Deployment]]:
        record = await (registry.get(conn, type, version) if version
                        else registry.deployed(conn, type))
        return record, await registry.history(conn, type)

    record, history = asyncio.run(_with_conn(settings, run))
    if record is None:
        console.print(f"[red]no {type} model {version or '(deployed)'}[/]")
        return 1
    for key in ("id", "type", "version", "status", "path", "checksum", "created_at", "created_by",
                "deployed_at", "deployed_by"):
        console.print(f"[bold]{key:>12}[/] {getattr(record, key)}")
    console.print(_metrics_table(record.metrics))
    if history:
        table = Table(title=f"{type}: deploys and rollbacks")
        for column in ("at", "action", "from", "to", "by"):
            table.add_column(column)
        for d in history:
            table.add_row(d.at.strftime("%Y-%m-%d %H:%M:%S"), d.action, d.from_version or "",
                          d.to_version, str(d.actor or "")[:8])
        console.print(table)
    return 0


def serve_target(settings: Settings) -> Any:
    """Where deploys go, from the settings: the stack's Ray and the artifact cache."""
    # Serve's client logs every connection at INFO (its logger is set up on import); the
    # commands say what happened themselves.
    import ray.serve  # noqa: F401

    from serve import control

    logging.getLogger("ray.serve").setLevel(logging.WARNING)

    return control.ServeTarget(ray_address=settings.ray_address, ray_namespace=settings.ray_namespace,
                               cache_dir=str(settings.home_path / "models" / ".cache"))


async def deploy_now(settings: Settings, type: str, version: str, by: uuid.UUID | None = None,
                     batching: bool = True) -> registry.ModelRecord:
    from serve import control

    async with await psycopg.AsyncConnection.connect(settings.pg_dsn, autocommit=True) as conn:
        return await control.deploy_with(conn, serve_target(settings), type, version, by, batching)


def deploy(settings: Settings, type: str, version: str, by: str | None = None,
           batching: bool = True) -> int:
    from serve import control

    async def run(conn: Any) -> registry.ModelRecord:
        return await control.deploy_with(conn, serve_target(settings), type, version,
                                         await _user(conn, by), batching)
    return _act(settings, run, f"deployed {type} {version}")


def rollback(settings: Settings, type: str, by: str | None = None) -> int:
    from serve import control

    async def run(conn: Any) -> registry.ModelRecord:
        return await control.rollback_with(conn, serve_target(settings), type, await _user(conn, by))
    return _act(settings, run, f"rolled {type} back")


async def restore(settings: Settings) -> tuple[list[str], list[str]]:
    """Serve again what the registry marks deployed (after the stack's Ray restarted): what
    started, and what could not, with why."""
    from serve import control

    async with await psycopg.AsyncConnection.connect(settings.pg_dsn, autocommit=True) as conn:
        return await control.restore_with(conn, serve_target(settings))


def ensure_served(settings: Settings, seed: int = 7) -> int:
    """Every model type serving a model of the current feature schema: the ones that are not
    get a new version trained (from `seed`), registered and deployed (`stride demo`'s step)."""
    from models.features import FEATURE_SCHEMA
    from serve import control

    async def state(conn: Any) -> dict[str, tuple[registry.ModelRecord | None, str | None]]:
        apps = {a.type: a.serving for a in await control.status_with(conn, serve_target(settings))}
        return {t: (await registry.deployed(conn, t), apps.get(t)) for t in TYPES}

    with console.status("models: asking the registry and Ray Serve …"):
        now = asyncio.run(_with_conn(settings, state))
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
    for type in TYPES:
        record, serving = now[type]
        if record is not None and record.feature_schema == FEATURE_SCHEMA and serving == record.version:
            console.print(f"[green]✓[/] models    {type} {record.version} serves on Ray Serve")
            continue
        version = f"demo-{stamp}"
        with console.status(f"models: training {type} {version} (seed {seed}) …"):
            if train(settings, type, version, seed=seed) != 0:
                return 1
        with console.status(f"models: deploying {type} {version} on Ray Serve …"):
            if deploy(settings, type, version) != 0:
                return 1
    return 0


def status(settings: Settings) -> int:
    """What the registry says is deployed, next to what Serve answers with."""
    from serve import control

    async def apps_now() -> list[control.AppStatus]:
        async with await psycopg.AsyncConnection.connect(settings.pg_dsn, autocommit=True) as conn:
            return await control.status_with(conn, serve_target(settings))

    apps = asyncio.run(apps_now())
    table = Table(title="Models on Ray Serve")
    for column in ("type", "registry", "serving", "application", "batching"):
        table.add_column(column)
    for a in apps:
        style = "" if a.registered == a.serving else "yellow"
        table.add_row(a.type, a.registered or "-", a.serving or "-", a.status,
                      "" if a.batching is None else str(a.batching), style=style)
    console.print(table)
    return 0 if all(a.registered == a.serving for a in apps) else 1


def _act(settings: Settings, run: Any, done: str) -> int:
    from serve.control import DeployError

    try:
        record = asyncio.run(_with_conn(settings, run))
    except (DeployError, registry.RegistryError) as exc:
        console.print(f"[red]{exc}[/]")
        return 1
    console.print(f"{done}: {record.type} {record.version} now serves on Ray Serve"
                  f" (application {record.type!r})")
    return 0


async def _with_conn(settings: Settings, fn: Any) -> Any:
    async with await psycopg.AsyncConnection.connect(settings.pg_dsn, autocommit=True) as conn:
        return await fn(conn)


async def _user(conn: Any, by: str | None) -> uuid.UUID | None:
    """The account `by` names (an email or a user id); None when not given."""
    if not by:
        return None
    try:
        return uuid.UUID(by)
    except ValueError:
        pass
    row = await (await conn.execute("SELECT id FROM users WHERE lower(email) = lower(%s)", (by,))).fetchone()
    if row is None:
        raise registry.RegistryError(f"no Stride account {by}")
    return uuid.UUID(str(row[0]))


def _known(type: str) -> bool:
    if type in TYPES:
        return True
    console.print(f"[red]unknown model type {type!r}[/]: one of {', '.join(TYPES)}")
    return False


def _tmpdir() -> str:
    import tempfile

    return tempfile.mkdtemp(prefix="stride-register-")


_KEY_METRICS = ("auc", "brier", "hit_rate@5", "ndcg@5")


def _key_metrics(metrics: dict[str, Any]) -> str:
    return ", ".join(f"{k} {metrics[k]:.3f}" for k in _KEY_METRICS if isinstance(metrics.get(k), float))


def _metrics_table(metrics: dict[str, Any]) -> Table:
    table = Table(title="held-out metrics")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in metrics.items():
        table.add_row(key, f"{value:.4f}" if isinstance(value, float) else str(value))
    return table
