"""A person's profile page shows their own CNIC (masked, in full when they ask) and the
organisation they belong to; their own look is not a reveal (docs/personal-data.md: a person
always sees their own data). Its forms answer POST/redirect/GET (issue 11)."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import func, select

from amanat.core.crypto import MasterKeyring
from amanat.core.db import Database
from amanat.people.models import PersonalDataAccess
from amanat.people.registry import update_person
from tests.support.identity import STRONG_PASSWORD, Person, load_user, sign_in

pytestmark = [pytest.mark.policy("§4 access controls")]

CNIC = "35202-1234567-1"


async def _give_cnic(database: Database, ring: MasterKeyring, person: Person) -> None:
    user = await load_user(database, person.user_id)
    assert user.person_id is not None
    async with database.sessionmaker() as session:
        await update_person(session, ring, user.person_id, cnic=CNIC)
        await session.commit()


async def test_the_person_sees_their_cnic_masked_then_in_full_and_their_organisation(
    client: httpx.AsyncClient, database: Database, test_keyring: MasterKeyring, member_a: Person
) -> None:
    await _give_cnic(database, test_keyring, member_a)
    await sign_in(client, member_a, database)
    page = await client.get("/account/profile")
    assert page.status_code == 200, page.text
    assert "35202-*******-1" in page.text
    assert CNIC not in page.text  # not on the screen until asked for
    assert 'href="/account/profile?show=cnic"' in page.text
    assert "Acme Cloud Traders" in page.text
    assert page.headers["cache-control"] == "no-store"

    full = await client.get("/account/profile", params={"show": "cnic"})
    assert full.status_code == 200
    assert CNIC in full.text
    # Their own data: not a reveal, so nothing is listed under "who looked at my data".
    async with database.sessionmaker() as session:
        count = await session.scalar(select(func.count()).select_from(PersonalDataAccess))
    assert count == 0


async def test_a_person_without_a_cnic_is_told_so(
    client: httpx.AsyncClient, database: Database, member_a: Person
) -> None:
    await sign_in(client, member_a, database)
    page = await client.get("/account/profile")
    cell = page.text.split('data-testid="cnic">', 1)[1].split("</td>", 1)[0]
    assert "none given" in cell
    assert "show=cnic" not in page.text


async def test_a_refused_profile_form_is_shown_again_and_a_saved_one_redirects(
    client: httpx.AsyncClient, database: Database, member_a: Person
) -> None:
    csrf = await sign_in(client, member_a, database)
    refused = await client.post(
        "/account/profile/contact",
        data={"email": "not an address", "current_password": STRONG_PASSWORD, "csrf_token": csrf},
    )
    assert refused.status_code == 422
    assert 'role="alert"' in refused.text
    saved = await client.post(
        "/account/profile/contact",
        data={
            "email": member_a.email,
            "phone": "",
            "current_password": STRONG_PASSWORD,
            "csrf_token": csrf,
        },
    )
    assert saved.status_code == 303
    assert saved.headers["location"] == "/account/profile"
    assert "Your contact details are saved." in (await client.get("/account/profile")).text
