"""Bulk user import: an account admin (or the operator) invites many users from one CSV file
(its format, limits and reading: `amanat.identity.import_file`).

Each row goes through `invitations.invite_users`, so it is validated, encrypted, checked for
duplicates (username, email, CNIC), mailed an invitation and audited exactly like a single
invitation, under the same permission rules and `require_identity_fields`. A username, email
or CNIC that only another customer account has is therefore accepted and reported exactly as a
free one (held as a claim, `identity.claims`); one the account itself has is refused.

Without `atomic`, the caller may end each chunk's transaction (`after_chunk`: the command line
commits every `IMPORT_CHUNK` rows, so an interrupted import keeps what it did); with it, the
import is one transaction, all or nothing.
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from amanat.access.actors import Actor
from amanat.access.roles import ACCOUNT_ROLES, Permission, Role
from amanat.audit.records import record_event
from amanat.core.crypto import MasterKeyring
from amanat.core.errors import AmanatError, Forbidden, InvalidInput
from amanat.core.settings import Settings
from amanat.identity.accounts import get_account_for
from amanat.identity.import_file import (
    ADDRESS_COLUMNS,
    DEFAULT_ROLE,
    MAX_IMPORT_ROWS,
    ImportRow,
    is_plain_token,
    too_many_rows,
)
from amanat.identity.invitations import Invitation, invite_users
from amanat.identity.models import User
from amanat.identity.users import normalize_username
from amanat.people.blind_index import cnic_index, email_index
from amanat.people.registry import PersonEntry, validate_person_entry
from amanat.people.validation import given_address

# Rows invited together: a few statements per chunk instead of a dozen per row.
IMPORT_CHUNK = 500

# The file column a person field's error is about (`address.city` -> `city`).
_FIELD_COLUMNS = {
    "phone": "phone",
    "cnic": "cnic",
    "address": "address_line1",  # required but not given: line 1 is the part it lacks first
    **{f"address.{part}": column for column, part in ADDRESS_COLUMNS.items()},
}
_SHOWN_USERNAME_MAX = 64

Progress = Callable[[int, int], None]


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


def _account_role(value: str) -> Role | None:
    text = value.strip().lower()
    if not text:
        return DEFAULT_ROLE
    try:
        role = Role(text)
    except ValueError:
        return None
    return role if role in ACCOUNT_ROLES else None


def _said(username: str, message: str) -> str:
    """Prefix a message with the row's username when it is safe to show."""
    return f"{username}: {message}" if is_plain_token(username, _SHOWN_USERNAME_MAX) else message


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
    after_chunk: Callable[[], Awaitable[None]] | None = None,
) -> ImportReport:
    """Invite one user per row into the account. Each row is its own savepoint, so a bad row
    undoes only itself; with `atomic`, one rejected row undoes the whole import. Without it,
    `after_chunk` runs after each chunk of `IMPORT_CHUNK` rows (before `progress`), e.g. a
    commit."""
    batch = list(itertools.islice(rows, MAX_IMPORT_ROWS + 1))
    if len(batch) > MAX_IMPORT_ROWS:
        raise too_many_rows()
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
            if whole is None and after_chunk is not None:
                await after_chunk()
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
    invitation: Invitation


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
        username = normalize_username(raw_username)
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
    invitation = Invitation(
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
            outcomes = await invite_users(
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
            [outcome] = await invite_users(
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
