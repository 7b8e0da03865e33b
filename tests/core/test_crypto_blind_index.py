"""Blind indexes: deterministic, keyed, separated by kind and by master key version."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st

from amanat.core.crypto import (
    BlindIndexKey,
    KeyringError,
    MasterKeyring,
    blind_index_key_from,
    compute_blind_index,
    compute_blind_index_hex,
    derive_subkey,
)

RING = MasterKeyring.generate().with_new_version()
KEY = blind_index_key_from(RING)


@pytest.mark.asvs("V11.4.2")
class TestBlindIndex:
    @given(value=st.text(max_size=200))
    def test_same_value_same_index(self, value: str) -> None:
        first = compute_blind_index(KEY, "email", value)
        assert first == compute_blind_index(blind_index_key_from(RING), "email", value)
        assert len(first) == 32

    def test_different_values_differ(self) -> None:
        assert compute_blind_index(KEY, "email", "a@x.pk") != compute_blind_index(
            KEY, "email", "b@x.pk"
        )

    def test_same_value_of_different_kinds_differs(self) -> None:
        assert compute_blind_index(KEY, "email", "x") != compute_blind_index(KEY, "cnic", "x")

    def test_kind_and_value_cannot_be_shifted_across_the_boundary(self) -> None:
        assert compute_blind_index(KEY, "email", "x") != compute_blind_index(KEY, "emai", "lx")
        assert compute_blind_index(KEY, "ab", "c") != compute_blind_index(KEY, "a", "bc")

    def test_different_master_keys_give_different_indexes(self) -> None:
        other = blind_index_key_from(MasterKeyring.generate())
        assert compute_blind_index(KEY, "cnic", "3520212345671") != compute_blind_index(
            other, "cnic", "3520212345671"
        )

    def test_versions_give_different_indexes(self) -> None:
        old = blind_index_key_from(RING, 1)
        new = blind_index_key_from(RING, 2)
        assert (old.version, new.version) == (1, 2)
        assert new == KEY
        assert compute_blind_index(old, "phone", "+923001234567") != compute_blind_index(
            new, "phone", "+923001234567"
        )

    def test_unknown_version_is_refused(self) -> None:
        with pytest.raises(KeyringError):
            blind_index_key_from(RING, 3)

    @pytest.mark.asvs("V11.2.2")
    def test_index_key_is_its_own_subkey(self) -> None:
        master = RING.get(2)
        assert KEY.key == derive_subkey(master, "blind-index")
        assert KEY.key not in (master, derive_subkey(master, "wrap"))

    def test_index_is_not_a_plain_or_master_keyed_hash(self) -> None:
        index = compute_blind_index(KEY, "email", "a@x.pk")
        assert index != hashlib.sha256(b"a@x.pk").digest()
        assert index != hmac.new(KEY.key, b"a@x.pk", hashlib.sha256).digest()
        assert index != hmac.new(RING.get(2), b"a@x.pk", hashlib.sha256).digest()

    def test_truncation_keeps_a_prefix_and_at_least_128_bits(self) -> None:
        full = compute_blind_index(KEY, "email", "a@x.pk")
        assert compute_blind_index(KEY, "email", "a@x.pk", length=16) == full[:16]
        for length in (0, 8, 15, 33):
            with pytest.raises(ValueError, match="16 to 32"):
                compute_blind_index(KEY, "email", "a@x.pk", length=length)

    def test_empty_kind_is_refused(self) -> None:
        with pytest.raises(ValueError, match="kind"):
            compute_blind_index(KEY, "", "a@x.pk")

    def test_hex_form_matches_bytes(self) -> None:
        assert compute_blind_index_hex(KEY, "email", "a@x.pk") == (
            compute_blind_index(KEY, "email", "a@x.pk").hex()
        )
        assert len(compute_blind_index_hex(KEY, "email", "a@x.pk", length=16)) == 32

    def test_key_is_hidden_from_repr(self) -> None:
        key = BlindIndexKey(version=1, key=b"\x01" * 32)
        assert "x01" not in repr(key)
        assert "version=1" in repr(key)
