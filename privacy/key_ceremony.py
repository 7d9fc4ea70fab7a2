"""The key ceremony behind `stride keys init|unseal|rotate|status`: making a KEK, splitting it
into Shamir shares, putting it back together, and re-wrapping the data keys under a new one.

Files in the keys folder (`keys_dir`):
- `keyring.json` — the KEK's id, its check value, how many shares of what threshold, the
  pepper sealed under the KEK, and whether this is a development keyring. Nothing in it
  opens anything without the KEK.
- `kek.unsealed` — written by `stride keys unseal` (mode 0600): the KEK for the processes
  of this machine. Put the folder on tmpfs in production, so a powered-off disk holds no KEK.
- `dev-shares/share-N` — development mode only (`--dev`): the shares themselves, so the
  processes unseal on their own (with a loud warning). Production writes shares once, for
  their holders, and keeps none.
A share is one line: `stride-share:v1:<kek_id>:<threshold>:<n>:<hex>`.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgspec

from privacy import shamir
from privacy.keys import (
    DEV_SHARES_DIR,
    KEY_BYTES,
    KEYRING_FILE,
    UNSEALED_FILE,
    KeyRing,
    KeysError,
    check_value,
    load_keyring,
    seal_pepper,
    seal_previous,
    write_secret,
)

SHARE_PREFIX = "stride-share:v1"


class PreviousKek(msgspec.Struct, frozen=True, kw_only=True):
    kek_id: str
    sealed: str
    """That KEK sealed under the current one (hex)."""


class KeyringFile(msgspec.Struct, frozen=True, kw_only=True):
    version: int = 1
    kek_id: str
    check: str
    """check_value(KEK): tells a right KEK from a wrong one."""
    pepper: str
    """The pseudonym pepper sealed under the KEK (hex)."""
    shares: int
    threshold: int
    dev: bool
    created_at: str
    previous: list[PreviousKek] = []
    """The KEK the last rotation replaced (one generation), for keys wrapped by processes
    that had not reloaded yet."""


class Share(msgspec.Struct, frozen=True):
    kek_id: str
    threshold: int
    x: int
    y: bytes


def format_share(share: Share) -> str:
    return f"{SHARE_PREFIX}:{share.kek_id}:{share.threshold}:{share.x}:{share.y.hex()}"


def read_share(text: str) -> Share:
    parts = text.strip().split(":")
    if len(parts) != 6 or ":".join(parts[:2]) != SHARE_PREFIX:
        raise KeysError("not a Stride key share (expected stride-share:v1:…)")
    try:
        share = Share(parts[2], int(parts[3]), int(parts[4]), bytes.fromhex(parts[5]))
    except ValueError:
        raise KeysError("a key share is damaged (its numbers or hex do not read)") from None
    if len(share.y) != KEY_BYTES or not 1 <= share.x <= shamir.MAX_SHARES:
        raise KeysError("a key share is damaged (wrong length or number)")
    return share


def combine_shares(shares: Sequence[Share]) -> bytes:
    """The KEK from shares of one set; KeysError when they are too few or of several sets.
    Whether it is the right KEK is for the check value to say (load_keyring, unseal)."""
    distinct = {s.x: s for s in shares}
    sets = {(s.kek_id, s.threshold) for s in shares}
    if len(sets) > 1:
        raise KeysError("the shares belong to different keys: "
                        + ", ".join(sorted(k for k, _ in sets)))
    if not distinct:
        raise KeysError("no shares given")
    kek_id, threshold = sets.pop()
    if len(distinct) < threshold:
        raise KeysError(f"{len(distinct)} distinct share(s) of {kek_id} given; "
                        f"{threshold} are needed")
    return shamir.combine([(s.x, s.y) for s in distinct.values()])


def read_keyring_file(keys_dir: Path) -> KeyringFile:
    path = keys_dir / KEYRING_FILE
    try:
        return msgspec.json.decode(path.read_bytes(), type=KeyringFile)
    except FileNotFoundError:
        raise KeysError(f"no keyring in {keys_dir}: run `stride keys init`") from None
    except msgspec.MsgspecError as exc:
        raise KeysError(f"{path} is damaged: {exc}") from None


def _new_kek_id() -> str:
    return f"kek-{dt.datetime.now(dt.UTC):%Y%m%d}-{secrets.token_hex(4)}"


def make_keyring(keys_dir: Path, *, shares: int, threshold: int, dev: bool,
                 replacing: KeyRing | None = None) -> tuple[KeyRing, list[Share]]:
    """A new KEK, its keyring file and its shares; in dev mode the shares are kept in the
    folder too. `replacing` (a rotation): its pepper is kept, so pseudonyms stay the same,
    and its KEK is kept sealed under the new one. Does not touch any unsealed KEK: the
    caller decides when the new one takes over."""
    keys_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    keys_dir.chmod(0o700)
    kek = secrets.token_bytes(KEY_BYTES)
    pepper = secrets.token_bytes(KEY_BYTES) if replacing is None else replacing.pepper
    kek_id = _new_kek_id()
    parts = [Share(kek_id, threshold, x, y) for x, y in shamir.split(kek, shares, threshold)]
    previous = [] if replacing is None else [
        PreviousKek(kek_id=replacing.kek_id, sealed=seal_previous(kek, replacing.kek))]
    meta = KeyringFile(kek_id=kek_id, check=check_value(kek), pepper=seal_pepper(kek, pepper),
                       shares=shares, threshold=threshold, dev=dev, previous=previous,
                       created_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))
    write_secret(keys_dir / KEYRING_FILE, msgspec.json.encode(meta).decode() + "\n")
    dev_dir = keys_dir / DEV_SHARES_DIR
    for old in dev_dir.glob("share-*"):
        old.unlink()
    if dev:
        for share in parts:
            write_secret(dev_dir / f"share-{share.x}", format_share(share) + "\n")
    elif dev_dir.exists():
        dev_dir.rmdir()
    older = {} if replacing is None else {replacing.kek_id: replacing.kek}
    return KeyRing(kek=kek, kek_id=kek_id, pepper=pepper, previous=older), parts


def unseal(keys_dir: Path, shares: Sequence[Share]) -> KeyRing:
    """Put the KEK together from the holders' shares, check it, and leave it (0600) for the
    processes of this machine. Raises KeysError when too few or wrong shares were given."""
    meta = read_keyring_file(keys_dir)
    foreign = sorted({s.kek_id for s in shares} - {meta.kek_id})
    if foreign:
        raise KeysError(f"share(s) of {', '.join(foreign)} given; this keyring is {meta.kek_id}")
    kek = combine_shares(shares)
    if check_value(kek) != meta.check:
        raise KeysError("the shares do not give this keyring's key: one of them is wrong")
    write_secret(keys_dir / UNSEALED_FILE, kek.hex() + "\n")
    return load_keyring(keys_dir)


def seal_again(keys_dir: Path) -> bool:
    """Remove the unsealed KEK of this machine; True if there was one."""
    path = keys_dir / UNSEALED_FILE
    if path.exists():
        path.unlink()
        return True
    return False


async def rewrap_all(conn: Any, new: KeyRing) -> int:
    """Re-wrap under `new` every data key wrapped by a KEK it replaced, inside the caller's
    transaction; the data keys themselves stay, so everything they sealed stays readable.
    The table is locked against new keys meanwhile."""
    await conn.execute("LOCK TABLE user_data_keys IN SHARE ROW EXCLUSIVE MODE")
    cur = await conn.execute(
        "SELECT key_id, user_id, wrapped, kek_id FROM user_data_keys")
    rows = await cur.fetchall()
    strays = sorted({r[3] for r in rows if not new.knows(r[3])})
    if strays:
        raise KeysError(f"data keys wrapped by {', '.join(strays)}, a KEK this keyring does "
                        f"not know ({new.kek_id} and the one it replaced): restore that keyring")
    moved = [(new.wrap(r[0], r[1], new.unwrap(r[0], r[1], bytes(r[2]), r[3])), new.kek_id, r[0])
             for r in rows if r[3] != new.kek_id]
    async with conn.cursor() as cursor:
        await cursor.executemany(
            "UPDATE user_data_keys SET wrapped = %s, kek_id = %s, rotated_at = now()"
            " WHERE key_id = %s", moved)
    return len(moved)



ROTATING_DIR = "rotating"
"""Where a rotation keeps its new keyring until the data keys are re-wrapped: a rotation
cut short (a crash, PostgreSQL away) is finished from there, never lost."""


def stage_rotation(keys_dir: Path, current: KeyRing, *, shares: int, threshold: int,
                   dev: bool) -> tuple[KeyRing, list[Share]]:
    """A new keyring beside the current one, knowing it as `previous`."""
    staging = keys_dir / ROTATING_DIR
    if (staging / KEYRING_FILE).exists():
        raise KeysError(f"an unfinished rotation is in {staging}: finish it first "
                        "(stride keys rotate --finish)")
    new, parts = make_keyring(staging, shares=shares, threshold=threshold, dev=dev,
                              replacing=current)
    write_secret(staging / UNSEALED_FILE, new.kek.hex() + "\n")
    return new, parts


def staged_rotation(keys_dir: Path) -> KeyRing | None:
    """The keyring of an unfinished rotation, None when there is none."""
    staging = keys_dir / ROTATING_DIR
    if not (staging / KEYRING_FILE).exists():
        return None
    return load_keyring(staging)


def install_rotation(keys_dir: Path) -> None:
    """Make the staged keyring the current one (once its data keys are re-wrapped: the new
    keyring still opens keys wrapped by the old KEK, so installing early is safe too)."""
    staging = keys_dir / ROTATING_DIR
    meta = read_keyring_file(staging)
    dev_dir, staged_dev = keys_dir / DEV_SHARES_DIR, staging / DEV_SHARES_DIR
    for old in dev_dir.glob("share-*"):
        old.unlink()
    if meta.dev:
        dev_dir.mkdir(exist_ok=True)
        for share in staged_dev.glob("share-*"):
            share.replace(dev_dir / share.name)
        (staging / UNSEALED_FILE).unlink(missing_ok=True)
        (keys_dir / UNSEALED_FILE).unlink(missing_ok=True)
    else:
        (staging / UNSEALED_FILE).replace(keys_dir / UNSEALED_FILE)
        if dev_dir.exists():
            dev_dir.rmdir()
    if staged_dev.exists():
        staged_dev.rmdir()
    (staging / KEYRING_FILE).replace(keys_dir / KEYRING_FILE)
    staging.rmdir()
