"""`stride keys` as an operator runs it, against a database of the test's own: shares handed
out once and kept nowhere, the threshold needed to unseal, a wrong share found out, and a
rotation after which everything sealed before still opens."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from psycopg_pool import AsyncConnectionPool

from privacy.keys import DataKeys, load_keyring

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
ATHLETE = "00000000-0000-4000-8000-000000000001"  # the dev user of migrated_db


def _stride(keys: Path, dsn: str, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "STRIDE_KEYS_DIR": str(keys), "STRIDE_PG_DSN": dsn}
    return subprocess.run([sys.executable, "-m", "stack.cli", "keys", *args], input=stdin,
                          capture_output=True, text=True, cwd=REPO, env=env, timeout=120)


async def test_shares_unseal_only_at_the_threshold_and_rotation_keeps_data(
        migrated_db: str, tmp_path: Path) -> None:
    keys, handed = tmp_path / "keys", tmp_path / "holders"
    made = _stride(keys, migrated_db, "init", "--shares", "5", "--threshold", "3",
                   "--out", str(handed))
    assert made.returncode == 0, made.stderr
    shares = [(handed / f"share-{i}").read_text() for i in range(1, 6)]
    assert len(set(shares)) == 5 and not (keys / "dev-shares").exists()
    assert not any(s.strip() in p.read_text() for s in shares for p in keys.rglob("*") if p.is_file())

    async with AsyncConnectionPool(migrated_db, min_size=1, max_size=2, open=False) as pool:
        key = await DataKeys(pool, load_keyring(keys)).for_user(uuid.UUID(ATHLETE))
        blob = key.seal(b"hr_bpm 158", b"ctx")

        assert _stride(keys, migrated_db, "seal").returncode == 0
        assert "unsealed  no" in _stride(keys, migrated_db, "status").stdout
        two = _stride(keys, migrated_db, "unseal", stdin=shares[0] + shares[3])
        assert two.returncode == 1 and "3 are needed" in two.stderr
        wrong = shares[1].strip()[:-2] + ("00" if not shares[1].strip().endswith("00") else "11")
        bad = _stride(keys, migrated_db, "unseal", stdin=shares[0] + wrong + "\n" + shares[4])
        assert bad.returncode == 1 and "one of them is wrong" in bad.stderr
        assert not (keys / "kek.unsealed").exists()
        ok = _stride(keys, migrated_db, "unseal", stdin=shares[4] + shares[0] + shares[2])
        assert ok.returncode == 0, ok.stderr

        rotated = _stride(keys, migrated_db, "rotate", "--out", str(tmp_path / "new-holders"))
        assert rotated.returncode == 0, rotated.stderr
        assert "1 data keys re-wrapped" in rotated.stderr
        ring = load_keyring(keys)
        status = _stride(keys, migrated_db, "status").stdout
        assert f"data keys 1 by {ring.kek_id}\n" in status
        reopened = await DataKeys(pool, ring).by_id(key.key_id)
        assert reopened is not None and reopened.open(blob, b"ctx") == b"hr_bpm 158"

    assert _stride(keys, migrated_db, "seal").returncode == 0
    old = _stride(keys, migrated_db, "unseal", stdin=shares[0] + shares[1] + shares[2])
    assert old.returncode == 1 and "this keyring is" in old.stderr  # the old shares are void
    again = _stride(keys, migrated_db, "init")
    assert again.returncode == 1 and "stride keys rotate" in again.stderr


def test_a_rotation_cut_short_is_finished(migrated_db: str, tmp_path: Path) -> None:
    import psycopg

    from privacy import key_ceremony
    from stack import keys_cli
    from stack.settings import Settings

    keys = tmp_path / "keys"
    settings = Settings.from_env({"STRIDE_HOME": str(tmp_path), "STRIDE_KEYS_DIR": str(keys),
                                  "STRIDE_PG_DSN": migrated_db})
    assert keys_cli.init(settings, 3, 2, True, None) == 0
    old = load_keyring(keys)
    with psycopg.connect(migrated_db, autocommit=True) as conn:
        wrapped = old.wrap(uuid.UUID(int=7), uuid.UUID(ATHLETE), b"k" * 32)
        conn.execute("INSERT INTO user_data_keys (key_id, user_id, wrapped, kek_id)"
                     " VALUES (%s, %s, %s, %s)", (uuid.UUID(int=7), ATHLETE, wrapped, old.kek_id))
    staged, _ = key_ceremony.stage_rotation(keys, old, shares=3, threshold=2, dev=True)
    # … and the machine stopped here: nothing re-wrapped, the old keyring still in place
    assert load_keyring(keys).kek_id == old.kek_id
    assert keys_cli.rotate(settings, None, None, None, finish=False) == 1  # one at a time
    assert keys_cli.rotate(settings, None, None, None, finish=True) == 0
    ring = load_keyring(keys)
    assert ring.kek_id == staged.kek_id and ring.pepper == old.pepper
    with psycopg.connect(migrated_db) as conn:
        row = conn.execute("SELECT wrapped, kek_id FROM user_data_keys").fetchone()
    assert row is not None and row[1] == staged.kek_id
    assert ring.unwrap(uuid.UUID(int=7), uuid.UUID(ATHLETE), bytes(row[0]), row[1]) == b"k" * 32
    assert keys_cli.rotate(settings, None, None, None, finish=True) == 1  # nothing left to finish
