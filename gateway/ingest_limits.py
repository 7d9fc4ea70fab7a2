"""What one device connection may send, checked before any actor is asked (the
per-account quotas, shared by all gateways, are in gateway/quotas.py)."""

from __future__ import annotations

import time
import uuid

import msgspec

from gateway import protocol
from gateway.protocol import Error

EARLIEST_START_MS = 946_684_800_000
"""2000-01-01T00:00Z: a workout said to start before this is a device with a broken clock."""


class IngestLimits(msgspec.Struct, frozen=True, kw_only=True):
    """Over a limit the device gets an error frame and the stream goes on, or — when it
    cannot — a close with the RFC 6455 code (1008 policy, 1009 too big)."""

    max_frame_bytes: int = 64 * 1024
    """A larger frame closes the connection with 1009."""
    max_samples_per_batch: int = protocol.MAX_SAMPLES_PER_BATCH
    frames_per_s: float = 20.0
    """Sustained frames a second per connection (a token bucket), bad frames included …"""
    frame_burst: int = 40
    """… and how many may come at once (a device resending its backlog after a reconnect)."""
    max_refused_in_a_row: int = 200
    """A connection that keeps sending refused frames (bad, or over the rate) is closed (1008)."""
    max_future_ms: int = 5 * 60 * 1000
    """How far ahead of the gateway's clock a sample's (or a start's) time may be."""
    allowed_origins: tuple[str, ...] = ()
    """Browser origins allowed besides the gateway's own (clients that send no Origin
    header, like watches and phone apps, are not affected)."""
    upload_max_bytes: int = 20 * 1024 * 1024
    """Largest workout file `POST /v1/workouts/import` takes (GPX or FIT); larger gets 413."""
    upload_workers: int = 1
    """Workout files a gateway imports at once, each read and replayed in a worker process
    of its own (gateway/import_pool.py) …"""
    upload_queue: int = 2
    """… how many more may wait for one (beyond that: 503 `imports_busy` at once) …"""
    upload_wait_s: float = 10.0
    """… and for how long (then 503 `imports_busy`)."""


class TokenBucket:
    def __init__(self, rate: float, burst: int, at: float | None = None) -> None:
        """Full at time `at` (time.monotonic(); default now)."""
        self._rate, self._burst = rate, float(burst)
        self._tokens, self._at = float(burst), time.monotonic() if at is None else at

    def take(self, at: float | None = None) -> bool:
        """Take a token at time `at` (time.monotonic(); default now): False if none is left."""
        now = time.monotonic() if at is None else at
        self._tokens = min(self._burst, self._tokens + max(0.0, now - self._at) * self._rate)
        self._at = max(self._at, now)
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True


def check_start(limits: IngestLimits, frame: protocol.Start) -> Error | None:
    """A start time the workout could really have: after 2000, not in the future."""
    latest = int(time.time() * 1000) + limits.max_future_ms
    if frame.started_at > latest:
        return Error(code="time_in_future", workout_id=frame.workout_id,
                     message=f"started_at is more than {limits.max_future_ms // 1000} s ahead of "
                             "the server clock; check the device clock")
    if frame.started_at < EARLIEST_START_MS:
        return Error(code="invalid", workout_id=frame.workout_id,
                     message="$.started_at: before 2000-01-01; check the device clock")
    return None


class SampleTimes:
    """Batch size and sample times of one connection: not far ahead of our clock, never
    going back. Samples the device resends (already acked here) are not judged again."""

    def __init__(self, limits: IngestLimits) -> None:
        self.limits = limits
        self._newest: dict[uuid.UUID, tuple[int, int]] = {}
        """Per workout, (seq, t_ms) of the newest sample acked on this connection."""

    def new_samples(self, frame: protocol.Samples) -> list[protocol.DeviceSample]:
        """The frame's samples not yet acked on this connection."""
        newest_seq = self._newest.get(frame.workout_id, (-1, -1))[0]
        skip = max(0, newest_seq - frame.seq + 1)
        return frame.samples[skip:]

    def check(self, frame: protocol.Samples) -> Error | None:
        limits, n = self.limits, len(frame.samples)
        if n > limits.max_samples_per_batch:
            return Error(code="batch_too_large", workout_id=frame.workout_id, seq=frame.seq,
                         message=f"{n} samples in one frame; send at most "
                                 f"{limits.max_samples_per_batch} per frame")
        times = [s.t_ms for s in frame.samples]
        newest_seq, newest_t = self._newest.get(frame.workout_id, (-1, -1))
        previous = newest_t if frame.seq > newest_seq else -1
        latest_allowed = int(time.time() * 1000) + limits.max_future_ms
        if max(times) > latest_allowed:  # the loops below run only to name the culprit
            i = next(i for i, t in enumerate(times) if t > latest_allowed)
            return Error(code="time_in_future", workout_id=frame.workout_id, seq=frame.seq + i,
                         message=f"sample time {times[i]} is more than {limits.max_future_ms // 1000}"
                                 " s ahead of the server clock; check the device clock")
        if times[0] < previous or times != sorted(times):
            pairs = zip([previous, *times], times, strict=False)
            i = next(i for i, (a, b) in enumerate(pairs) if b < a)
            return Error(code="time_backwards", workout_id=frame.workout_id, seq=frame.seq + i,
                         message=f"sample time {times[i]} is before the one sent before it; "
                                 "times must not decrease")
        return None

    def acked(self, frame: protocol.Samples, acked_seq: int) -> None:
        last = frame.seq + len(frame.samples) - 1
        if acked_seq >= last:
            self._newest[frame.workout_id] = (last, frame.samples[-1].t_ms)
