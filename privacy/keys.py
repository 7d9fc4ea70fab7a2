"""Envelope encryption: a key-encryption key (KEK) kept outside the database, and one data
key per person, stored in PostgreSQL wrapped by the KEK (`user_data_keys`, migration 0017).

A person's health payloads on Kafka (and anywhere else that cannot delete a record) are
sealed with their data key (AES-256-GCM). Erasure deletes the key row: every record sealed
with it becomes unreadable, wherever it is kept (crypto-shredding). So a process must not
keep a key in memory for long after its row is gone: the cache here holds a key for at most
`CACHE_TTL_S`, and `forget`/`forget_key` drop it at once in the process that erased.

The KEK itself comes from a `KekSource` (a file by default; a KMS can take its place). The
local key ceremony (privacy/key_ceremony.py, `stride keys …`) splits it into Shamir shares;
`load_keyring` reads what `stride keys unseal` left for the processes of this machine, or,
in development mode only, combines the shares kept in the keys folder itself.

This module depends on no database library: `DataKeys` takes any pool whose
`connection()` yields a psycopg-style async connection.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

log = logging.getLogger("stride.keys")

KEY_BYTES = 32
"""AES-256: the KEK, every data key and the pseudonym pepper."""
NONCE_BYTES = 12
"""GCM's 96-bit nonce, random per message (NIST SP 800-38D 8.2.2: at most 2^32 messages
per key with random nonces; a person's data key seals far fewer)."""
CACHE_TTL_S = 30.0
"""The longest a process keeps using a data key after its row was deleted elsewhere."""
CACHE_MAX = 10_000
_WRAP_AAD = b"stride/data-key/v1"
_CHECK_INFO = b"stride/kek-check/v1"
_PEPPER_AAD = b"stride/pepper/v1"
_PREVIOUS_AAD = b"stride/previous-kek/v1"

KEYRING_FILE = "keyring.json"
UNSEALED_FILE = "kek.unsealed"
DEV_SHARES_DIR = "dev-shares"


class KeysError(Exception):
    """Key material is missing, wrong or unusable; the message says what to do."""


class Sealed(KeysError):
    """No KEK is available to this process: run `stride keys unseal`."""


class Shredded(Exception):
    """The data key is gone (its person was erased): what it sealed can never be read."""


class Unreadable(KeysError):
    """The ciphertext does not open with its key: damaged, or not sealed for this context."""


def seal(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    """nonce || AES-256-GCM(plaintext) with its tag."""
    nonce = secrets.token_bytes(NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def open_sealed(key: bytes, blob: bytes, aad: bytes) -> bytes:
    try:
        return AESGCM(key).decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], aad)
    except (InvalidTag, ValueError):
        raise Unreadable("the ciphertext does not open with this key") from None


def check_value(kek: bytes) -> str:
    """A value that tells whether a KEK is the right one without revealing it."""
    return hmac.new(kek, _CHECK_INFO, hashlib.sha256).hexdigest()[:32]


class KekSource(Protocol):
    """Where the key-encryption key comes from (a file, a KMS…)."""

    def load(self) -> bytes:
        """The 32-byte KEK; raises Sealed when it is not available."""
        ...


@dataclass(frozen=True)
class UnsealedFile:
    """The KEK as `stride keys unseal` wrote it for this machine's processes (hex, 0600)."""

    path: Path

    def load(self) -> bytes:
        try:
            kek = bytes.fromhex(self.path.read_text().strip())
        except FileNotFoundError:
            raise Sealed(f"the keys are sealed ({self.path} does not exist): "
                         "run `stride keys unseal` with the threshold of shares") from None
        except ValueError:
            raise KeysError(f"{self.path} does not hold a key") from None
        if len(kek) != KEY_BYTES:
            raise KeysError(f"{self.path} does not hold a {KEY_BYTES}-byte key")
        return kek


@dataclass(frozen=True)
class DevShares:
    """Development mode: the shares were kept in the keys folder, so any process there can
    unseal by itself. Nobody's consent is needed, which is the point of shares: never in
    production."""

    folder: Path

    def load(self) -> bytes:
        from privacy.key_ceremony import combine_shares, read_share  # the ceremony's format

        files = sorted(self.folder.glob("share-*"))
        if not files:
            raise Sealed(f"no development shares in {self.folder}")
        log.warning("DEVELOPMENT KEYS: unsealing from the %d shares kept in %s; anyone who "
                    "can read that folder can read every sealed payload. Production keeps "
                    "no shares on the machine (stride keys init without --dev).",
                    len(files), self.folder)
        return combine_shares([read_share(f.read_text()) for f in files])


@dataclass(frozen=True)
class KeyRing:
    """What a process holds once unsealed."""

    kek: bytes = field(repr=False)
    kek_id: str
    pepper: bytes = field(repr=False)
    """A random secret for pseudonyms: without it, a pseudonym cannot be tied to an id."""
    previous: dict[str, bytes] = field(default_factory=dict, repr=False)
    """The KEK the last rotation replaced, by id: a process that started before the
    rotation may still wrap a new data key with it, and that key must stay readable."""

    def pseudonym(self, user_id: uuid.UUID) -> str:
        """A stable stand-in for a person's id (HMAC-SHA256 under the pepper), for records
        that must outlive the account but not name it (e.g. that an erasure happened)."""
        return hmac.new(self.pepper, user_id.bytes, hashlib.sha256).hexdigest()

    def wrap(self, key_id: uuid.UUID, user_id: uuid.UUID, data_key: bytes) -> bytes:
        return seal(self.kek, data_key, _WRAP_AAD + key_id.bytes + user_id.bytes)

    def knows(self, kek_id: str) -> bool:
        return kek_id == self.kek_id or kek_id in self.previous

    def unwrap(self, key_id: uuid.UUID, user_id: uuid.UUID, wrapped: bytes,
               kek_id: str | None = None) -> bytes:
        """The data key; the row's ids are authenticated, so a wrapped key copied onto
        another row (another person) does not open."""
        kek = self.kek if kek_id in (None, self.kek_id) else self.previous[kek_id or ""]
        return open_sealed(kek, wrapped, _WRAP_AAD + key_id.bytes + user_id.bytes)


def seal_pepper(kek: bytes, pepper: bytes) -> str:
    return seal(kek, pepper, _PEPPER_AAD).hex()


def open_pepper(kek: bytes, sealed_hex: str) -> bytes:
    return open_sealed(kek, bytes.fromhex(sealed_hex), _PEPPER_AAD)


def load_keyring(keys_dir: Path, source: KekSource | None = None) -> KeyRing:
    """The keyring of `keys_dir`, its KEK from `source`, else the unsealed file, else (dev
    mode) the shares kept there. Raises Sealed / KeysError with what to do."""
    from privacy.key_ceremony import read_keyring_file

    meta = read_keyring_file(keys_dir)
    if source is None:
        unsealed = keys_dir / UNSEALED_FILE
        dev = keys_dir / DEV_SHARES_DIR
        source = DevShares(dev) if not unsealed.exists() and dev.is_dir() else UnsealedFile(unsealed)
    kek = source.load()
    if not hmac.compare_digest(check_value(kek), meta.check):
        raise KeysError(f"the key-encryption key does not match {keys_dir / KEYRING_FILE} "
                        f"({meta.kek_id}): unseal again with this keyring's shares")
    return KeyRing(kek=kek, kek_id=meta.kek_id, pepper=open_pepper(kek, meta.pepper),
                   previous={p.kek_id: open_sealed(kek, bytes.fromhex(p.sealed), _PREVIOUS_AAD)
                             for p in meta.previous})


def seal_previous(kek: bytes, previous_kek: bytes) -> str:
    return seal(kek, previous_kek, _PREVIOUS_AAD).hex()


@dataclass(frozen=True)
class DataKey:
    """One person's data key, unwrapped."""

    key_id: uuid.UUID
    user_id: uuid.UUID
    key: bytes = field(repr=False)
    _aead: AESGCM = field(init=False, repr=False, compare=False)
    """Kept: setting up AES's key schedule costs ten times what sealing one event does."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "_aead", AESGCM(self.key))

    def seal(self, plaintext: bytes, aad: bytes) -> bytes:
        nonce = secrets.token_bytes(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, plaintext, aad)

    def open(self, blob: bytes, aad: bytes) -> bytes:
        """Raises Unreadable when the blob was not sealed with this key and `aad`."""
        try:
            return self._aead.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], aad)
        except (InvalidTag, ValueError):
            raise Unreadable("the ciphertext does not open with this key") from None


class Pool(Protocol):
    def connection(self) -> AbstractAsyncContextManager[Any]: ...


class StaleKeyring(KeysError):
    """A data key is wrapped by a KEK this process does not hold (rotated since it started)."""


class DataKeys:
    """Per-person data keys, created on first use and cached for at most CACHE_TTL_S.

    `reload` gives a fresh keyring when a row names a KEK newer than ours (after
    `stride keys rotate`); without it such a row raises StaleKeyring."""

    def __init__(self, pool: Pool, ring: KeyRing, *,
                 reload: Callable[[], KeyRing] | None = None, ttl_s: float = CACHE_TTL_S) -> None:
        self._pool = pool
        self.ring = ring
        self._reload = reload
        self._ttl_s = ttl_s
        self._by_id: OrderedDict[uuid.UUID, tuple[float, DataKey | None]] = OrderedDict()
        self._by_user: dict[uuid.UUID, uuid.UUID] = {}
        self.shredded_seen = 0
        """How many times a key was asked for and found gone (no ids: a plain count)."""

    async def for_user(self, user_id: uuid.UUID) -> DataKey:
        """The person's data key, made on first use. Raises Shredded when the person no
        longer exists (erased while their events were still being produced)."""
        key_id = self._by_user.get(user_id)
        if key_id is not None:
            cached = self._cached(key_id)
            if cached is not None:
                return cached
        async with self._pool.connection() as conn:
            row = await (await conn.execute(
                "SELECT key_id, wrapped, kek_id FROM user_data_keys WHERE user_id = %s",
                (user_id,))).fetchone()
            if row is None:
                key_id, data_key = uuid.uuid4(), secrets.token_bytes(KEY_BYTES)
                try:
                    made = await (await conn.execute(
                        "INSERT INTO user_data_keys (key_id, user_id, wrapped, kek_id)"
                        " VALUES (%s, %s, %s, %s) ON CONFLICT (user_id) DO NOTHING"
                        " RETURNING key_id",
                        (key_id, user_id, self.ring.wrap(key_id, user_id, data_key),
                         self.ring.kek_id))).fetchone()
                except Exception as exc:
                    if getattr(exc, "sqlstate", None) == "23503":  # no such user (any more)
                        self.shredded_seen += 1
                        raise Shredded("the person has no account") from None
                    raise
                if made is not None:
                    return self._keep(DataKey(key_id=key_id, user_id=user_id, key=data_key))
                row = await (await conn.execute(  # someone else made it at the same moment
                    "SELECT key_id, wrapped, kek_id FROM user_data_keys WHERE user_id = %s",
                    (user_id,))).fetchone()
                if row is None:  # …and it was erased already
                    self.shredded_seen += 1
                    raise Shredded("the person's data key is gone")
        return self._keep(self._unwrap(row[0], user_id, bytes(row[1]), row[2]))

    async def by_id(self, key_id: uuid.UUID) -> DataKey | None:
        """The data key with this id; None once it was shredded (its row deleted)."""
        now = time.monotonic()
        hit = self._by_id.get(key_id)
        if hit is not None and hit[0] > now:
            if hit[1] is None:
                self.shredded_seen += 1
            return hit[1]
        async with self._pool.connection() as conn:
            row = await (await conn.execute(
                "SELECT user_id, wrapped, kek_id FROM user_data_keys WHERE key_id = %s",
                (key_id,))).fetchone()
        if row is None:
            self.shredded_seen += 1
            self._put(key_id, None)
            return None
        return self._keep(self._unwrap(key_id, row[0], bytes(row[1]), row[2]))

    async def open(self, key_id: uuid.UUID, blob: bytes, aad: bytes) -> bytes:
        """Open what `key_id` sealed; raises Shredded when that key is gone."""
        key = await self.by_id(key_id)
        if key is None:
            raise Shredded("the data key is gone")
        return key.open(blob, aad)

    async def shred(self, conn: Any, user_id: uuid.UUID) -> uuid.UUID | None:
        """Delete the person's data key on `conn` (inside the caller's transaction) and
        forget it here. Returns the key's id, None when they had none."""
        row = await (await conn.execute(
            "DELETE FROM user_data_keys WHERE user_id = %s RETURNING key_id", (user_id,))).fetchone()
        self.forget(user_id)
        if row is None:
            return None
        self.forget_key(row[0])
        return uuid.UUID(str(row[0]))

    def forget(self, user_id: uuid.UUID) -> None:
        """Drop the person's key from this process at once (after erasing them)."""
        key_id = self._by_user.pop(user_id, None)
        if key_id is not None:
            self._put(key_id, None)

    def forget_key(self, key_id: uuid.UUID) -> None:
        hit = self._by_id.get(key_id)
        if hit is not None and hit[1] is not None:
            self._by_user.pop(hit[1].user_id, None)
        self._put(key_id, None)

    def _unwrap(self, key_id: uuid.UUID, user_id: uuid.UUID, wrapped: bytes,
                kek_id: str) -> DataKey:
        if not self.ring.knows(kek_id) and self._reload is not None:
            self.ring = self._reload()
        if not self.ring.knows(kek_id):
            raise StaleKeyring(f"a data key is wrapped by {kek_id}, this process holds "
                               f"{self.ring.kek_id}: restart it after `stride keys rotate`")
        return DataKey(key_id=key_id, user_id=user_id,
                       key=self.ring.unwrap(key_id, user_id, wrapped, kek_id))

    def _cached(self, key_id: uuid.UUID) -> DataKey | None:
        hit = self._by_id.get(key_id)
        return hit[1] if hit is not None and hit[0] > time.monotonic() else None

    def _keep(self, key: DataKey) -> DataKey:
        self._put(key.key_id, key)
        self._by_user[key.user_id] = key.key_id
        return key

    def _put(self, key_id: uuid.UUID, key: DataKey | None) -> None:
        self._by_id[key_id] = (time.monotonic() + self._ttl_s, key)
        self._by_id.move_to_end(key_id)
        while len(self._by_id) > CACHE_MAX:
            _, (_, dropped) = self._by_id.popitem(last=False)
            if dropped is not None and self._by_user.get(dropped.user_id) == dropped.key_id:
                del self._by_user[dropped.user_id]


def write_secret(path: Path, text: str) -> None:
    """Write a file only its owner can read, replacing any earlier one atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # Unique per writer (two threads of one process share the pid).
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    os.replace(tmp, path)
