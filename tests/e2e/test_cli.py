"""The `stride` CLI as a user meets it."""

from __future__ import annotations

import subprocess
import sys

import pytest

from stack.settings import Settings

pytestmark = pytest.mark.e2e
STRIDE = [sys.executable, "-m", "stack.cli"]


def test_status_json_reports_every_component_healthy(stack: Settings) -> None:
    import json

    out = subprocess.run([*STRIDE, "stack", "status", "--json"], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    report = json.loads(out.stdout)
    assert set(report) == {"redis", "postgres", "kafka", "ray", "worker", "gateway"}
    assert all(c["healthy"] for c in report.values())
    assert report["gateway"]["url"] == stack.gateway_url
    assert "***" in report["postgres"]["url"]  # the password is never printed


def test_up_is_idempotent(stack: Settings) -> None:
    out = subprocess.run([*STRIDE, "stack", "up"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stderr.count("already running") == 6


@pytest.mark.parametrize("args", [["--help"], ["stack", "--help"], ["stack", "up", "--help"],
                                  ["db", "migrate", "--help"], ["demo", "--help"]])
def test_every_command_has_help(args: list[str]) -> None:
    out = subprocess.run([*STRIDE, *args], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "usage: stride" in out.stdout
