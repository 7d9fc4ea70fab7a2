"""The dead-letter journal (storage/dead_letter_journal.py, migration 0016) on a real PostgreSQL:
a record is settled once, a second settle of it waits for the first transaction and then
finds the row (or, if that one rolled back, writes its own), and the journal is append-only."""

from __future__ import annotations

import asyncio
import uuid

import psycopg
import pytest

from storage import dead_letter_journal as journal

pytestmark = pytest.mark.integration
TOPIC = "stride.deadletter"
ADMIN = uuid.uuid4()


async def connect(dsn: str) -> psycopg.AsyncConnection:
    return await psycopg.AsyncConnection.connect(dsn, autocommit=True)


async def test_a_record_is_settled_once(migrated_db: str) -> None:
    async with await connect(migrated_db) as conn:
        replayed = await journal.settle(conn, topic=TOPIC, partition=2, offset=7, action="replayed",
                                        actor_id=ADMIN, note="fixed", replayed_to="workout.lifecycle")
        assert replayed is not None and (replayed.action, replayed.replayed_to) == (
            "replayed", "workout.lifecycle")
        assert await journal.settle(conn, topic=TOPIC, partition=2, offset=7, action="discarded",
                                    actor_id=uuid.uuid4(), note="too late") is None
        # The same position on another topic (a recreated one, a test's copy) is another record.
        assert await journal.settle(conn, topic="t." + TOPIC, partition=2, offset=7,
                                    action="discarded", actor_id=ADMIN, note="other") is not None
        assert await journal.settlement(conn, TOPIC, 2, 7) == replayed
        assert await journal.settlement(conn, TOPIC, 2, 8) is None
        found = await journal.settlements(conn, TOPIC, [(2, 7), (2, 8), (3, 7)])
        assert found == {(2, 7): replayed}
        assert await journal.settlements(conn, TOPIC, []) == {}


@pytest.mark.parametrize("sql", ["UPDATE dead_letter_journal SET note = 'changed'",
                                 "DELETE FROM dead_letter_journal", "TRUNCATE dead_letter_journal"])
async def test_the_journal_is_append_only(migrated_db: str, sql: str) -> None:
    async with await connect(migrated_db) as conn:
        await journal.settle(conn, topic=TOPIC, partition=0, offset=1, action="discarded",
                             actor_id=ADMIN, note="noise")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            await conn.execute(sql)
        assert (await journal.settlement(conn, TOPIC, 0, 1)) is not None


@pytest.mark.parametrize("note", ["", "   ", "a" * 501, "line\nbreak"])
async def test_a_note_says_why_in_one_line(migrated_db: str, note: str) -> None:
    async with await connect(migrated_db) as conn:
        with pytest.raises(psycopg.errors.CheckViolation):
            await journal.settle(conn, topic=TOPIC, partition=0, offset=1, action="discarded",
                                 actor_id=ADMIN, note=note)


@pytest.mark.parametrize("first_commits", [True, False])
async def test_a_second_settle_waits_for_the_first(migrated_db: str, eventually,  # type: ignore[no-untyped-def]
                                                   first_commits: bool) -> None:
    async with await connect(migrated_db) as first, await connect(migrated_db) as second, \
            await connect(migrated_db) as watcher:
        await first.execute("BEGIN")
        assert await journal.settle(first, topic=TOPIC, partition=1, offset=5, action="replayed",
                                    actor_id=ADMIN, note="first", replayed_to="x") is not None
        cur = await second.execute("SELECT pg_backend_pid()")
        pid = (await cur.fetchone())[0]  # type: ignore[index]
        racing = asyncio.create_task(journal.settle(
            second, topic=TOPIC, partition=1, offset=5, action="discarded", actor_id=ADMIN,
            note="second"))

        async def waiting_on_a_lock() -> bool:
            cur = await watcher.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s",
                                        (pid,))
            row = await cur.fetchone()
            return row is not None and row[0] == "Lock"
        await eventually(waiting_on_a_lock, timeout_s=20)
        assert not racing.done()
        await first.execute("COMMIT" if first_commits else "ROLLBACK")
        second_result = await racing
        if first_commits:
            assert second_result is None
            assert (await journal.settlement(watcher, TOPIC, 1, 5)).note == "first"  # type: ignore[union-attr]
        else:
            assert second_result is not None and second_result.note == "second"
