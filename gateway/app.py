"""The gateway's composition root: `create_app(config)` builds the Litestar app."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import msgspec
from litestar import Litestar, get
from litestar.datastructures import State
from litestar.openapi import OpenAPIConfig
from psycopg_pool import AsyncConnectionPool

from actors.shell import ActorConfig
from gateway.auth import DevTokenAuth
from gateway.errors import EXCEPTION_HANDLERS
from gateway.ingest import ingest
from gateway.workouts_api import get_samples, get_workout, list_workouts

log = logging.getLogger("stride.gateway")


class GatewayConfig(msgspec.Struct, frozen=True, kw_only=True):
    pg_dsn: str
    ray_address: str
    ray_namespace: str
    actor: ActorConfig
    dev_token: str
    dev_user_id: uuid.UUID


@get("/healthz", summary="Liveness of the gateway and its connections", include_in_schema=False)
async def healthz(state: State) -> dict[str, Any]:
    async with state.pool.connection() as conn:
        await conn.execute("SELECT 1")
    return {"ok": True}


def create_app(config: GatewayConfig) -> Litestar:
    pool = AsyncConnectionPool(config.pg_dsn, min_size=1, max_size=10, open=False)

    async def on_startup(app: Litestar) -> None:
        import ray

        from actors.placement import DedicatedPlacement

        if not ray.is_initialized():
            ray.init(address=config.ray_address, namespace=config.ray_namespace,
                     log_to_driver=False, logging_level=logging.WARNING)
        await pool.open(wait=True, timeout=30)
        app.state.pool = pool
        app.state.placement = DedicatedPlacement(config.actor, config.ray_namespace)

    async def on_shutdown(app: Litestar) -> None:
        await pool.close()

    return Litestar(
        route_handlers=[healthz, ingest, get_workout, list_workouts, get_samples],
        on_startup=[on_startup],
        on_shutdown=[on_shutdown],
        state=State({"auth": DevTokenAuth(config.dev_token, config.dev_user_id)}),
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
        openapi_config=OpenAPIConfig(title="Stride API", version="0.1.0", path="/schema"),
    )
