"""The gateway's composition root: `create_app(config)` builds the Litestar app."""

from __future__ import annotations

import datetime as dt
import importlib
import logging
import pkgutil
import secrets
import urllib.parse
import uuid
from pathlib import Path
from typing import Any

import httpx
import msgspec
from litestar import Litestar, Response, get
from litestar.datastructures import State
from litestar.openapi import OpenAPIConfig

import gateway
from actors.shell import ActorConfig
from gateway.access import PUBLIC, authenticate_guard
from gateway.access_watch import AccessWatch
from gateway.auth import Authenticator
from gateway.client_address import ClientAddress
from gateway.errors import EXCEPTION_HANDLERS
from gateway.export_api import ExportRunner
from gateway.hashing import PasswordHashing
from gateway.import_pool import ImportPool
from gateway.ingest import ingest
from gateway.ingest_limits import IngestLimits
from gateway.live import live
from gateway.live_hub import LiveHub
from gateway.oidc import OidcClient, OidcProvider
from gateway.probe import WorkoutProbe
from gateway.quotas import QuotaGuard, Quotas
from gateway.security_headers import security_headers
from gateway.throttle import LoginLimits, LoginThrottle
from serve.control import ServeTarget
from storage import data_keys
from storage.access_log import AccessLogWriter
from storage.pool import open_pool
from streams import redis_pool
from streams.producer import EventProducer

log = logging.getLogger("stride.gateway")


class GatewayConfig(msgspec.Struct, frozen=True, kw_only=True):
    pg_dsn: str
    redis_url: str
    redis_prefix: str
    ray_address: str
    ray_namespace: str
    actor: ActorConfig
    placement: str = "dedicated"
    placement_hosts: int = 2
    warm_hosts: int = 0
    health_probe_s: float = 30.0
    """How long `/healthz` trusts its last workout probe."""
    """Dedicated placement: idle hosts kept started ahead (actors/placement.py)."""
    dev_token: str
    """Accepted as a bearer token for `dev_user_id` when not empty (demo, development)."""
    dev_user_id: uuid.UUID
    session_lifetime_s: int
    session_idle_s: int
    public_url: str
    """How browsers reach this gateway (OIDC redirect URIs are built from it)."""
    tile_url: str = ""
    """A map tile URL template the web app draws routes on (empty: vectors alone)."""
    oidc_providers: list[OidcProvider] = []
    ingest: IngestLimits = IngestLimits()
    quotas: Quotas = Quotas()
    login: LoginLimits = LoginLimits()
    reauth_window_s: int = 600
    mfa_required_roles: tuple[str, ...] = ("admin",)
    access_recheck_s: float = 5.0
    trusted_proxies: tuple[str, ...] = ()
    client_address_header: str = ""
    password_hash_threads: int = 1
    password_hash_queue: int = 32
    secret_key: str = ""
    """Keys derived identifiers (leaderboard handles); a random one per process if empty."""
    models_cache_dir: str | None = None
    export_dir: str = "exports"
    """Where export ZIPs are written (gateway/export_api.py); shared by the gateways."""
    export_keep_days: int = 7
    """How long a ready export can be downloaded before it is deleted."""
    """Where model artifacts behind URLs are cached for Serve deploys."""


@get("/healthz", summary="Whether the gateway can serve: its connections, and a new workout "
     "started through its placement (gateway/probe.py)", include_in_schema=False, opt=PUBLIC)
async def healthz(state: State) -> Response[dict[str, Any]]:
    async with state.pool.connection() as conn:
        await conn.execute("SELECT 1")
    probe = await state.workout_probe.result()
    if not probe.ok:
        return Response({"ok": False, "error": probe.error}, status_code=503)
    return Response({"ok": True, "workout_probe_ms": round(probe.ms or 0.0, 1)})


def origin_of(url: str) -> str:
    """scheme://host[:port] of a URL, as browsers send it in `Origin`."""
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def api_routes() -> list[Any]:
    """The REST handlers: every `gateway/*_api.py` module exports its own `ROUTES`."""
    routes: list[Any] = []
    for info in sorted(pkgutil.iter_modules(gateway.__path__), key=lambda m: m.name):
        if info.name.endswith("_api"):
            routes.extend(importlib.import_module(f"gateway.{info.name}").ROUTES)
    return routes


def create_app(config: GatewayConfig) -> Litestar:
    pool = open_pool(config.pg_dsn, min_size=1, max_size=10)
    redis = redis_pool.connect(config.redis_url, max_connections=256)
    http = httpx.AsyncClient(timeout=10)
    hashing = PasswordHashing(config.password_hash_threads, config.password_hash_queue)
    imports = ImportPool(config.ingest.upload_workers, config.ingest.upload_queue,
                         config.ingest.upload_wait_s)
    if not config.secret_key:
        log.warning("no secret key set (STRIDE_SECRET_KEY): leaderboard handles change on restart")

    async def on_startup(app: Litestar) -> None:
        import ray

        from actors.placement import make_placement

        if not ray.is_initialized():
            ray.init(address=config.ray_address, namespace=config.ray_namespace,
                     log_to_driver=False, logging_level=logging.WARNING)
        await pool.open(wait=True, timeout=30)
        idle = dt.timedelta(seconds=config.session_idle_s)
        state = app.state
        state.pool = pool
        state.redis = redis
        state.redis_prefix = config.redis_prefix
        state.auth = Authenticator(pool, idle=idle, dev_token=config.dev_token,
                                   dev_user_id=config.dev_user_id,
                                   mfa_required_roles=frozenset(config.mfa_required_roles))
        state.session_lifetime = dt.timedelta(seconds=config.session_lifetime_s)
        state.reauth_window_s = config.reauth_window_s
        state.hashing = hashing
        state.imports = imports
        state.throttle = LoginThrottle(redis, config.redis_prefix, config.login)
        state.quotas = QuotaGuard(redis, config.redis_prefix, config.quotas)
        state.client_address = ClientAddress(config.trusted_proxies, config.client_address_header)
        state.access_watch = AccessWatch(redis, config.redis_prefix, pool, idle=idle,
                                         recheck_s=config.access_recheck_s, quotas=state.quotas)
        state.access_watch.start()
        state.live_hub = LiveHub(redis)
        state.live_hub.start()
        state.access_log = AccessLogWriter(pool)  # who read whose health data (issue 18)
        state.access_log.start()
        state.ingest_limits = config.ingest
        state.allowed_origins = {origin_of(config.public_url), *config.ingest.allowed_origins}
        state.secret_key = (config.secret_key or secrets.token_hex(32)).encode()
        state.data_keys = data_keys.on_pool(pool, config.actor.keys_dir)  # sealing (issue 18)
        state.events = EventProducer(config.actor.kafka, topic_prefix=config.actor.topic_prefix,
                                     keys=state.data_keys)
        state.placement = make_placement(config.placement, config.actor, config.ray_namespace,
                                         config.placement_hosts, config.warm_hosts)
        state.placement.keep_warm()
        state.workout_probe = WorkoutProbe(state.placement, fresh_s=config.health_probe_s)
        state.oidc = {
            p.name: OidcClient(p, f"{config.public_url}/v1/auth/oidc/{p.name}/callback", http)
            for p in config.oidc_providers
        }
        state.public_url = config.public_url
        state.tile_url = config.tile_url
        state.serve_target = ServeTarget(ray_address=config.ray_address,
                                         ray_namespace=config.ray_namespace,
                                         cache_dir=config.models_cache_dir)
        state.exports = ExportRunner(pool, Path(config.export_dir),
                                     dt.timedelta(days=config.export_keep_days))
        state.exports.start()

    async def on_shutdown(app: Litestar) -> None:
        app.state.placement.stop()
        await app.state.access_watch.stop()
        await app.state.live_hub.stop()
        await app.state.exports.stop()
        await app.state.access_log.stop()
        await app.state.events.stop()
        await pool.close()
        await redis.aclose()
        await http.aclose()
        hashing.close()
        imports.close()

    return Litestar(
        route_handlers=[healthz, ingest, live, *api_routes()],
        guards=[authenticate_guard],
        on_startup=[on_startup],
        on_shutdown=[on_shutdown],
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
        before_send=[security_headers(config.public_url, config.tile_url)],
        openapi_config=OpenAPIConfig(title="Stride API", version="0.1.0", path="/schema"),
    )
