"""The web app: the single-page app built from `gateway/webapp/` (React + TypeScript, by
Vite during `make setup`; stack/webapp.py), served at `/` and `/app/…` with its hashed
assets under `/assets/`.

The same bundle is served by the public gateway and the internal one (gateway/internal):
the page learns which origin it is on, and the few settings it needs before signing in,
from a `<meta name="stride-config">` filled in here; everything else it reads from the
API with the user's token. The page itself holds no data, so it is public. A strict
Content-Security-Policy (gateway/security_headers.py) lets it load only its own files and
talk only to the origin that served it.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import anyio
from litestar import Request, Response, get
from litestar.datastructures import CacheControlHeader
from litestar.enums import MediaType
from litestar.static_files import create_static_files_router

from gateway.access import PUBLIC
from gateway.errors import ApiError

APP_DIR = Path(__file__).resolve().parent / "webapp" / "dist"
CONFIG_META = '<meta name="stride-config" content="{}">'

# The page is revalidated on every load, so a new build shows at once; its assets carry a
# content hash in their names, so they are cached for good.
NO_CACHE = CacheControlHeader(no_cache=True)
IMMUTABLE = CacheControlHeader(max_age=31_536_000, public=True, immutable=True)


def page_config(state: Any) -> dict[str, Any]:
    """What the page needs before it signs in: which origin it is on, public settings and,
    on the internal origin, the ids of the GraphQL operations it may run (by name)."""
    return {"origin": getattr(state, "web_origin", "public"),
            "tile_url": getattr(state, "tile_url", ""),
            "public_url": getattr(state, "public_url", ""),
            "internal_url": getattr(state, "internal_url", ""),
            "queries": getattr(state, "persisted_query_ids", {})}


async def render_index(state: Any) -> bytes:
    index = anyio.Path(APP_DIR / "index.html")
    if not await index.exists():
        raise ApiError(503, "web_app_not_built",
                       "the web app is not built: run `make setup` (it builds gateway/webapp)")
    text = (await index.read_text()).replace(
        CONFIG_META,
        f'<meta name="stride-config" content="{html.escape(json.dumps(page_config(state)))}">', 1)
    return text.encode()


@get(["/", "/app", "/app/{path:path}"], include_in_schema=False, opt=PUBLIC,
     media_type=MediaType.HTML, cache_control=NO_CACHE)
async def web_app(request: Request[Any, Any, Any]) -> Response[bytes]:
    return Response(await render_index(request.app.state), media_type=MediaType.HTML)


@get("/favicon.svg", include_in_schema=False, opt=PUBLIC, cache_control=NO_CACHE)
async def favicon() -> Response[bytes]:
    icon = anyio.Path(APP_DIR / "favicon.svg")
    if not await icon.exists():
        raise ApiError(404, "not_found", "no favicon: the web app is not built")
    return Response(await icon.read_bytes(), media_type="image/svg+xml")


assets = create_static_files_router(
    path="/assets", directories=[APP_DIR / "assets"], opt=PUBLIC, include_in_schema=False,
    cache_control=IMMUTABLE, name="web-assets")

ROUTES = [web_app, favicon, assets]
