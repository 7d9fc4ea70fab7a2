"""Encryption at rest of the offline SDK's SQLite buffer (gateway/offline.py).

A phone or watch holds hours of GPS, heart rate and SpO2 in that buffer; a lost device, a
backup of the app's folder or another app reading the file must not reveal where its owner
runs or their heart rate. Every stored sample is sealed with AES-256-GCM under a device
key; the associated data is the workout id and the sample's `seq`, so a row moved to
another workout or position fails to open instead of being sent as something it is not.

Where the key comes from:
- the app passes it (`device_key=`, 32 bytes): in a real app from the OS keystore (Android
  Keystore, iOS Keychain), so it never sits beside the data;
- otherwise a key file beside the database (`<buffer>.key`, created 0600, 32 random
  bytes). That protects the buffer against anything that gets the database file alone (a
  copied or synced file, a backup that leaves out dot-files, another process that may read
  the database but not the key), not against someone who can read the app's whole folder.

A buffer written before sealing existed (plain msgpack rows) is sealed in place the first
time it is opened, in one transaction; SQLite's `secure_delete` overwrites the plain pages
and the WAL is truncated, so the plain samples do not linger in free pages.
"""

from __future__ import annotations

import functools
import os
import sqlite3
import uuid
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES = 32
NONCE_BYTES = 12
KEY_CHECK_AAD = b"stride.offline.key-check.v1"

SCHEMA = """
CREATE TABLE IF NOT EXISTS sealing (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    key_check BLOB NOT NULL   -- nothing, sealed under the device key: a wrong key fails at open
);
"""


class BufferKeyError(ValueError):
    """The device key does not open this buffer (another key, or a damaged or moved row)."""


def default_key(db_path: str | Path) -> bytes:
    """The key of a buffer whose app passes none: its key file (a buffer in memory, which
    nothing outlives, gets a key of its own)."""
    if str(db_path) == ":memory:":
        return AESGCM.generate_key(bit_length=KEY_BYTES * 8)
    return load_or_create_key_file(key_file_of(db_path))


def key_file_of(db_path: str | Path) -> Path:
    return Path(f"{db_path}.key")


def load_or_create_key_file(path: Path) -> bytes:
    """The key in `path`, created 0600 with a random key if there is none. The new key is
    written to a private temporary file and linked into place, so a crash or a second
    process starting at the same moment never leaves a short key or two different keys."""
    try:
        return _read_key(path)
    except FileNotFoundError:
        pass
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(AESGCM.generate_key(bit_length=KEY_BYTES * 8))
            out.flush()
            os.fsync(out.fileno())
        try:
            os.link(tmp, path)  # fails if another process made one first: use theirs
        except FileExistsError:
            pass
    finally:
        tmp.unlink(missing_ok=True)
    return _read_key(path)


def _read_key(path: Path) -> bytes:
    key = path.read_bytes()
    if len(key) != KEY_BYTES:
        raise BufferKeyError(f"{path} holds {len(key)} bytes, not a {KEY_BYTES}-byte key")
    return key


@functools.lru_cache(maxsize=64)
def _workout_bytes(workout_id: str) -> bytes:
    """Parsed once per workout: a day's buffer seals and opens 86,400 samples of one."""
    return uuid.UUID(workout_id).bytes


def _aad(workout_id: str, seq: int) -> bytes:
    return _workout_bytes(workout_id) + seq.to_bytes(8, "big", signed=True)


class SampleSealer:
    """Seals and opens the buffer's sample blobs: nonce (12 bytes) then ciphertext and tag."""

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise ValueError(f"the device key must be {KEY_BYTES} bytes (AES-256), not {len(key)}")
        self._aead = AESGCM(key)

    def seal(self, workout_id: str, seq: int, blob: bytes) -> bytes:
        # Random nonces: a device seals far fewer than the 2**32 messages one key allows.
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, blob, _aad(workout_id, seq))

    def open(self, workout_id: str, seq: int, sealed: bytes) -> bytes:
        try:
            return self._aead.decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], _aad(workout_id, seq))
        except InvalidTag:
            raise BufferKeyError(f"sample {seq} of workout {workout_id} does not open with the "
                                 "device key (another key, or a damaged or moved row)") from None

    def key_check(self) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, b"", KEY_CHECK_AAD)

    def fits(self, check: bytes) -> bool:
        try:
            self._aead.decrypt(check[:NONCE_BYTES], check[NONCE_BYTES:], KEY_CHECK_AAD)
        except InvalidTag:
            return False
        return True


def prepare(db: sqlite3.Connection, sealer: SampleSealer) -> int:
    """Check the key against the buffer, sealing a buffer of an older version first.
    Returns how many plain samples were sealed (0 but for the first open of an old buffer)."""
    db.execute("PRAGMA secure_delete=ON")  # a deleted or rewritten row leaves zeros behind
    db.executescript(SCHEMA)
    row = db.execute("SELECT key_check FROM sealing WHERE id = 1").fetchone()
    if row is not None:
        if not sealer.fits(row[0]):
            raise BufferKeyError("the device key does not open this buffer (it was sealed with "
                                 "another key)")
        return 0
    with db:
        db.execute("BEGIN IMMEDIATE")
        sealed_meanwhile = db.execute("SELECT 1 FROM sealing WHERE id = 1").fetchone() is not None
        plain = [] if sealed_meanwhile else db.execute(
            "SELECT workout_id, seq, sample FROM samples").fetchall()
        # No sealing row: every sample here was written plain by an older version.
        db.executemany("UPDATE samples SET sample = ? WHERE workout_id = ? AND seq = ?",
                       [(sealer.seal(w, s, blob), w, s) for w, s, blob in plain])
        if not sealed_meanwhile:
            db.execute("INSERT INTO sealing (id, key_check) VALUES (1, ?)", (sealer.key_check(),))
    if sealed_meanwhile:  # another process sealed it first: check our key against theirs
        return prepare(db, sealer)
    if plain or db.execute("PRAGMA freelist_count").fetchone()[0]:
        # Rows deleted by the older version (secure_delete was off) and the plain copies of
        # the rows just sealed may sit in free pages and the WAL: rebuild the file, then
        # empty the WAL.
        db.execute("VACUUM")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return len(plain)
