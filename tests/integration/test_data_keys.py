"""Per-person data keys on a real PostgreSQL: made once however many ask at once, gone for
good when the row (or the person) is deleted, readable across a KEK rotation."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from privacy import key_ceremony
from privacy.keys import DataKeys, KeyRing, Shredded, StaleKeyring, load_keyring

pytestmark = pytest.mark.integration


@pytest.fixture
async def pool(migrated_db: str) -> AsyncIterator[AsyncConnectionPool]:
    async with AsyncConnectionPool(migrated_db, min_size=1, max_size=4, open=False) as opened:
        yield opened


def _ring(tmp_path: Path) -> KeyRing:
    key_ceremony.make_keyring(tmp_path, shares=3, threshold=2, dev=True)
    return load_keyring(tmp_path)


async def _new_user(pool: AsyncConnectionPool) -> uuid.UUID:
    user = uuid.uuid4()
    async with pool.connection() as conn:
        await conn.execute("INSERT INTO users (id, email, password_hash) VALUES (%s, %s, 'x')",
                           (user, f"{user}@example.org"))
    return user


async def test_one_key_per_person_even_when_many_ask_at_once(pool: AsyncConnectionPool,
                                                             tmp_path: Path) -> None:
    user = await _new_user(pool)
    first = DataKeys(pool, _ring(tmp_path))
    second = DataKeys(pool, first.ring)
    keys = await asyncio.gather(*(d.for_user(user) for d in [first, second] * 5))
    assert len({(k.key_id, k.key) for k in keys}) == 1
    async with pool.connection() as conn:
        rows = await (await conn.execute(
            "SELECT key_id, wrapped FROM user_data_keys WHERE user_id = %s", (user,))).fetchall()
    assert [r[0] for r in rows] == [keys[0].key_id]
    assert keys[0].key not in bytes(rows[0][1])  # stored wrapped, never in clear
    third = DataKeys(pool, first.ring)
    opened = await third.by_id(keys[0].key_id)
    assert opened is not None and opened.key == keys[0].key and opened.user_id == user


async def test_deleting_the_person_shreds_their_key(pool: AsyncConnectionPool,
                                                    tmp_path: Path) -> None:
    user = await _new_user(pool)
    writer = DataKeys(pool, _ring(tmp_path))
    key = await writer.for_user(user)
    blob = key.seal(b"hr_bpm 171", b"aad")
    reader = DataKeys(pool, writer.ring)
    assert await reader.open(key.key_id, blob, b"aad") == b"hr_bpm 171"
    async with pool.connection() as conn:
        await conn.execute("DELETE FROM users WHERE id = %s", (user,))
    writer.forget(user)
    reader.forget_key(key.key_id)
    with pytest.raises(Shredded):
        await reader.open(key.key_id, blob, b"aad")
    assert await DataKeys(pool, writer.ring).by_id(key.key_id) is None
    with pytest.raises(Shredded):  # a late event of the erased person makes no new key
        await writer.for_user(user)
    assert reader.shredded_seen >= 1 and writer.shredded_seen == 1


async def test_shred_deletes_in_the_callers_transaction(pool: AsyncConnectionPool,
                                                        tmp_path: Path) -> None:
    user = await _new_user(pool)
    keys = DataKeys(pool, _ring(tmp_path))
    key = await keys.for_user(user)
    async with pool.connection() as conn:
        assert await keys.shred(conn, user) == key.key_id
        assert await keys.shred(conn, user) is None
    assert await keys.by_id(key.key_id) is None


async def test_a_cached_key_outlives_its_row_only_for_the_ttl(pool: AsyncConnectionPool,
                                                              tmp_path: Path) -> None:
    user = await _new_user(pool)
    keys = DataKeys(pool, _ring(tmp_path), ttl_s=0.0)  # every lookup goes to the table
    key = await keys.for_user(user)
    async with pool.connection() as conn:
        await conn.execute("DELETE FROM user_data_keys WHERE user_id = %s", (user,))
    assert await keys.by_id(key.key_id) is None


async def test_rotation_rewraps_every_key_and_old_ciphertexts_still_open(
        pool: AsyncConnectionPool, tmp_path: Path, migrated_db: str) -> None:
    users = [await _new_user(pool) for _ in range(3)]
    old = _ring(tmp_path)
    before = DataKeys(pool, old)
    sealed = [(k.key_id, k.seal(b"spo2 97", b"a")) for k in
              [await before.for_user(u) for u in users]]
    new, _ = key_ceremony.stage_rotation(tmp_path, old, shares=3, threshold=2, dev=True)
    assert load_keyring(tmp_path).kek_id == old.kek_id  # nothing changed until installed
    async with await psycopg.AsyncConnection.connect(migrated_db) as conn:
        assert await key_ceremony.rewrap_all(conn, new) == 3
    key_ceremony.install_rotation(tmp_path)
    assert not (tmp_path / key_ceremony.ROTATING_DIR).exists()
    async with pool.connection() as conn:
        kek_ids = await (await conn.execute("SELECT DISTINCT kek_id FROM user_data_keys")).fetchall()
    assert kek_ids == [(new.kek_id,)]
    after = DataKeys(pool, load_keyring(tmp_path))
    assert after.ring.kek_id == new.kek_id and after.ring.pepper == old.pepper
    for key_id, blob in sealed:
        assert await after.open(key_id, blob, b"a") == b"spo2 97"
    # a process that started before the rotation: it reads by reloading the keyring, and
    # a key it makes with the old KEK stays readable by everyone after
    stale = DataKeys(pool, old, reload=lambda: load_keyring(tmp_path))
    assert await stale.open(sealed[0][0], sealed[0][1], b"a") == b"spo2 97"
    late_user = await _new_user(pool)
    late = await DataKeys(pool, old).for_user(late_user)
    assert (await after.by_id(late.key_id)) == late
    with pytest.raises(StaleKeyring, match="restart"):  # two rotations behind, no reload
        await DataKeys(pool, KeyRing(kek=new.kek, kek_id="kek-other", pepper=new.pepper)
                       ).by_id(late.key_id)
    async with await psycopg.AsyncConnection.connect(migrated_db) as conn:
        assert await key_ceremony.rewrap_all(conn, load_keyring(tmp_path)) == 1  # the late one
