"""REST for ML engineers: the model registry, and deploying or rolling back on Ray Serve.

Every route needs the role `ml_engineer` or `admin` (anyone else gets 403). A deploy answers
once the new version serves (serve/control.py: rolling, no request dropped), or refuses with
409 and why (the artifact changed since registration, nothing to roll back to …).
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, get, post

from gateway.access import principal_of
from gateway.errors import ApiError
from serve import control
from storage import models_registry as registry

ML = {"roles": ["ml_engineer", "admin"]}
TAGS = ["models"]


class ModelDetail(msgspec.Struct, frozen=True, kw_only=True):
    model: registry.ModelRecord
    history: list[registry.Deployment]
    """Deploys and rollbacks of this model's type, newest first."""


@get("/v1/admin/models", opt=ML, tags=TAGS,
     summary="Registered models, newest first (ML engineers, admins)")
async def list_models(request: Request[Any, Any, Any],
                      model_type: str | None = None) -> list[registry.ModelRecord]:
    async with request.app.state.pool.connection() as conn:
        return await registry.list_models(conn, model_type)


@get("/v1/admin/models/{model_type:str}/{version:str}", opt=ML, tags=TAGS,
     summary="One model version, with its type's deploy history (ML engineers, admins)")
async def show_model(request: Request[Any, Any, Any], model_type: str, version: str) -> ModelDetail:
    async with request.app.state.pool.connection() as conn:
        record = await registry.get(conn, model_type, version)
        if record is None:
            raise ApiError(404, "not_found", f"no {model_type} model {version}")
        return ModelDetail(model=record, history=await registry.history(conn, model_type))


@post("/v1/admin/models/{model_type:str}/{version:str}/deploy", opt=ML, tags=TAGS, status_code=200,
      summary="Serve this version on Ray Serve (ML engineers, admins)")
async def deploy_model(request: Request[Any, Any, Any], model_type: str,
                       version: str) -> registry.ModelRecord:
    by = principal_of(request).user_id
    async with request.app.state.pool.connection() as conn:
        try:
            return await control.deploy_with(conn, request.app.state.serve_target, model_type,
                                             version, by)
        except (control.DeployError, registry.RegistryError) as exc:
            raise _refused(exc) from None


@post("/v1/admin/models/{model_type:str}/rollback", opt=ML, tags=TAGS, status_code=200,
      summary="Serve the previously deployed version again (ML engineers, admins)")
async def rollback_model(request: Request[Any, Any, Any], model_type: str) -> registry.ModelRecord:
    by = principal_of(request).user_id
    async with request.app.state.pool.connection() as conn:
        try:
            return await control.rollback_with(conn, request.app.state.serve_target, model_type, by)
        except (control.DeployError, registry.RegistryError) as exc:
            raise _refused(exc) from None


def _refused(exc: Exception) -> ApiError:
    message = str(exc)
    if message.startswith(("no ", "unknown model type")):
        return ApiError(404, "not_found", message)
    return ApiError(409, "conflict", message)


ROUTES = [list_models, show_model, deploy_model, rollback_model]
