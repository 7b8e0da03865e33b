"""A person's own personal data over JSON: their profile, a change and its confirmation, and who
looked at their data."""

from __future__ import annotations

from functools import partial

from fastapi import APIRouter

from amanat.identity.api_tokens import ApiScope
from amanat.identity.holders import account_holder, reauthenticator, usernames_of
from amanat.people import data_access, self_service
from amanat.people.schemas import ConfirmIn, DataAccessOut, ProfileIn, ProfileOut
from amanat.web.auth import (
    Keyring,
    SignedIn,
    require_scope,
)
from amanat.web.deps import CurrentSettings, DbSession

router = APIRouter(prefix="/api/v1", tags=["privacy"])


@router.get(
    "/me/data-access",
    response_model=list[DataAccessOut],
    summary="Who looked at my personal data, when and why",
    dependencies=[require_scope(ApiScope.PROFILE_READ)],
)
async def my_data_access(auth: SignedIn, db: DbSession, ring: Keyring) -> list[DataAccessOut]:
    names = partial(usernames_of, db)
    views = await data_access.my_data_access(db, ring, auth.user.person_id, names)
    return [DataAccessOut.of(view) for view in views]


@router.get(
    "/me/profile",
    response_model=ProfileOut,
    summary="My personal data and the changes waiting for confirmation",
    dependencies=[require_scope(ApiScope.PROFILE_READ)],
)
async def get_my_profile(auth: SignedIn, db: DbSession, ring: Keyring) -> ProfileOut:
    return ProfileOut.of(await self_service.my_profile(db, ring, account_holder(auth.user)))


@router.put(
    "/me/profile",
    response_model=ProfileOut,
    summary="Change my personal data (a new email address is confirmed from that address)",
)
async def update_my_profile(
    body: ProfileIn, auth: SignedIn, db: DbSession, ring: Keyring, settings: CurrentSettings
) -> ProfileOut:
    profile = await self_service.update_my_profile(
        db,
        ring,
        settings,
        holder=account_holder(auth.user),
        changes=body.changes(),
        reauthenticate=reauthenticator(db, ring, settings, auth.user),
        current_password=body.current_password,
    )
    return ProfileOut.of(profile)


@router.post(
    "/me/profile/confirm",
    response_model=ProfileOut,
    summary="Confirm a pending change with the code or link token sent to the new address",
)
async def confirm_my_change(
    body: ConfirmIn, auth: SignedIn, db: DbSession, ring: Keyring, settings: CurrentSettings
) -> ProfileOut:
    profile = await self_service.confirm_my_change(
        db, ring, settings, holder=account_holder(auth.user), code=body.code, token=body.token
    )
    return ProfileOut.of(profile)
