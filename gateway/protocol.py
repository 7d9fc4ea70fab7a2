"""The device protocol (public contract, DESIGN.md): frames as msgspec tagged unions.

Two encodings, chosen by WebSocket subprotocol: `stride.v1.json` and `stride.v1.msgpack`.
Value checks live in the types, so a bad frame is refused with a message naming the field.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from streams.events import SAMPLE_FIELDS, Sample, Sport

JSON = "stride.v1.json"
MSGPACK = "stride.v1.msgpack"
SUBPROTOCOLS = (JSON, MSGPACK)

MAX_SAMPLES_PER_BATCH = 1000
"""Default limit of samples in one frame (gateway.ingest.IngestLimits)."""

TimeMs = Annotated[int, Meta(ge=0, le=2**53)]
Lat = Annotated[float, Meta(ge=-90, le=90)]
Lon = Annotated[float, Meta(ge=-180, le=180)]
AltM = Annotated[float, Meta(ge=-500, le=9000)]
HrBpm = Annotated[float, Meta(ge=20, le=250)]
Spo2Pct = Annotated[float, Meta(ge=50, le=100)]
SpeedMps = Annotated[float, Meta(ge=0, le=150)]
AccuracyM = Annotated[float, Meta(gt=0, le=10_000)]
PowerW = Annotated[float, Meta(ge=0, le=5_000)]


class DeviceSample(msgspec.Struct, frozen=True, array_like=True, forbid_unknown_fields=True):
    """One reading, an array: [t_ms, lat, lon, alt_m, hr_bpm, spo2_pct] and, optionally,
    [..., speed_mps, accuracy_m, power_w] (the device's Doppler speed, its horizontal accuracy
    as a 68 % radius, and power). null where there is no reading; six elements stay valid."""

    t_ms: TimeMs
    lat: Lat | None
    lon: Lon | None
    alt_m: AltM | None
    hr_bpm: HrBpm | None
    spo2_pct: Spo2Pct | None
    speed_mps: SpeedMps | None = None
    accuracy_m: AccuracyM | None = None
    power_w: PowerW | None = None

    def row(self) -> Sample:
        """The sample as the platform carries it: six elements, more only when sent."""
        values = msgspec.structs.astuple(self)
        end = len(values)
        while end > 6 and values[end - 1] is None:
            end -= 1
        return values[:end]


class Frame(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", forbid_unknown_fields=True):
    pass


class Start(Frame, tag="start"):
    workout_id: uuid.UUID
    sport: Sport
    started_at: TimeMs


class Samples(Frame, tag="samples"):
    workout_id: uuid.UUID
    seq: Annotated[int, Meta(ge=0)]
    samples: Annotated[list[DeviceSample], Meta(min_length=1)]

    def rows(self) -> list[Sample]:
        return [s.row() for s in self.samples]


class Pause(Frame, tag="pause"):
    workout_id: uuid.UUID
    at: TimeMs


class Resume(Frame, tag="resume"):
    workout_id: uuid.UUID
    at: TimeMs


class Finish(Frame, tag="finish"):
    workout_id: uuid.UUID
    at: TimeMs


ClientFrame = Start | Samples | Pause | Resume | Finish


class Ack(Frame, tag="ack"):
    workout_id: uuid.UUID
    seq: int


class Error(Frame, tag="error"):
    code: str
    message: str
    seq: int | None = None
    workout_id: uuid.UUID | None = None


ServerFrame = Ack | Error

ErrorCode = Literal[
    "malformed", "unknown_type", "invalid", "batch_too_large", "time_in_future", "time_backwards",
    "rate_limited", "not_started", "foreign_workout", "seq_gap", "workout_finished",
    "invalid_state", "unavailable", "sample_rate_limited", "too_many_workouts",
    "too_many_connections", "workout_deleted", "health_consent_required",
]
"""Every `code` an error frame can carry (README, Device protocol, says what each means)."""


class _Peek(msgspec.Struct):
    """The few fields an error frame can echo back from a frame that failed to decode."""

    type: str | None = None
    seq: int | None = None


class FrameError(Exception):
    def __init__(self, code: ErrorCode, message: str, seq: int | None = None) -> None:
        super().__init__(message)
        self.error = Error(code=code, message=message, seq=seq)


class Codec:
    """Decoder and encoder for one subprotocol, built once per connection kind."""

    def __init__(self, subprotocol: str) -> None:
        self.subprotocol = subprotocol
        self.binary = subprotocol == MSGPACK
        mod = msgspec.msgpack if self.binary else msgspec.json
        self._decoder = mod.Decoder(ClientFrame)
        self._peek = mod.Decoder(_Peek)
        self._encoder = mod.Encoder()

    def decode(self, data: bytes | str) -> ClientFrame:
        if self.binary and isinstance(data, str):
            raise FrameError("malformed", f"{MSGPACK} takes binary frames; this was a text frame")
        raw = data.encode() if isinstance(data, str) else data
        try:
            return self._decoder.decode(raw)
        except msgspec.ValidationError as exc:
            if str(exc).startswith("Expected `object`, got"):
                # The frame decoded to something that is not an object at all
                # (JSON text read as MessagePack starts with the integer 123, "{").
                raise FrameError("malformed", f"not a {self.subprotocol} frame object: {exc}") from None
            peek = self._try_peek(raw)
            known = {"start", "samples", "pause", "resume", "finish"}
            if peek.type is not None and peek.type not in known:
                raise FrameError("unknown_type", f"unknown frame type {peek.type!r}; "
                                 f"expected one of {sorted(known)}", peek.seq) from None
            message = str(exc)
            if " - at `" not in message and "of at most length" in message:
                # msgspec's JSON decoder names no path for an over-long array-like struct
                message += (f": a sample is [{', '.join(SAMPLE_FIELDS)}], the last three"
                            " optional")
            raise FrameError("invalid", message, peek.seq) from None
        except (msgspec.DecodeError, UnicodeDecodeError) as exc:
            # (msgspec's MessagePack decoder raises UnicodeDecodeError for a string that is
            # not UTF-8; found by the fuzz test)
            raise FrameError("malformed", f"not a {self.subprotocol} frame: {exc}") from None

    def _try_peek(self, raw: bytes) -> _Peek:
        try:
            return self._peek.decode(raw)
        except (msgspec.MsgspecError, UnicodeDecodeError):
            return _Peek()

    def encode(self, frame: ServerFrame) -> bytes:
        return self._encoder.encode(frame)


CODECS = {name: Codec(name) for name in SUBPROTOCOLS}
