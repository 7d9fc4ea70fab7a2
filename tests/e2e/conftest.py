"""Fixtures of the e2e tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from helper_processes import Processes

from stack.settings import Settings


@pytest.fixture(scope="module")
def processes(stack: Settings) -> Iterator[Processes]:
    running = Processes()
    yield running
    running.stop_all()
