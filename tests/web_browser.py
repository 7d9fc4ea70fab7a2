"""The web app in headless Chromium (Debian's `chromium`, driven by Playwright), for the
browser tests of every page: a page that records its errors, axe-core's WCAG 2.1 AA check,
screenshots, and signing in through the form like a person.

Nothing here loosens the page: the CSP stays on (axe-core is evaluated through the DevTools
protocol, which the CSP does not govern, never injected as a script tag), and any page
exception or console error — a CSP violation is one — fails the test that collected it.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from stack.settings import Settings

REPO = Path(__file__).resolve().parent.parent
WEBAPP = REPO / "gateway" / "webapp"
AXE_JS = WEBAPP / "node_modules" / "axe-core" / "axe.min.js"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
BLOCKING = {"serious", "critical"}


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.fail("Debian's `chromium` is needed for the browser tests: `make setup` installs it "
                    "(or apt-get install chromium)")
    return path


def artifacts(stack: Settings) -> Path:
    folder = stack.home_path.resolve() / "test-artifacts" / "web"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _trust_args() -> list[str]:
    """With STRIDE_TLS=on, Chromium trusts the keys of the stack's own gateways (the harness
    trusts the local CA's servers; certificate errors anywhere else still fail a page)."""
    settings = Settings.from_env()
    if not settings.tls:
        return []
    from stack.tls import spki_sha256

    pins = ",".join(spki_sha256(settings.tls_files(role).cert) for role in ("gateway", "internal"))
    # Playwright's own client-certificate relay (the internal gateway wants one) is Node:
    # it checks the server against Node's CAs plus this file.
    os.environ["NODE_EXTRA_CA_CERTS"] = str(settings.tls_client.ca)
    return [f"--ignore-certificate-errors-spki-list={pins}"]


def _client_certificates(stack: Settings) -> list[dict[str, str]]:
    """The operator's client certificate for the internal gateway (it demands one)."""
    if not stack.tls:
        return []
    files = stack.tls_client
    return [{"origin": stack.internal_gateway_url, "certPath": str(files.cert),
             "keyPath": str(files.key)}]


@asynccontextmanager
async def browser() -> AsyncIterator[Browser]:
    args = _trust_args()
    async with async_playwright() as pw:
        launched = await pw.chromium.launch(executable_path=chromium(), headless=True, args=args)
        try:
            yield launched
        finally:
            await launched.close()


class WebPage:
    """A page of the app with the errors it reported and the checks every test runs."""

    def __init__(self, page: Page, stack: Settings, base_url: str) -> None:
        self.page = page
        self.stack = stack
        self.base_url = base_url
        self.errors: list[str] = []
        page.on("pageerror", lambda exc: self.errors.append(f"exception: {exc}")
                if self._ours() else None)
        page.on("console", lambda msg: self.errors.append(f"console: {msg.text}")
                if msg.type == "error" and self._ours() and not _expected_console_error(msg.text)
                else None)

    def _ours(self) -> bool:
        """Whether the page shows the app (not, say, an OIDC provider's own login page)."""
        return self.page.url.startswith(self.base_url)

    async def open(self, path: str) -> None:
        await self.page.goto(self.base_url + path)

    async def heading(self, text: str | re.Pattern[str]) -> None:
        """Waits for the page's h1 to read `text` (a new page has opened)."""
        await expect(self.page.locator("h1")).to_have_text(text)

    async def axe(self, name: str) -> list[dict[str, Any]]:
        """Runs axe-core's WCAG 2.1 A/AA rules on the page as it is; fails on any serious or
        critical violation. The full result goes to test-artifacts/web/axe-<name>.json."""
        if not await self.page.evaluate("typeof window.axe !== 'undefined'"):
            await self.page.evaluate(AXE_JS.read_text() + "\n;0")
        result = await self.page.evaluate(
            "(tags) => axe.run(document, "
            "{runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']})",
            AXE_TAGS)
        violations = result["violations"]
        (artifacts(self.stack) / f"axe-{name}.json").write_text(json.dumps(violations, indent=1))
        blocking = [v for v in violations if v.get("impact") in BLOCKING]
        assert not blocking, f"{name}: axe-core found " + "; ".join(
            f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
            for v in blocking)
        return violations

    async def screenshot(self, name: str) -> Path:
        path = artifacts(self.stack) / f"{name}.png"
        await self.page.screenshot(path=str(path), full_page=True)
        return path

    async def assert_fits_width(self) -> None:
        """Nothing makes the page scroll sideways (phone width): names what sticks out."""
        width = await self.page.evaluate("document.documentElement.clientWidth")
        wide = await self.page.evaluate("document.documentElement.scrollWidth")
        if wide > width:
            culprits = await self.page.evaluate(
                """(w) => [...document.body.querySelectorAll('*')]
                    .filter((e) => e.getBoundingClientRect().right > w + 0.5)
                    .map((e) => `${e.tagName.toLowerCase()}${e.id ? '#' + e.id : ''}.${e.className}`)
                    .slice(0, 8)""", width)
            raise AssertionError(f"the page is {wide} px wide at {width} px: {culprits}")

    def assert_no_errors(self) -> None:
        assert not self.errors, f"the page reported errors: {self.errors}"

    async def sign_in(self, email: str, password: str, otp: str | None = None) -> None:
        """Through the sign-in form, with the keyboard alone (Tab between fields, Enter)."""
        page = self.page
        await page.locator("#email").focus()
        values = [email, password] if otp is None else [email, password, otp]
        for i, value in enumerate(values):
            if i:
                await page.keyboard.press("Tab")
            await page.keyboard.press("Control+A")  # replace what an earlier try left
            await page.keyboard.type(value)
        await page.keyboard.press("Enter")


def _expected_console_error(text: str) -> bool:
    """A refused API call shows in the console as a failed resource load; the page handles
    those (the tests assert what it shows instead)."""
    return text.startswith("Failed to load resource: the server responded with a status of 4")


@asynccontextmanager
async def web_page(stack: Settings, base_url: str | None = None,
                   viewport: dict[str, int] | None = None, color_scheme: str = "light",
                   locale: str = "en-US") -> AsyncIterator[WebPage]:
    """A fresh browser context (nothing stored) with one page of the app."""
    async with browser() as b:
        context = await b.new_context(viewport=viewport or DESKTOP, color_scheme=color_scheme,  # type: ignore[arg-type]
                                      locale=locale,
                                      client_certificates=_client_certificates(stack))  # type: ignore[arg-type]
        try:
            yield WebPage(await context.new_page(), stack, base_url or stack.gateway_url)
        finally:
            await context.close()


def first_load_js_gzip_bytes() -> tuple[int, list[str]]:
    """Gzipped bytes of the JavaScript the first load fetches (the entry and what it
    preloads), from the built index.html."""
    html = (WEBAPP / "dist" / "index.html").read_text()
    scripts = re.findall(r'(?:src|href)="/(assets/[^"]+\.js)"', html)
    total = sum(len(gzip.compress((WEBAPP / "dist" / s).read_bytes(), 9)) for s in scripts)
    return total, scripts
