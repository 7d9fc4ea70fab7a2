"""Response headers that make every answer safer in a browser (OWASP Secure Headers).

One hook on every message the app sends (errors included), so the page, its static
files and the API carry the same:
- a strict Content-Security-Policy: the page loads only its own files and talks only to
  this gateway's own origin (`connect-src` names its http and ws origin, nothing else);
- `Strict-Transport-Security` when the gateway is served over TLS (its public URL is
  https, as behind a TLS-terminating proxy): browsers then never try plain http;
- no MIME sniffing, no referrer, no framing.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Awaitable, Callable

from litestar.types import Message, Scope

HSTS = "max-age=31536000; includeSubDomains"


def headers_for(public_url: str, tile_url: str = "") -> dict[str, str]:
    parts = urllib.parse.urlsplit(public_url)
    ws_origin = f"{'wss' if parts.scheme == 'https' else 'ws'}://{parts.netloc}"
    tiles = urllib.parse.urlsplit(tile_url)
    # Map tiles, when an operator names a tile server (a setting), are its images only.
    tile_origin = f" {tiles.scheme}://{tiles.netloc}" if tiles.scheme in ("http", "https") else ""
    headers = {
        "Content-Security-Policy": (
            f"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:{tile_origin}; "
            f"connect-src 'self' {ws_origin}; object-src 'none'; base-uri 'none'; "
            "form-action 'self'; frame-ancestors 'none'"),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
    }
    if parts.scheme == "https":
        headers["Strict-Transport-Security"] = HSTS
    return headers


def security_headers(public_url: str, tile_url: str = "") -> Callable[[Message, Scope], Awaitable[None]]:
    """A `before_send` hook adding the headers to every HTTP response's start."""
    raw = [(name.lower().encode(), value.encode())
           for name, value in headers_for(public_url, tile_url).items()]

    async def add(message: Message, scope: Scope) -> None:
        if message["type"] == "http.response.start":
            present = {name for name, _ in message.get("headers", [])}
            message["headers"] = [*message.get("headers", []),
                                  *((n, v) for n, v in raw if n not in present)]

    return add
