"""The cluster suite keeps everything it writes under .cluster/ (the local stack's
`.stack/` may be in use by someone else on this machine)."""

from __future__ import annotations

import os
from pathlib import Path

CLUSTER_TEST_HOME = Path(__file__).resolve().parents[2] / ".cluster" / "tests"
os.environ["STRIDE_HOME"] = str(CLUSTER_TEST_HOME)  # where tests/user_accounts.py notes secrets
CLUSTER_TEST_HOME.mkdir(parents=True, exist_ok=True)
