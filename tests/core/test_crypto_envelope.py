"""Envelope encryption: values bound to their place, data keys wrapped and rotated, canaries."""

from __future__ import annotations

import os

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import given, settings
from hypothesis import strategies as st

from amanat.core.crypto import (
    ALG_AES256GCM,
    DATA_KEY_SIZE,
    NONCE_SIZE,
    DecryptionError,
    KeyringError,
    MasterKeyring,
    WrappedKey,
    check_key_canary,
    decrypt_value,
    derive_subkey,
    encrypt_value,
    make_key_canary,
    new_data_key,
    require_key_canary,
    rewrap_data_key,
    unwrap_data_key,
    wrap_data_key,
)

PLACE = {"table": "person", "column": "email", "row_id": "0192f1c2-row-1"}
TAG_SIZE = 16

# Built once: hypothesis calls test bodies many times and must not share pytest fixtures.
RING = MasterKeyring.generate()
DATA_KEY = new_data_key()
SAMPLE = encrypt_value(DATA_KEY, "ayesha@example.pk", **PLACE)


def flip(blob: bytes, index: int, mask: int) -> bytes:
    changed = bytearray(blob)
    changed[index] ^= mask
    return bytes(changed)


@pytest.mark.asvs("V11.3.1", "V11.3.2")
class TestValueEncryption:
    @given(plaintext=st.text(max_size=2000))
    def test_any_unicode_round_trips(self, plaintext: str) -> None:
        blob = encrypt_value(DATA_KEY, plaintext, **PLACE)
        assert decrypt_value(DATA_KEY, blob, **PLACE) == plaintext

    def test_blob_layout_is_alg_nonce_ciphertext_tag(self) -> None:
        plaintext = "محمد علی"
        blob = encrypt_value(DATA_KEY, plaintext, **PLACE)
        assert blob[0] == ALG_AES256GCM
        assert len(blob) == 1 + NONCE_SIZE + len(plaintext.encode()) + TAG_SIZE
        assert plaintext.encode() not in blob

    @given(
        index=st.integers(min_value=0, max_value=len(SAMPLE) - 1),
        mask=st.integers(min_value=1, max_value=255),
    )
    def test_changing_any_byte_fails(self, index: int, mask: int) -> None:
        with pytest.raises(DecryptionError):
            decrypt_value(DATA_KEY, flip(SAMPLE, index, mask), **PLACE)

    @given(cut=st.integers(min_value=0, max_value=len(SAMPLE) - 1))
    def test_truncated_blob_fails(self, cut: int) -> None:
        with pytest.raises(DecryptionError):
            decrypt_value(DATA_KEY, SAMPLE[:cut], **PLACE)

    def test_appended_bytes_fail(self) -> None:
        with pytest.raises(DecryptionError):
            decrypt_value(DATA_KEY, SAMPLE + b"\x00", **PLACE)

    @pytest.mark.parametrize("alg", [0, 2, 255])
    def test_unknown_algorithm_byte_fails(self, alg: int) -> None:
        with pytest.raises(DecryptionError):
            decrypt_value(DATA_KEY, bytes([alg]) + SAMPLE[1:], **PLACE)

    @pytest.mark.parametrize(
        "other",
        [
            {"table": "person_archive"},
            {"column": "phone"},
            {"row_id": "0192f1c2-row-2"},
        ],
    )
    def test_value_moved_to_another_table_column_or_row_fails(self, other: dict[str, str]) -> None:
        with pytest.raises(DecryptionError):
            decrypt_value(DATA_KEY, SAMPLE, **{**PLACE, **other})

    def test_aad_fields_cannot_be_shifted_across_the_boundary(self) -> None:
        blob = encrypt_value(DATA_KEY, "x", table="a", column="bc", row_id="1")
        with pytest.raises(DecryptionError):
            decrypt_value(DATA_KEY, blob, table="ab", column="c", row_id="1")
        with pytest.raises(DecryptionError):
            decrypt_value(DATA_KEY, blob, table="a", column="b", row_id="c1")

    def test_another_persons_data_key_fails(self) -> None:
        with pytest.raises(DecryptionError):
            decrypt_value(new_data_key(), SAMPLE, **PLACE)

    @pytest.mark.parametrize("size", [16, 24, 31, 33])
    def test_keys_of_the_wrong_size_are_refused(self, size: int) -> None:
        # 16 and 24 bytes would silently select AES-128/192.
        with pytest.raises(ValueError, match="32 bytes"):
            encrypt_value(os.urandom(size), "x", **PLACE)
        with pytest.raises(DecryptionError):
            decrypt_value(DATA_KEY[:size] if size < 32 else DATA_KEY + b"\0", SAMPLE, **PLACE)

    def test_decryption_error_has_stable_code_and_no_detail(self) -> None:
        with pytest.raises(DecryptionError) as caught:
            decrypt_value(new_data_key(), SAMPLE, **PLACE)
        assert caught.value.code == "decryption_failed"
        assert str(caught.value) == "decryption failed"
        assert caught.value.__cause__ is None

    @pytest.mark.asvs("V11.5.1")
    def test_nonces_never_repeat(self) -> None:
        blobs = [encrypt_value(DATA_KEY, "same", **PLACE) for _ in range(5000)]
        nonces = {blob[1 : 1 + NONCE_SIZE] for blob in blobs}
        assert len(nonces) == len(blobs)
        # Equal plaintexts in equal places still give unrelated ciphertexts.
        assert len(set(blobs)) == len(blobs)


@pytest.mark.asvs("V11.5.1")
def test_data_keys_are_fresh_256_bit() -> None:
    keys = {new_data_key() for _ in range(1000)}
    assert len(keys) == 1000
    assert all(len(key) == DATA_KEY_SIZE for key in keys)


@pytest.mark.asvs("V11.2.2", "V11.3.1")
class TestDataKeyWrapping:
    def test_wrap_unwrap_round_trip(self) -> None:
        data_key = new_data_key()
        wrapped = wrap_data_key(RING, data_key, subject="person:1")
        assert wrapped.master_version == 1
        assert wrapped.blob[0] == ALG_AES256GCM
        assert data_key not in wrapped.blob
        assert unwrap_data_key(RING, wrapped, subject="person:1") == data_key

    def test_wrapping_uses_a_subkey_not_the_master_itself(self) -> None:
        data_key = new_data_key()
        wrapped = wrap_data_key(RING, data_key, subject="person:1")
        nonce, body = wrapped.blob[1:13], wrapped.blob[13:]
        aad = b"amanat:dek:v1:person:1"
        assert AESGCM(derive_subkey(RING.get(1), "wrap")).decrypt(nonce, body, aad) == data_key
        with pytest.raises(InvalidTag):
            AESGCM(RING.get(1)).decrypt(nonce, body, aad)

    def test_unwrap_for_another_subject_fails(self) -> None:
        wrapped = wrap_data_key(RING, new_data_key(), subject="person:1")
        with pytest.raises(DecryptionError):
            unwrap_data_key(RING, wrapped, subject="person:2")

    def test_unwrap_with_another_master_key_fails(self) -> None:
        wrapped = wrap_data_key(RING, new_data_key(), subject="person:1")
        with pytest.raises(DecryptionError):
            unwrap_data_key(MasterKeyring.generate(), wrapped, subject="person:1")

    def test_unwrap_with_unknown_version_fails_as_decryption_error(self) -> None:
        wrapped = wrap_data_key(RING, new_data_key(), subject="person:1")
        relabelled = WrappedKey(master_version=5, blob=wrapped.blob)
        with pytest.raises(DecryptionError):
            unwrap_data_key(RING, relabelled, subject="person:1")

    def test_unwrap_with_version_relabelled_to_another_existing_one_fails(self) -> None:
        ring = RING.with_new_version()
        wrapped = wrap_data_key(ring, new_data_key(), subject="person:1")
        with pytest.raises(DecryptionError):
            unwrap_data_key(ring, WrappedKey(1, wrapped.blob), subject="person:1")

    @given(
        index=st.integers(min_value=0, max_value=1 + NONCE_SIZE + DATA_KEY_SIZE + TAG_SIZE - 1),
        mask=st.integers(min_value=1, max_value=255),
    )
    @settings(max_examples=50)
    def test_tampered_wrapped_key_fails(self, index: int, mask: int) -> None:
        wrapped = wrap_data_key(RING, DATA_KEY, subject="person:1")
        tampered = WrappedKey(wrapped.master_version, flip(wrapped.blob, index, mask))
        with pytest.raises(DecryptionError):
            unwrap_data_key(RING, tampered, subject="person:1")

    def test_wrong_size_data_key_is_refused(self) -> None:
        with pytest.raises(ValueError, match="32 bytes"):
            wrap_data_key(RING, os.urandom(16), subject="person:1")

    def test_rotation_rewrap_then_retire_old_version(self) -> None:
        data_key = new_data_key()
        value = encrypt_value(data_key, "35202-1234567-1", **PLACE)
        old = wrap_data_key(RING, data_key, subject="person:1")

        rotated = RING.with_new_version()
        # Before rewrapping, the old wrapped key still opens with the rotated ring.
        assert unwrap_data_key(rotated, old, subject="person:1") == data_key
        # New keys are wrapped with the new version.
        assert wrap_data_key(rotated, new_data_key(), subject="p").master_version == 2

        rewrapped = rewrap_data_key(rotated, old, subject="person:1")
        assert rewrapped.master_version == 2
        assert rewrapped.blob != old.blob

        retired = rotated.without_version(1)
        assert unwrap_data_key(retired, rewrapped, subject="person:1") == data_key
        recovered = unwrap_data_key(retired, rewrapped, subject="person:1")
        assert decrypt_value(recovered, value, **PLACE) == "35202-1234567-1"
        # What was not rewrapped is lost once its version is retired.
        with pytest.raises(DecryptionError):
            unwrap_data_key(retired, old, subject="person:1")

    def test_rewrap_of_a_current_key_returns_it_unchanged(self) -> None:
        wrapped = wrap_data_key(RING, new_data_key(), subject="person:1")
        assert rewrap_data_key(RING, wrapped, subject="person:1") is wrapped

    def test_rewrap_for_the_wrong_subject_fails(self) -> None:
        wrapped = wrap_data_key(RING, new_data_key(), subject="person:1")
        with pytest.raises(DecryptionError):
            rewrap_data_key(RING.with_new_version(), wrapped, subject="person:2")


@pytest.mark.asvs("V11.2.2")
class TestKeyCanary:
    def test_canary_holds_for_the_key_that_made_it(self) -> None:
        ring = RING.with_new_version()
        assert check_key_canary(ring, 1, make_key_canary(ring, 1))
        assert check_key_canary(ring, 2, make_key_canary(ring, 2))
        require_key_canary(ring, 2, make_key_canary(ring, 2))

    def test_canary_fails_for_a_different_master_key(self) -> None:
        canary = make_key_canary(RING, 1)
        other = MasterKeyring.generate()
        assert not check_key_canary(other, 1, canary)
        with pytest.raises(KeyringError) as caught:
            require_key_canary(other, 1, canary)
        assert caught.value.code == "key_wrong"

    def test_canary_fails_for_another_version_or_a_missing_one(self) -> None:
        ring = RING.with_new_version()
        canary = make_key_canary(ring, 1)
        assert not check_key_canary(ring, 2, canary)
        assert not check_key_canary(ring, 3, canary)

    def test_damaged_canary_fails(self) -> None:
        canary = make_key_canary(RING, 1)
        assert not check_key_canary(RING, 1, flip(canary, len(canary) - 1, 1))
        assert not check_key_canary(RING, 1, b"")

    def test_canary_does_not_open_with_the_wrap_key(self) -> None:
        # The canary key is separate, so a stored canary says nothing about wrapped keys.
        canary = make_key_canary(RING, 1)
        with pytest.raises(InvalidTag):
            AESGCM(derive_subkey(RING.get(1), "wrap")).decrypt(
                canary[1:13], canary[13:], b"amanat:canary:v1:1"
            )
