"""REST: `GET|PATCH /v1/users/me/privacy` — what you show on shared surfaces (private by
default: leaderboards show you as "Athlete" until you allow your name)."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, get, patch

from gateway.access import principal_of
from storage import privacy


class PrivacyIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    leaderboard_name: bool | msgspec.UnsetType = msgspec.UNSET
    profile_visibility: privacy.Visibility | msgspec.UnsetType = msgspec.UNSET
    workout_visibility: privacy.Visibility | msgspec.UnsetType = msgspec.UNSET
    in_percentiles: bool | msgspec.UnsetType = msgspec.UNSET


@get("/v1/users/me/privacy", summary="Your privacy settings")
async def get_privacy(request: Request[Any, Any, Any]) -> privacy.PrivacySettings:
    async with request.app.state.pool.connection() as conn:
        return await privacy.settings_of(conn, principal_of(request).user_id)


@patch("/v1/users/me/privacy", summary="Change your privacy settings")
async def patch_privacy(request: Request[Any, Any, Any], data: PrivacyIn) -> privacy.PrivacySettings:
    changes = {f: v for f in data.__struct_fields__
               if (v := getattr(data, f)) is not msgspec.UNSET}
    async with request.app.state.pool.connection() as conn:
        return await privacy.update(conn, principal_of(request).user_id, changes)


ROUTES = [get_privacy, patch_privacy]
