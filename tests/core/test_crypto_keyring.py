"""Master keyring: rotation, fingerprints, env and key-file loading, safe error messages."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from amanat.core.crypto import (
    MASTER_KEY_SIZE,
    KeyringError,
    MasterKeyring,
    derive_subkey,
    format_master_key_env,
    length_prefixed,
    load_or_create_key_file,
    parse_master_key_env,
    save_key_file,
)


def b64(key: bytes) -> str:
    return base64.urlsafe_b64encode(key).decode("ascii")


def key_texts(ring: MasterKeyring) -> list[str]:
    """Every way a key of ``ring`` could show up in text: padded and unpadded b64, hex."""
    texts: list[str] = []
    for key in ring.versions.values():
        texts += [b64(key), b64(key).rstrip("="), key.hex()]
    return texts


def assert_no_key_material(error: KeyringError, ring: MasterKeyring) -> None:
    shown = f"{error} {error!r} {error.message}"
    for text in key_texts(ring):
        assert text not in shown
        # A key cut short or with one character mistyped is still a key.
        assert text[:20] not in shown


@pytest.fixture
def two_version_ring() -> MasterKeyring:
    return MasterKeyring.generate().with_new_version()


@pytest.fixture
def open_umask() -> Iterator[None]:
    # The key file must be 0600 even when the process runs with a permissive umask.
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


@pytest.mark.asvs("V11.5.1")
class TestMasterKeyring:
    def test_generated_keys_are_random_256_bit(self) -> None:
        first = MasterKeyring.generate()
        second = MasterKeyring.generate()
        assert len(first.get(1)) == MASTER_KEY_SIZE
        assert first.get(1) != second.get(1)

    def test_current_is_the_current_version(self, two_version_ring: MasterKeyring) -> None:
        assert two_version_ring.current() == (2, two_version_ring.get(2))

    def test_unknown_version_is_refused_with_code(self, two_version_ring: MasterKeyring) -> None:
        with pytest.raises(KeyringError) as caught:
            two_version_ring.get(7)
        assert caught.value.code == "key_version_unknown"

    def test_new_version_is_fresh_and_current_and_keeps_old_ones(self) -> None:
        ring = MasterKeyring.generate()
        rotated = ring.with_new_version()
        assert rotated.current_version == 2
        assert rotated.get(1) == ring.get(1)
        assert rotated.get(2) != ring.get(1)
        assert len(rotated.get(2)) == MASTER_KEY_SIZE
        # The original is untouched: rotation returns a new ring.
        assert sorted(ring.versions) == [1]

    def test_new_version_follows_the_highest_even_after_retiring(self) -> None:
        ring = MasterKeyring.generate().with_new_version().with_new_version()
        assert ring.without_version(1).with_new_version().current_version == 4

    def test_retiring_an_old_version_removes_it(self, two_version_ring: MasterKeyring) -> None:
        retired = two_version_ring.without_version(1)
        assert sorted(retired.versions) == [2]
        with pytest.raises(KeyringError):
            retired.get(1)

    def test_current_version_cannot_be_retired(self, two_version_ring: MasterKeyring) -> None:
        with pytest.raises(KeyringError) as caught:
            two_version_ring.without_version(2)
        assert caught.value.code == "key_version_current"

    def test_retiring_an_unknown_version_is_refused(self, two_version_ring: MasterKeyring) -> None:
        with pytest.raises(KeyringError) as caught:
            two_version_ring.without_version(9)
        assert caught.value.code == "key_version_unknown"

    def test_keyring_cannot_be_changed_through_the_dict_it_was_built_from(self) -> None:
        versions = {1: bytes(32)}
        ring = MasterKeyring(versions=versions, current_version=1)
        versions[1] = b"\xff" * 32
        assert ring.get(1) == bytes(32)

    @pytest.mark.parametrize(
        ("versions", "current"),
        [
            ({}, 1),
            ({1: bytes(16)}, 1),
            ({0: bytes(32)}, 0),
            ({1: bytes(32)}, 2),
        ],
    )
    def test_invalid_keyrings_are_refused(self, versions: dict[int, bytes], current: int) -> None:
        with pytest.raises(KeyringError) as caught:
            MasterKeyring(versions=versions, current_version=current)
        assert caught.value.code == "key_malformed"

    def test_repr_shows_versions_but_no_key(self, two_version_ring: MasterKeyring) -> None:
        shown = repr(two_version_ring)
        assert "[1, 2]" in shown
        for text in key_texts(two_version_ring):
            assert text not in shown
        for key in two_version_ring.versions.values():
            assert repr(key) not in shown


@pytest.mark.asvs("V11.2.2")
class TestFingerprint:
    def test_fingerprint_is_stable_16_hex(self, two_version_ring: MasterKeyring) -> None:
        fingerprint = two_version_ring.fingerprint(1)
        assert len(fingerprint) == 16
        int(fingerprint, 16)
        assert fingerprint == two_version_ring.fingerprint(1)

    def test_fingerprints_differ_between_versions(self, two_version_ring: MasterKeyring) -> None:
        assert two_version_ring.fingerprint(1) != two_version_ring.fingerprint(2)

    def test_fingerprint_reveals_neither_key_nor_its_plain_hash(
        self, two_version_ring: MasterKeyring
    ) -> None:
        key = two_version_ring.get(1)
        fingerprint = two_version_ring.fingerprint(1)
        assert fingerprint not in key.hex()
        assert fingerprint != hashlib.sha256(key).hexdigest()[:16]


@pytest.mark.asvs("V11.2.2")
class TestDeriveSubkey:
    def test_purposes_give_independent_keys(self) -> None:
        master = os.urandom(32)
        wrap = derive_subkey(master, "wrap")
        index = derive_subkey(master, "blind-index")
        assert len(wrap) == len(index) == 32
        assert wrap != index
        assert master not in (wrap, index)

    def test_derivation_is_deterministic_and_keyed(self) -> None:
        master = os.urandom(32)
        assert derive_subkey(master, "wrap") == derive_subkey(master, "wrap")
        assert derive_subkey(master, "wrap") != derive_subkey(os.urandom(32), "wrap")

    def test_length_is_honoured(self) -> None:
        assert len(derive_subkey(os.urandom(32), "x", length=64)) == 64

    def test_short_master_is_refused(self) -> None:
        with pytest.raises(ValueError, match="at least 32 bytes"):
            derive_subkey(os.urandom(16), "wrap")

    def test_length_prefixing_keeps_splits_apart(self) -> None:
        assert length_prefixed(("a", "bc")) != length_prefixed(("ab", "c"))
        assert length_prefixed(("", "a")) != length_prefixed(("a", ""))


@pytest.mark.asvs("V13.3.1")
class TestMasterKeyEnv:
    def test_round_trip(self, two_version_ring: MasterKeyring) -> None:
        text = format_master_key_env(two_version_ring)
        assert parse_master_key_env(text) == two_version_ring

    def test_last_listed_is_current(self) -> None:
        one, two = os.urandom(32), os.urandom(32)
        ring = parse_master_key_env(f"1:{b64(one)}, 2:{b64(two)}")
        assert ring.current() == (2, two)
        assert ring.get(1) == one

    def test_bare_value_is_version_one(self) -> None:
        key = os.urandom(32)
        ring = parse_master_key_env(b64(key))
        assert ring.current() == (1, key)

    def test_unpadded_base64_is_accepted(self) -> None:
        key = os.urandom(32)
        assert parse_master_key_env(b64(key).rstrip("=")).get(1) == key

    def test_round_trip_when_current_is_not_the_highest(self) -> None:
        ring = MasterKeyring(versions={1: os.urandom(32), 3: os.urandom(32)}, current_version=1)
        assert parse_master_key_env(format_master_key_env(ring)) == ring

    @pytest.mark.parametrize(
        "shape",
        [
            "",
            " ",
            "{cut}",  # bare key with its last characters lost: wrong length
            "1:{k},",
            "1:{k},1:{k}",
            "0:{k}",
            "-1:{k}",
            "x:{k}",
            "1:{k}!!",
            "1:{short}",
            "1:{k}:2",
            "1 {k}",
        ],
    )
    def test_malformed_values_are_refused_without_echoing_the_key(self, shape: str) -> None:
        key = os.urandom(32)
        ring = MasterKeyring(versions={1: key}, current_version=1)
        text = shape.format(k=b64(key), short=b64(key[:16]), cut=b64(key)[:-2])
        with pytest.raises(KeyringError) as caught:
            parse_master_key_env(text)
        assert caught.value.code == "key_malformed"
        assert_no_key_material(caught.value, ring)
        assert caught.value.__cause__ is None


@pytest.mark.asvs("V13.3.1")
class TestKeyFile:
    def test_missing_file_is_created_0600_and_reloads_identically(
        self, tmp_path: Path, open_umask: None
    ) -> None:
        path = tmp_path / "master.key"
        created = load_or_create_key_file(path, create=True)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert load_or_create_key_file(path, create=False) == created
        # No temporary file is left beside it.
        assert [p.name for p in tmp_path.iterdir()] == ["master.key"]

    @pytest.mark.parametrize("umask", [0o022, 0o077, 0o477])
    def test_created_file_is_exactly_0600_whatever_the_umask(
        self, tmp_path: Path, umask: int
    ) -> None:
        path = tmp_path / "master.key"
        previous = os.umask(umask)
        try:
            load_or_create_key_file(path, create=True)
        finally:
            os.umask(previous)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600

    def test_creates_missing_data_directory(self, tmp_path: Path) -> None:
        path = tmp_path / "data" / "master.key"
        load_or_create_key_file(path, create=True)
        assert path.is_file()

    def test_existing_file_is_never_overwritten_by_create(self, tmp_path: Path) -> None:
        path = tmp_path / "master.key"
        first = load_or_create_key_file(path, create=True)
        assert load_or_create_key_file(path, create=True) == first

    def test_file_format(self, tmp_path: Path, two_version_ring: MasterKeyring) -> None:
        path = tmp_path / "master.key"
        save_key_file(path, two_version_ring)
        document = json.loads(path.read_text())
        assert document == {
            "format": 1,
            "current": 2,
            "keys": {"1": b64(two_version_ring.get(1)), "2": b64(two_version_ring.get(2))},
        }

    def test_missing_file_without_create_is_refused(self, tmp_path: Path) -> None:
        path = tmp_path / "master.key"
        with pytest.raises(KeyringError) as caught:
            load_or_create_key_file(path, create=False)
        assert caught.value.code == "key_missing"
        assert not path.exists()

    @pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o620, 0o602, 0o660, 0o666])
    def test_file_open_to_group_or_others_is_refused(
        self, tmp_path: Path, two_version_ring: MasterKeyring, mode: int
    ) -> None:
        path = tmp_path / "master.key"
        save_key_file(path, two_version_ring)
        path.chmod(mode)
        with pytest.raises(KeyringError) as caught:
            load_or_create_key_file(path, create=True)
        assert caught.value.code == "key_file_insecure"
        assert f"chmod 600 {path}" in str(caught.value)
        assert_no_key_material(caught.value, two_version_ring)
        # Refusing must not "repair" the file by replacing it with a new key.
        assert load_ok_after_chmod(path) == two_version_ring

    def test_owner_read_only_file_is_accepted(
        self, tmp_path: Path, two_version_ring: MasterKeyring
    ) -> None:
        path = tmp_path / "master.key"
        save_key_file(path, two_version_ring)
        path.chmod(0o400)
        assert load_or_create_key_file(path, create=False) == two_version_ring

    @pytest.mark.parametrize(
        "content",
        [
            "",
            "not json",
            "[]",
            '{"format": 2, "current": 1, "keys": {"1": "%s"}}',
            '{"format": true, "current": 1, "keys": {"1": "%s"}}',
            '{"format": 1, "current": "1", "keys": {"1": "%s"}}',
            '{"format": 1, "current": 2, "keys": {"1": "%s"}}',
            '{"format": 1, "current": 1, "keys": {}}',
            '{"format": 1, "current": 1, "keys": {"one": "%s"}}',
            '{"format": 1, "current": 1, "keys": {"1": 5}}',
            '{"format": 1, "current": 1, "keys": {"1": "%s", "2": "%.30s"}}',
            '{"format": 1, "current": 1, "keys": {"1": "%.40s"}}',
        ],
    )
    def test_malformed_file_is_refused_without_echoing_keys(
        self, tmp_path: Path, content: str
    ) -> None:
        key = os.urandom(32)
        ring = MasterKeyring(versions={1: key}, current_version=1)
        path = tmp_path / "master.key"
        text = content.replace("%.30s", b64(key)[:30]).replace("%.40s", b64(key)[:40])
        path.write_text(text.replace("%s", b64(key)))
        path.chmod(0o600)
        with pytest.raises(KeyringError) as caught:
            load_or_create_key_file(path, create=True)
        assert caught.value.code == "key_malformed"
        assert_no_key_material(caught.value, ring)
        # A malformed file is the operator's to fix; it is never replaced.
        assert path.read_text() == text.replace("%s", b64(key))

    def test_directory_in_place_of_the_file_is_refused(self, tmp_path: Path) -> None:
        path = tmp_path / "master.key"
        path.mkdir(mode=0o700)
        with pytest.raises(KeyringError) as caught:
            load_or_create_key_file(path, create=True)
        assert caught.value.code in {"key_malformed", "key_file_unreadable"}

    def test_save_replaces_atomically_and_stays_0600(
        self, tmp_path: Path, two_version_ring: MasterKeyring, open_umask: None
    ) -> None:
        path = tmp_path / "master.key"
        original = load_or_create_key_file(path, create=True)
        assert original != two_version_ring
        save_key_file(path, two_version_ring)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert load_or_create_key_file(path, create=False) == two_version_ring
        assert [p.name for p in tmp_path.iterdir()] == ["master.key"]

    def test_save_into_missing_directory_reports_a_code(
        self, tmp_path: Path, two_version_ring: MasterKeyring
    ) -> None:
        with pytest.raises(KeyringError) as caught:
            save_key_file(tmp_path / "absent" / "master.key", two_version_ring)
        assert caught.value.code == "key_file_unwritable"
        assert_no_key_material(caught.value, two_version_ring)


def load_ok_after_chmod(path: Path) -> MasterKeyring:
    path.chmod(0o600)
    return load_or_create_key_file(path, create=False)


@pytest.mark.asvs("V13.3.1")
class TestKeyFileCreationRace:
    def test_loser_of_a_creation_race_uses_the_winners_key(
        self, tmp_path: Path, two_version_ring: MasterKeyring, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        path = tmp_path / "master.key"
        real_link = os.link

        def another_process_wins(src: str | Path, dst: str | Path) -> None:
            save_key_file(path, two_version_ring)
            real_link(src, dst)

        monkeypatch.setattr(os, "link", another_process_wins)
        assert load_or_create_key_file(path, create=True) == two_version_ring
        assert [p.name for p in tmp_path.iterdir()] == ["master.key"]

    def test_filesystem_without_hard_links_still_gets_a_0600_file(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, open_umask: None
    ) -> None:
        def no_hard_links(src: str | Path, dst: str | Path) -> None:
            raise PermissionError(1, "Operation not permitted")

        monkeypatch.setattr(os, "link", no_hard_links)
        path = tmp_path / "master.key"
        created = load_or_create_key_file(path, create=True)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert load_or_create_key_file(path, create=False) == created
        assert [p.name for p in tmp_path.iterdir()] == ["master.key"]


def test_a_rings_subkeys_are_derived_once_and_match_derive_subkey() -> None:
    ring = MasterKeyring.generate().with_new_version()
    for version in ring.versions:
        first = ring.subkey(version, "blind-index")
        assert first == derive_subkey(ring.get(version), "blind-index")
        assert ring.subkey(version, "blind-index") is first  # kept, not derived again
    assert ring.subkey(1, "wrap") != ring.subkey(2, "wrap")
    assert ring.subkey(2, "wrap") != ring.subkey(2, "canary")
    with pytest.raises(KeyringError):
        ring.subkey(9, "wrap")
