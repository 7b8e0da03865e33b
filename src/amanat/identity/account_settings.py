"""An organisation's own settings, kept by its owner and admins: its display name, whether every
member must use a second factor, and how long a sign-in lasts.

An account's setting may only tighten the platform's rules, never loosen them: owners, admins
and staff need a second factor whatever the account says (`mfa_enrolment.mfa_required`), and a
sign-in lasts the shorter of the account's and the platform's limits (`sessions.start_session`).
Every change is audited (`account.settings_change`): what changed, never the name itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Final

from sqlalchemy.ext.asyncio import AsyncSession

from amanat.access.actors import Actor
from amanat.access.roles import Permission
from amanat.audit.records import record_event
from amanat.core.errors import InvalidInput, NotFound
from amanat.core.settings import Settings
from amanat.identity.accounts import clean_account_name
from amanat.identity.models import CustomerAccount


class _Keep(Enum):
    KEEP = "keep"


KEEP: Final = _Keep.KEEP
"""Leave this setting as it is (distinct from `None`, "use the platform's limit")."""


@dataclass(frozen=True)
class AccountSettings:
    account_id: str
    name: str
    members_need_mfa: bool
    session_hours: int | None
    platform_session_hours: int

    @property
    def effective_session_hours(self) -> int:
        """How long a new sign-in lasts: the shorter of the account's and the platform's."""
        if self.session_hours is None:
            return self.platform_session_hours
        return min(self.session_hours, self.platform_session_hours)


def _settings_of(account: CustomerAccount, settings: Settings) -> AccountSettings:
    return AccountSettings(
        account_id=account.id,
        name=account.name,
        members_need_mfa=account.members_need_mfa,
        session_hours=account.session_hours,
        platform_session_hours=settings.session_absolute_hours,
    )


async def _own_account(session: AsyncSession, actor: Actor) -> CustomerAccount:
    """The actor's own customer account; settings of another account are never reachable."""
    actor.require(Permission.MANAGE_ACCOUNT_SETTINGS)
    account = await session.get(CustomerAccount, actor.account_id or "")
    if account is None or account.kind != "customer":
        raise NotFound("No such account.", code="account_not_found")
    return account


def checked_session_hours(value: int | None, settings: Settings) -> int | None:
    """Whole hours from 1 to the platform's limit, or None for the platform's limit."""
    limit = settings.session_absolute_hours
    if value is not None and not 1 <= value <= limit:
        raise InvalidInput(
            f"A sign-in may last from 1 to {limit} hours (the platform's limit).",
            code="invalid_session_hours",
            field="session_hours",
        )
    return value


async def read_account_settings(
    session: AsyncSession, actor: Actor, settings: Settings
) -> AccountSettings:
    return _settings_of(await _own_account(session, actor), settings)


async def change_account_settings(
    session: AsyncSession,
    actor: Actor,
    settings: Settings,
    *,
    name: str | _Keep = KEEP,
    members_need_mfa: bool | _Keep = KEEP,
    session_hours: int | _Keep | None = KEEP,
) -> tuple[AccountSettings, list[str]]:
    """Change the given settings of the actor's own account; returns them and the names of the
    settings that changed (nothing recorded when nothing changed)."""
    account = await _own_account(session, actor)
    new_name = account.name if isinstance(name, _Keep) else clean_account_name(name)
    new_mfa = account.members_need_mfa if isinstance(members_need_mfa, _Keep) else members_need_mfa
    new_hours = (
        account.session_hours
        if isinstance(session_hours, _Keep)
        else checked_session_hours(session_hours, settings)
    )
    changed = [
        field
        for field, before, after in (
            ("name", account.name, new_name),
            ("members_need_mfa", account.members_need_mfa, new_mfa),
            ("session_hours", account.session_hours, new_hours),
        )
        if before != after
    ]
    if changed:
        account.name, account.members_need_mfa, account.session_hours = (
            new_name,
            new_mfa,
            new_hours,
        )
        await session.flush()
        await record_event(
            session,
            actor=actor.audit(),
            action="account.settings_change",
            account_id=account.id,
            target_type="account",
            target_id=account.id,
            # The organisation's name is free text: only that it changed is recorded.
            details={
                "changed": ",".join(changed),
                "members_need_mfa": new_mfa,
                "session_hours": new_hours,
            },
        )
    return _settings_of(account, settings), changed
