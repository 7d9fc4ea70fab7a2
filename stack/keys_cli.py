"""`stride keys init|unseal|seal|rotate|status`: the key ceremony (privacy/key_ceremony.py).

Production: `init` makes the KEK and hands out its shares once — printed, or one file per
holder with `--out DIR` — and keeps none; the KEK stays unsealed on this machine until
`stride keys seal`. After a restart, `unseal` takes the threshold of shares (one a line on
standard input, or asked for one by one at a terminal). Development (`--dev`, what `stride
stack up`, `make demo` and `make test` use): the shares stay in the keys folder, so the
processes unseal on their own and say so loudly.
"""

from __future__ import annotations

import asyncio
import getpass
import sys
from pathlib import Path

import psycopg

from privacy import key_ceremony
from privacy.keys import (
    DEV_SHARES_DIR,
    KEYRING_FILE,
    UNSEALED_FILE,
    KeyRing,
    KeysError,
    load_keyring,
    write_secret,
)
from stack.settings import Settings


def _say(text: str) -> None:
    print(text, file=sys.stderr)


def _hand_out(shares: list[key_ceremony.Share], out: Path | None) -> None:
    """Give each holder their share once: print them, or one 0600 file each in `out`."""
    if out is None:
        _say(f"{len(shares)} shares follow, one a line: give each to its own holder now; "
             "Stride keeps none of them")
        for share in shares:
            print(key_ceremony.format_share(share))
        return
    for share in shares:
        write_secret(out / f"share-{share.x}", key_ceremony.format_share(share) + "\n")
    _say(f"wrote {len(shares)} shares to {out}/share-N: give each to its own holder and delete "
         "them here")


def init(settings: Settings, shares: int, threshold: int, dev: bool, out: Path | None) -> int:
    keys_dir = settings.keys_path
    if (keys_dir / KEYRING_FILE).exists():
        _say(f"stride keys: {keys_dir} already holds a keyring; a new one would leave every "
             "data key unreadable. To change the KEK: stride keys rotate")
        return 1
    try:
        ring, parts = key_ceremony.make_keyring(keys_dir, shares=shares, threshold=threshold,
                                                dev=dev)
    except ValueError as exc:
        _say(f"stride keys: {exc}")
        return 2
    if dev:
        _say(f"DEVELOPMENT keyring {ring.kek_id} in {keys_dir}: its {shares} shares are kept "
             f"in {keys_dir / DEV_SHARES_DIR}, so processes unseal on their own. Never in "
             "production.")
        return 0
    write_secret(keys_dir / UNSEALED_FILE, ring.kek.hex() + "\n")
    _hand_out(parts, out)
    _say(f"keyring {ring.kek_id}: any {threshold} of the {shares} shares unseal it. It is "
         "unsealed on this machine now (stride keys seal to undo)")
    return 0


def ensure_dev(settings: Settings) -> bool:
    """Development keys for a stack that has none (`stride stack up`); True if made now."""
    if (settings.keys_path / KEYRING_FILE).exists():
        return False
    key_ceremony.make_keyring(settings.keys_path, shares=5, threshold=3, dev=True)
    return True


def _read_shares(threshold: int) -> list[key_ceremony.Share]:
    if sys.stdin.isatty():
        texts = [getpass.getpass(f"share {i + 1} of {threshold}: ") for i in range(threshold)]
    else:
        texts = [line for line in sys.stdin.read().splitlines() if line.strip()]
    return [key_ceremony.read_share(t) for t in texts]


def unseal(settings: Settings) -> int:
    keys_dir = settings.keys_path
    try:
        meta = key_ceremony.read_keyring_file(keys_dir)
        ring = key_ceremony.unseal(keys_dir, _read_shares(meta.threshold))
    except KeysError as exc:
        _say(f"stride keys: not unsealed: {exc}")
        return 1
    _say(f"unsealed {ring.kek_id} for the processes of this machine ({keys_dir / UNSEALED_FILE})")
    return 0


def seal(settings: Settings) -> int:
    if key_ceremony.seal_again(settings.keys_path):
        _say("sealed: the KEK is no longer on this machine; running processes keep theirs "
             "until they stop")
    else:
        _say("nothing to seal: the KEK was not unsealed here")
    return 0


async def _rewrap(dsn: str, ring: KeyRing) -> int:
    async with await psycopg.AsyncConnection.connect(dsn) as conn, conn.transaction():
        return await key_ceremony.rewrap_all(conn, ring)


def rotate(settings: Settings, shares: int | None, threshold: int | None, out: Path | None,
           finish: bool) -> int:
    keys_dir = settings.keys_path
    try:
        staged = key_ceremony.staged_rotation(keys_dir)
        if finish and staged is None:
            _say("stride keys: no unfinished rotation to finish")
            return 1
        if not finish:
            meta = key_ceremony.read_keyring_file(keys_dir)
            current = load_keyring(keys_dir)
            staged, parts = key_ceremony.stage_rotation(
                keys_dir, current, shares=shares or meta.shares,
                threshold=threshold or meta.threshold, dev=meta.dev)
            if not meta.dev:
                _hand_out(parts, out)
    except (KeysError, ValueError) as exc:
        _say(f"stride keys: not rotated: {exc}")
        return 1
    assert staged is not None
    try:
        moved = asyncio.run(_rewrap(settings.pg_dsn, staged))
    except psycopg.OperationalError as exc:
        _say(f"stride keys: PostgreSQL is away ({exc}); the new keyring waits in "
             f"{keys_dir / key_ceremony.ROTATING_DIR}: run stride keys rotate --finish")
        return 1
    key_ceremony.install_rotation(keys_dir)
    _say(f"rotated to {staged.kek_id}: {moved} data keys re-wrapped; what they sealed reads "
         "as before. Restart the processes (stride stack restart) so new keys are wrapped "
         "by the new KEK.")
    return 0


def status(settings: Settings) -> int:
    keys_dir = settings.keys_path
    try:
        meta = key_ceremony.read_keyring_file(keys_dir)
    except KeysError as exc:
        _say(f"stride keys: {exc}")
        return 1
    mode = "DEVELOPMENT (shares kept here)" if meta.dev else "production"
    print(f"keyring   {meta.kek_id}, {mode}, {meta.threshold} of {meta.shares} shares, "
          f"made {meta.created_at}")
    print(f"folder    {keys_dir}")
    unsealed = (keys_dir / UNSEALED_FILE).exists() or meta.dev
    print(f"unsealed  {'yes' if unsealed else 'no: stride keys unseal'}")
    if key_ceremony.staged_rotation(keys_dir) is not None:
        print("rotation  unfinished: stride keys rotate --finish")
    try:
        counts = asyncio.run(_counts(settings.pg_dsn))
    except psycopg.Error as exc:
        print(f"data keys unknown (PostgreSQL: {type(exc).__name__})")
        return 0
    listed = ", ".join(f"{n} by {k}{'' if k == meta.kek_id else ' (old)'}" for k, n in counts)
    print(f"data keys {listed or 'none yet'}")
    return 0


async def _counts(dsn: str) -> list[tuple[str, int]]:
    async with await psycopg.AsyncConnection.connect(dsn, connect_timeout=5) as conn:
        cur = await conn.execute(
            "SELECT kek_id, count(*) FROM user_data_keys GROUP BY kek_id ORDER BY kek_id")
        return [(r[0], r[1]) for r in await cur.fetchall()]
