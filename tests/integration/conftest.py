"""Fixtures of the integration tests: a stream worker of the test's own."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from stack.settings import Settings
from stack.worker_process import StreamWorker


@pytest.fixture
async def stream_worker(stack: Settings, unique: str, migrated_db: str,
                        tmp_path: Path) -> AsyncIterator[StreamWorker]:
    """A running `stride worker run` on the test's own topics, group, database and Redis
    prefix; stopped and its topics deleted afterwards."""
    worker = StreamWorker(stack, unique, migrated_db, tmp_path)
    await worker.create_topics()
    worker.start()
    try:
        yield worker
    finally:
        worker.stop()
        await worker.delete_topics()


@pytest.fixture(scope="session")
def timescale_dsn() -> Iterator[str]:
    """DSN of a real TimescaleDB (PGlite + TimescaleDB 2.23 in Node, `stack/timescale_local.py`),
    started once per session (installing its npm packages first if needed) and stopped at the
    end. It does not need the local stack. One connection at a time, no COPY FROM STDIN, in
    memory and shared by every test of the session: use names of the test's own."""
    from stack.timescale_local import TimescaleServer

    server = TimescaleServer()
    server.start()
    try:
        yield server.dsn
    finally:
        server.stop()
