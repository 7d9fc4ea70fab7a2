"""Extra loopback processes for e2e tests: a second gateway, an OIDC provider."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx

from stack.processes import wait_until

REPO = Path(__file__).resolve().parents[2]
STRIDE = [sys.executable, "-m", "stack.cli"]


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
              timeout_s: float = 60) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(argv, env={**os.environ, **(env or {})}, cwd=REPO,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
        self._running.append(proc)

        def ready() -> bool:
            assert proc.poll() is None, f"{argv}: exited with {proc.returncode}"
            return httpx.get(health_url, timeout=2).status_code == 200

        if not wait_until(ready, timeout_s, interval_s=0.2):
            assert proc.poll() is None, f"{argv}: exited with {proc.returncode}"
            raise AssertionError(f"{health_url} not ready within {timeout_s} s")
        return proc

    def gateway(self, **env: str) -> str:
        """A second gateway process on the same stack; returns its base URL."""
        port = free_port()
        self.start([*STRIDE, "gateway", "run"], f"http://127.0.0.1:{port}/healthz",
                   {"STRIDE_GATEWAY_PORT": str(port), **env})
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


