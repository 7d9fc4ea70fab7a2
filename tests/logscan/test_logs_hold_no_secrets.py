"""After everything — the suite, the fault suite and the bench — no password, token or
health value in any process's log: the stack's components, the gateways and stream workers
the tests and the bench ran of their own (`.stack/logs/private/`), and Ray's workers.
`make test` runs this last (`pytest -m logscan`)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from user_accounts import secrets_file

from stack.settings import Settings

pytestmark = pytest.mark.logscan

HEALTH_IN_TEXT = re.compile(
    r"(hr_bpm|spo2_pct|avg_hr|max_hr|min_spo2|heart.?rate|spo2)\W{1,4}\d", re.IGNORECASE)
TOKEN_SHAPES = re.compile(r"(Bearer\s+|[?&]token=)(?!<)[A-Za-z0-9_\-]{16,}")


def _logs(stack: Settings) -> list[Path]:
    files = sorted((stack.home_path / "logs").glob("*.log"))
    files += sorted((stack.home_path / "logs" / "private").glob("*.log"))
    ray_logs = Path("/tmp/ray/session_latest/logs")
    if ray_logs.exists():
        files += sorted(ray_logs.glob("worker-*.out")) + sorted(ray_logs.glob("worker-*.err"))
    return files


def test_logs_hold_no_passwords_tokens_or_health_values(stack: Settings) -> None:
    # One secret a line (user_accounts.remember): a password has spaces in it, and its words
    # alone ("a", a 6-hex tail a UUID may hold) are not secrets.
    seen = [s for s in secrets_file().read_text().splitlines() if s] if secrets_file().exists() else []
    assert seen, "the run created accounts, so there is something to look for"
    files = _logs(stack)
    assert any(f.name == "gateway.log" for f in files)
    assert any(f.parent.name == "private" for f in files), "the tests' own processes left no log"
    found = []
    for path in files:
        try:
            text = path.read_text(errors="replace")
        except FileNotFoundError:  # a Ray worker's log, gone with its process since the listing
            continue
        for secret in seen:
            if secret in text:
                found.append(f"{path.name}: a password or token of this run")
        for pattern in (HEALTH_IN_TEXT, TOKEN_SHAPES):
            for match in pattern.finditer(text):
                found.append(f"{path.name}: …{match.group(0)}…")
    assert found == []
