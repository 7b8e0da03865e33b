"""An admin of account A, driving every domain route that takes an id in its path with ids
from account B, gets only 403 or 404: never B's data, and nothing of B changes (ASVS V8.2.2,
V8.4.1).

The routes come from the application itself (API and pages of every room: identity,
supervision, people, activity): a new route with a path parameter fails this test until it is
given a probe below.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from amanat.access.actors import Actor
from amanat.audit.reading import list_records
from amanat.core.db import Database
from amanat.identity.api_tokens import ApiScope, create_api_token
from amanat.identity.models import ApiToken, CustomerAccount, SigninThrottle, User, UserSession
from amanat.people.masking import mask_full_name
from amanat.supervision.pages.user_actions import USER_ACTIONS
from tests.support.identity import Person, sign_in

pytestmark = [pytest.mark.asvs("V8.2.2", "V8.4.1"), pytest.mark.policy("§4 access controls")]

REVEAL = {
    "field": "email",
    "purpose": "account_management",
    "reason": "checking the invoice contact",
}


@dataclass(frozen=True)
class Probe:
    """How to drive one route: which kind of B's ids fills each path parameter, and the body
    that would make the call succeed inside one's own account (so only the tenant check can
    stop it)."""

    targets: Mapping[str, str]
    json: dict[str, Any] | None = None
    form: dict[str, str] = field(default_factory=dict)


USER = {"user_id": "user"}
CORRECTION = {"full_name": "Corrected Name", "reason": "data_error"}

PROBES: dict[tuple[str, str], Probe] = {
    ("GET", "/api/v1/users/{user_id}"): Probe(USER),
    ("POST", "/api/v1/users/{user_id}/suspend"): Probe(USER),
    ("POST", "/api/v1/users/{user_id}/reactivate"): Probe(USER),
    ("POST", "/api/v1/users/{user_id}/revoke-sessions"): Probe(USER),
    ("POST", "/api/v1/users/{user_id}/force-password-change"): Probe(USER),
    ("PUT", "/api/v1/users/{user_id}/role"): Probe(USER, json={"role": "member"}),
    ("POST", "/api/v1/users/{user_id}/unlock"): Probe(USER),
    ("POST", "/api/v1/users/{user_id}/reset-mfa"): Probe(USER),
    ("DELETE", "/api/v1/users/{user_id}"): Probe(USER),
    ("GET", "/api/v1/users/{user_id}/sessions"): Probe(USER),
    ("GET", "/api/v1/users/{user_id}/devices"): Probe(USER),
    ("GET", "/api/v1/users/{user_id}/signins"): Probe(USER),
    ("PUT", "/api/v1/accounts/{account_id}/settings"): Probe(
        {"account_id": "account"}, json={"members_need_mfa": False}
    ),
    ("POST", "/api/v1/accounts/{account_id}/suspend"): Probe(
        {"account_id": "account"}, json={"reason": "abuse"}
    ),
    ("POST", "/api/v1/accounts/{account_id}/reactivate"): Probe(
        {"account_id": "account"}, json={"reason": "issue_resolved"}
    ),
    ("GET", "/api/v1/accounts/{account_id}"): Probe({"account_id": "account"}),
    ("GET", "/admin/accounts/{account_id}"): Probe({"account_id": "account"}),
    ("GET", "/admin/accounts/{account_id}/suspend"): Probe({"account_id": "account"}),
    ("POST", "/admin/accounts/{account_id}/suspend"): Probe(
        {"account_id": "account"}, form={"reason": "abuse", "confirmed": "yes"}
    ),
    ("POST", "/admin/accounts/{account_id}/reactivate"): Probe(
        {"account_id": "account"}, form={"reason": "issue_resolved"}
    ),
    ("DELETE", "/api/v1/me/sessions/{session_id}"): Probe({"session_id": "session"}),
    ("DELETE", "/api/v1/me/api-tokens/{token_id}"): Probe({"token_id": "api_token"}),
    ("POST", "/api/v1/people/{user_id}/reveal"): Probe(USER, json=REVEAL),
    ("GET", "/admin/users/{user_id}"): Probe(USER),
    ("POST", "/admin/users/{user_id}/{action}"): Probe({"user_id": "user", "action": "action"}),
    ("GET", "/admin/users/{user_id}/{action}"): Probe({"user_id": "user", "action": "action"}),
    ("POST", "/api/v1/users/{user_id}/invitation/resend"): Probe(USER),
    ("DELETE", "/api/v1/users/{user_id}/invitation"): Probe(USER),
    ("POST", "/account/sessions/{session_id}/end"): Probe({"session_id": "session"}),
    ("POST", "/account/api-tokens/{token_id}/revoke"): Probe({"token_id": "api_token"}),
    ("GET", "/account/api-tokens/{token_id}/revoke"): Probe({"token_id": "api_token"}),
    ("GET", "/account/devices/{device_id}/forget"): Probe({"device_id": "device"}),
    ("POST", "/account/devices/{device_id}/forget"): Probe(
        {"device_id": "device"}, form={"confirmed": "yes"}
    ),
    ("DELETE", "/api/v1/me/devices/{device_id}"): Probe({"device_id": "device"}),
    ("GET", "/admin/reveal/{user_id}"): Probe(USER),
    ("POST", "/admin/reveal/{user_id}"): Probe(USER, form=REVEAL),
    ("GET", "/admin/reveal/{user_id}/shown"): Probe(USER),
    ("PATCH", "/api/v1/users/{user_id}/personal-data"): Probe(USER, json=CORRECTION),
    ("GET", "/admin/users/{user_id}/personal-data"): Probe(USER),
    ("POST", "/admin/users/{user_id}/personal-data"): Probe(USER, form=CORRECTION),
}

# These paths carry a secret link token, not an id: holding the link is the permission, and
# there is no id of B to try. They are driven with made-up tokens and must refuse, without data.
LINK_TOKEN_ROUTES = {
    ("GET", "/invite/{token}"),
    ("POST", "/invite/{token}"),
    ("GET", "/reset/{token}"),
    ("POST", "/reset/{token}"),
    ("GET", "/verify/{token}"),
    ("POST", "/verify/{token}"),
    ("GET", "/not-me/{token}"),
    ("POST", "/not-me/{token}"),
    ("GET", "/confirm-contact/{token}"),
    ("POST", "/confirm-contact/{token}"),
    ("GET", "/admin/imports/{token}"),  # an import report's key, kept for its reader only
}


def identity_routes_with_path_parameters(app: FastAPI) -> set[tuple[str, str]]:
    """Every (method, path) the app serves from a domain's doors with a `{parameter}`."""
    found: set[tuple[str, str]] = set()
    for route in iter_route_contexts(app.routes):
        endpoint, path = route.endpoint, route.path
        if endpoint is None or path is None or "{" not in path:
            continue
        module = getattr(endpoint, "__module__", "")
        if not module.startswith("amanat.") or module.startswith("amanat.web."):
            continue
        found.update((method, path) for method in route.methods or () if method != "HEAD")
    return found


def test_every_identity_route_with_a_path_parameter_is_probed(bare_app: FastAPI) -> None:
    routes = identity_routes_with_path_parameters(bare_app)
    assert len(routes) >= len(PROBES)  # the listing itself works
    unprobed = routes - set(PROBES) - LINK_TOKEN_ROUTES
    assert not unprobed, f"give these routes a probe in this file: {sorted(unprobed)}"
    stale = (set(PROBES) | LINK_TOKEN_ROUTES) - routes
    assert not stale, f"these probed routes no longer exist: {sorted(stale)}"


def _parameters(template: str) -> list[str]:
    return [part.split("}", 1)[0] for part in template.split("{")[1:]]


def _fill(template: str, values: Mapping[str, str]) -> str:
    path = template
    for name, value in values.items():
        path = path.replace("{" + name + "}", value)
    return path


def _all_combinations(
    template: str, probe: Probe, targets: Mapping[str, list[str]]
) -> Iterator[dict[str, str]]:
    combos: list[dict[str, str]] = [{}]
    for name in _parameters(template):
        combos = [
            {**combo, name: value} for combo in combos for value in targets[probe.targets[name]]
        ]
    yield from combos


async def _state_of(database: Database, account_id: str) -> dict[str, object]:
    """Everything of an account an admin's action could change."""
    async with database.sessionmaker() as session:
        users = (
            await session.scalars(
                select(User).where(User.account_id == account_id).order_by(User.id)
            )
        ).all()
        account = await session.get(CustomerAccount, account_id)
        assert account is not None
        sessions = await session.scalars(
            select(UserSession.id).where(UserSession.account_id == account_id)
        )
        tokens = await session.execute(
            select(ApiToken.id, ApiToken.revoked_at).where(ApiToken.account_id == account_id)
        )
        throttles = await session.execute(
            select(SigninThrottle.scope, SigninThrottle.key_hash, SigninThrottle.failures)
        )
        records = await list_records(session, account_id=account_id, limit=1000)
        return {
            "users": [
                (
                    u.id,
                    u.username,
                    u.role,
                    u.status,
                    u.person_id,
                    u.password_hash,
                    u.must_change_password,
                    u.mfa_enabled_at,
                    u.totp_secret,
                    u.failed_signins,
                )
                for u in users
            ],
            "members_need_mfa": account.members_need_mfa,
            "account_status": account.status,
            "sessions": sorted(sessions.all()),
            "api_tokens": sorted(tuple(row) for row in tokens.all()),
            "throttles": sorted(tuple(row) for row in throttles.all()),
            "audit": [record.id for record in records],
        }


async def test_admin_of_a_cannot_touch_anything_of_b(
    app: FastAPI,
    client: httpx.AsyncClient,
    second_client: httpx.AsyncClient,
    admin_a: Person,
    admin_b: Person,
    member_b: Person,
    database: Database,
) -> None:
    # B's state: a live session, an API token, a counted failed sign-in (an unlock would clear).
    await sign_in(second_client, member_b, database)
    b_sessions = (await second_client.get("/api/v1/me/sessions")).json()
    b_devices = (await second_client.get("/api/v1/me/devices")).json()
    async with database.sessionmaker() as session:
        b_token, _plaintext = await create_api_token(
            session,
            Actor(member_b.user_id, member_b.account_id, member_b.role),
            name="backup script",
            scopes=[ApiScope.PROFILE_READ.value],
        )
        await session.commit()
    wrong = await second_client.post(
        "/api/v1/session", json={"login": member_b.username, "password": "not it " * 3}
    )
    assert wrong.status_code == 401
    await sign_in(client, admin_a, database)
    before = await _state_of(database, member_b.account_id)

    targets: dict[str, list[str]] = {
        "user": [member_b.user_id, admin_b.user_id],
        "account": [member_b.account_id],
        "session": [row["id"] for row in b_sessions],
        "api_token": [b_token.id],
        "device": [row["id"] for row in b_devices],
        "action": sorted(USER_ACTIONS),
    }
    assert all(targets.values())
    b_texts = [
        member_b.username,
        member_b.email,
        admin_b.username,
        admin_b.email,
        "Beta Logistics",
        "Danish Member",
        mask_full_name("Danish Member"),
        "Bushra Admin",
        mask_full_name("Bushra Admin"),
    ]

    # Hypothesis draws probes (B's real ids, or arbitrary ids that must not crash anything);
    # the HTTP calls run afterwards, on the test's event loop.
    routes = sorted(PROBES)
    probes: list[tuple[str, str, Probe]] = []
    arbitrary_id = st.one_of(
        st.uuids().map(str), st.text(alphabet="abcdef0123456789-", min_size=1, max_size=40)
    )

    @settings(
        max_examples=80,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    @given(route=st.sampled_from(routes), data=st.data())
    def collect(route: tuple[str, str], data: st.DataObject) -> None:
        method, template = route
        probe = PROBES[route]
        values: dict[str, str] = {}
        for name in _parameters(template):
            real = st.sampled_from(targets[probe.targets[name]])
            # An action name is a fixed word, not an id: only the real ones reach a lookup.
            values[name] = data.draw(real if name == "action" else st.one_of(real, arbitrary_id))
        probes.append((method, _fill(template, values), probe))

    collect()
    # Every route against every real id of B, whatever hypothesis happened to draw.
    for method, template in routes:
        probe = PROBES[(method, template)]
        probes.extend(
            (method, _fill(template, values), probe)
            for values in _all_combinations(template, probe, targets)
        )
    for method, path, probe in probes:
        if probe.form:
            response = await client.request(method, path, data=probe.form)
        else:
            response = await client.request(method, path, json=probe.json)
        assert response.status_code in (403, 404), (method, path, response.status_code)
        for text in b_texts:
            assert text not in response.text, (method, path)

    for method, template in sorted(LINK_TOKEN_ROUTES):
        path = _fill(template, {"token": "made-up-" + "x" * 40})
        response = await client.request(method, path, data={"password": "p" * 20})
        assert 400 <= response.status_code < 500, (method, path, response.status_code)
        for text in b_texts:
            assert text not in response.text, (method, path)

    # Nothing of B changed, and B's member is still signed in.
    assert await _state_of(database, member_b.account_id) == before
    assert (await second_client.get("/api/v1/me")).status_code == 200
    listed = await client.get("/api/v1/users")
    assert {row["username"] for row in listed.json()} == {admin_a.username}
