"""The gateway's composition root: `create_app(config)` builds the Litestar app."""

from __future__ import annotations

import datetime as dt
import importlib
import logging
import pkgutil
import urllib.parse
import uuid
from typing import Any

import httpx
import msgspec
from litestar import Litestar, get
from litestar.datastructures import State
from litestar.openapi import OpenAPIConfig
from psycopg_pool import AsyncConnectionPool

import gateway
from actors.shell import ActorConfig
from gateway.access import PUBLIC, authenticate_guard
from gateway.access_watch import AccessWatch
from gateway.auth import Authenticator
from gateway.errors import EXCEPTION_HANDLERS
from gateway.ingest import Connections, IngestLimits, ingest
from gateway.live import live
from gateway.live_hub import LiveHub
from gateway.oidc import OidcClient, OidcProvider
from gateway.throttle import LoginThrottle
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
    dev_token: str
    """Accepted as a bearer token for `dev_user_id` when not empty (demo, development)."""
    dev_user_id: uuid.UUID
    session_lifetime_s: int
    session_idle_s: int
    public_url: str
    """How browsers reach this gateway (OIDC redirect URIs are built from it)."""
    oidc_providers: list[OidcProvider] = []
    ingest: IngestLimits = IngestLimits()


@get("/healthz", summary="Liveness of the gateway and its connections", include_in_schema=False,
     opt=PUBLIC)
async def healthz(state: State) -> dict[str, Any]:
    async with state.pool.connection() as conn:
        await conn.execute("SELECT 1")
    return {"ok": True}


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
    # `check`: a connection that died while idle (PostgreSQL restarted) is replaced before a
    # request gets it, instead of failing that request (found by the fault suite).
    pool = AsyncConnectionPool(config.pg_dsn, min_size=1, max_size=10, open=False,
                               check=AsyncConnectionPool.check_connection)
    redis = redis_pool.connect(config.redis_url, max_connections=256)
    http = httpx.AsyncClient(timeout=10)

    async def on_startup(app: Litestar) -> None:
        import ray

        from actors.placement import make_placement

        if not ray.is_initialized():
            ray.init(address=config.ray_address, namespace=config.ray_namespace,
                     log_to_driver=False, logging_level=logging.WARNING)
        await pool.open(wait=True, timeout=30)
        app.state.pool = pool
        app.state.redis = redis
        app.state.redis_prefix = config.redis_prefix
        app.state.auth = Authenticator(pool, idle=dt.timedelta(seconds=config.session_idle_s),
                                       dev_token=config.dev_token, dev_user_id=config.dev_user_id)
        app.state.session_lifetime = dt.timedelta(seconds=config.session_lifetime_s)
        app.state.throttle = LoginThrottle(redis, config.redis_prefix)
        app.state.access_watch = AccessWatch(redis, config.redis_prefix)
        app.state.access_watch.start()
        app.state.live_hub = LiveHub(redis)
        app.state.live_hub.start()
        app.state.ingest_limits = config.ingest
        app.state.device_connections = Connections(config.ingest.max_connections_per_user)
        app.state.allowed_origins = {origin_of(config.public_url), *config.ingest.allowed_origins}
        app.state.events = EventProducer(config.actor.kafka, topic_prefix=config.actor.topic_prefix)
        app.state.placement = make_placement(config.placement, config.actor, config.ray_namespace,
                                             config.placement_hosts)
        app.state.oidc = {
            p.name: OidcClient(p, f"{config.public_url}/v1/auth/oidc/{p.name}/callback", http)
            for p in config.oidc_providers
        }

    async def on_shutdown(app: Litestar) -> None:
        await app.state.access_watch.stop()
        await app.state.live_hub.stop()
        await app.state.events.stop()
        await pool.close()
        await redis.aclose()
        await http.aclose()

    return Litestar(
        route_handlers=[healthz, ingest, live, *api_routes()],
        guards=[authenticate_guard],
        on_startup=[on_startup],
        on_shutdown=[on_shutdown],
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
        openapi_config=OpenAPIConfig(title="Stride API", version="0.1.0", path="/schema"),
    )
