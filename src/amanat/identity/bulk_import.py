"""Bulk user import: an account admin (or the operator) invites many users from one CSV file.

The file is UTF-8 (a byte-order mark is allowed) with the header `username,full_name,email` and
optional columns: `role` (`member` when left out or empty; account roles only), `phone`, `cnic`
and the postal address `address_line1,address_line2,city,province,postal_code,country` (all
empty: no address). Each row goes through `users.invite_users`, so it is validated, encrypted,
checked for duplicates (username, email, CNIC), mailed an invitation and audited exactly like a
single invitation, under the same permission rules and `require_identity_fields`.

Limits (ASVS V15.2.2: every row costs an invitation mail): at most `MAX_IMPORT_ROWS` (10,000)
rows and `MAX_IMPORT_BYTES` (5 MiB) per file. Over HTTP the request body limit
(`settings.max_body_bytes`, 1 MiB by default) applies first, so it is the effective limit there.
"""

from __future__ import annotations

import csv
import io
import itertools
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from amanat.access.actors import Actor
from amanat.access.roles import ACCOUNT_ROLES, Permission, Role
from amanat.audit.service import record_event
from amanat.core.crypto import MasterKeyring
from amanat.core.errors import AmanatError, Forbidden, InvalidInput
from amanat.core.settings import Settings
from amanat.identity import users
from amanat.identity.accounts import get_account_for
from amanat.identity.models import User
from amanat.people.service import PersonEntry, cnic_index, email_index, validate_person_entry
from amanat.people.validation import given_address

MAX_IMPORT_ROWS = 10_000
MAX_IMPORT_BYTES = 5 * 1024 * 1024
# Rows invited together: a few statements per chunk instead of a dozen per row.
IMPORT_CHUNK = 500

REQUIRED_COLUMNS = ("username", "full_name", "email")
# The file's address columns, by the part of a postal address each one gives.
ADDRESS_COLUMNS = {
    "address_line1": "line1",
    "address_line2": "line2",
    "city": "city",
    "province": "province",
    "postal_code": "postal_code",
    "country": "country",
}
OPTIONAL_COLUMNS = ("role", "phone", "cnic", *ADDRESS_COLUMNS)
COLUMNS = REQUIRED_COLUMNS + OPTIONAL_COLUMNS
DEFAULT_ROLE = Role.MEMBER

_HEADER_HINT = (
    "the first line must be the header: username,full_name,email and optionally "
    "role,phone,cnic,address_line1,address_line2,city,province,postal_code,country"
)
# The file column a person field's error is about (`address.city` -> `city`).
_FIELD_COLUMNS = {
    "phone": "phone",
    "cnic": "cnic",
    "address": "address_line1",  # required but not given: line 1 is the part it lacks first
    **{f"address.{part}": column for column, part in ADDRESS_COLUMNS.items()},
}
_SHOWN_COLUMN_MAX = 40
_SHOWN_USERNAME_MAX = 64

Progress = Callable[[int, int], None]


class FileTooLarge(AmanatError):
    code = "file_too_large"
    status = 413
    title = "File too large"


class CreatedRow(NamedTuple):
    line: int
    user_id: str
    username: str


class RejectedRow(NamedTuple):
    line: int
    code: str
    message: str


@dataclass
class ImportReport:
    """What an import did. With `atomic` and any rejection, nothing was kept: `committed` is
    false and `created` is empty. Messages name no email or name value (usernames only)."""

    total: int
    atomic: bool
    committed: bool = True
    created: list[CreatedRow] = field(default_factory=list)
    rejected: list[RejectedRow] = field(default_factory=list)


@dataclass(frozen=True)
class ImportRow(Mapping[str, str]):
    """One data row of an import file: its values by column, the file line it starts on, and
    how many fields it had when that differs from the header (`None` when it fits)."""

    line: int
    cells: Mapping[str, str]
    misfit_fields: int | None = None

    def __getitem__(self, key: str) -> str:
        return self.cells[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.cells)

    def __len__(self) -> int:
        return len(self.cells)


def decode_import_file(data: bytes) -> str:
    """Check the size, then decode once, strictly: UTF-8 with or without a byte-order mark."""
    if len(data) > MAX_IMPORT_BYTES:
        raise FileTooLarge(
            f"The file is larger than {MAX_IMPORT_BYTES // (1024 * 1024)} MiB; split it."
        )
    try:
        text = data.decode("utf-8-sig", errors="strict")
    except UnicodeDecodeError:
        raise InvalidInput(
            'The file is not UTF-8 text; save it as "CSV UTF-8" and try again.',
            code="not_utf8",
        ) from None
    if "\x00" in text:
        raise InvalidInput("The file is not a text CSV file.", code="not_utf8")
    return text


def parse_import_file(data: bytes) -> list[ImportRow]:
    """The rows of an import file, or InvalidInput refusing the whole file (encoding, header,
    CSV syntax, too many rows). Blank lines are skipped."""
    reader = csv.reader(io.StringIO(decode_import_file(data), newline=""), strict=True)
    try:
        header = next(reader, None)
        if header is None or not any(cell.strip() for cell in header):
            raise InvalidInput(f"The file is empty; {_HEADER_HINT}.", code="invalid_header")
        columns = _checked_header(header)
        rows: list[ImportRow] = []
        start = reader.line_num + 1
        for record in reader:
            line, start = start, reader.line_num + 1
            if not any(cell.strip() for cell in record):
                continue
            if len(rows) == MAX_IMPORT_ROWS:
                raise _too_many_rows()
            values = dict(zip(columns, record, strict=False))
            # A short row may leave out the optional role; a long one split a value on a comma.
            fits = len(record) <= len(columns) and all(name in values for name in REQUIRED_COLUMNS)
            misfit = None if fits else len(record)
            rows.append(ImportRow(line=line, cells=values, misfit_fields=misfit))
    except csv.Error:
        # The csv module's message can quote the offending text: give the line only.
        raise InvalidInput(
            f"The file is not valid CSV near line {reader.line_num}.", code="invalid_csv"
        ) from None
    return rows


def _checked_header(header: list[str]) -> list[str]:
    columns = [cell.strip().lower() for cell in header]
    unknown = [name for name in columns if name not in COLUMNS]
    missing = [name for name in REQUIRED_COLUMNS if name not in columns]
    repeated = sorted({name for name in columns if name in COLUMNS and columns.count(name) > 1})
    if not unknown and not missing and not repeated:
        return columns
    if len(unknown) == len(columns):
        # Probably a data row where the header should be: its cells are not echoed (personal data).
        raise InvalidInput(
            f"The header names none of the columns; {_HEADER_HINT}.", code="invalid_header"
        )
    problems = []
    if missing:
        problems.append(f"missing column(s): {', '.join(missing)}")
    if unknown:
        problems.append(f"unknown column(s): {_shown_columns(unknown)}")
    if repeated:
        problems.append(f"repeated column(s): {', '.join(repeated)}")
    raise InvalidInput(
        f"The header is not right ({'; '.join(problems)}); {_HEADER_HINT}.",
        code="invalid_header",
    )


def _shown_columns(names: list[str]) -> str:
    shown = [name for name in names if _is_plain_token(name, _SHOWN_COLUMN_MAX)]
    hidden = len(names) - len(shown)
    parts = [repr(name) for name in shown]
    if hidden:
        parts.append(f"{hidden} more not shown")
    return ", ".join(parts)


def _is_plain_token(value: str, limit: int) -> bool:
    """Short, printable, one word and no `@`: safe to name in a message (no email, no name)."""
    return (
        0 < len(value) <= limit
        and value.isprintable()
        and not any(ch.isspace() for ch in value)
        and "@" not in value
    )


def _account_role(value: str) -> Role | None:
    text = value.strip().lower()
    if not text:
        return DEFAULT_ROLE
    try:
        role = Role(text)
    except ValueError:
        return None
    return role if role in ACCOUNT_ROLES else None


def _too_many_rows() -> InvalidInput:
    return InvalidInput(
        f"The file has more than {MAX_IMPORT_ROWS:,} rows; split it.", code="too_many_rows"
    )


def _said(username: str, message: str) -> str:
    """Prefix a message with the row's username when it is safe to show."""
    return f"{username}: {message}" if _is_plain_token(username, _SHOWN_USERNAME_MAX) else message


def _about_column(error: AmanatError) -> str:
    """The error's message, led by the file column it is about when that is a phone, CNIC or
    address column (the people service names its own fields, not our columns)."""
    column = _FIELD_COLUMNS.get(str(error.extra.get("field", "")))
    return f"{column}: {error.message}" if column else error.message


async def import_users(
    session: AsyncSession,
    ring: MasterKeyring,
    settings: Settings,
    actor: Actor,
    *,
    account_id: str,
    rows: Iterable[Mapping[str, str]],
    atomic: bool,
    progress: Progress | None = None,
) -> ImportReport:
    """Invite one user per row into the account. Each row is its own savepoint, so a bad row
    undoes only itself; with `atomic`, one rejected row undoes the whole import."""
    batch = list(itertools.islice(rows, MAX_IMPORT_ROWS + 1))
    if len(batch) > MAX_IMPORT_ROWS:
        raise _too_many_rows()
    account = await get_account_for(session, actor, account_id)
    if account.kind != "customer":
        raise Forbidden(
            "Bulk import adds users to customer accounts only.", code="import_not_allowed"
        )
    if not (actor.can(Permission.MANAGE_USERS) or actor.can(Permission.MANAGE_CUSTOMER_ACCOUNTS)):
        raise Forbidden("You are not allowed to create users.", code="forbidden")

    report = ImportReport(total=len(batch), atomic=atomic)
    seen_usernames: dict[str, int] = {}
    seen_emails: dict[bytes, int] = {}
    seen_cnics: dict[bytes, int] = {}
    required = settings.require_identity_fields
    whole = await session.begin_nested() if atomic else None
    try:
        if progress is not None:
            progress(0, report.total)
        for first in range(0, len(batch), IMPORT_CHUNK):
            chunk = list(enumerate(batch[first : first + IMPORT_CHUNK], start=first + 1))
            ready: list[_ReadyRow] = []
            for number, row in chunk:
                line = row.line if isinstance(row, ImportRow) else number + 1
                checked = _checked_row(
                    ring, row, line, required, seen_usernames, seen_emails, seen_cnics
                )
                if isinstance(checked, RejectedRow):
                    report.rejected.append(checked)
                else:
                    ready.append(checked)
            for outcome in await _invite_ready(session, ring, settings, actor, account.id, ready):
                if isinstance(outcome, CreatedRow):
                    report.created.append(outcome)
                else:
                    report.rejected.append(outcome)
            if progress is not None:
                progress(first + len(chunk), report.total)
        report.rejected.sort(key=lambda rejected: rejected.line)
        report.created.sort(key=lambda created: created.line)
        if whole is not None and report.rejected:
            await whole.rollback()
            report.committed = False
            report.created = []
        elif whole is not None:
            await whole.commit()
    except BaseException:
        if whole is not None and whole.is_active:
            await whole.rollback()
        raise
    await record_event(
        session,
        actor=actor.audit(),
        action="user.import",
        account_id=account.id,
        target_type="account",
        target_id=account.id,
        details={
            "rows": report.total,
            "created": len(report.created),
            "rejected": len(report.rejected),
            "atomic": atomic,
            "committed": report.committed,
        },
    )
    return report


class _ReadyRow(NamedTuple):
    """A row that passed the file's own checks, waiting for the database's."""

    line: int
    invitation: users.Invitation


def _checked_row(
    ring: MasterKeyring,
    row: Mapping[str, str],
    line: int,
    required: Collection[str],
    seen_usernames: dict[str, int],
    seen_emails: dict[bytes, int],
    seen_cnics: dict[bytes, int],
) -> _ReadyRow | RejectedRow:
    raw_username = (row.get("username") or "").strip()

    def rejected(code: str, message: str, username: str = raw_username) -> RejectedRow:
        return RejectedRow(line, code, _said(username, message))

    misfit = row.misfit_fields if isinstance(row, ImportRow) else None
    if misfit is not None:
        return rejected(
            "wrong_field_count",
            f"This row has {misfit} field(s), not one per header column; "
            "put values that contain commas in double quotes.",
        )
    try:
        username = users.normalize_username(raw_username)
        digest = email_index(ring, row.get("email") or "")
    except InvalidInput as exc:
        return rejected(exc.code, exc.message)
    earlier = seen_usernames.get(username)
    if earlier is not None:
        return rejected(
            "duplicate_in_file",
            f"This username appears earlier in the file, on line {earlier}.",
            username,
        )
    earlier = seen_emails.get(digest)
    if earlier is not None:
        return rejected(
            "duplicate_in_file",
            f"This email address appears earlier in the file, on line {earlier}.",
            username,
        )
    seen_usernames[username] = seen_emails[digest] = line

    role = _account_role(row.get("role") or "")
    if role is None:
        allowed = ", ".join(sorted(role.value for role in ACCOUNT_ROLES))
        return rejected("invalid_role", f"The role must be one of: {allowed}.", username)
    address = given_address({part: row.get(column) for column, part in ADDRESS_COLUMNS.items()})
    entry = PersonEntry(
        full_name=row.get("full_name") or "",
        email=row.get("email") or "",
        phone=(row.get("phone") or "").strip() or None,
        cnic=(row.get("cnic") or "").strip() or None,
        address=address,
    )
    try:
        # The people service's own rules and the operator's required fields, before any query.
        validate_person_entry(entry, required=required)
    except InvalidInput as exc:
        return rejected(exc.code, _about_column(exc), username)
    if entry.cnic is not None:
        cnic = cnic_index(ring, entry.cnic)
        earlier = seen_cnics.get(cnic)
        if earlier is not None:
            return rejected(
                "duplicate_in_file",
                f"cnic: This CNIC appears earlier in the file, on line {earlier}.",
                username,
            )
        seen_cnics[cnic] = line
    invitation = users.Invitation(
        username=username,
        full_name=entry.full_name,
        email=entry.email,
        role=role,
        phone=entry.phone,
        cnic=entry.cnic,
        address=address,
    )
    return _ReadyRow(line, invitation)


async def _invite_ready(
    session: AsyncSession,
    ring: MasterKeyring,
    settings: Settings,
    actor: Actor,
    account_id: str,
    ready: list[_ReadyRow],
) -> list[CreatedRow | RejectedRow]:
    """Invite a chunk of checked rows together; should another request take a username or
    email meanwhile, the chunk is undone and its rows are invited one at a time instead."""
    if not ready:
        return []
    try:
        async with session.begin_nested():
            outcomes = await users.invite_users(
                session,
                ring,
                settings,
                actor,
                account_id=account_id,
                invitations=[row.invitation for row in ready],
            )
    except IntegrityError:
        return [
            await _invite_alone(session, ring, settings, actor, account_id, row) for row in ready
        ]
    return [_reported(row, outcome) for row, outcome in zip(ready, outcomes, strict=True)]


def _reported(row: _ReadyRow, outcome: tuple[User, str] | AmanatError) -> CreatedRow | RejectedRow:
    username = row.invitation.username
    if isinstance(outcome, AmanatError):
        return RejectedRow(row.line, outcome.code, _said(username, _about_column(outcome)))
    user, _token = outcome
    return CreatedRow(row.line, user.id, user.username)


async def _invite_alone(
    session: AsyncSession,
    ring: MasterKeyring,
    settings: Settings,
    actor: Actor,
    account_id: str,
    row: _ReadyRow,
) -> CreatedRow | RejectedRow:
    try:
        async with session.begin_nested():
            [outcome] = await users.invite_users(
                session, ring, settings, actor, account_id=account_id, invitations=[row.invitation]
            )
    except IntegrityError:
        # Another request took the username, email or CNIC between our check and the insert.
        return RejectedRow(
            row.line,
            "conflict",
            _said(row.invitation.username, "This user conflicts with one created meanwhile."),
        )
    return _reported(row, outcome)
