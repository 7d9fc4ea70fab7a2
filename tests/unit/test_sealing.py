"""The sealed envelope without a database: what a record carries in clear, and that only
its own key opens it."""

from __future__ import annotations

import secrets
import uuid

import pytest

from privacy.keys import DataKey, Unreadable
from streams import events, sealing

pytestmark = pytest.mark.unit

USER, WORKOUT = uuid.uuid4(), uuid.uuid4()


def _key() -> DataKey:
    return DataKey(key_id=uuid.uuid4(), user_id=USER, key=secrets.token_bytes(32))


def _event() -> events.RiskAlert:
    return events.RiskAlert(workout_id=WORKOUT, user_id=USER, at_ms=1, level="high",
                            reasons=["hr_bpm 201 above max"], acwr=1.9)


def test_a_sealed_record_names_only_its_random_key() -> None:
    key = _key()
    record_key, value = sealing.seal_with(key, _event())
    assert record_key == key.key_id.bytes
    envelope = sealing.peek(value)
    assert isinstance(envelope, sealing.SealedEvent) and envelope.key_id == key.key_id
    for clear in (USER.bytes, WORKOUT.bytes, str(USER).encode(), b"risk_alert", b"hr_bpm", b"high"):
        assert clear not in value
    aad = sealing.AAD + key.key_id.bytes
    assert events.decode(key.open(envelope.blob, aad)) == _event()


def test_a_blob_moved_into_another_envelope_does_not_open() -> None:
    key, other = _key(), _key()
    _, value = sealing.seal_with(key, _event())
    blob = sealing.peek(value)
    assert isinstance(blob, sealing.SealedEvent)
    with pytest.raises(Unreadable):  # the key id is authenticated with the ciphertext
        DataKey(key_id=other.key_id, user_id=USER, key=key.key).open(
            blob.blob, sealing.AAD + other.key_id.bytes)


def test_plain_events_still_read_as_themselves() -> None:
    assert sealing.peek(events.encode(_event())) == _event()


def test_probe_keys_are_kept_nowhere_and_differ_each_time() -> None:
    assert sealing.throwaway_key().key_id != sealing.throwaway_key().key_id
