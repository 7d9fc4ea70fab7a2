"""The cluster suite keeps everything it writes under .cluster/ (the local stack's
`.stack/` may be in use by someone else on this machine).

Set for the cluster tests only, by a fixture: pytest imports every conftest.py while it
collects, whatever `-m` selects, so a setting made at import would move every other suite
of the session off the local stack's `.stack/` too."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

CLUSTER_TEST_HOME = Path(__file__).resolve().parents[2] / ".cluster" / "tests"


@pytest.fixture(autouse=True, scope="session")
def cluster_test_home() -> Iterator[Path]:
    """Where tests/user_accounts.py notes the secrets the cluster tests make."""
    CLUSTER_TEST_HOME.mkdir(parents=True, exist_ok=True)
    before = os.environ.get("STRIDE_HOME")
    os.environ["STRIDE_HOME"] = str(CLUSTER_TEST_HOME)
    yield CLUSTER_TEST_HOME
    if before is None:
        os.environ.pop("STRIDE_HOME", None)
    else:
        os.environ["STRIDE_HOME"] = before
