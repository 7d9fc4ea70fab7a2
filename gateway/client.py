"""A small device client for the ingest WebSocket (used by the demo and the tests).

    async with DeviceClient(url, token, subprotocol=JSON) as device:
        await device.start(workout_id, "run", started_at_ms)
        ack = await device.send_samples(workout_id, seq=0, samples=[(t_ms, lat, lon, alt, hr, spo2)])
        await device.finish(workout_id, at_ms)

Each call waits (up to `answer_timeout_s`, then TimeoutError) for the server's answer to its
frame: an `Ack`, or raises `DeviceError` with the server's error frame. A frame refused as
`rate_limited` (this connection's frames) or `sample_rate_limited` (the account's samples a
second) is sent again, waiting longer each time, for up to `rate_limit_wait_s`.
"""

from __future__ import annotations

import asyncio
import ssl as ssl_module
import time
import uuid
from types import TracebackType
from typing import Any

import msgspec
import websockets

from gateway import protocol
from gateway.protocol import Ack, Error
from streams.events import Sample, Sport

RATE_LIMIT_RETRY_S = 0.05
"""A refused frame is sent again after this (one token at 20 frames/s), doubling up to …"""
RATE_LIMIT_RETRY_MAX_S = 1.0
LIMITED = ("rate_limited", "sample_rate_limited")
"""Refusals after which nothing of the frame was applied and a later try succeeds."""
NOTICES = ("health_consent_required",)
"""Not refusals: part of the frame was left out (heart rate and SpO2 without the athlete's
consent), the rest taken; the ack follows. Kept in `DeviceClient.notices`."""


class DeviceError(Exception):
    def __init__(self, error: Error) -> None:
        super().__init__(f"{error.code}: {error.message}")
        self.error = error


class DeviceClient:
    def __init__(self, url: str, token: str, *, subprotocol: str = protocol.JSON,
                 answer_timeout_s: float = 30.0, rate_limit_wait_s: float = 10.0,
                 ssl: ssl_module.SSLContext | None = None) -> None:
        """`ssl`: for a `wss://` gateway whose CA is not in the system's trust store (the
        local stack's own CA, `.stack/tls/ca.crt`): a context that trusts it. Certificates
        are always checked."""
        self.url = url.rstrip("/") + "/v1/ingest"
        self.ssl = ssl
        self.token = token
        self.subprotocol = subprotocol
        self.answer_timeout_s = answer_timeout_s
        self.rate_limit_wait_s = rate_limit_wait_s
        self._ws: Any = None
        self.notices: list[Error] = []
        mod = msgspec.msgpack if subprotocol == protocol.MSGPACK else msgspec.json
        self._encoder = mod.Encoder()
        self._decoder = mod.Decoder(protocol.ServerFrame)

    async def __aenter__(self) -> DeviceClient:
        self._ws = await websockets.connect(
            self.url,
            subprotocols=[self.subprotocol],  # type: ignore[list-item]
            additional_headers={"Authorization": f"Bearer {self.token}"},
            open_timeout=self.answer_timeout_s,
            **({"ssl": self.ssl} if self.ssl is not None else {}),
        )
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()
            self._ws = None

    async def send_frame(self, frame: protocol.ClientFrame) -> list[protocol.ServerFrame]:
        """Send one frame; return the server's frames up to and including its ack or error."""
        return await self.send_raw(self._encoder.encode(frame))

    async def send_raw(self, data: bytes | str) -> list[protocol.ServerFrame]:
        """Send bytes as they are (a test of a server's error handling, or a frame built by
        hand); return the server's frames up to and including its ack or error."""
        await self._ws.send(data)
        answers: list[protocol.ServerFrame] = []
        while True:
            # A bounded wait: after an `unavailable` the server may have no ack to add.
            raw = await asyncio.wait_for(self._ws.recv(), self.answer_timeout_s)
            answer = self._decoder.decode(raw if isinstance(raw, bytes) else raw.encode())
            answers.append(answer)
            if isinstance(answer, Ack):
                return answers
            if isinstance(answer, Error) and answer.code not in ("seq_gap", "unavailable", *NOTICES):
                return answers  # these are followed by the current ack

    async def _expect_ack(self, frame: protocol.ClientFrame) -> Ack:
        answers = await self._send_within_rate_limit(frame)
        self.notices += [a for a in answers if isinstance(a, Error) and a.code in NOTICES]
        for answer in answers:
            if isinstance(answer, Error) and answer.code not in NOTICES:
                raise DeviceError(answer)
        ack = answers[-1]
        assert isinstance(ack, Ack)
        return ack

    async def _send_within_rate_limit(self, frame: protocol.ClientFrame) -> list[protocol.ServerFrame]:
        """Send a frame, and again while the server answers `rate_limited` (nothing of it was
        applied), a token's time apart, for at most `rate_limit_wait_s`."""
        deadline = time.monotonic() + self.rate_limit_wait_s
        pause = RATE_LIMIT_RETRY_S
        while True:
            answers = await self.send_frame(frame)
            limited = isinstance(answers[0], Error) and answers[0].code in LIMITED
            if not limited or time.monotonic() >= deadline:
                return answers
            await asyncio.sleep(pause)  # back off: the limit refills at its own pace
            pause = min(RATE_LIMIT_RETRY_MAX_S, pause * 2)

    async def start(self, workout_id: uuid.UUID, sport: Sport, started_at_ms: int) -> Ack:
        return await self._expect_ack(
            protocol.Start(workout_id=workout_id, sport=sport, started_at=started_at_ms))

    async def send_samples(self, workout_id: uuid.UUID, seq: int, samples: list[Sample]) -> Ack:
        return await self._expect_ack(
            protocol.Samples(workout_id=workout_id, seq=seq, samples=samples))

    async def pause(self, workout_id: uuid.UUID, at_ms: int) -> Ack:
        return await self._expect_ack(protocol.Pause(workout_id=workout_id, at=at_ms))

    async def resume(self, workout_id: uuid.UUID, at_ms: int) -> Ack:
        return await self._expect_ack(protocol.Resume(workout_id=workout_id, at=at_ms))

    async def finish(self, workout_id: uuid.UUID, at_ms: int) -> Ack:
        return await self._expect_ack(protocol.Finish(workout_id=workout_id, at=at_ms))
