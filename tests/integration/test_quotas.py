"""The quota and login-throttle scripts on the stack's real Redis (a key prefix per test):
atomic under concurrency, shared by every client of the same Redis, refusing with a code."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from gateway.quotas import QuotaGuard, Quotas, Refused
from gateway.throttle import LoginLimits, LoginThrottle
from stack.settings import Settings
from streams import redis_pool

pytestmark = pytest.mark.integration


@pytest.fixture
async def redis(stack: Settings):  # type: ignore[no-untyped-def]
    client = redis_pool.connect(stack.redis_url)
    yield client
    await client.aclose()


async def test_1000_parallel_guesses_get_exactly_the_free_tries(redis, unique: str) -> None:  # type: ignore[no-untyped-def]
    throttle = LoginThrottle(redis, unique, LoginLimits())
    verdicts = await asyncio.gather(*(throttle.begin("ann@example.org", "203.0.113.9")
                                      for _ in range(1000)))
    assert sum(v is None for v in verdicts) == LoginLimits().pair_free
    assert all(v is not None and v >= 1 for v in verdicts if v is not None)


async def test_the_wait_grows_and_another_address_is_not_slowed(redis, unique: str) -> None:  # type: ignore[no-untyped-def]
    limits = LoginLimits(pair_free=2, pair_max_wait_s=900)
    throttle = LoginThrottle(redis, unique, limits)
    assert await throttle.begin("ann@example.org", "203.0.113.9") is None
    assert await throttle.begin("ann@example.org", "203.0.113.9") is None  # sets a 1-s wait
    first = await throttle.begin("ann@example.org", "203.0.113.9")
    assert first == 1
    # The owner, elsewhere, is not locked out by what an attacker did with her address.
    assert await throttle.begin("ann@example.org", "198.51.100.4") is None
    await asyncio.sleep(1.05)  # the 1-s wait the third attempt was told about
    assert await throttle.begin("ann@example.org", "203.0.113.9") is None  # sets 2 s
    second = await throttle.begin("ann@example.org", "203.0.113.9")
    assert second == 2
    # A right password from the attacked address clears its pair, not the others.
    await throttle.succeeded("ann@example.org", "198.51.100.4")
    assert await throttle.begin("ann@example.org", "198.51.100.4") is None


async def test_the_account_wide_wait_is_capped_never_a_lockout(redis, unique: str) -> None:  # type: ignore[no-untyped-def]
    limits = LoginLimits(pair_free=1000, account_free=3, account_max_wait_s=1)
    throttle = LoginThrottle(redis, unique, limits)
    for i in range(3):  # from three addresses: spread guessing
        assert await throttle.begin("bo@example.org", f"203.0.113.{i}") is None
    for _ in range(4):  # however many more come, the wait never exceeds the cap …
        wait = await throttle.begin("bo@example.org", "198.51.100.1")
        assert wait == 1
        await asyncio.sleep(1.05)  # … and once it has passed, the owner gets a try
        assert await throttle.begin("bo@example.org", "198.51.100.2") is None


async def test_samples_are_counted_in_samples_with_live_and_backlog_apart(redis, unique: str) -> None:  # type: ignore[no-untyped-def]
    quotas = Quotas(live_samples_per_s=10, live_samples_burst=100, backlog_samples_per_s=1000,
                    backlog_samples_burst=5000)
    user = uuid.uuid4()
    guard = QuotaGuard(redis, unique, quotas)
    await guard.take_samples(user, 60, 0)
    with pytest.raises(Refused) as refused:
        await guard.take_samples(user, 60, 0)  # only 40 left: samples, not frames, count
    assert refused.value.code == "sample_rate_limited" and refused.value.retry_after_s
    await guard.take_samples(user, 40, 0)
    await guard.take_samples(user, 0, 5000)  # a resent backlog draws on its own allowance
    # Another gateway on the same Redis sees the same buckets.
    with pytest.raises(Refused):
        await QuotaGuard(redis, unique, quotas).take_samples(user, 1, 0)


async def test_takes_judged_together_give_exactly_the_allowance(redis, unique: str) -> None:  # type: ignore[no-untyped-def]
    """A gateway judges the frames of one event-loop turn with one script call: 300 frames
    of 10 samples from two accounts at once get exactly their burst, each account its own,
    and an account's refusals do not spend another's tokens."""
    quotas = Quotas(live_samples_per_s=1, live_samples_burst=100)
    guard = QuotaGuard(redis, unique, quotas)
    ann, bo = uuid.uuid4(), uuid.uuid4()
    results = await asyncio.gather(*(guard.take_samples(user, 10, 0) for user in [ann, bo] * 150),
                                   return_exceptions=True)
    for user in (ann, bo):
        mine = results[0 if user == ann else 1::2]
        assert sum(r is None for r in mine) == 10
        assert all(isinstance(r, Refused) and r.code == "sample_rate_limited" for r in mine if r is not None)


async def test_live_workout_slots_are_shared_refreshed_and_released(redis, unique: str) -> None:  # type: ignore[no-untyped-def]
    guard = QuotaGuard(redis, unique, Quotas(live_workouts=3))
    other_gateway = QuotaGuard(redis, unique, Quotas(live_workouts=3))
    user, workouts = uuid.uuid4(), [uuid.uuid4() for _ in range(4)]
    assert [await guard.claim_live_workout(user, w) for w in workouts[:3]] == [True] * 3
    assert await other_gateway.claim_live_workout(user, workouts[0]) is False  # already held
    with pytest.raises(Refused) as refused:
        await other_gateway.claim_live_workout(user, workouts[3])
    assert refused.value.code == "too_many_workouts"
    await guard.release_live_workout(user, workouts[1])
    assert await other_gateway.claim_live_workout(user, workouts[3]) is True
    # 1000 parallel claims of new workouts by one account: never more than the limit held.
    racer = uuid.uuid4()
    results = await asyncio.gather(*(guard.claim_live_workout(racer, uuid.uuid4())
                                     for _ in range(1000)), return_exceptions=True)
    assert sum(r is True for r in results) == 3


async def test_a_dead_gateways_connection_slots_expire(redis, unique: str) -> None:  # type: ignore[no-untyped-def]
    guard = QuotaGuard(redis, unique, Quotas(device_connections=2, slot_lifetime_s=1))
    user = uuid.uuid4()
    kept, lost = uuid.uuid4(), uuid.uuid4()
    await guard.open_connection("device", user, kept)
    await guard.open_connection("device", user, lost)
    with pytest.raises(Refused) as refused:
        await guard.open_connection("device", user, uuid.uuid4())
    assert refused.value.code == "too_many_connections"
    await asyncio.sleep(1.1)  # past the slots' lifetime; only `kept` is refreshed
    await guard.touch([("connections:device", user, kept)])
    await asyncio.sleep(1.1)
    await guard.touch([("connections:device", user, kept)])
    await guard.open_connection("device", user, uuid.uuid4())  # `lost` fell out


async def test_actions_per_window_count_per_who(redis, unique: str) -> None:  # type: ignore[no-untyped-def]
    guard = QuotaGuard(redis, unique, Quotas(changes_per_min=5))
    user, other = uuid.uuid4(), uuid.uuid4()
    for _ in range(5):
        await guard.changed_groups_or_consents(user)
    with pytest.raises(Refused) as refused:
        await guard.changed_groups_or_consents(user)
    assert refused.value.code == "too_many_changes" and 1 <= (refused.value.retry_after_s or 0) <= 60
    await guard.changed_groups_or_consents(other)
