"""Admin search of people in one account by an exact value, through the blind indexes.

Only whole values match: an email, a phone number, a CNIC, or whole words of the name (a
query of several words finds the people whose name holds all of them). There is no prefix or
partial search: blind indexes cannot do it, and that is the point.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, distinct, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from amanat.core.crypto import MasterKeyring
from amanat.core.errors import InvalidInput
from amanat.people.blind_index import (
    CNIC_KIND,
    EMAIL_KIND,
    NAME_WORD_KIND,
    PHONE_KIND,
    lookup_digests,
)
from amanat.people.models import Person, PersonNameWord
from amanat.people.personal_data import PersonData, read_people
from amanat.people.validation import (
    email_lookup_key,
    name_words,
    normalize_cnic,
    normalize_email,
    normalize_full_name,
    normalize_phone,
)

SEARCH_CRITERIA = ("email", "phone", "cnic", "name")
SEARCH_LIMIT = 50
MAX_NAME_WORDS = 10
_NEWEST_FIRST = (Person.created_at.desc(), Person.id)


def _condition(
    ring: MasterKeyring, account_id: str, criterion: str, value: str
) -> ColumnElement[bool]:
    if criterion == "email":
        key = email_lookup_key(normalize_email(value))
        return Person.email_index.in_(lookup_digests(ring, EMAIL_KIND, key))
    if criterion == "phone":
        return Person.phone_index.in_(lookup_digests(ring, PHONE_KIND, normalize_phone(value)))
    if criterion == "cnic":
        return Person.cnic_index.in_(lookup_digests(ring, CNIC_KIND, normalize_cnic(value)))
    words = name_words(normalize_full_name(value))
    if len(words) > MAX_NAME_WORDS:
        raise InvalidInput(
            f"Search by at most {MAX_NAME_WORDS} words of the name.", code="invalid_full_name"
        )
    digests = [d for word in words for d in lookup_digests(ring, NAME_WORD_KIND, word)]
    # A person matches when every word of the query is one of their name's words.
    matching = (
        select(PersonNameWord.person_id)
        .where(PersonNameWord.account_id == account_id, PersonNameWord.digest.in_(digests))
        .group_by(PersonNameWord.person_id)
        .having(func.count(distinct(PersonNameWord.digest)) == len(words))
    )
    return Person.id.in_(matching)


def _matching(
    ring: MasterKeyring,
    account_id: str,
    email: str | None,
    phone: str | None,
    cnic: str | None,
    name: str | None,
) -> ColumnElement[bool]:
    given = {
        key: value
        for key, value in (("email", email), ("phone", phone), ("cnic", cnic), ("name", name))
        if value is not None and value.strip()
    }
    if len(given) != 1:
        raise InvalidInput(
            "Search by exactly one of: email, phone, CNIC or name.", code="one_search_criterion"
        )
    ((criterion, value),) = given.items()
    try:
        condition = _condition(ring, account_id, criterion, value)
    except InvalidInput as exc:
        # The same rule as the field, named after the search parameter the caller sent.
        raise InvalidInput(exc.message, code=exc.code, field=criterion) from None
    return and_(Person.account_id == account_id, condition)


async def search_people(
    session: AsyncSession,
    ring: MasterKeyring,
    *,
    account_id: str,
    email: str | None = None,
    phone: str | None = None,
    cnic: str | None = None,
    name: str | None = None,
    limit: int = SEARCH_LIMIT,
) -> list[str]:
    """Ids of the people of ``account_id`` matching exactly one given criterion, newest first.

    The value is validated like the field itself (a malformed CNIC is an error, not an empty
    result); people of other accounts are never considered.
    """
    matching = _matching(ring, account_id, email, phone, cnic, name)
    rows = await session.scalars(
        select(Person.id).where(matching).order_by(*_NEWEST_FIRST).limit(limit)
    )
    return list(rows)


async def find_people(
    session: AsyncSession,
    ring: MasterKeyring,
    *,
    account_id: str,
    email: str | None = None,
    phone: str | None = None,
    cnic: str | None = None,
    name: str | None = None,
    limit: int = SEARCH_LIMIT,
) -> list[PersonData]:
    """Like `search_people`, the matching people decrypted: one query for the people, one for
    their keys. People whose key is gone (erased) are left out."""
    matching = _matching(ring, account_id, email, phone, cnic, name)
    rows = list(
        await session.scalars(select(Person).where(matching).order_by(*_NEWEST_FIRST).limit(limit))
    )
    people = await read_people(session, ring, rows)
    return [person for row in rows if (person := people[row.id]) is not None]
