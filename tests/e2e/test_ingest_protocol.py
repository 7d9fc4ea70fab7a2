"""The device protocol's error codes and limits, on the running gateway, for both encodings:
each bad input gets its error frame (or close code), and then the stream still works."""

from __future__ import annotations

import time
import uuid
from typing import Any

import msgspec
import numpy as np
import pytest
import websockets

from gateway import protocol
from gateway.client import DeviceClient
from gateway.ingest import IngestLimits
from stack.settings import Settings

pytestmark = pytest.mark.e2e
LIMITS = IngestLimits()  # the stack's gateway runs with the defaults
ENCODINGS = [protocol.JSON, protocol.MSGPACK]


def _encode(subprotocol: str, obj: Any) -> bytes | str:
    if subprotocol == protocol.MSGPACK:
        return msgspec.msgpack.encode(obj)
    return msgspec.json.encode(obj).decode()


def _sample(t: int, **change: float | None) -> list[Any]:
    sample = {"lat": 45.0, "lon": 7.0, "alt": 200.0, "hr": 140.0, "spo2": 97.0, **change}
    return [t, sample["lat"], sample["lon"], sample["alt"], sample["hr"], sample["spo2"]]


async def _error(device: DeviceClient, subprotocol: str, frame: dict[str, Any]) -> protocol.Error:
    answers = await device.send_raw(_encode(subprotocol, frame))
    errors = [a for a in answers if isinstance(a, protocol.Error)]
    assert errors, answers
    return errors[0]


async def _still_works(device: DeviceClient, wid: uuid.UUID, seq: int, t: int) -> None:
    ack = await device.send_samples(wid, seq, [tuple(_sample(t))])  # type: ignore[list-item]
    assert ack.seq == seq


@pytest.mark.parametrize("subprotocol", ENCODINGS)
async def test_every_bad_input_gets_its_code_and_the_stream_goes_on(
        stack: Settings, account, subprotocol: str) -> None:  # type: ignore[no-untyped-def]
    athlete, other = account(), account()
    wid, t0 = uuid.uuid4(), int(time.time() * 1000) - 60_000
    async with DeviceClient(stack.gateway_ws_url, athlete.token, subprotocol=subprotocol) as device:
        await device.start(wid, "run", t0)
        seq = 0

        async def refused(frame: dict[str, Any], code: str, bad_seq: int | None = None) -> None:
            nonlocal seq
            error = await _error(device, subprotocol, frame)
            assert error.code == code, error
            if bad_seq is not None:
                assert error.seq == bad_seq, error
            await _still_works(device, wid, seq, t0 + 1000 * seq)
            seq += 1

        samples = {"type": "samples", "workout_id": str(wid)}
        # Not a frame at all, and a frame of a type nobody knows.
        for junk in (b"\xc1\xc1" if subprotocol == protocol.MSGPACK else "{not json",):
            assert (await device.send_raw(junk))[0].code == "malformed"  # type: ignore[union-attr]
        await refused({"type": "teleport", "seq": 3}, "unknown_type", 3)
        # Impossible values, each named in the message.
        for field, value in (("lat", 91.0), ("lon", -181.0), ("hr", 300.0), ("hr", 10.0),
                             ("spo2", 40.0), ("spo2", 101.0)):
            await refused({**samples, "seq": seq, "samples": [_sample(t0, **{field: value})]},
                          "invalid", seq)
        await refused({**samples, "seq": seq, "samples": []}, "invalid", seq)
        # Too many samples in one frame.
        many = [_sample(t0 + i) for i in range(LIMITS.max_samples_per_batch + 1)]
        await refused({**samples, "seq": seq, "samples": many}, "batch_too_large", seq)
        # A clock far ahead, and time going back inside a batch and across batches.
        future = int(time.time() * 1000) + LIMITS.max_future_ms + 60_000
        await refused({**samples, "seq": seq, "samples": [_sample(t0 + 1000 * seq), _sample(future)]},
                      "time_in_future", seq + 1)
        back = [_sample(t0 + 1000 * seq + 500), _sample(t0 + 1000 * seq)]
        await refused({**samples, "seq": seq, "samples": back}, "time_backwards", seq + 1)
        await refused({**samples, "seq": seq, "samples": [_sample(t0)]}, "time_backwards", seq)
        # Someone else's workout, and one this connection never started.
        async with DeviceClient(stack.gateway_ws_url, other.token, subprotocol=subprotocol) as thief:
            answers = await thief.send_frame(protocol.Start(workout_id=wid, sport="run", started_at=t0))
            assert isinstance(answers[0], protocol.Error) and answers[0].code == "foreign_workout"
            stranger = await _error(thief, subprotocol, {**samples, "seq": 0, "samples": [_sample(t0)]})
            assert stranger.code == "not_started"
        await _still_works(device, wid, seq, t0 + 1000 * seq)
        seq += 1
        # A state change the workout cannot make.
        await refused({"type": "resume", "workout_id": str(wid), "at": t0}, "invalid_state")
        assert (await device.finish(wid, t0 + 1000 * seq)).seq == seq - 1
        assert (await device.finish(wid, t0 + 1000 * seq)).seq == seq - 1  # a resend: same ack
        late = [_sample(t0 + 1000 * seq)]
        after = await _error(device, subprotocol, {**samples, "seq": seq, "samples": late})
        assert after.code == "workout_finished"


@pytest.mark.parametrize("subprotocol", ENCODINGS)
async def test_a_burst_over_the_frame_rate_is_refused_then_the_stream_goes_on(
        stack: Settings, account, subprotocol: str) -> None:  # type: ignore[no-untyped-def]
    """Frames are judged by when they arrived, so the limit holds however long the gateway
    takes to handle each (on a loaded machine, 60 frames may take seconds to answer)."""
    wid, t0 = uuid.uuid4(), int(time.time() * 1000) - 60_000
    async with DeviceClient(stack.gateway_ws_url, account().token, subprotocol=subprotocol) as device:
        await device.start(wid, "run", t0)
        ws = device._ws
        burst = LIMITS.frame_burst + 20
        sent = time.monotonic()
        for seq in range(burst):  # without waiting for answers
            await ws.send(_encode(subprotocol, {"type": "samples", "workout_id": str(wid), "seq": seq,
                                                "samples": [_sample(t0 + 1000 * seq)]}))
        codes = []
        decoder = (msgspec.msgpack if subprotocol == protocol.MSGPACK else msgspec.json).Decoder(
            protocol.ServerFrame)
        for _ in range(burst):
            answer = decoder.decode(await ws.recv())
            codes.append(answer.code if isinstance(answer, protocol.Error) else "ack")
        arrived_within_s = time.monotonic() - sent  # an upper bound on the burst's spread
        refilled = int(arrived_within_s * LIMITS.frames_per_s) + 1
        # The `start` drew one token of the burst; a gateway that answers quickly may see all
        # 60 frames before a token more has dripped in.
        assert LIMITS.frame_burst - 1 <= codes.count("ack") <= LIMITS.frame_burst + refilled, codes
        assert 0 < codes.count("rate_limited") == burst - codes.count("ack")
        acked = max(s for s in range(burst) if codes[s] == "ack")
        # Nothing refused was applied: the device resends it, slower, and it is acked.
        ack = await device.send_samples(wid, 0, [tuple(_sample(t0 + 1000 * s)) for s in range(burst)])  # type: ignore[misc]
        assert ack.seq == burst - 1 and acked < burst


async def test_a_frame_over_the_size_limit_closes_with_1009(stack: Settings, account) -> None:  # type: ignore[no-untyped-def]
    async with DeviceClient(stack.gateway_ws_url, account().token) as device:
        await device._ws.send("x" * (LIMITS.max_frame_bytes + 1))
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await device._ws.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009


async def test_browsers_from_other_origins_are_refused(stack: Settings, account) -> None:  # type: ignore[no-untyped-def]
    url = f"{stack.gateway_ws_url}/v1/ingest?token={account().token}"
    with pytest.raises(websockets.InvalidStatus) as refused:
        await websockets.connect(url, origin="https://evil.example")  # type: ignore[arg-type]
    assert refused.value.response.status_code == 403
    async with websockets.connect(url, origin=stack.gateway_url) as ws:  # type: ignore[arg-type]
        assert ws.subprotocol is None  # its own page is welcome; no subprotocol offered → JSON


@pytest.mark.parametrize("subprotocol", ENCODINGS)
async def test_mutated_frames_get_error_frames_never_a_crash(
        stack: Settings, account, subprotocol: str) -> None:  # type: ignore[no-untyped-def]
    """Fuzz the live endpoint (bounded: 150 frames, seeded): each mutated frame gets an ack or
    an error frame, the connection stays open, and a good frame still works afterwards."""
    rng = np.random.default_rng(7)
    wid, t0 = uuid.uuid4(), int(time.time() * 1000) - 60_000
    good = [
        {"type": "start", "workout_id": str(wid), "sport": "run", "started_at": t0},
        {"type": "samples", "workout_id": str(wid), "seq": 0, "samples": [_sample(t0), _sample(t0 + 1000)]},
        {"type": "pause", "workout_id": str(wid), "at": t0 + 2000},
        {"type": "resume", "workout_id": str(wid), "at": t0 + 3000},
    ]
    async with DeviceClient(stack.gateway_ws_url, account().token, subprotocol=subprotocol) as device:
        await device.start(wid, "run", t0)
        for _ in range(150):
            data = bytearray(msgspec.msgpack.encode(good[rng.integers(len(good))])
                             if subprotocol == protocol.MSGPACK
                             else msgspec.json.encode(good[rng.integers(len(good))]))
            for _ in range(int(rng.integers(1, 4))):
                data[int(rng.integers(len(data)))] = int(rng.integers(256))
            if rng.random() < 0.2:
                del data[int(rng.integers(1, len(data))):]
            payload: bytes | str = bytes(data)
            if subprotocol == protocol.JSON:
                payload = bytes(data).decode("utf-8", errors="replace")
            answers = await device.send_raw(payload)
            assert answers and all(isinstance(a, (protocol.Ack, protocol.Error)) for a in answers)
        ack = await device.send_samples(wid, 0, [tuple(_sample(t0))])  # type: ignore[list-item]
        assert ack.seq >= 0
