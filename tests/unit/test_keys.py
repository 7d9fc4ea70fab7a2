"""Key material without a database: Shamir shares, the key ceremony's files, sealing.

The database half (data keys made, shredded, re-wrapped) is in
tests/integration/test_crypto_shredding.py."""

from __future__ import annotations

import itertools
import secrets
import stat
import uuid
from pathlib import Path

import pytest

from privacy import key_ceremony, shamir
from privacy.keys import DataKey, KeyRing, KeysError, Sealed, Unreadable, UnsealedFile, load_keyring

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(("shares", "threshold"), [(2, 2), (5, 3), (7, 7), (10, 4)])
def test_every_threshold_subset_rebuilds_the_secret(shares: int, threshold: int) -> None:
    secret = secrets.token_bytes(32)
    parts = shamir.split(secret, shares, threshold)
    assert len({y for _, y in parts}) == shares
    for subset in itertools.combinations(parts, threshold):
        assert shamir.combine(list(subset)) == secret
    assert shamir.combine(parts) == secret


def test_fewer_shares_than_the_threshold_give_another_secret() -> None:
    secret = secrets.token_bytes(32)
    parts = shamir.split(secret, 5, 3)
    for subset in itertools.combinations(parts, 2):
        assert shamir.combine(list(subset)) != secret


def test_a_single_share_leaks_no_byte_pattern_of_the_secret() -> None:
    # a constant secret gives shares that look random: every byte value turns up
    seen = {b for _ in range(64) for _, y in shamir.split(bytes(32), 3, 2) for b in y}
    assert len(seen) > 200


def test_split_refuses_impossible_sets() -> None:
    for shares, threshold in ((3, 4), (5, 1), (256, 3)):
        with pytest.raises(ValueError):
            shamir.split(b"k" * 32, shares, threshold)


def test_dev_keyring_unseals_itself_loudly(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    ring, shares = key_ceremony.make_keyring(tmp_path, shares=5, threshold=3, dev=True)
    loaded = load_keyring(tmp_path)
    assert (loaded.kek, loaded.kek_id, loaded.pepper) == (ring.kek, ring.kek_id, ring.pepper)
    assert "DEVELOPMENT KEYS" in caplog.text
    for path in [tmp_path / "keyring.json", *sorted((tmp_path / "dev-shares").iterdir())]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert ring.kek.hex() not in (tmp_path / "keyring.json").read_text()


def test_production_keyring_keeps_no_share_and_needs_the_threshold(tmp_path: Path) -> None:
    ring, shares = key_ceremony.make_keyring(tmp_path, shares=5, threshold=3, dev=False)
    assert not (tmp_path / "dev-shares").exists()
    with pytest.raises(Sealed, match="stride keys unseal"):
        load_keyring(tmp_path)
    with pytest.raises(KeysError, match="2 distinct share\\(s\\) .* 3 are needed"):
        key_ceremony.unseal(tmp_path, shares[:2])
    with pytest.raises(KeysError, match="3 are needed"):  # the same share twice counts once
        key_ceremony.unseal(tmp_path, [shares[0], shares[0], shares[1]])
    assert not (tmp_path / "kek.unsealed").exists()
    unsealed = key_ceremony.unseal(tmp_path, [shares[4], shares[1], shares[2]])
    assert unsealed.kek == ring.kek
    assert stat.S_IMODE((tmp_path / "kek.unsealed").stat().st_mode) == 0o600
    assert load_keyring(tmp_path).pepper == ring.pepper


def test_a_wrong_or_foreign_share_is_detected(tmp_path: Path) -> None:
    _, shares = key_ceremony.make_keyring(tmp_path, shares=5, threshold=3, dev=False)
    bad = key_ceremony.Share(shares[0].kek_id, 3, shares[0].x,
                             bytes([shares[0].y[0] ^ 1]) + shares[0].y[1:])
    with pytest.raises(KeysError, match="one of them is wrong"):
        key_ceremony.unseal(tmp_path, [bad, shares[1], shares[2]])
    _, others = key_ceremony.make_keyring(tmp_path / "other", shares=5, threshold=3, dev=False)
    with pytest.raises(KeysError, match="this keyring is"):
        key_ceremony.unseal(tmp_path, [others[0], shares[1], shares[2]])
    assert not (tmp_path / "kek.unsealed").exists()


def test_shares_read_back_from_their_text_and_damage_is_refused() -> None:
    share = key_ceremony.Share("kek-x", 3, 2, secrets.token_bytes(32))
    assert key_ceremony.read_share(key_ceremony.format_share(share) + "\n") == share
    for text in ("hello", "stride-share:v1:kek-x:3:2:zz", "stride-share:v1:kek-x:3:2:00ff"):
        with pytest.raises(KeysError):
            key_ceremony.read_share(text)


def test_an_unsealed_kek_of_another_keyring_is_refused(tmp_path: Path) -> None:
    key_ceremony.make_keyring(tmp_path, shares=3, threshold=2, dev=False)
    (tmp_path / "kek.unsealed").write_text(secrets.token_hex(32))
    with pytest.raises(KeysError, match="does not match"):
        load_keyring(tmp_path)
    with pytest.raises(KeysError, match="does not hold"):
        UnsealedFile(tmp_path / "keyring.json").load()


def test_data_keys_are_bound_to_their_row_and_context() -> None:
    ring = KeyRing(kek=secrets.token_bytes(32), kek_id="k", pepper=secrets.token_bytes(32))
    key_id, user, other = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    raw = secrets.token_bytes(32)
    wrapped = ring.wrap(key_id, user, raw)
    assert ring.unwrap(key_id, user, wrapped) == raw
    with pytest.raises(Unreadable):
        ring.unwrap(key_id, other, wrapped)  # copied onto another person's row
    key = DataKey(key_id=key_id, user_id=user, key=raw)
    blob = key.seal(b"hr 180", b"ctx")
    assert b"hr 180" not in blob and key.open(blob, b"ctx") == b"hr 180"
    assert key.seal(b"hr 180", b"ctx") != blob  # a fresh nonce every time
    with pytest.raises(Unreadable):
        key.open(blob, b"other ctx")
    with pytest.raises(Unreadable):
        key.open(blob[:-1] + bytes([blob[-1] ^ 1]), b"ctx")


def test_pseudonyms_are_stable_and_need_the_pepper() -> None:
    user = uuid.uuid4()
    ring = KeyRing(kek=secrets.token_bytes(32), kek_id="k", pepper=secrets.token_bytes(32))
    again = KeyRing(kek=secrets.token_bytes(32), kek_id="k2", pepper=ring.pepper)
    other = KeyRing(kek=ring.kek, kek_id="k", pepper=secrets.token_bytes(32))
    assert ring.pseudonym(user) == again.pseudonym(user) != other.pseudonym(user)
    assert len(ring.pseudonym(user)) == 64 and str(user) not in ring.pseudonym(user)
    assert ring.pseudonym(user) != ring.pseudonym(uuid.uuid4())


def test_stack_up_makes_development_keys_once(tmp_path: Path) -> None:
    from stack.keys_cli import ensure_dev
    from stack.settings import Settings

    settings = Settings.from_env({"STRIDE_HOME": str(tmp_path / "stack")})
    assert settings.keys_path == tmp_path / "stack" / "keys"
    assert ensure_dev(settings) is True
    first = load_keyring(settings.keys_path)
    assert ensure_dev(settings) is False  # an existing keyring is never replaced
    assert load_keyring(settings.keys_path).kek == first.kek
    assert key_ceremony.read_keyring_file(settings.keys_path).dev
    elsewhere = Settings.from_env({"STRIDE_HOME": str(tmp_path), "STRIDE_KEYS_DIR": "/srv/k"})
    assert elsewhere.keys_path == Path("/srv/k")
