"""After the whole run: no password, token or health value in any component's log."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from stack.settings import Settings

pytestmark = [pytest.mark.e2e, pytest.mark.last]

HEALTH_IN_TEXT = re.compile(
    r"(hr_bpm|spo2_pct|avg_hr|max_hr|min_spo2|heart.?rate|spo2)\W{1,4}\d", re.IGNORECASE)
TOKEN_SHAPES = re.compile(r"(Bearer\s+|[?&]token=)(?!<)[A-Za-z0-9_\-]{16,}")


def _logs(stack: Settings) -> list[Path]:
    files = sorted((stack.home_path / "logs").glob("*.log"))
    ray_logs = Path("/tmp/ray/session_latest/logs")
    if ray_logs.exists():
        files += sorted(ray_logs.glob("worker-*.out")) + sorted(ray_logs.glob("worker-*.err"))
    return files


def test_logs_hold_no_passwords_tokens_or_health_values(stack: Settings,
                                                        secrets_seen: list[str]) -> None:
    assert secrets_seen, "the run created accounts, so there is something to look for"
    files = _logs(stack)
    assert any(f.name == "gateway.log" for f in files)
    found = []
    for path in files:
        text = path.read_text(errors="replace")
        for secret in secrets_seen:
            if secret in text:
                found.append(f"{path.name}: a password or token of this run")
        for pattern in (HEALTH_IN_TEXT, TOKEN_SHAPES):
            for match in pattern.finditer(text):
                found.append(f"{path.name}: …{match.group(0)}…")
    assert found == []
