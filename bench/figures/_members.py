"""Shared by the identity figures: a data directory with members who can sign in, the server
settings that serve it, sign-ins over HTTP, and the sign-in capacity measured earlier in this run.

Members are created the way an operator would: a customer account (with the members' second
factor switched off, so a password alone gives a full session), invitations, and invitations
accepted with a password. Each member's password is random and strong enough for the policy.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.apps import DATA_DIR_ENV
from bench.http1 import Request, Response, fetch
from bench.server import RunningServer

PREPARED_APP = "bench.apps:prepared_app"
MEMBERS = 50
# Sign-in benchmarks start thousands of sessions; the cap (oldest ended first) stays realistic
# while no member's sessions are ended under a connection still using them.
MAX_SESSIONS_PER_USER = 100
SESSION_COOKIE = "__Host-amanat_session"
SIGNIN_PATH = "/api/v1/session"
# Members sign in from a browser like this one; the app parses it (browser, OS, device type).
BROWSER_AGENT = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36"
)


@dataclass(frozen=True)
class Member:
    username: str
    password: str


@dataclass(frozen=True)
class PreparedData:
    data_dir: Path
    members: tuple[Member, ...]

    def server_env(self) -> dict[str, str]:
        """The settings the server runs with: production, this data directory, logs at info."""
        return {
            "AMANAT_ENVIRONMENT": "production",
            DATA_DIR_ENV: str(self.data_dir),
            "AMANAT_MAX_SESSIONS_PER_USER": str(MAX_SESSIONS_PER_USER),
            "AMANAT_LOG_LEVEL": "info",
        }


@contextmanager
def prepared_data(count: int = MEMBERS) -> Iterator[PreparedData]:
    """A fresh data directory holding `count` active members (removed when the block ends)."""
    parent = Path(tempfile.mkdtemp(prefix="amanat-bench-identity-"))
    data_dir = parent / "data"
    try:
        members = asyncio.run(_create_members(data_dir, count))
        yield PreparedData(data_dir=data_dir, members=members)
    finally:
        shutil.rmtree(parent, ignore_errors=True)


async def _create_members(data_dir: Path, count: int) -> tuple[Member, ...]:
    from amanat.access.actors import OPERATOR
    from amanat.access.roles import Role
    from amanat.core.db import unit_of_work
    from amanat.core.runtime import open_runtime
    from amanat.core.settings import Settings
    from amanat.identity.accounts import create_customer_account, set_members_need_mfa
    from amanat.identity.invitations import accept_invite, invite_user

    settings = Settings(
        environment="production",
        data_dir=data_dir,
        database_url=None,
        master_key=None,
        max_sessions_per_user=MAX_SESSIONS_PER_USER,
    )
    runtime = await open_runtime(settings)
    ring = runtime.keyring
    members: list[Member] = []
    try:
        async with unit_of_work(runtime.database) as session:
            account = await create_customer_account(session, OPERATOR, name="Bench Customer")
            await set_members_need_mfa(session, OPERATOR, account.id, False)
            account_id = account.id
        for number in range(count):
            member = Member(
                username=f"bench-member-{number:03d}", password=secrets.token_urlsafe(24)
            )
            async with unit_of_work(runtime.database) as session:
                _user, token = await invite_user(
                    session,
                    ring,
                    settings,
                    OPERATOR,
                    account_id=account_id,
                    username=member.username,
                    full_name=f"Bench Member {number}",
                    email=f"bench.member.{number}@example.com",
                    role=Role.MEMBER,
                    send_mail=False,
                )
                await accept_invite(session, ring, settings, token=token, password=member.password)
            members.append(member)
    finally:
        await runtime.database.dispose()
    return tuple(members)


def browser_request(method: str, path: str, cookies: Mapping[str, str]) -> Request:
    """A request as a browser sends it: its User-Agent, and its cookies when it holds any."""
    request = Request(method, path).with_header("User-Agent", BROWSER_AGENT)
    return request.with_cookies(dict(cookies)) if cookies else request


def signin_request(member: Member, cookies: Mapping[str, str] | None = None) -> Request:
    """`POST /api/v1/session` with the member's login and password as JSON, from a browser
    holding `cookies` (those an earlier sign-in set, the device cookie among them)."""
    body = json.dumps({"login": member.username, "password": member.password}).encode()
    request = browser_request("POST", SIGNIN_PATH, cookies or {})
    return Request(
        request.method,
        request.path,
        (*request.headers, ("Content-Type", "application/json")),
        body,
    )


@dataclass(frozen=True)
class SignedIn:
    """A member's browser after a sign-in: the session token and every cookie it now holds."""

    member: Member
    session_token: str
    cookies: dict[str, str]

    @property
    def returning_cookies(self) -> dict[str, str]:
        """What the browser sends when it signs in again: its cookies but the session's."""
        return {name: value for name, value in self.cookies.items() if name != SESSION_COOKIE}


def sign_in(server: RunningServer, member: Member) -> str:
    """Sign the member in over HTTP; the session token from the cookie (a full session)."""
    return sign_in_browser(server, member).session_token


def sign_in_browser(
    server: RunningServer,
    member: Member,
    cookies: Mapping[str, str] | None = None,
    *,
    attempts: int = 3,
) -> SignedIn:
    """Sign the member in over HTTP from a browser holding `cookies`; a full session.

    Set-up, not measurement: a 5xx (the embedded database refusing a write now and then) is
    tried again, up to `attempts` times in all.
    """
    held = dict(cookies or {})
    response = fetch(server.host, server.port, signin_request(member, held))
    for _ in range(attempts - 1):
        if response.status < 500:
            break
        response = fetch(server.host, server.port, signin_request(member, held))
    check_full_signin(response)
    for name, value in response.headers:
        if name == b"set-cookie":
            cookie_name, _, cookie_value = value.split(b";", 1)[0].partition(b"=")
            key = cookie_name.strip().decode("latin-1")
            if cookie_value:
                held[key] = cookie_value.strip().decode("latin-1")
            else:
                held.pop(key, None)
    token = held.get(SESSION_COOKIE)
    if not token:
        raise RuntimeError("sign-in answered without a session cookie")
    return SignedIn(member=member, session_token=token, cookies=held)


def check_full_signin(response: Response) -> None:
    """A sign-in must end in a full session, or the figure would time a different path."""
    if response.status != 200:
        raise RuntimeError(f"sign-in answered {response.status}: {response.body[:200]!r}")
    answer = json.loads(response.body)
    if answer.get("needs_second_factor") or answer.get("needs_mfa_enrolment"):
        raise RuntimeError(f"sign-in did not give a full session: {answer}")


@dataclass
class _Capacity:
    signins_per_s: float | None = None


_CAPACITY = _Capacity()


def remember_capacity(signins_per_s: float) -> None:
    """Sign-ins/s one core sustained (closed loop), for later figures in this run."""
    _CAPACITY.signins_per_s = signins_per_s


def remembered_capacity() -> float | None:
    return _CAPACITY.signins_per_s
