"""Extra loopback processes for e2e tests: a second gateway, an OIDC provider."""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import ssl
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from stack.processes import private_log
from stack.settings import Settings
from streams.retry import wait_until

REPO = Path(__file__).resolve().parents[1]
STRIDE = [sys.executable, "-m", "stack.cli"]
LIMIT_PREFIXES = ("STRIDE_QUOTA_", "STRIDE_LOGIN_", "STRIDE_INGEST_", "STRIDE_PASSWORD_HASH_")


def http_url(host_port: str) -> str:
    """A gateway of the test's own serves HTTPS when the stack runs TLS, like the stack's."""
    return f"{'https' if Settings.from_env().tls else 'http'}://{host_port}"


def ws_url(host_port: str) -> str:
    return f"{'wss' if Settings.from_env().tls else 'ws'}://{host_port}"


def tls_client_options() -> dict[str, Any]:
    """httpx options of a client that trusts the stack's CA and presents the tests' client
    certificate (the internal gateway demands one); nothing when TLS is off."""
    settings = Settings.from_env()
    if not settings.tls:
        return {}
    files = settings.tls_client
    context = ssl.create_default_context(cafile=str(files.ca))
    context.load_cert_chain(str(files.cert), str(files.key))
    return {"verify": context}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Processes:
    """Extra loopback processes a test module needs (a second gateway, an OIDC provider);
    each is waited for on a health URL and stopped, with its children, at the end."""

    def __init__(self) -> None:
        self._running: list[subprocess.Popen[bytes]] = []

    def start(self, argv: list[str], health_url: str, env: dict[str, str] | None = None,
              timeout_s: float = 60, inherit: bool = True, name: str = "process") -> subprocess.Popen[bytes]:
        """`env` adds to this process's environment, or with `inherit=False` is all of it.
        Its output goes to the stack's private logs (`<name>-<port>`), which the scan for
        secrets reads after the run."""
        full = {**os.environ, **(env or {})} if inherit else dict(env or {})
        port = health_url.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)[-1]
        with private_log(Settings.from_env().home_path, f"{name}-{port}").open("ab") as log:
            proc = subprocess.Popen(argv, env=full, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        self._running.append(proc)

        def ready() -> bool:
            assert proc.poll() is None, f"{argv}: exited with {proc.returncode}"
            return httpx.get(health_url, timeout=2, **tls_client_options()).status_code == 200

        if not wait_until(ready, timeout_s, interval_s=0.2):
            assert proc.poll() is None, f"{argv}: exited with {proc.returncode}"
            raise AssertionError(f"{health_url} not ready within {timeout_s} s")
        return proc

    def gateway(self, production_limits: bool = False, **env: str) -> str:
        """A second gateway process on the same stack; returns its host:port. With
        `production_limits`, without the test stack's raised limits (stack/test.env)."""
        port = free_port()
        base = {k: v for k, v in os.environ.items()
                if not (production_limits and k.startswith(LIMIT_PREFIXES))}
        self.start([*STRIDE, "gateway", "run"], f"{http_url(f'127.0.0.1:{port}')}/healthz",
                   {**base, "STRIDE_GATEWAY_PORT": str(port), **env}, inherit=False, name="gateway")
        return f"127.0.0.1:{port}"

    def stop_all(self) -> None:
        for proc in self._running:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(5)




HERE = Path(__file__).parent / "e2e"
PROXY_SETTINGS = {"STRIDE_TRUSTED_PROXIES": "127.0.0.1", "STRIDE_CLIENT_ADDRESS_HEADER": "X-Forwarded-For"}
"""A gateway that believes X-Forwarded-For from loopback: each test's "client" can then have
an address of its own, as behind a reverse proxy."""


def some_address() -> str:
    """A client address from the documentation ranges (RFC 5737), different each call."""
    return f"198.51.{random.randrange(256)}.{random.randrange(1, 255)}"


class Gateway:
    """A gateway process of the test's own, reached as a client at `address` would."""

    def __init__(self, host_port: str) -> None:
        self.url = http_url(host_port)
        self.ws_url = ws_url(host_port)

    def client(self, address: str | None = None, **kwargs: object) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30,
                            headers={"X-Forwarded-For": address or some_address()}, **kwargs)


def oidc_provider(processes: Processes) -> str:
    """A real OpenID Connect provider process (PKCE S256 and a nonce required); its issuer URL."""
    port = free_port()
    provider = f"http://127.0.0.1:{port}"
    processes.start([sys.executable, str(HERE / "oidc_pkce_provider.py"), "--host", "127.0.0.1",
                     "--port", str(port), "--require-nonce"],
                    f"{provider}/.well-known/openid-configuration", name="oidc-provider")
    return provider


def oidc_setting(provider: str) -> dict[str, str]:
    """STRIDE_OIDC_PROVIDERS naming `provider` as "mock"."""
    return {"STRIDE_OIDC_PROVIDERS": json.dumps([{
        "name": "mock", "issuer": provider, "client_id": "stride-tests",
        "client_secret": "tests-client-secret"}])}
