"""An admin of account A, driving every identity endpoint with ids from account B, gets only
403 or 404 and never B's data (ASVS V8.2.2, V8.4.1)."""

from __future__ import annotations

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from amanat.core.db import Database
from tests.support.identity import Person, load_user, sign_in

pytestmark = [pytest.mark.asvs("V8.2.2", "V8.4.1"), pytest.mark.policy("§4 access controls")]

USER_ENDPOINTS = [
    ("GET", "/api/v1/users/{id}"),
    ("POST", "/api/v1/users/{id}/suspend"),
    ("POST", "/api/v1/users/{id}/reactivate"),
    ("POST", "/api/v1/users/{id}/revoke-sessions"),
    ("POST", "/api/v1/users/{id}/force-password-change"),
    ("POST", "/api/v1/users/{id}/reset-mfa"),
    ("DELETE", "/api/v1/users/{id}"),
    ("PUT", "/api/v1/accounts/{account}/settings"),
    ("DELETE", "/api/v1/me/sessions/{session}"),
    ("GET", "/admin/users/{id}"),
    ("POST", "/admin/users/{id}/suspend"),
    ("POST", "/admin/users/{id}/remove"),
]


async def test_admin_of_a_cannot_touch_anything_of_b(
    client: httpx.AsyncClient,
    second_client: httpx.AsyncClient,
    admin_a: Person,
    admin_b: Person,
    member_b: Person,
    database: Database,
) -> None:
    await sign_in(second_client, member_b, database)
    b_sessions = (await second_client.get("/api/v1/me/sessions")).json()
    await sign_in(client, admin_a, database)
    targets = {
        "id": [member_b.user_id, admin_b.user_id],
        "account": [admin_b.account_id],
        "session": [row["id"] for row in b_sessions],
    }

    # Hypothesis draws the probes (B's real ids, plus arbitrary ids that must not crash); the
    # HTTP calls run afterwards, on the test's event loop.
    probes: list[tuple[str, str]] = []

    @settings(
        max_examples=60,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    @given(endpoint=st.sampled_from(USER_ENDPOINTS), data=st.data())
    def collect(endpoint: tuple[str, str], data: st.DataObject) -> None:
        method, template = endpoint
        placeholder = template.split("{", 1)[1].split("}", 1)[0]
        target = data.draw(
            st.one_of(
                st.sampled_from(targets[placeholder]),
                st.uuids().map(str),
                st.text(alphabet="abcdef0123456789-", min_size=1, max_size=40),
            )
        )
        probes.append((method, template.replace("{" + placeholder + "}", target)))

    collect()
    # Every endpoint against every real id of B, whatever hypothesis happened to draw.
    for method, template in USER_ENDPOINTS:
        placeholder = template.split("{", 1)[1].split("}", 1)[0]
        probes.extend(
            (method, template.replace("{" + placeholder + "}", target))
            for target in targets[placeholder]
        )
    for method, path in probes:
        body = {"members_need_mfa": False} if method == "PUT" else None
        response = await client.request(method, path, json=body)
        assert response.status_code in (403, 404), (method, path, response.status_code)
        assert member_b.email not in response.text
        assert member_b.username not in response.text
    # Nothing of B changed.
    assert (await load_user(database, member_b.user_id)).status == "active"
    assert (await second_client.get("/api/v1/me")).status_code == 200
    listed = await client.get("/api/v1/users")
    assert {row["username"] for row in listed.json()} == {admin_a.username}
