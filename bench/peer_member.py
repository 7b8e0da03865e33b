"""`python -m bench.peer_member`: seed a fresh data directory for the side-by-side peer benchmark.

The peers' harness (a separate checkout of benchmark scripts, not part of this repository)
starts `amanat serve` on a data directory it names in `AMANAT_DATA_DIR` and signs one member in
with a password alone. This entry point creates, in that directory, what it needs, through the
project's own services (so the harness keeps working whatever the modules are called):

- one customer account whose members sign in without a second factor;
- one member, `PEERS_AMANAT_USERNAME` (default `bench-member`) with password `PEERS_PASSWORD`
  (default "correct horse battery staple"), invited and accepted as an operator would.

Settings come from the same `AMANAT_*` variables the server gets, so the database, key store and
master key file are the ones it will open. Exit status 2 with one line when the directory is not
named or not empty.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

USERNAME_ENV = "PEERS_AMANAT_USERNAME"
PASSWORD_ENV = "PEERS_PASSWORD"  # noqa: S105 (the variable's name, not a password)
DEFAULT_USERNAME = "bench-member"
# The harness's published default, for a throwaway benchmark directory only.
DEFAULT_PASSWORD = "correct horse battery staple"  # noqa: S105


async def seed(username: str, password: str) -> None:
    from amanat.access.actors import OPERATOR
    from amanat.access.roles import Role
    from amanat.core.db import unit_of_work
    from amanat.core.runtime import open_runtime
    from amanat.core.settings import load_settings
    from amanat.identity.accounts import create_customer_account, set_members_need_mfa
    from amanat.identity.invitations import accept_invite, invite_user

    settings = load_settings()
    runtime = await open_runtime(settings)  # creates the database, key store and master key
    try:
        async with unit_of_work(runtime.database) as session:
            account = await create_customer_account(session, OPERATOR, name="Peers Customer")
            await set_members_need_mfa(session, OPERATOR, account.id, False)
            account_id = account.id
        async with unit_of_work(runtime.database) as session:
            _user, token = await invite_user(
                session,
                runtime.keyring,
                settings,
                OPERATOR,
                account_id=account_id,
                username=username,
                full_name="Peers Member",
                email="peers.member@example.com",
                role=Role.MEMBER,
                send_mail=False,
            )
            await accept_invite(session, runtime.keyring, settings, token=token, password=password)
    finally:
        await runtime.database.dispose()


def main() -> int:
    data_dir = os.environ.get("AMANAT_DATA_DIR", "")
    if not data_dir:
        print("bench.peer_member: AMANAT_DATA_DIR must name a fresh directory", file=sys.stderr)
        return 2
    path = Path(data_dir)
    if path.exists() and any(path.iterdir()):
        print(f"bench.peer_member: {path} is not empty; give a fresh directory", file=sys.stderr)
        return 2
    os.umask(0o077)  # as `amanat serve` does: the database and keys are for this user only
    path.mkdir(parents=True, exist_ok=True)
    username = os.environ.get(USERNAME_ENV, DEFAULT_USERNAME)
    password = os.environ.get(PASSWORD_ENV, DEFAULT_PASSWORD)
    asyncio.run(seed(username, password))
    print(f"seeded {path}: one customer account, member {username}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
