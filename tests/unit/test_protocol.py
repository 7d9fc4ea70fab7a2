"""The device protocol: both codecs decode every frame, refuse bad ones with a typed error."""

from __future__ import annotations

import uuid

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.protocol import (
    CODECS,
    JSON,
    MAX_SAMPLES_PER_BATCH,
    MSGPACK,
    SUBPROTOCOLS,
    Ack,
    Codec,
    DeviceSample,
    Error,
    Finish,
    FrameError,
    Pause,
    Resume,
    Samples,
    ServerFrame,
    Start,
)

pytestmark = pytest.mark.unit

WID = uuid.UUID("11111111-1111-4111-8111-111111111111")
W = str(WID)
T = 1_767_225_600_000
GOOD_SAMPLE = [T, 45.5, 7.25, 300.0, 142.0, 97.0]


def wire(codec: Codec, frame: dict) -> bytes:
    return (msgspec.msgpack.encode if codec.binary else msgspec.json.encode)(frame)


def refused(codec: Codec, data: bytes | str) -> Error:
    with pytest.raises(FrameError) as err:
        codec.decode(data)
    return err.value.error


@pytest.fixture(params=SUBPROTOCOLS)
def codec(request) -> Codec:
    return Codec(request.param)


@pytest.mark.parametrize(("frame", "expected"), [
    ({"type": "start", "workout_id": W, "sport": "ride", "started_at": T},
     Start(workout_id=WID, sport="ride", started_at=T)),
    ({"type": "samples", "workout_id": W, "seq": 0, "samples": [GOOD_SAMPLE]},
     Samples(workout_id=WID, seq=0, samples=[DeviceSample(*GOOD_SAMPLE)])),
    ({"type": "samples", "workout_id": W, "seq": 41,
      "samples": [[T, None, None, None, None, None], [T + 1, 0, 0, -500, 20, 50]]},
     Samples(workout_id=WID, seq=41,
             samples=[DeviceSample(T, None, None, None, None, None),
                      DeviceSample(T + 1, 0.0, 0.0, -500.0, 20.0, 50.0)])),
    ({"type": "samples", "workout_id": W, "seq": 7,
      "samples": [[*GOOD_SAMPLE, 3.2], [*GOOD_SAMPLE, None, 4.5, 250]]},
     Samples(workout_id=WID, seq=7,
             samples=[DeviceSample(*GOOD_SAMPLE, 3.2), DeviceSample(*GOOD_SAMPLE, None, 4.5, 250.0)])),
    ({"type": "pause", "workout_id": W, "at": T}, Pause(workout_id=WID, at=T)),
    ({"type": "resume", "workout_id": W, "at": T}, Resume(workout_id=WID, at=T)),
    ({"type": "finish", "workout_id": W, "at": T}, Finish(workout_id=WID, at=T)),
])
def test_every_client_frame_decodes(codec: Codec, frame: dict, expected) -> None:
    assert codec.decode(wire(codec, frame)) == expected


def test_json_frames_may_arrive_as_text() -> None:
    text = msgspec.json.encode({"type": "pause", "workout_id": W, "at": 5}).decode()
    assert CODECS[JSON].decode(text) == Pause(workout_id=WID, at=5)


def test_largest_allowed_batch_decodes(codec: Codec) -> None:
    frame = {"type": "samples", "workout_id": W, "seq": 0, "samples": [GOOD_SAMPLE] * MAX_SAMPLES_PER_BATCH}
    assert len(codec.decode(wire(codec, frame)).samples) == MAX_SAMPLES_PER_BATCH


@pytest.mark.parametrize(("subprotocol", "data"), [
    (JSON, b"{not json"),
    (JSON, b""),
    (JSON, b'{"type": "pause", "workout_id": '),
    (JSON, msgspec.msgpack.encode({"type": "pause", "workout_id": W, "at": 1})),
    (MSGPACK, b""),
    (MSGPACK, b"\xc1"),
    (MSGPACK, msgspec.msgpack.encode({"type": "pause", "workout_id": W, "at": 1})[:-3]),
])
def test_malformed_bytes(subprotocol: str, data: bytes) -> None:
    error = refused(CODECS[subprotocol], data)
    assert error.code == "malformed"
    assert subprotocol in error.message
    assert error.seq is None


def test_json_text_on_the_msgpack_subprotocol_is_malformed() -> None:
    error = refused(CODECS[MSGPACK], msgspec.json.encode({"type": "pause", "workout_id": W, "at": 1}))
    assert error.code == "malformed"


@pytest.mark.parametrize(("frame", "seq"), [
    ({"type": "teleport", "workout_id": W, "seq": 7}, 7),
    ({"type": "samples_v2", "seq": 0}, 0),
    ({"type": "ack", "workout_id": W, "seq": 3}, 3),  # a server frame sent by a client
    ({"type": "hello"}, None),
])
def test_unknown_type_names_it_and_echoes_seq(codec: Codec, frame: dict, seq: int | None) -> None:
    error = refused(codec, wire(codec, frame))
    assert error.code == "unknown_type"
    assert repr(frame["type"]) in error.message
    assert error.seq == seq


def test_a_sample_too_long_says_what_a_sample_is(codec: Codec) -> None:
    error = refused(codec, wire(codec, samples_frame([*GOOD_SAMPLE, 3.0, 5.0, 200, 1])))
    assert error.code == "invalid" and "at most length 9" in error.message
    assert "$.samples[0]" in error.message or "speed_mps, accuracy_m, power_w" in error.message


def test_the_optional_fields_travel_only_when_sent() -> None:
    """Six elements stay six inside the platform; trailing nulls are not carried."""
    frame = Samples(workout_id=WID, seq=0, samples=[
        DeviceSample(*GOOD_SAMPLE), DeviceSample(*GOOD_SAMPLE, None, 4.5),
        DeviceSample(*GOOD_SAMPLE, None, None, None)])
    assert frame.rows() == [tuple(GOOD_SAMPLE), (*GOOD_SAMPLE, None, 4.5), tuple(GOOD_SAMPLE)]


def samples_frame(*samples: list, seq: int = 12) -> dict:
    return {"type": "samples", "workout_id": W, "seq": seq, "samples": list(samples)}


@pytest.mark.parametrize(("frame", "path"), [
    (samples_frame([T, 95.0, 7.0, None, None, None]), "$.samples[0][1]"),
    (samples_frame(GOOD_SAMPLE, [T, -90.5, 7.0, None, None, None]), "$.samples[1][1]"),
    (samples_frame([T, 45.0, 180.5, None, None, None]), "$.samples[0][2]"),
    (samples_frame([T, None, None, 9500.0, None, None]), "$.samples[0][3]"),
    (samples_frame([T, None, None, None, 300, None]), "$.samples[0][4]"),
    (samples_frame([T, None, None, None, 10, None]), "$.samples[0][4]"),
    (samples_frame([T, None, None, None, None, 40]), "$.samples[0][5]"),
    (samples_frame([T, None, None, None, None, 100.5]), "$.samples[0][5]"),
    (samples_frame([-1, None, None, None, None, None]), "$.samples[0][0]"),
    (samples_frame([T, None]), "$.samples[0]"),
    (samples_frame([*GOOD_SAMPLE, -0.5]), "$.samples[0][6]"),
    (samples_frame([*GOOD_SAMPLE, 3.0, 0.0]), "$.samples[0][7]"),
    (samples_frame([*GOOD_SAMPLE, 3.0, 5.0, 9000]), "$.samples[0][8]"),
    (samples_frame(), "$.samples"),
    (samples_frame([T, "north", 7.0, None, None, None]), "$.samples[0][1]"),
    ({"type": "samples", "workout_id": "not-a-uuid", "seq": 12, "samples": [GOOD_SAMPLE]}, "$.workout_id"),
    ({"type": "start", "workout_id": W, "sport": "curling", "started_at": T}, "$.sport"),
    ({"type": "pause", "workout_id": W, "at": -5}, "$.at"),
])
def test_invalid_values_name_the_field(codec: Codec, frame: dict, path: str) -> None:
    error = refused(codec, wire(codec, frame))
    assert error.code == "invalid"
    assert error.message.endswith(f"`{path}`")
    assert error.seq == frame.get("seq")


@pytest.mark.parametrize("frame", [
    {"type": "pause", "workout_id": W, "at": T, "foo": 1},
    {"type": "samples", "workout_id": W, "seq": 4, "samples": [GOOD_SAMPLE], "foo": None},
])
def test_unknown_fields_are_invalid(codec: Codec, frame: dict) -> None:
    error = refused(codec, wire(codec, frame))
    assert error.code == "invalid"
    assert "`foo`" in error.message
    assert error.seq == frame.get("seq")


@pytest.mark.parametrize("frame", [
    {"type": "pause", "workout_id": W},
    {"workout_id": W, "at": T},
])
def test_missing_fields_are_invalid(codec: Codec, frame: dict) -> None:
    error = refused(codec, wire(codec, frame))
    assert error.code == "invalid"
    assert "missing required field" in error.message


@pytest.mark.parametrize("frame", [
    Ack(workout_id=WID, seq=41),
    Error(code="seq_gap", message="resend from 10", seq=12, workout_id=WID),
    Error(code="malformed", message="not a frame"),
])
def test_server_frames_round_trip(codec: Codec, frame) -> None:
    data = codec.encode(frame)
    assert isinstance(data, bytes)
    decode = msgspec.msgpack.decode if codec.binary else msgspec.json.decode
    assert decode(data, type=ServerFrame) == frame
    assert decode(data)["type"] == ("ack" if isinstance(frame, Ack) else "error")


def test_a_frame_error_encodes_as_an_error_frame(codec: Codec) -> None:
    with pytest.raises(FrameError) as err:
        codec.decode(wire(codec, samples_frame(seq=3)))
    decode = msgspec.msgpack.decode if codec.binary else msgspec.json.decode
    sent = decode(codec.encode(err.value.error))
    assert (sent["type"], sent["code"], sent["seq"]) == ("error", "invalid", 3)
    assert str(err.value) == sent["message"]


def test_codecs_exist_for_both_subprotocols() -> None:
    assert set(CODECS) == {JSON, MSGPACK} == set(SUBPROTOCOLS)
    assert CODECS[MSGPACK].binary and not CODECS[JSON].binary


GOOD_FRAMES = [
    {"type": "start", "workout_id": W, "sport": "run", "started_at": T},
    {"type": "samples", "workout_id": W, "seq": 4,
     "samples": [GOOD_SAMPLE, [T + 1000, None, None, None, 150, None]]},
    {"type": "pause", "workout_id": W, "at": T},
    {"type": "finish", "workout_id": W, "at": T},
]
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12)


def _mutate(data: bytes, cuts: list[int], flips: list[tuple[int, int]]) -> bytes:
    out = bytearray(data)
    for at, byte in flips:
        if out:
            out[at % len(out)] = byte
    for cut in cuts:
        if out:
            del out[cut % len(out):]
    return bytes(out)


@settings(max_examples=400, deadline=None)
@given(subprotocol=st.sampled_from(SUBPROTOCOLS), base=st.sampled_from(GOOD_FRAMES),
       cuts=st.lists(st.integers(0, 10_000), max_size=1),
       flips=st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=4),
       replace=st.one_of(st.none(), st.tuples(st.sampled_from(["type", "workout_id", "seq", "samples",
                                                               "sport", "at", "started_at"]),
                                              JSON_VALUES)))
def test_mutated_frames_decode_or_get_a_typed_error(subprotocol: str, base: dict, cuts: list[int],
                                                    flips: list[tuple[int, int]], replace) -> None:  # type: ignore[no-untyped-def]
    """Fuzz: whatever bytes arrive, the decoder returns a frame or raises FrameError with a
    code an error frame can carry — never anything else."""
    codec = CODECS[subprotocol]
    frame = dict(base)
    if replace is not None:
        frame[replace[0]] = replace[1]
    try:
        data = _mutate(wire(codec, frame), cuts, flips)
    except (TypeError, OverflowError, msgspec.EncodeError):
        return  # not even encodable (e.g. an integer beyond 64 bits as MessagePack)
    try:
        codec.decode(data)
    except FrameError as exc:
        assert exc.error.code in ("malformed", "unknown_type", "invalid")
        codec.encode(exc.error)  # and it encodes as an error frame


@settings(max_examples=300, deadline=None)
@given(subprotocol=st.sampled_from(SUBPROTOCOLS), data=st.binary(max_size=200))
def test_random_bytes_never_escape_as_anything_but_a_frame_error(subprotocol: str, data: bytes) -> None:
    try:
        CODECS[subprotocol].decode(data)
    except FrameError as exc:
        assert exc.error.code in ("malformed", "unknown_type", "invalid")
