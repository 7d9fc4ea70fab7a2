"""The coach/admin web page: `/` and its static files under `/static/`.

The page is plain HTML, CSS and JavaScript in `gateway/web/` (no build step, nothing fetched
from elsewhere at run time). It logs in with the REST API and watches `WS /v1/live`; the
page itself holds no data, so it is public. A strict Content-Security-Policy
(gateway/security_headers.py) lets it load only its own files and talk only to this gateway.
"""

from __future__ import annotations

from pathlib import Path

import anyio
from litestar import Response, get
from litestar.datastructures import CacheControlHeader
from litestar.enums import MediaType
from litestar.static_files import create_static_files_router

from gateway.access import PUBLIC

WEB_DIR = Path(__file__).resolve().parent / "web"

# Revalidated on every load (ETag / Last-Modified), so a new version shows at once.
NO_CACHE = CacheControlHeader(no_cache=True)


@get("/", include_in_schema=False, opt=PUBLIC, media_type=MediaType.HTML, cache_control=NO_CACHE)
async def coach_page() -> Response[bytes]:
    html = await anyio.Path(WEB_DIR / "index.html").read_bytes()
    return Response(html, media_type=MediaType.HTML)


static_files = create_static_files_router(
    path="/static", directories=[WEB_DIR], opt=PUBLIC, include_in_schema=False,
    cache_control=NO_CACHE, name="web-static")

ROUTES = [coach_page, static_files]
