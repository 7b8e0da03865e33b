"""An internationalized domain is kept and mailed in its ASCII form (IDNA A-label): typed as
`müller.de` or as `xn--mller-kva.de`, the address is stored, indexed and sent as
`user@xn--mller-kva.de`, never as RFC 2047 encoded words, which an address may not hold. A
mailbox name beyond ASCII would need SMTPUTF8, which we do not send: it is refused by name."""

from __future__ import annotations

from datetime import UTC, datetime
from email.policy import SMTP

import httpx
import pytest

from amanat.comms.outbox import EmailMessageData
from amanat.comms.transports import build_email
from amanat.core.crypto import MasterKeyring
from amanat.core.db import Database
from amanat.core.errors import InvalidInput
from amanat.people.blind_index import email_index
from amanat.people.personal_data import PersonData, read_person
from amanat.people.validation import normalize_email
from tests.support.identity import Person, load_user, sign_in

pytestmark = pytest.mark.policy("§1 email address")

A_LABEL = "user@xn--mller-kva.de"
FORMS = ["user@xn--mller-kva.de", "user@müller.de", "user@Müller.DE", " user@XN--MLLER-KVA.de "]


async def person_of(database: Database, ring: MasterKeyring, user_id: str) -> PersonData:
    user = await load_user(database, user_id)
    assert user.person_id is not None
    async with database.sessionmaker() as session:
        return await read_person(session, ring, user.person_id)


@pytest.mark.parametrize("typed", FORMS)
def test_the_domain_is_kept_as_its_a_label(typed: str, test_keyring: MasterKeyring) -> None:
    assert normalize_email(typed) == A_LABEL
    assert email_index(test_keyring, typed) == email_index(test_keyring, A_LABEL)


def test_a_mailbox_name_beyond_ascii_is_refused_without_the_value() -> None:
    with pytest.raises(InvalidInput) as refused:
        normalize_email("müller@example.com")
    assert (refused.value.code, refused.value.extra["field"]) == ("invalid_email", "email")
    assert "ASCII" in refused.value.message
    assert "müller" not in refused.value.message


@pytest.mark.parametrize("to", [*FORMS[:2], "user@müller.de"])
def test_the_to_header_carries_the_ascii_domain(to: str) -> None:
    # Built from the stored form, and from a U-label stored before this rule.
    stored = normalize_email(to) if to in FORMS[:2] else to
    message = build_email(
        EmailMessageData(to=stored, subject="Hello", body="Hi"),
        sender="Amanat <no-reply@amanat.example>",
        message_id="m1",
        date=datetime(2026, 1, 1, tzinfo=UTC),
    )
    assert message["To"] == A_LABEL
    wire = message.as_bytes(policy=SMTP)
    assert b"To: user@xn--mller-kva.de\r\n" in wire
    assert b"=?utf-8?" not in wire.lower()


@pytest.mark.parametrize("typed", FORMS[:2])
async def test_an_invited_address_is_stored_in_ascii_and_found_by_either_form(
    client: httpx.AsyncClient,
    database: Database,
    test_keyring: MasterKeyring,
    admin_a: Person,
    typed: str,
) -> None:
    await sign_in(client, admin_a, database)
    created = await client.post(
        "/api/v1/users", json={"username": "mueller", "full_name": "Jan Müller", "email": typed}
    )
    assert created.status_code == 201, created.text
    person = await person_of(database, test_keyring, created.json()["id"])
    assert person.email == A_LABEL
    for form in FORMS:
        found = await client.post("/api/v1/people/search", json={"email": form})
        assert found.status_code == 200, found.text
        assert [row["id"] for row in found.json()] == [created.json()["id"]], form
