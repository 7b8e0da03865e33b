"""TOTP and recovery codes: single use, hashed, CSPRNG seeds, 30-second steps (ASVS V6.5)."""

from __future__ import annotations

import base64
import hashlib
import logging
import math
import re
import secrets
import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import parse_qs, unquote, urlsplit

import pyotp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from amanat.identity.mfa import (
    RECOVERY_CODE_ALPHABET,
    RECOVERY_CODE_COUNT,
    RECOVERY_CODE_ENTROPY_BITS,
    RECOVERY_CODE_HASH_PREFIX,
    TOTP_ALGORITHM,
    TOTP_DIGITS,
    TOTP_STEP_SECONDS,
    TOTP_VALID_WINDOW,
    find_recovery_code,
    hash_recovery_code,
    is_totp_shaped,
    new_recovery_codes,
    new_totp_secret,
    normalize_recovery_code,
    provisioning_uri,
    qr_code_data_uri,
    qr_code_svg,
    recovery_code_matches,
    verify_totp,
)

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"  # 160 bits
# 10 seconds into a step, so "T" and "T + 20 s" are the same step.
T = datetime(2025, 3, 14, 9, 26, 40, tzinfo=UTC)
STEP = int(T.timestamp()) // 30
AMBIGUOUS = set("0O1lI")
SVG_NS = "{http://www.w3.org/2000/svg}"


def code_at(step: int, secret: str = SECRET) -> str:
    """The code an authenticator app shows during `step` (independent of the module under test)."""
    return pyotp.TOTP(secret, interval=30, digits=6).at(step * 30)


def wrong_code(*steps: int) -> str:
    """A six-digit code that is none of the codes of `steps`."""
    taken = {code_at(step) for step in steps}
    return next(f"{n:06d}" for n in range(1_000_000) if f"{n:06d}" not in taken)


@pytest.mark.asvs("V6.5.1", "V6.5.5")
class TestVerifyTotp:
    def test_current_code_verifies_and_returns_its_step(self) -> None:
        assert verify_totp(SECRET, code_at(STEP), last_used_step=None, at=T) == STEP

    def test_same_code_again_is_refused(self) -> None:
        step = verify_totp(SECRET, code_at(STEP), last_used_step=None, at=T)
        assert step == STEP
        assert verify_totp(SECRET, code_at(STEP), last_used_step=step, at=T) is None
        later = T + timedelta(seconds=15)  # still the same step
        assert verify_totp(SECRET, code_at(STEP), last_used_step=step, at=later) is None

    def test_older_code_is_refused_after_a_newer_one_was_used(self) -> None:
        # The previous step's code is inside the drift window, but a newer code was used.
        assert verify_totp(SECRET, code_at(STEP - 1), last_used_step=None, at=T) == STEP - 1
        assert verify_totp(SECRET, code_at(STEP - 1), last_used_step=STEP, at=T) is None

    def test_next_steps_code_is_accepted_after_a_use(self) -> None:
        step = verify_totp(SECRET, code_at(STEP), last_used_step=None, at=T)
        assert step is not None
        next_time = T + timedelta(seconds=TOTP_STEP_SECONDS)
        assert verify_totp(SECRET, code_at(STEP + 1), last_used_step=step, at=next_time) == (
            STEP + 1
        )

    def test_one_step_of_drift_either_way_is_accepted(self) -> None:
        assert TOTP_VALID_WINDOW == 1
        assert verify_totp(SECRET, code_at(STEP - 1), last_used_step=None, at=T) == STEP - 1
        assert verify_totp(SECRET, code_at(STEP + 1), last_used_step=None, at=T) == STEP + 1

    def test_code_two_steps_old_or_ahead_is_refused(self) -> None:
        assert verify_totp(SECRET, code_at(STEP - 2), last_used_step=None, at=T) is None
        assert verify_totp(SECRET, code_at(STEP + 2), last_used_step=None, at=T) is None

    def test_wrong_code_is_refused(self) -> None:
        bad = wrong_code(STEP - 1, STEP, STEP + 1)
        assert verify_totp(SECRET, bad, last_used_step=None, at=T) is None

    def test_code_for_another_secret_is_refused(self) -> None:
        other = "KRUGS4ZANFZSAYJAORSXG5BAONSWG4TF"
        assert code_at(STEP, other) != code_at(STEP)
        assert verify_totp(SECRET, code_at(STEP, other), last_used_step=None, at=T) is None

    @pytest.mark.parametrize(
        "mangle",
        [
            lambda c: c[:5] + "a",
            lambda c: c[:5],
            lambda c: c + "0",
            lambda c: "",
            lambda c: "+" + c[1:],
            lambda c: c[:3] + "-" + c[3:],
            lambda c: c[:3] + "\u0000" + c[3:],
            # The right code in Arabic-Indic digits: str.isdigit() would say yes.
            lambda c: c.translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")),
            # The right code in full-width digits.
            lambda c: c.translate(str.maketrans("0123456789", "０１２３４５６７８９")),
            lambda c: " " * 40 + c,
        ],
    )
    def test_non_digits_and_wrong_lengths_are_refused(self, mangle: Callable[[str], str]) -> None:
        text = mangle(code_at(STEP))
        assert verify_totp(SECRET, text, last_used_step=None, at=T) is None

    @pytest.mark.parametrize("layout", ["{a}{b}", "{a} {b}", " {a}{b} ", "  {a} {b}\t", "\n{a}{b}"])
    def test_spacing_is_accepted(self, layout: str) -> None:
        code = code_at(STEP)
        typed = layout.format(a=code[:3], b=code[3:])
        assert verify_totp(SECRET, typed, last_used_step=None, at=T) == STEP

    def test_step_is_thirty_seconds(self) -> None:
        assert (TOTP_STEP_SECONDS, TOTP_DIGITS, TOTP_ALGORITHM) == (30, 6, "SHA1")
        start = datetime.fromtimestamp(STEP * 30, tz=UTC)
        # The whole 30 s of a step give that step; the next second starts the next one.
        assert verify_totp(SECRET, code_at(STEP), last_used_step=None, at=start) == STEP
        last_second = start + timedelta(seconds=29)
        assert verify_totp(SECRET, code_at(STEP), last_used_step=None, at=last_second) == STEP
        # A code stays acceptable for its own step plus one step of drift, and no longer.
        expired = start + timedelta(seconds=2 * 30)
        assert verify_totp(SECRET, code_at(STEP), last_used_step=None, at=expired) is None
        assert (
            verify_totp(
                SECRET, code_at(STEP), last_used_step=None, at=expired - timedelta(seconds=1)
            )
            == STEP
        )

    @settings(max_examples=50)
    @given(seconds=st.integers(min_value=60, max_value=2**33))
    def test_any_time_matches_pyotp(self, seconds: int) -> None:
        at = datetime.fromtimestamp(seconds, tz=UTC)
        expected = pyotp.TOTP(SECRET).at(seconds)
        assert verify_totp(SECRET, expected, last_used_step=None, at=at) == seconds // 30
        assert verify_totp(SECRET, expected, last_used_step=seconds // 30, at=at) is None

    def test_default_time_is_now(self) -> None:
        now_code = pyotp.TOTP(SECRET).now()
        step = verify_totp(SECRET, now_code, last_used_step=None)
        assert step is not None
        now_step = int(datetime.now(UTC).timestamp()) // 30
        assert now_step - 1 <= step <= now_step + 1

    def test_non_utc_aware_times_mean_the_same_instant(self) -> None:
        karachi = T.astimezone(timezone(timedelta(hours=5)))
        assert verify_totp(SECRET, code_at(STEP), last_used_step=None, at=karachi) == STEP

    def test_naive_time_is_an_error(self) -> None:
        with pytest.raises(ValueError, match="timezone-aware"):
            verify_totp(SECRET, code_at(STEP), last_used_step=None, at=T.replace(tzinfo=None))

    def test_malformed_secret_error_does_not_echo_it(self) -> None:
        secret = "NOT-BASE32-SECRET!"
        with pytest.raises(ValueError, match="malformed TOTP secret") as caught:
            verify_totp(secret, "123456", last_used_step=None, at=T)
        assert secret not in str(caught.value)
        assert caught.value.__cause__ is None
        assert caught.value.__suppress_context__


@pytest.mark.asvs("V6.5.3")
class TestTotpSecret:
    def test_secret_has_160_bits_and_pyotp_accepts_it(self) -> None:
        secret = new_totp_secret()
        raw = base64.b32decode(secret + "=" * (-len(secret) % 8))
        assert len(raw) * 8 >= 160
        assert re.fullmatch(r"[A-Z2-7]+", secret)
        assert pyotp.TOTP(secret).at(T) == pyotp.TOTP(secret).at(T)

    def test_secrets_differ(self) -> None:
        secrets_made = {new_totp_secret() for _ in range(100)}
        assert len(secrets_made) == 100

    def test_secret_comes_from_the_secrets_module(self, monkeypatch: pytest.MonkeyPatch) -> None:
        calls: list[int] = []

        def fake_token_bytes(n: int) -> bytes:
            calls.append(n)
            return bytes(range(n))

        monkeypatch.setattr(secrets, "token_bytes", fake_token_bytes)
        secret = new_totp_secret()
        assert calls == [20]
        assert base64.b32decode(secret) == bytes(range(20))


class TestProvisioningUri:
    def test_uri_carries_issuer_label_and_explicit_defaults(self) -> None:
        uri = provisioning_uri(SECRET, account_label="alice.khan")
        parts = urlsplit(uri)
        assert (parts.scheme, parts.netloc) == ("otpauth", "totp")
        assert unquote(parts.path) == "/Amanat:alice.khan"
        query = {key: values[0] for key, values in parse_qs(parts.query).items()}
        assert query == {
            "secret": SECRET,
            "issuer": "Amanat",
            "algorithm": "SHA1",
            "digits": "6",
            "period": "30",
        }

    def test_authenticator_built_from_uri_produces_codes_we_accept(self) -> None:
        parsed = pyotp.parse_uri(provisioning_uri(SECRET, account_label="alice"))
        assert isinstance(parsed, pyotp.TOTP)
        assert parsed.interval == 30
        assert verify_totp(SECRET, parsed.at(T), last_used_step=None, at=T) == STEP

    def test_custom_issuer_and_escaping(self) -> None:
        uri = provisioning_uri(SECRET, account_label="ali raza", issuer="Amanat Staging")
        parts = urlsplit(uri)
        assert parts.path == "/Amanat%20Staging:ali%20raza"
        assert parse_qs(parts.query)["issuer"] == ["Amanat Staging"]

    @pytest.mark.parametrize("label", ["alice@example.pk", "a:b", "", " alice", "a\nb"])
    def test_email_and_malformed_labels_are_refused(self, label: str) -> None:
        with pytest.raises(ValueError, match="account label") as caught:
            provisioning_uri(SECRET, account_label=label)
        assert SECRET not in str(caught.value)
        if label:
            assert label.strip() not in str(caught.value)

    def test_uri_contains_no_email(self) -> None:
        uri = provisioning_uri(SECRET, account_label="alice")
        assert "@" not in unquote(uri)

    def test_malformed_secret_refused_without_echo(self) -> None:
        with pytest.raises(ValueError, match="malformed TOTP secret") as caught:
            provisioning_uri("SHORT", account_label="alice")
        assert "SHORT" not in str(caught.value)


class TestQrCode:
    URI = provisioning_uri(SECRET, account_label="alice")

    def test_svg_is_a_self_contained_svg_document(self) -> None:
        svg = qr_code_svg(self.URI)
        assert svg.startswith(("<svg", "<?xml"))
        root = ET.fromstring(svg)  # noqa: S314 - our own output, not untrusted input
        assert root.tag == f"{SVG_NS}svg"
        allowed = {f"{SVG_NS}{name}" for name in ("svg", "title", "desc", "g", "path")}
        assert {element.tag for element in root.iter()} <= allowed
        for element in root.iter():
            for name, value in element.attrib.items():
                assert "href" not in name.lower()
                assert not name.lower().startswith("on")
                assert "url(" not in value
                assert "javascript:" not in value.lower()

    def test_svg_has_no_script_or_external_reference(self) -> None:
        svg = qr_code_svg(self.URI).lower()
        for banned in ("<script", "href", "<image", "<foreignobject", "<style", "@import"):
            assert banned not in svg
        assert re.findall(r"https?://[^\"' ]+", svg) == ["http://www.w3.org/2000/svg"]

    def test_svg_does_not_spell_out_the_secret(self) -> None:
        svg = qr_code_svg(self.URI)
        assert SECRET.lower() not in svg.lower()

    def test_svg_depends_on_the_uri(self) -> None:
        other = provisioning_uri(new_totp_secret(), account_label="alice")
        assert qr_code_svg(self.URI) == qr_code_svg(self.URI)
        assert qr_code_svg(self.URI) != qr_code_svg(other)

    def test_data_uri_round_trips_to_the_svg(self) -> None:
        data_uri = qr_code_data_uri(self.URI)
        prefix = "data:image/svg+xml;base64,"
        assert data_uri.startswith(prefix)
        decoded = base64.b64decode(data_uri[len(prefix) :], validate=True).decode("utf-8")
        assert decoded == qr_code_svg(self.URI)

    def test_content_too_large_fails_without_echoing_it(self) -> None:
        too_big = "otpauth://totp/x?secret=" + "Q" * 8000
        with pytest.raises(ValueError, match="could not render") as caught:
            qr_code_svg(too_big)
        assert "QQQQ" not in str(caught.value)
        assert caught.value.__suppress_context__


FORMAT = re.compile(rf"[{RECOVERY_CODE_ALPHABET}]{{5}}(?:-[{RECOVERY_CODE_ALPHABET}]{{5}})+")


@pytest.mark.asvs("V6.5.3", "V6.5.4")
class TestNewRecoveryCodes:
    def test_ten_distinct_well_formed_codes(self) -> None:
        codes = new_recovery_codes()
        assert len(codes) == RECOVERY_CODE_COUNT == 10
        assert len(set(codes)) == 10
        for code in codes:
            assert FORMAT.fullmatch(code), code
            assert not AMBIGUOUS & set(code)

    def test_alphabet_has_no_ambiguous_characters(self) -> None:
        assert not AMBIGUOUS & set(RECOVERY_CODE_ALPHABET)
        assert not {"o", "i"} & set(RECOVERY_CODE_ALPHABET)
        assert len(set(RECOVERY_CODE_ALPHABET)) == len(RECOVERY_CODE_ALPHABET)

    def test_each_code_has_enough_entropy(self) -> None:
        code = new_recovery_codes()[0]
        symbols = len(code.replace("-", ""))
        bits = symbols * math.log2(len(RECOVERY_CODE_ALPHABET))
        assert bits == pytest.approx(RECOVERY_CODE_ENTROPY_BITS)
        assert bits >= 80  # the brief
        assert bits >= 112  # ASVS V6.5.2: a standard hash is enough from here
        assert bits >= 128  # the project bar for secrets (V11.5.1)

    def test_whole_alphabet_is_used(self) -> None:
        seen = set("".join(code for _ in range(10) for code in new_recovery_codes()))
        assert seen - {"-"} == set(RECOVERY_CODE_ALPHABET)

    def test_batches_differ(self) -> None:
        assert not set(new_recovery_codes()) & set(new_recovery_codes())

    def test_codes_are_drawn_from_the_secrets_module(self, monkeypatch: pytest.MonkeyPatch) -> None:
        draws: list[int] = []

        def fake_choice(seq: str) -> str:
            assert seq == RECOVERY_CODE_ALPHABET
            draws.append(len(draws))
            return seq[(len(draws) - 1) % len(seq)]

        monkeypatch.setattr(secrets, "choice", fake_choice)
        codes = new_recovery_codes()
        stream = "".join(RECOVERY_CODE_ALPHABET[i % len(RECOVERY_CODE_ALPHABET)] for i in draws)
        assert "".join(code.replace("-", "") for code in codes) == stream


@pytest.mark.asvs("V6.5.1", "V6.5.2")
class TestRecoveryCodeHashing:
    def test_hash_does_not_contain_the_code(self) -> None:
        code = new_recovery_codes()[0]
        stored = hash_recovery_code(code)
        assert stored.startswith(RECOVERY_CODE_HASH_PREFIX)
        assert code not in stored
        assert code.replace("-", "") not in stored
        assert len(stored) <= 128  # fits recovery_code.code_hash

    def test_hash_is_domain_separated_from_plain_sha256(self) -> None:
        code = new_recovery_codes()[0]
        digest = hash_recovery_code(code).removeprefix(RECOVERY_CODE_HASH_PREFIX)
        assert re.fullmatch("[0-9a-f]{64}", digest)
        assert digest != hashlib.sha256(code.encode()).hexdigest()
        assert digest != hashlib.sha256(code.replace("-", "").encode()).hexdigest()

    def test_hash_is_stable_so_stored_codes_stay_valid(self) -> None:
        # A known answer: changing the scheme without a new prefix would lock users out.
        assert hash_recovery_code("ABCDE FGHJK MNPQR STUVW XYZ23 45678") == (
            "hmac-sha256:v1:caaade7d8e04272ea7e0f5737e92b925a954583fef1b254bcd8ab67f78c1b18f"
        )

    def test_matches_after_normalization(self) -> None:
        code = new_recovery_codes()[0]
        stored = hash_recovery_code(code)
        compact = code.replace("-", "")
        variants = [
            code,
            code.upper(),
            compact,
            " ".join(code.split("-")),
            f"  {code.upper()}  ",
            " ".join(compact),
            code.replace("-", "–"),  # en dash from a word processor
            code.upper().translate(  # full-width, as some IMEs type it
                {ord(c): ord(c) + 0xFEE0 for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ23456789"}
            ),
        ]
        for typed in variants:
            assert normalize_recovery_code(typed) == code
            assert recovery_code_matches(typed, stored), typed

    def test_different_code_does_not_match(self) -> None:
        first, second = new_recovery_codes()[:2]
        assert not recovery_code_matches(second, hash_recovery_code(first))
        # One symbol changed.
        swapped = "3" if first[0] != "3" else "4"
        assert not recovery_code_matches(swapped + first[1:], hash_recovery_code(first))

    @pytest.mark.parametrize(
        "typed",
        ["", "abc", "0" * 30, "l" * 30, "a" * 29, "a" * 31, "a" * 500, "ａ" * 29 + "!"],
    )
    def test_malformed_input_never_matches_and_is_not_echoed(self, typed: str) -> None:
        stored = hash_recovery_code(new_recovery_codes()[0])
        assert not recovery_code_matches(typed, stored)
        with pytest.raises(ValueError, match="not a recovery code") as caught:
            normalize_recovery_code(typed)
        if typed:
            assert typed not in str(caught.value)

    def test_stored_value_of_another_scheme_never_matches(self) -> None:
        code = new_recovery_codes()[0]
        digest = hash_recovery_code(code).removeprefix(RECOVERY_CODE_HASH_PREFIX)
        assert not recovery_code_matches(code, digest)
        assert not recovery_code_matches(code, "sha256:v1:" + digest)
        assert not recovery_code_matches(code, code)
        assert not recovery_code_matches(code, "")

    def test_find_returns_the_matching_index(self) -> None:
        codes = new_recovery_codes()
        stored = [hash_recovery_code(code) for code in codes]
        assert find_recovery_code(codes[7].upper(), stored) == 7
        assert find_recovery_code(codes[0], stored) == 0
        assert find_recovery_code(new_recovery_codes()[0], stored) is None
        assert find_recovery_code("not a code", stored) is None
        # Once the service drops a used code, the same code no longer matches anything.
        remaining = stored[:7] + stored[8:]
        assert find_recovery_code(codes[7], remaining) is None


@pytest.mark.asvs("V6.5.1")
@pytest.mark.parametrize(
    ("code", "shaped"),
    [
        ("123456", True),
        (" 123 456 ", True),
        ("12345", False),
        ("1234567", False),
        ("１２３４５６", False),  # full-width digits are not what an authenticator shows
        ("23456-7abcd-efghj-kmnpq-rstuv-wxyza", False),  # a recovery code with six digits
    ],
)
def test_only_six_ascii_digits_are_taken_for_a_totp_code(code: str, shaped: bool) -> None:
    assert is_totp_shaped(code) is shaped


def test_no_recovery_code_is_taken_for_a_totp_code() -> None:
    codes = [code for _ in range(50) for code in new_recovery_codes()]
    assert not any(is_totp_shaped(code) for code in codes)


def test_nothing_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    secret = new_totp_secret()
    uri = provisioning_uri(secret, account_label="alice")
    qr_code_data_uri(uri)
    verify_totp(secret, "123456", last_used_step=None, at=T)
    code = new_recovery_codes()[0]
    recovery_code_matches(code, hash_recovery_code(code))
    assert caplog.records == []
