"""The reveal, correction and search pages answer POST/redirect/GET: a revealed value is shown
once on the page the redirect leads to, and a reload shows it no more and records nothing
(issue 11, defect 4). Reveal is reachable from the user page and the search results, says whose
data it is, and leads back."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from sqlalchemy import func, select

from amanat.audit.models import AuditRecord
from amanat.core.clock import utcnow
from amanat.core.crypto import MasterKeyring
from amanat.core.db import Database
from amanat.people.models import PersonalDataAccess
from amanat.people.registry import update_person
from amanat.people.reveal import (
    DISPLAY_FOR,
    Purpose,
    RevealedValue,
    open_for_display,
    seal_for_display,
)
from amanat.supervision.pages.people import REVEAL_COOKIE
from tests.support.identity import Person, load_user, sign_in

pytestmark = [pytest.mark.policy("§4 access controls")]

CNIC = "35202-1234567-1"
REASON = "Bilal asked us to check the CNIC on his invoice dispute"


@pytest.fixture
async def subject(database: Database, test_keyring: MasterKeyring, member_a: Person) -> Person:
    user = await load_user(database, member_a.user_id)
    assert user.person_id is not None
    async with database.sessionmaker() as session:
        await update_person(session, test_keyring, user.person_id, cnic=CNIC)
        await session.commit()
    return member_a


async def _reveals_by(database: Database, actor_id: str) -> int:
    """The reveals the hourly limit counts for this actor."""
    since = utcnow() - timedelta(hours=1)
    async with database.sessionmaker() as session:
        count = await session.scalar(
            select(func.count())
            .select_from(PersonalDataAccess)
            .where(PersonalDataAccess.actor_id == actor_id, PersonalDataAccess.at > since)
        )
    return int(count or 0)


async def _audited(database: Database, action: str) -> int:
    async with database.sessionmaker() as session:
        count = await session.scalar(
            select(func.count()).select_from(AuditRecord).where(AuditRecord.action == action)
        )
    return int(count or 0)


async def _post_reveal(client: httpx.AsyncClient, user_id: str, **extra: str) -> httpx.Response:
    return await client.post(
        f"/admin/reveal/{user_id}",
        data={
            "field": "cnic",
            "purpose": "identity_verification",
            "reason": REASON,
            "csrf_token": client.headers["x-csrf-token"],
            **extra,
        },
    )


@pytest.mark.asvs("V14.2.1", "V14.3.2")
async def test_a_reload_of_a_reveal_shows_nothing_and_records_nothing(
    client: httpx.AsyncClient, database: Database, admin_a: Person, subject: Person
) -> None:
    await sign_in(client, admin_a, database)
    posted = await _post_reveal(client, subject.user_id)
    assert posted.status_code == 303, posted.text
    location = posted.headers["location"]
    assert location == f"/admin/reveal/{subject.user_id}/shown"
    assert CNIC not in posted.text
    sealed = client.cookies.get(REVEAL_COOKIE)
    assert sealed
    assert CNIC not in sealed
    assert "1234567" not in sealed

    shown = await client.get(location)
    assert shown.status_code == 200, shown.text
    assert CNIC in shown.text
    assert shown.headers["cache-control"] == "no-store"
    assert "Revealed the CNIC for verifying identity." in shown.text  # the flash, once
    assert "member-a" in shown.text or subject.username in shown.text  # whose data
    assert client.cookies.get(REVEAL_COOKIE) is None

    reloaded = await client.get(location)
    assert reloaded.status_code == 200
    assert CNIC not in reloaded.text
    assert 'data-testid="shown-once"' in reloaded.text
    assert "Revealed the CNIC" not in reloaded.text

    assert await _reveals_by(database, admin_a.user_id) == 1
    assert await _audited(database, "people.reveal") == 1


async def test_the_sealed_value_opens_only_for_its_session_and_person(
    client: httpx.AsyncClient,
    second_client: httpx.AsyncClient,
    database: Database,
    admin_a: Person,
    subject: Person,
) -> None:
    await sign_in(client, admin_a, database)
    assert (await _post_reveal(client, subject.user_id)).status_code == 303
    sealed = client.cookies.get(REVEAL_COOKIE)
    assert sealed
    # The same admin in another browser session, holding a copy of the cookie: nothing shown.
    await sign_in(second_client, admin_a, database)
    second_client.cookies.set(REVEAL_COOKIE, sealed, domain="testserver")
    elsewhere = await second_client.get(f"/admin/reveal/{subject.user_id}/shown")
    assert elsewhere.status_code == 200
    assert CNIC not in elsewhere.text
    # Nor for another person's page of the same session.
    client.cookies.set(REVEAL_COOKIE, sealed, domain="testserver")
    other = await client.get(f"/admin/reveal/{admin_a.user_id}/shown")
    assert CNIC not in other.text


def test_a_sealed_value_expires_and_refuses_tampering(test_keyring: MasterKeyring) -> None:
    now = utcnow()
    revealed = RevealedValue("access-1", "cnic", Purpose.IDENTITY_VERIFICATION, CNIC, now)
    sealed = seal_for_display(test_keyring, revealed, viewer="s1", subject="u1")
    opened = open_for_display(test_keyring, sealed, viewer="s1", subject="u1", now=now)
    assert opened is not None
    assert opened.value == CNIC
    late = now + DISPLAY_FOR + timedelta(seconds=1)
    assert open_for_display(test_keyring, sealed, viewer="s1", subject="u1", now=late) is None
    assert open_for_display(test_keyring, sealed, viewer="s2", subject="u1", now=now) is None
    assert open_for_display(test_keyring, sealed, viewer="s1", subject="u2", now=now) is None
    flipped = sealed[:-2] + ("A" if sealed[-2] != "A" else "B") + sealed[-1]
    assert open_for_display(test_keyring, flipped, viewer="s1", subject="u1", now=now) is None
    for junk in ("", "x", "1.", "99.AAAA", "1.!!!!"):
        assert open_for_display(test_keyring, junk, viewer="s1", subject="u1", now=now) is None


async def test_a_refused_reveal_renders_the_form_and_records_no_reveal(
    client: httpx.AsyncClient, database: Database, admin_a: Person, subject: Person
) -> None:
    await sign_in(client, admin_a, database)
    refused = await _post_reveal(client, subject.user_id, reason="no")
    assert refused.status_code == 422
    assert "Give a reason" in refused.text
    assert 'name="reason"' in refused.text
    assert client.cookies.get(REVEAL_COOKIE) is None
    assert await _reveals_by(database, admin_a.user_id) == 0


async def test_reveal_is_linked_from_the_user_page_for_those_who_may_reveal(
    client: httpx.AsyncClient,
    second_client: httpx.AsyncClient,
    database: Database,
    admin_a: Person,
    subject: Person,
) -> None:
    await sign_in(client, admin_a, database)
    page = await client.get(f"/admin/users/{subject.user_id}")
    assert page.status_code == 200, page.text
    link = f'href="/admin/reveal/{subject.user_id}?field=cnic"'
    assert link in page.text
    # Not on the admin's own page: nobody reveals their own data.
    own = await client.get(f"/admin/users/{admin_a.user_id}")
    assert 'data-testid="reveal-links"' not in own.text

    form = await client.get(f"/admin/reveal/{subject.user_id}", params={"field": "cnic"})
    assert form.status_code == 200
    assert '<option value="cnic" selected>' in form.text
    assert 'dir="auto"' in form.text
    assert f'href="/admin/users/{subject.user_id}"' in form.text  # the way back
    assert "Choose a purpose" in form.text  # no purpose chosen for the admin


async def test_reveal_is_linked_from_search_results_with_a_way_back(
    client: httpx.AsyncClient, database: Database, admin_a: Person, subject: Person
) -> None:
    await sign_in(client, admin_a, database)
    found = await client.post(
        "/admin/people/search",
        data={"criterion": "cnic", "value": CNIC, "csrf_token": client.headers["x-csrf-token"]},
    )
    assert found.status_code == 200, found.text
    results = found.text.split('class="table-scroll"', 1)[1]  # the value typed stays in the form
    assert subject.username in results
    assert CNIC not in results
    assert f"/admin/reveal/{subject.user_id}?field=cnic&amp;from=search" in found.text
    assert "Member" in found.text  # the role in words

    form = await client.get(
        f"/admin/reveal/{subject.user_id}", params={"field": "cnic", "from": "search"}
    )
    assert 'href="/admin/people/search"' in form.text
    posted = await _post_reveal(client, subject.user_id, came_from="search")
    assert posted.status_code == 303
    assert posted.headers["location"].endswith("/shown?from=search")
    assert CNIC not in posted.headers["location"]
    shown = await client.get(posted.headers["location"])
    assert CNIC in shown.text
    assert 'href="/admin/people/search"' in shown.text


async def test_a_member_sees_no_reveal_links_and_cannot_open_the_shown_page(
    client: httpx.AsyncClient, database: Database, member_a: Person, admin_a: Person
) -> None:
    await sign_in(client, member_a, database)
    assert (await client.get(f"/admin/reveal/{admin_a.user_id}/shown")).status_code == 403


async def test_a_correction_redirects_and_says_what_changed(
    client: httpx.AsyncClient, database: Database, admin_a: Person, subject: Person
) -> None:
    await sign_in(client, admin_a, database)
    csrf = client.headers["x-csrf-token"]
    page = f"/admin/users/{subject.user_id}/personal-data"
    done = await client.post(
        page, data={"phone": "0321 7654321", "reason": "data_error", "csrf_token": csrf}
    )
    assert done.status_code == 303, done.text
    assert done.headers["location"] == page
    after = await client.get(page)
    assert "Corrected: phone number. The person was told by email which fields changed." in (
        after.text
    )
    assert "Corrected:" not in (await client.get(page)).text  # said once

    # From the user page, back to the user page.
    from_user = await client.post(
        page, data={"phone": "0321 7654322", "back": "user", "csrf_token": csrf}
    )
    assert from_user.status_code == 303
    assert from_user.headers["location"] == f"/admin/users/{subject.user_id}"


async def test_a_refused_correction_shows_the_form_with_the_fields_message(
    client: httpx.AsyncClient, database: Database, admin_a: Person, subject: Person
) -> None:
    await sign_in(client, admin_a, database)
    refused = await client.post(
        f"/admin/users/{subject.user_id}/personal-data",
        data={"phone": "12", "csrf_token": client.headers["x-csrf-token"]},
    )
    assert 400 <= refused.status_code < 500, refused.text
    assert 'aria-invalid="true"' in refused.text
    assert 'id="phone-error"' in refused.text
    assert 'value="12"' not in refused.text  # another person's data is not echoed
