"""A page of users reads its people together: the statements a list costs do not grow with
the number of users on it (no query per row)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event

from amanat.access.actors import OPERATOR
from amanat.access.roles import Role
from amanat.core.crypto import MasterKeyring
from amanat.core.db import Database
from amanat.core.settings import Settings
from amanat.identity.invitations import Invitation, invite_users
from amanat.identity.users import list_users
from tests.support.identity import Person


async def _statements_of_listing(database: Database, ring: MasterKeyring, admin: Person) -> int:
    from tests.identity.test_bulk_import import actor_of

    counted: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        counted.append(statement)

    engines = [database.engine.sync_engine]
    if database.keystore_engine is not None:
        engines.append(database.keystore_engine.sync_engine)
    for engine in engines:
        event.listen(engine, "before_cursor_execute", count)
    try:
        async with database.sessionmaker() as session:
            listed = await list_users(session, ring, actor_of(admin))
            assert all(summary.masked_email for summary in listed)
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", count)
    return len([s for s in counted if s.lstrip().upper().startswith("SELECT")])


async def _invite(
    database: Database,
    ring: MasterKeyring,
    settings: Settings,
    account_id: str,
    numbers: range,
) -> None:
    async with database.sessionmaker() as session:
        await invite_users(
            session,
            ring,
            settings,
            OPERATOR,
            account_id=account_id,
            invitations=[
                Invitation(f"listed-{n}", f"Listed {n}", f"listed{n}@example.com", Role.MEMBER)
                for n in numbers
            ],
        )
        await session.commit()


async def test_listing_forty_users_costs_no_more_reads_than_listing_five(
    database: Database, test_keyring: MasterKeyring, settings: Settings, admin_a: Person
) -> None:
    await _invite(database, test_keyring, settings, admin_a.account_id, range(3))
    few = await _statements_of_listing(database, test_keyring, admin_a)
    await _invite(database, test_keyring, settings, admin_a.account_id, range(3, 38))
    many = await _statements_of_listing(database, test_keyring, admin_a)
    assert many == few
