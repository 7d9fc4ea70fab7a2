"""Fixtures of the e2e tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from helper_processes import PROXY_SETTINGS, Gateway, Processes

from stack.settings import Settings


@pytest.fixture(scope="module")
def processes(stack: Settings) -> Iterator[Processes]:
    running = Processes()
    yield running
    running.stop_all()


@pytest.fixture(scope="module")
def production_gateway(processes: Processes) -> Gateway:
    """A gateway on the stack with every quota and throttle at its production default (the
    stack's own runs with raised ones, stack/test.env), behind a trusted "proxy": each test
    plays clients from addresses of its own, so per-address limits do not mix."""
    return Gateway(processes.gateway(production_limits=True, **PROXY_SETTINGS))
