"""Authenticating a request is one statement: the session, its user and their customer account
come back together, and the checks after it (the account's MFA policy) find the account loaded.

Every signed-in request pays this, so a second round trip here is a cost on every page."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

from amanat.access.actors import OPERATOR
from amanat.core.crypto import MasterKeyring
from amanat.core.db import Database
from amanat.core.settings import Settings
from amanat.identity.accounts import set_members_need_mfa
from amanat.identity.mfa_enrolment import mfa_required
from amanat.identity.models import User
from amanat.identity.sessions import resolve_session, start_session
from tests.support.identity import make_user


@contextmanager
def _selects() -> Iterator[list[str]]:
    seen: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append(statement)

    event.listen(Engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(Engine, "before_cursor_execute", note)


async def test_session_user_and_account_policy_cost_one_select(
    database: Database, test_keyring: MasterKeyring, settings: Settings, account_a: str
) -> None:
    member = await make_user(
        database, test_keyring, settings, account_id=account_a, username="looked-up", mfa=False
    )
    async with database.sessionmaker() as session:
        await set_members_need_mfa(session, OPERATOR, account_a, False)
        user = await session.get(User, member.user_id)
        assert user is not None
        token, _row = await start_session(session, settings, user=user, stage="active")
        await session.commit()

    async with database.sessionmaker() as session:
        with _selects() as selects:
            found = await resolve_session(session, settings, token)
            assert found is not None
            _session_row, user = found
            needs_mfa = await mfa_required(session, user)
    assert needs_mfa is False  # the account's policy was read: members need none here
    assert len(selects) == 1, selects
    assert "customer_account" in selects[0]
    assert "user_session" in selects[0]
