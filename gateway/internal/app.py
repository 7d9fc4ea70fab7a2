"""The internal gateway's composition root: `create_app(config)` builds its Litestar app.

It serves the web bundle (the same as the public gateway, told it is on the internal
origin), the internal sign-in and `/graphql`. Its Content-Security-Policy names its own
origin, so the page loaded from here talks to this listener only. No Ray connection is made
at start: a model deploy joins the cluster when one is asked for (serve/control.py).
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import msgspec
from litestar import Litestar, Response, get
from litestar.datastructures import State
from litestar.openapi import OpenAPIConfig

from gateway import web_api
from gateway.access import PUBLIC, authenticate_guard
from gateway.access_watch import AccessWatch
from gateway.auth import Authenticator
from gateway.client_address import ClientAddress
from gateway.errors import EXCEPTION_HANDLERS
from gateway.hashing import PasswordHashing
from gateway.internal import auth_api, persisted
from gateway.internal.graphql_api import Limits, extensions, graphql_controller
from gateway.internal.probes import Targets
from gateway.internal.schema import build_schema
from gateway.security_headers import security_headers
from gateway.throttle import LoginLimits, LoginThrottle
from serve.control import ServeTarget
from storage import data_keys
from storage.pool import open_pool
from streams import redis_pool

log = logging.getLogger("stride.internal")


class InternalConfig(msgspec.Struct, frozen=True, kw_only=True):
    pg_dsn: str
    redis_url: str
    redis_prefix: str
    internal_url: str
    """How operators' browsers reach this listener (its CSP names this origin)."""
    public_url: str
    """The public gateway, for the page's links back to it."""
    ops: Targets
    """Where Kafka, the stream worker and the public gateway are, for the dead letters and
    stack health of the admin area."""
    session_lifetime_s: int
    session_idle_s: int
    login: LoginLimits = LoginLimits()
    trusted_proxies: tuple[str, ...] = ()
    client_address_header: str = ""
    password_hash_threads: int = 1
    password_hash_queue: int = 32
    ray_address: str = ""
    ray_namespace: str = "stride"
    models_cache_dir: str | None = None
    keys_dir: str = ""
    """The key material: sealed dead letters are opened with it for their type and ids."""
    adhoc_queries: bool = False
    """Run GraphQL text sent by the client, not only persisted queries (development only)."""
    introspection: bool = False
    """GraphQL introspection and the OpenAPI schema (development only)."""
    max_depth: int = 8
    max_tokens: int = 2000
    max_aliases: int = 20


@get("/healthz", summary="Whether the internal gateway can serve: its database connection",
     include_in_schema=False, opt=PUBLIC)
async def healthz(state: State) -> Response[dict[str, Any]]:
    async with state.pool.connection() as conn:
        await conn.execute("SELECT 1")
    return Response({"ok": True})


def create_app(config: InternalConfig) -> Litestar:
    pool = open_pool(config.pg_dsn, min_size=1, max_size=5)
    redis = redis_pool.connect(config.redis_url, max_connections=32)
    hashing = PasswordHashing(config.password_hash_threads, config.password_hash_queue)
    limits = Limits(config.max_depth, config.max_tokens, config.max_aliases)
    schema = build_schema(extensions(limits, adhoc_queries=config.adhoc_queries,
                                     introspection=config.introspection),
                          suggestions=config.introspection)
    if config.adhoc_queries or config.introspection:
        log.warning("development settings on: ad-hoc GraphQL queries %s, introspection %s",
                    config.adhoc_queries, config.introspection)

    async def on_startup(app: Litestar) -> None:
        await pool.open(wait=True, timeout=30)
        idle = dt.timedelta(seconds=config.session_idle_s)
        state = app.state
        state.pool = pool
        state.redis = redis
        # Every internal session is opened with TOTP, so no role waits for a second factor.
        state.auth = Authenticator(pool, idle=idle, mfa_required_roles=frozenset(),
                                   audience="internal")
        state.session_lifetime = dt.timedelta(seconds=config.session_lifetime_s)
        state.hashing = hashing
        state.throttle = LoginThrottle(redis, config.redis_prefix, config.login)
        state.client_address = ClientAddress(config.trusted_proxies, config.client_address_header)
        # Announces changes (roles, locks, ended sessions) to every gateway's open sockets;
        # this listener holds no socket of its own, so its watch is never started.
        state.access_watch = AccessWatch(redis, config.redis_prefix, pool, idle=idle)
        state.serve_target = ServeTarget(ray_address=config.ray_address,
                                         ray_namespace=config.ray_namespace,
                                         cache_dir=config.models_cache_dir)
        state.web_origin = "internal"
        # The page sends an operation's id, which it learns from here by the operation's name.
        state.persisted_query_ids = {name: persisted.query_id(text)
                                     for name, text in persisted.load().items()}
        state.public_url = config.public_url
        state.internal_url = config.internal_url
        state.ops = config.ops
        state.data_keys = data_keys.on_pool(pool, config.keys_dir)

    async def on_shutdown(app: Litestar) -> None:
        await pool.close()
        await redis.aclose()
        hashing.close()

    return Litestar(
        route_handlers=[healthz, *auth_api.ROUTES, graphql_controller(schema),
                        *web_api.ROUTES],  # type: ignore[list-item]
        guards=[authenticate_guard],
        on_startup=[on_startup],
        on_shutdown=[on_shutdown],
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
        before_send=[security_headers(config.internal_url)],
        openapi_config=(OpenAPIConfig(title="Stride internal API", version="0.1.0", path="/schema")
                        if config.introspection else None),
    )
