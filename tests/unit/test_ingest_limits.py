"""The frame budget judges frames by their arrival, however long each takes to handle."""

from __future__ import annotations

import pytest

from gateway.ingest_limits import TokenBucket

pytestmark = pytest.mark.unit


def test_a_burst_arriving_at_once_is_cut_at_the_burst_whenever_it_is_handled() -> None:
    arrival = 1000.0
    bucket = TokenBucket(rate=20.0, burst=40, at=arrival)
    # 60 frames arrive within 10 ms; the gateway handles them one by one over (say) 6 s.
    verdicts = [bucket.take(arrival + i * 0.000_2) for i in range(60)]
    assert verdicts[:40] == [True] * 40 and verdicts[40:] == [False] * 20


def test_the_budget_refills_at_its_rate_between_arrivals() -> None:
    bucket = TokenBucket(rate=20.0, burst=40, at=0.0)
    assert all(bucket.take(0.0) for _ in range(40))
    assert not bucket.take(0.01)
    assert bucket.take(0.06) and not bucket.take(0.06)  # 1 token after 50 ms
    assert sum(bucket.take(10.0) for _ in range(50)) == 40  # full again, never beyond the burst


def test_a_frame_stamped_before_the_last_one_does_not_mint_tokens() -> None:
    bucket = TokenBucket(rate=20.0, burst=2, at=5.0)
    assert bucket.take(5.0) and bucket.take(5.0)
    assert not bucket.take(4.0)  # out of order by a hair: no refill from going back in time
