"""Fixtures of the integration tests: a stream worker of the test's own."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from stack.settings import Settings
from stream_worker import StreamWorker


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
