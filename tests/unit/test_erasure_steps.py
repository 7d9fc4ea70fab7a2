"""The order of an erasure's steps (privacy/erasure.py), over in-memory twins of its two
ports: sockets are told before anything is deleted, recording workouts lose their actor
before their data goes and once more after, Redis is purged after the rows, the data key is
forgotten before the users row goes, and the journal is completed with what was cleared.
The stores themselves are tested for real in tests/e2e/test_erasure.py."""

from __future__ import annotations

import hashlib
import uuid

import pytest

from privacy.erasure import Begun, Erasure, Report, WorkoutRef, stand_in

pytestmark = pytest.mark.unit

PERSON = uuid.UUID("00000000-0000-4000-8000-0000000000aa")
DONE, LIVE = uuid.uuid4(), uuid.uuid4()
TOKEN = uuid.uuid4()


class Twin:
    """One account in memory, and a log of every step taken."""

    def __init__(self) -> None:
        self.steps: list[str] = []
        self.exists = True
        self.journal: dict[str, Report] = {}

    # Account
    async def begin(self, user_id: uuid.UUID, pseudonym: str) -> Begun | None:
        if not self.exists:
            return None
        self.steps.append("begin")
        return Begun(email="p@example.org", ended_tokens=[TOKEN],
                     workouts=[WorkoutRef(id=DONE, recording=False),
                               WorkoutRef(id=LIVE, recording=True)])

    async def delete_workout(self, workout_id: uuid.UUID, user_id: uuid.UUID) -> dict[str, int]:
        self.steps.append(f"delete {workout_id}")
        return {"sensor_data": 10, "workouts": 1}

    async def finish(self, user_id: uuid.UUID, email: str, pseudonym: str,
                     report: Report) -> dict[str, int]:
        self.steps.append("finish")
        self.exists = False
        self.journal[pseudonym] = report
        return {"users": 1}

    # Caches
    async def purge(self, user_id: uuid.UUID, email: str, workout_ids: list[uuid.UUID]) -> int:
        self.steps.append(f"purge {sorted(map(str, workout_ids))}")
        return 7

    # The gateway's hooks
    async def ended(self, user_id: uuid.UUID, tokens: list[uuid.UUID]) -> None:
        self.steps.append(f"ended {tokens}")

    async def stop_actor(self, workout_id: uuid.UUID) -> None:
        self.steps.append(f"stop {workout_id}")

    def forget_keys(self, user_id: uuid.UUID) -> None:
        self.steps.append("forget keys")


def pseudonym(user_id: uuid.UUID) -> str:
    return hashlib.sha256(b"pepper" + user_id.bytes).hexdigest()


async def test_the_steps_run_in_order_and_the_journal_says_what_was_cleared() -> None:
    twin = Twin()
    erasure = Erasure(twin, twin, pseudonym, ended=twin.ended, stop_actor=twin.stop_actor,
                      forget_keys=twin.forget_keys)
    report = await erasure.erase(PERSON)
    assert twin.steps == [
        "begin", f"ended {[TOKEN]}", f"stop {LIVE}", f"delete {DONE}", f"delete {LIVE}",
        f"stop {LIVE}", f"delete {LIVE}", f"purge {sorted([str(DONE), str(LIVE)])}",
        "forget keys", "finish", "ended []"]
    assert report is not None
    assert report.rows == {"sensor_data": 30, "workouts": 3, "users": 1}
    assert (report.workouts, report.actors_stopped, report.redis_keys) == (2, 1, 7)
    assert twin.journal[pseudonym(PERSON)].workouts == 2
    assert await erasure.erase(PERSON) is None  # gone: nothing more to do


async def test_without_a_gateway_the_stores_are_still_cleared() -> None:
    """The worker's maintenance and a restore erase without sockets or actors to reach."""
    twin = Twin()
    report = await Erasure(twin, twin, pseudonym).erase(PERSON)
    assert report is not None and report.actors_stopped == 0
    assert [s.split()[0] for s in twin.steps] == ["begin", "delete", "delete", "delete", "purge",
                                                  "finish"]


def test_the_stand_in_is_stable_and_not_the_id() -> None:
    first = stand_in(pseudonym(PERSON))
    assert first == stand_in(pseudonym(PERSON)) and first != PERSON
