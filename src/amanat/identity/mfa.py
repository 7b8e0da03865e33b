"""Second factor: TOTP (RFC 6238) and single-use recovery codes (ASVS V6.5, V11).

Pure functions only; the service layer stores what they return and decides what to do with the
answers. In particular the service must:

* keep the TOTP secret encrypted at rest and store the step returned by `verify_totp` as the
  user's last used step, in the same transaction that accepts the sign-in (V6.5.1);
* store only `hash_recovery_code` values and mark a recovery code used the moment it matches
  (V6.5.1, V6.5.2).

Nothing here logs, and no exception raised here carries a secret, a code or a provisioning URI:
errors about secret material are re-raised `from None` so that the original exception (whose
message or arguments might echo its input) is not chained into a traceback.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import io
import math
import secrets
import unicodedata
from collections.abc import Sequence
from datetime import datetime
from urllib.parse import quote

import pyotp
import segno

from amanat.core.clock import utcnow

__all__ = [
    "RECOVERY_CODE_ALPHABET",
    "RECOVERY_CODE_COUNT",
    "RECOVERY_CODE_ENTROPY_BITS",
    "RECOVERY_CODE_GROUPS",
    "RECOVERY_CODE_GROUP_LENGTH",
    "RECOVERY_CODE_HASH_PREFIX",
    "TOTP_ALGORITHM",
    "TOTP_DIGITS",
    "TOTP_REUSED_MESSAGE",
    "TOTP_SECRET_BYTES",
    "TOTP_STEP_SECONDS",
    "TOTP_VALID_WINDOW",
    "find_recovery_code",
    "hash_recovery_code",
    "new_recovery_codes",
    "new_totp_secret",
    "normalize_recovery_code",
    "provisioning_uri",
    "qr_code_data_uri",
    "qr_code_svg",
    "recovery_code_matches",
    "totp_code_reused",
    "verify_totp",
]

# --- TOTP -------------------------------------------------------------------------------------

#: RFC 6238 time step; ASVS V6.5.5 asks for at most 30 seconds.
TOTP_STEP_SECONDS = 30
TOTP_DIGITS = 6
#: SHA-1 is what every authenticator app supports; HOTP's use of HMAC-SHA-1 is not affected by
#: SHA-1 collisions.
TOTP_ALGORITHM = "SHA1"
#: Steps accepted either side of the current one, for clock drift between phone and server.
TOTP_VALID_WINDOW = 1
#: 160 bits, the shared-secret length RFC 4226 recommends; drawn from the CSPRNG (V6.5.3, V11.5.1).
TOTP_SECRET_BYTES = 20

#: The refusal of a right code whose step was already used (replay protection, V6.5.1).
TOTP_REUSED_MESSAGE = "This code was just used; wait for the next one."

_ASCII_DIGITS = frozenset("0123456789")
#: Anything longer than this cannot be a code, with or without spaces; refuse before any work.
_MAX_CODE_INPUT = 32


def new_totp_secret() -> str:
    """A fresh TOTP seed: 160 bits from `secrets` (the OS CSPRNG), as unpadded RFC 4648 base32.

    `pyotp.random_base32` is deliberately not used: we want the CSPRNG call to be visible here.
    """
    return base64.b32encode(secrets.token_bytes(TOTP_SECRET_BYTES)).decode("ascii").rstrip("=")


def _totp(secret: str) -> pyotp.TOTP:
    """A pyotp generator for `secret`; a malformed secret gives a ValueError without the secret."""
    try:
        return pyotp.TOTP(
            secret, digits=TOTP_DIGITS, digest=hashlib.sha1, interval=TOTP_STEP_SECONDS
        )
    except (ValueError, TypeError, binascii.Error):
        raise ValueError("malformed TOTP secret") from None


def _label_part(value: str, what: str) -> str:
    if not value or value != value.strip():
        raise ValueError(f"{what} must be non-empty without surrounding spaces")
    if ":" in value:
        # The Key URI Format uses ":" to separate issuer and account; apps disagree on escapes.
        raise ValueError(f"{what} must not contain ':'")
    if any(unicodedata.category(ch).startswith("C") for ch in value):
        raise ValueError(f"{what} must not contain control characters")
    return value


def provisioning_uri(secret: str, *, account_label: str, issuer: str = "Amanat") -> str:
    """The `otpauth://totp/...` URI an authenticator app enrols from (Key URI Format).

    `account_label` must be the username, never the email address (an "@" is refused): this URI
    is rendered as a QR code, shown on screen, and copied verbatim into authenticator apps and
    their cloud backups and exports, which we do not control. The username is a login id and not
    personal data; an email address is personal data that would leak into all of those places.

    Algorithm, digits and period are written out even though they are the defaults, so an app
    never has to guess.
    """
    _totp(secret)  # validates the secret (base32, >= 112 bits) without echoing it
    label = _label_part(account_label, "account label")
    issuer_name = _label_part(issuer, "issuer")
    if "@" in label:
        raise ValueError("account label must be the username, not an email address")
    query = "&".join(
        f"{key}={quote(value, safe='')}"
        for key, value in (
            ("secret", secret.upper()),
            ("issuer", issuer_name),
            ("algorithm", TOTP_ALGORITHM),
            ("digits", str(TOTP_DIGITS)),
            ("period", str(TOTP_STEP_SECONDS)),
        )
    )
    return f"otpauth://totp/{quote(issuer_name, safe='')}:{quote(label, safe='')}?{query}"


def qr_code_svg(uri: str) -> str:
    """`uri` as a QR code: one standalone SVG element, rendered on the server by segno.

    The document is a single `<svg xmlns=...>` with `<path>` elements only: no XML declaration,
    no script, no links, no external resources. It can be embedded inline in a page, or as an
    image through `qr_code_data_uri` under `img-src 'self' data:`. The light modules are painted
    white so the code still scans on a dark page. Error correction level M, 4-module quiet zone.
    """
    try:
        qr = segno.make_qr(uri, error="m", boost_error=False)
        buffer = io.BytesIO()
        qr.save(
            buffer,
            kind="svg",
            scale=5,
            border=4,
            dark="#000",
            light="#fff",
            xmldecl=False,
            svgns=True,
            svgclass="mfa-qr",
            lineclass=None,
            title="TOTP enrolment QR code",
            nl=False,
        )
    except Exception:
        # segno's errors may quote the content, and the content holds the TOTP secret.
        raise ValueError("could not render the QR code") from None
    svg: str = buffer.getvalue().decode("utf-8")
    return svg


def qr_code_data_uri(uri: str) -> str:
    """`qr_code_svg(uri)` as a `data:image/svg+xml;base64,...` URI for an `<img src>`."""
    svg = qr_code_svg(uri)
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode("ascii")


def _clean_code(code: str) -> str | None:
    """The six ASCII digits of `code`, or None. Spaces around or inside ("123 456") are fine."""
    if not isinstance(code, str) or len(code) > _MAX_CODE_INPUT:
        return None
    digits = code.strip().replace(" ", "")
    if len(digits) != TOTP_DIGITS or not set(digits) <= _ASCII_DIGITS:
        return None
    return digits


def is_totp_shaped(code: str) -> bool:
    """Whether `code` has the form of a TOTP code (six ASCII digits, spaces ignored), as no
    recovery code has: the one test that tells the two kinds of second factor apart."""
    return _clean_code(code) is not None


def _step_at(at: datetime) -> int:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("at must be a timezone-aware datetime")
    return math.floor(at.timestamp()) // TOTP_STEP_SECONDS


def verify_totp(
    secret: str, code: str, *, last_used_step: int | None, at: datetime | None = None
) -> int | None:
    """The time step `code` belongs to, if it is valid now and not a replay; None otherwise.

    Valid means: six ASCII digits (spaces ignored) equal to the code of one of the steps
    `current - TOTP_VALID_WINDOW ... current + TOTP_VALID_WINDOW`, and that step is strictly
    greater than `last_used_step`. So a code works once, and once a code is accepted no older
    code works either (V6.5.1). The caller must store the returned step as the new
    `last_used_step`, atomically with accepting the sign-in.

    Every candidate step is compared with `hmac.compare_digest`, with no early exit, so the
    time taken does not depend on which step (if any) matched. `at` defaults to now and must be
    timezone-aware.
    """
    generator = _totp(secret)
    current = _step_at(utcnow() if at is None else at)
    digits = _clean_code(code)
    if digits is None:
        return None
    matched: int | None = None
    for step in range(current - TOTP_VALID_WINDOW, current + TOTP_VALID_WINDOW + 1):
        if step < 0:
            continue
        expected = generator.generate_otp(step)
        equal = hmac.compare_digest(expected.encode("ascii"), digits.encode("ascii"))
        fresh = last_used_step is None or step > last_used_step
        if equal and fresh and matched is None:
            matched = step
    return matched


def totp_code_reused(
    secret: str, code: str, *, last_used_step: int | None, at: datetime | None = None
) -> bool:
    """Whether `code`, refused by `verify_totp`, is the right code of a step in the window that
    was already used (or is older than the last used one): a correct code typed again within
    its 30 seconds, not a wrong one. Asked only to word the refusal; it accepts nothing."""
    if last_used_step is None:
        return False
    generator = _totp(secret)
    current = _step_at(utcnow() if at is None else at)
    digits = _clean_code(code)
    if digits is None:
        return False
    reused = False
    for step in range(current - TOTP_VALID_WINDOW, current + TOTP_VALID_WINDOW + 1):
        if step < 0:
            continue
        expected = generator.generate_otp(step)
        equal = hmac.compare_digest(expected.encode("ascii"), digits.encode("ascii"))
        reused = reused or (equal and step <= last_used_step)
    return reused


# --- Recovery codes ---------------------------------------------------------------------------

RECOVERY_CODE_COUNT = 10
#: Lower-case letters and digits without the look-alikes 0/o, 1/l/i (so no O, I either).
RECOVERY_CODE_ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"
#: Six groups of five: 30 symbols from 31, about 149 bits per code. That clears both the project
#: bar for secrets (>= 128 bits, V11.5.1) and the 112 bits above which ASVS V6.5.2 allows a
#: standard hash instead of a salted password hash.
RECOVERY_CODE_GROUPS = 6
RECOVERY_CODE_GROUP_LENGTH = 5
_RECOVERY_CODE_LENGTH = RECOVERY_CODE_GROUPS * RECOVERY_CODE_GROUP_LENGTH
RECOVERY_CODE_ENTROPY_BITS = _RECOVERY_CODE_LENGTH * math.log2(len(RECOVERY_CODE_ALPHABET))

#: Stored hashes name their algorithm and version, so the scheme can change later (V11.2.2).
RECOVERY_CODE_HASH_PREFIX = "hmac-sha256:v1:"
#: Fixed HMAC key acting as a domain-separation label: these hashes are not interchangeable with
#: SHA-256 or HMAC of the same text computed anywhere else in the system.
_RECOVERY_CODE_HASH_LABEL = b"amanat/identity/mfa/recovery-code/v1"
_RECOVERY_CODE_SET = frozenset(RECOVERY_CODE_ALPHABET)
_DASHES = frozenset("-‐‑‒–—―−")
_MAX_RECOVERY_INPUT = 128


def _format_recovery_code(compact: str) -> str:
    size = RECOVERY_CODE_GROUP_LENGTH
    return "-".join(compact[i : i + size] for i in range(0, len(compact), size))


def new_recovery_codes() -> list[str]:
    """`RECOVERY_CODE_COUNT` distinct codes like "k7m2p-x9abq-...", each ~149 bits from `secrets`.

    Show them to the user once; store only `hash_recovery_code` of each.
    """
    codes: list[str] = []
    while len(codes) < RECOVERY_CODE_COUNT:
        compact = "".join(
            secrets.choice(RECOVERY_CODE_ALPHABET) for _ in range(_RECOVERY_CODE_LENGTH)
        )
        code = _format_recovery_code(compact)
        if code not in codes:  # never happens at ~149 bits; the contract is "distinct"
            codes.append(code)
    return codes


def normalize_recovery_code(text: str) -> str:
    """The canonical "xxxxx-xxxxx-xxxxx-xxxxx-xxxxx-xxxxx" form of what the user typed.

    Whitespace is removed, letters lower-cased (after NFKC, so full-width input works), and
    dashes dropped before the groups are put back. Raises ValueError (without echoing the
    input) if the result cannot be a recovery code.
    """
    if not isinstance(text, str) or len(text) > _MAX_RECOVERY_INPUT:
        raise ValueError("not a recovery code")
    folded = unicodedata.normalize("NFKC", text).lower()
    compact = "".join(ch for ch in folded if not ch.isspace() and ch not in _DASHES)
    if len(compact) != _RECOVERY_CODE_LENGTH or not set(compact) <= _RECOVERY_CODE_SET:
        raise ValueError("not a recovery code")
    return _format_recovery_code(compact)


def _recovery_digest(normalized: str) -> str:
    return hmac.new(
        _RECOVERY_CODE_HASH_LABEL, normalized.encode("ascii"), hashlib.sha256
    ).hexdigest()


def hash_recovery_code(code: str) -> str:
    """The value to store for a recovery code: "hmac-sha256:v1:" + 64 hex digits.

    Why HMAC-SHA-256 under a fixed label and not argon2id:

    * argon2id (V11.4.2) exists to make guessing *user-chosen*, low-entropy passwords expensive.
      A recovery code is chosen by the CSPRNG with ~149 bits, so an offline search of a leaked
      hash is out of reach however fast the hash is; a per-code salt adds nothing either, since
      precomputing 2^149 codes is as impossible as searching them.
    * ASVS 5.0 V6.5.2 says exactly this: lookup secrets under 112 bits need a salted password
      hash, and "a standard hash function can be used if the secret has 112 bits of entropy or
      more". Ours have well over 112 (see `RECOVERY_CODE_GROUPS`).
    * Sign-in compares against up to ten stored codes. Ten argon2id runs at 19 MiB each would
      make the recovery endpoint a CPU and memory amplifier (V15.1.3); ten HMACs cost
      microseconds. Being deterministic, the hash also lets the service look a code up by value.

    The stored value names its scheme, so it can be replaced later (V11.2.2). Raises ValueError
    if `code` is not a well-formed recovery code.
    """
    return RECOVERY_CODE_HASH_PREFIX + _recovery_digest(normalize_recovery_code(code))


def recovery_code_matches(code: str, stored_hash: str) -> bool:
    """Whether `code` (as typed: any spacing, dashes, case) is the code `stored_hash` was made of.

    The comparison is `hmac.compare_digest` on the full hashes. Malformed input, or a stored
    value of an unknown scheme, is simply no match.
    """
    try:
        candidate = hash_recovery_code(code)
    except ValueError:
        return False
    if not isinstance(stored_hash, str) or not stored_hash.startswith(RECOVERY_CODE_HASH_PREFIX):
        return False
    return hmac.compare_digest(candidate.encode("ascii"), stored_hash.encode("ascii", "replace"))


def find_recovery_code(code: str, stored_hashes: Sequence[str]) -> int | None:
    """The index in `stored_hashes` of the (unused) code that `code` matches, or None.

    Every stored hash is compared, without an early exit, so the time taken does not reveal
    which position matched. The caller passes only unused codes and marks the match used.
    """
    try:
        candidate = hash_recovery_code(code).encode("ascii")
    except ValueError:
        return None
    found: int | None = None
    for index, stored in enumerate(stored_hashes):
        equal = hmac.compare_digest(candidate, stored.encode("ascii", "replace"))
        if equal and found is None:
            found = index
    return found
