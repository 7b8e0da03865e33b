"""The organisation's own settings over JSON, for its owner and admins (the settings themselves
are identity's: `amanat.identity.account_settings`)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from amanat.core.schemas import Strict
from amanat.identity import account_settings
from amanat.identity.account_settings import KEEP, AccountSettings
from amanat.web.auth import SignedIn
from amanat.web.deps import CurrentSettings, DbSession

router = APIRouter(prefix="/api/v1", tags=["identity"])


class AccountSettingsOut(BaseModel):
    account_id: str
    name: str
    members_need_mfa: bool = Field(
        description="Members must set up a second factor (owners and admins always must)."
    )
    session_hours: int | None = Field(
        description="The account's limit on how long a sign-in lasts; null: the platform's."
    )
    effective_session_hours: int
    platform_session_hours: int


class AccountSettingsPatch(Strict):
    """Only the settings given change. `session_hours: null` returns to the platform's limit."""

    name: str | None = Field(default=None, max_length=200)
    members_need_mfa: bool | None = None
    session_hours: int | None = Field(default=None, ge=1, le=24)


def _out(row: AccountSettings) -> AccountSettingsOut:
    return AccountSettingsOut(
        account_id=row.account_id,
        name=row.name,
        members_need_mfa=row.members_need_mfa,
        session_hours=row.session_hours,
        effective_session_hours=row.effective_session_hours,
        platform_session_hours=row.platform_session_hours,
    )


@router.get(
    "/account/settings",
    response_model=AccountSettingsOut,
    summary="My organisation's settings (owners and admins)",
)
async def read_settings(
    auth: SignedIn, db: DbSession, settings: CurrentSettings
) -> AccountSettingsOut:
    return _out(await account_settings.read_account_settings(db, auth.actor, settings))


@router.patch(
    "/account/settings",
    response_model=AccountSettingsOut,
    summary="Change my organisation's settings; audited",
)
async def change_settings(
    body: AccountSettingsPatch, auth: SignedIn, db: DbSession, settings: CurrentSettings
) -> AccountSettingsOut:
    given = body.model_fields_set
    row, _changed = await account_settings.change_account_settings(
        db,
        auth.actor,
        settings,
        name=body.name if "name" in given and body.name is not None else KEEP,
        members_need_mfa=(
            body.members_need_mfa
            if "members_need_mfa" in given and body.members_need_mfa is not None
            else KEEP
        ),
        session_hours=body.session_hours if "session_hours" in given else KEEP,
    )
    return _out(row)
