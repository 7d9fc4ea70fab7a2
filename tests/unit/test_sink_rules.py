"""How a sink writes a batch: transient failures retried, refusals split and dead-lettered,
unexpected errors retried a few times and then dead-lettered — never dropped silently.

The writes here are plain functions over lists; the real database, Kafka and dead-letter
topic are exercised by tests/integration/test_stream_sinks.py."""

from __future__ import annotations

import datetime as dt

import psycopg
import pytest

from storage.timeseries import bucket_for
from streams import retry, sink

pytestmark = pytest.mark.unit


class DeadLetters:
    """What `write_batch` needs of the worker's Deps: somewhere to send dead letters."""

    def __init__(self) -> None:
        self.sent: list[tuple[bytes, str]] = []

    async def send_dead_letter(self, key: bytes | None, value: bytes, source: str, error: str) -> None:
        self.sent.append((value, error))


def records(*values: int) -> list[sink.Record[int]]:
    return [sink.Record(None, str(v).encode(), "topic", v) for v in values]


async def test_a_refused_record_is_dead_lettered_and_the_rest_written() -> None:
    deps, stored = DeadLetters(), []

    async def write(batch: list[sink.Record[int]]) -> None:
        if any(r.event == 13 for r in batch):
            raise psycopg.errors.CheckViolation("new row violates check constraint")
        stored.extend(r.event for r in batch)

    written = await sink.write_batch(deps, "numbers", records(1, 13, 2), write)  # type: ignore[arg-type]
    assert [r.event for r in written] == [1, 2] and stored == [1, 2]
    assert [v for v, _ in deps.sent] == [b"13"]
    assert deps.sent[0][1].startswith("numbers: CheckViolation")


async def test_connection_trouble_is_retried_until_it_passes() -> None:
    deps, attempts = DeadLetters(), []

    async def write(batch: list[sink.Record[int]]) -> None:
        attempts.append(len(batch))
        if len(attempts) < 3:
            raise psycopg.OperationalError("server closed the connection unexpectedly")

    written = await sink.write_batch(deps, "numbers", records(1, 2, 3), write)  # type: ignore[arg-type]
    assert len(written) == 3 and attempts == [3, 3, 3] and deps.sent == []


async def test_an_unexpected_error_is_retried_then_dead_lettered() -> None:
    deps, attempts = DeadLetters(), []

    async def write(batch: list[sink.Record[int]]) -> None:
        attempts.append([r.event for r in batch])
        if any(r.event == 7 for r in batch):
            raise KeyError("a bug")

    written = await sink.write_batch(deps, "numbers", records(7, 8), write)  # type: ignore[arg-type]
    assert [r.event for r in written] == [8]
    assert attempts.count([7, 8]) == retry.UNEXPECTED_ATTEMPTS
    assert attempts.count([7]) == retry.UNEXPECTED_ATTEMPTS
    assert deps.sent == [(b"7", "numbers: KeyError")]


@pytest.mark.parametrize(("span_s", "points", "width"), [
    (7199, 120, 60), (7200, 120, 120), (7199, 10_000, 1), (86_399, 1_000, 120),
    (30 * 86_400, 100, 8 * 3600),  # beyond the round widths: whole hours
])
def test_the_bucket_is_the_smallest_round_width_that_fits(span_s: int, points: int,
                                                          width: int) -> None:
    chosen = bucket_for(dt.timedelta(seconds=span_s), points)
    assert chosen == width
    assert span_s // chosen + 1 <= points
