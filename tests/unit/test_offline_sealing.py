"""The offline SDK's buffer at rest: what a lost phone's SQLite file gives away (nothing of
the samples), whichever key protects it, and an older version's plain buffer sealed on open."""

from __future__ import annotations

import sqlite3
import stat
import struct
import uuid
from pathlib import Path

import msgspec
import pytest

from gateway.offline import SCHEMA, OfflineDevice
from gateway.offline_sealing import BufferKeyError, SampleSealer, key_file_of

pytestmark = pytest.mark.unit
T0 = 1_790_000_000_000
Track = list[tuple[int, float, float, float, float, float]]


def _track(n: int) -> Track:
    return [(T0 + 1000 * i, 45.123456 + 2.5e-5 * i, 7.654321 + 1e-5 * i, 200.0 + i, 141.0 + i % 7, 97.0)
            for i in range(n)]


def in_clear(db_path: Path, samples: Track) -> list[str]:
    """What of `samples` can be read from the buffer's files as they lie on disk: a whole
    sample as the SDK encodes it, or a coordinate or heart rate as the 8-byte double msgpack
    stores (an AES-GCM ciphertext holds a given 8 bytes with a chance of about 2**-60)."""
    raw = b"".join(p.read_bytes() for p in (db_path, Path(f"{db_path}-wal")) if p.exists())
    found = []
    for s in samples:
        if msgspec.msgpack.encode(list(s)) in raw:
            found.append(f"sample {s}")
        for name, value in (("lat", s[1]), ("lon", s[2]), ("hr", s[4])):
            if struct.pack(">d", value) in raw:
                found.append(f"{name} {value}")
    return found


def plain_buffer(path: Path, wid: uuid.UUID, samples: Track) -> None:
    """A buffer as the SDK wrote it before sealing: the same tables, msgpack rows in clear."""
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA journal_mode=WAL")
        db.executescript(SCHEMA)
        db.execute("INSERT INTO workouts (workout_id, sport, started_at, next_seq) VALUES (?, 'run', ?, ?)",
                   (str(wid), T0, len(samples)))
        db.executemany("INSERT INTO samples VALUES (?, ?, ?)",
                       [(str(wid), i, msgspec.msgpack.encode(list(s))) for i, s in enumerate(samples)])
    sqlite3.connect(path).close()


def _device(path: Path, key: bytes | None = None) -> OfflineDevice:
    return OfflineDevice("ws://127.0.0.1:9", "token", path, device_key=key)  # never connects here


def test_recorded_samples_are_not_readable_in_the_files(tmp_path: Path) -> None:
    path, wid, track = tmp_path / "watch.sqlite3", uuid.uuid4(), _track(300)
    device = _device(path)
    device.begin(wid, "run", T0)
    device.record_many(wid, track)
    assert device.pending() == 300
    assert in_clear(path, track) == []
    device.close()
    assert in_clear(path, track) == []  # after the WAL went into the file too


def test_the_check_finds_plain_samples(tmp_path: Path) -> None:
    """The scan above can fail: on an unsealed buffer it finds every sample."""
    path, track = tmp_path / "old.sqlite3", _track(20)
    plain_buffer(path, uuid.uuid4(), track)
    assert len(in_clear(path, track)) >= 20


def test_an_older_plain_buffer_is_sealed_on_open_and_keeps_its_samples(tmp_path: Path) -> None:
    path, wid, track = tmp_path / "old.sqlite3", uuid.uuid4(), _track(200)
    plain_buffer(path, wid, track[:150])
    with sqlite3.connect(path) as db:  # the older version deleted what the server acked
        db.execute("DELETE FROM samples WHERE seq < 50")
    device = _device(path)
    assert device.pending() == 100
    assert in_clear(path, track) == []  # the acked rows' free pages included
    assert device.record_many(wid, track[150:]) == 199  # numbering goes on
    device.close()
    key = key_file_of(path).read_bytes()
    sealer = SampleSealer(key)
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT seq, sample FROM samples WHERE workout_id = ? ORDER BY seq",
                          (str(wid),)).fetchall()
    opened = [tuple(msgspec.msgpack.decode(sealer.open(str(wid), seq, blob))) for seq, blob in rows]
    assert [seq for seq, _ in rows] == list(range(50, 200)) and opened == track[50:]


def test_the_key_file_is_private_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "watch.sqlite3"
    _device(path).close()
    key_file = key_file_of(path)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600 and len(key_file.read_bytes()) == 32
    first = key_file.read_bytes()
    _device(path).close()  # opened again: the same key, nothing refused
    assert key_file.read_bytes() == first


def test_an_app_key_leaves_no_key_file_and_another_key_is_refused(tmp_path: Path) -> None:
    path, wid = tmp_path / "watch.sqlite3", uuid.uuid4()
    key = bytes(range(32))
    device = _device(path, key)
    device.begin(wid, "run", T0)
    device.record_many(wid, _track(5))
    device.close()
    assert not key_file_of(path).exists()
    with pytest.raises(BufferKeyError, match="another key"):
        _device(path, bytes(32))
    with pytest.raises(BufferKeyError, match="another key"):
        _device(path)  # the default key file is not the app's key either
    with pytest.raises(ValueError, match="32 bytes"):
        _device(tmp_path / "other.sqlite3", b"short")
    assert _device(path, key).pending() == 5


def test_a_sample_moved_to_another_workout_or_position_does_not_open() -> None:
    sealer = SampleSealer(bytes(range(32)))
    wid, other = str(uuid.uuid4()), str(uuid.uuid4())
    blob = sealer.seal(wid, 7, b"sample")
    assert sealer.open(wid, 7, blob) == b"sample"
    for where, seq in ((wid, 8), (other, 7)):
        with pytest.raises(BufferKeyError, match="does not open"):
            sealer.open(where, seq, blob)
