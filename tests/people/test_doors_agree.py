"""Every door reads a personal data field the same way: it trims and cleans first, then applies
the field's one rule (`amanat.people.validation`), so a value with whitespace around it is
accepted or refused alike, with the same code, by the JSON API, an admin's correction (API and
form), the HTML invitation form and the CSV bulk import. The input models bound raw text only
generously (four times the field's limit), never with the field's own rule."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from markupsafe import escape

from amanat.access.actors import Actor
from amanat.core.crypto import MasterKeyring
from amanat.core.db import Database
from amanat.core.errors import InvalidInput
from amanat.core.settings import Settings
from amanat.identity.bulk_import import import_users
from amanat.identity.import_file import parse_import_file
from amanat.people.validation import (
    normalize_address,
    normalize_cnic,
    normalize_email,
    normalize_full_name,
    normalize_phone,
)
from tests.support.identity import Person, sign_in

pytestmark = [pytest.mark.asvs("V2.2.1"), pytest.mark.policy("§4 data minimization")]

ADDRESS = {"line1": "House 12", "city": "Lahore", "province": "Punjab", "postal_code": "54700"}
# Per field: cores (a `{n}` is made unique per door, for the fields that must be unique).
CORES = {
    "full_name": ["Hina  Khan", "آمنہ بی بی", "x" * 201, "Bad\u202eName"],
    "email": ["user{n}@example.com", "Person.{n}@Example.ORG", "user{n}-at-example", "u{n}@"],
    "phone": ["0300 1234567", "+92 300 1234567", "+44 20 7946 0958", "12345", "+92 42 35761234"],
    "cnic": ["35202-{n:07d}-1", "35202{n:07d}1", "35202-12345-67", "1234567890", "3520{n}"],
    "address.line1": ["House 12, Street 4", "x" * 201],
    "address.city": ["Lahore", "x" * 101],
    "address.province": ["punjab", "KPK", "Narnia"],
    "address.postal_code": ["54700", "5470", "547000"],
    "address.country": ["pk", "XX", "PAK"],
}
CORRECTABLE = {"full_name", "phone", "cnic"}
SPACE = st.text(alphabet=" \t\u00a0", max_size=4)


@dataclass(frozen=True)
class Case:
    field: str
    before: str
    core: str
    after: str

    def value(self, n: int) -> str:
        return self.before + self.core.format(n=n) + self.after

    @property
    def part(self) -> str | None:
        return self.field.removeprefix("address.") if self.field.startswith("address.") else None


def _rule(case: Case, value: str) -> tuple[str, str] | None:
    """What the one rule set says: None (accepted) or (code, message)."""
    part = case.part
    checks = {
        "full_name": normalize_full_name,
        "email": normalize_email,
        "phone": normalize_phone,
        "cnic": normalize_cnic,
    }
    try:
        if part is not None:
            normalize_address({**ADDRESS, part: value})
        else:
            checks[case.field](value)
    except InvalidInput as exc:
        return exc.code, exc.message
    return None


def _html_outcome(response: httpx.Response, expected: tuple[str, str] | None) -> str:
    if response.status_code in (200, 303) and 'class="field-error"' not in response.text:
        return "ok"
    if expected is not None and str(escape(expected[1])) in response.text:
        return expected[0]
    return f"html {response.status_code}"


def _person_body(case: Case, value: str, n: int) -> dict[str, object]:
    """An invitation with the case's field set to ``value``, everything else valid."""
    body: dict[str, object] = {
        "username": f"door-{n}",
        "full_name": "Door Test",
        "email": f"door-{n}@example.com",
        "address": dict(ADDRESS),
    }
    if case.part is not None:
        body["address"] = {**ADDRESS, case.part: value}
    else:
        body[case.field] = value
    return body


def _collect_cases() -> list[Case]:
    cases: list[Case] = []

    @settings(
        max_examples=30,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    @given(data=st.data())
    def collect(data: st.DataObject) -> None:
        field = data.draw(st.sampled_from(sorted(CORES)))
        core = data.draw(st.sampled_from(CORES[field]))
        cases.append(Case(field, data.draw(SPACE), core, data.draw(SPACE)))

    collect()
    # Every core at least once, with whitespace around it.
    cases.extend(Case(field, " ", core, "\t ") for field, cores in CORES.items() for core in cores)
    return cases


def _form(body: dict[str, object]) -> dict[str, str]:
    address = body.pop("address")
    assert isinstance(address, dict)
    return {**{k: str(v) for k, v in body.items()}, **address}


def _csv(rows: list[dict[str, object]]) -> bytes:
    columns = ["username", "full_name", "email", "phone", "cnic"]
    parts = {"line1": "address_line1", "city": "city", "province": "province"}
    parts |= {"postal_code": "postal_code", "country": "country"}
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([*columns, *parts.values()])
    for row in rows:
        address = row["address"]
        assert isinstance(address, dict)
        writer.writerow(
            [row.get(name, "") for name in columns] + [address.get(key, "") for key in parts]
        )
    return out.getvalue().encode()


async def test_every_door_trims_then_applies_the_same_rule(
    client: httpx.AsyncClient,
    database: Database,
    test_keyring: MasterKeyring,
    settings: Settings,
    admin_a: Person,
) -> None:
    await sign_in(client, admin_a, database)
    hina = await client.post(
        "/api/v1/users",
        json={"username": "hina", "full_name": "Hina Khan", "email": "hina@example.com"},
    )
    assert hina.status_code == 201, hina.text
    hina_id = hina.json()["id"]
    cases = _collect_cases()
    rows: list[dict[str, object]] = []
    for index, case in enumerate(cases):
        n_api, n_form, n_fix, n_csv = (4 * index + door for door in range(4))
        expected = _rule(case, case.value(n_api))
        want = "ok" if expected is None else expected[0]
        outcomes: dict[str, str] = {}

        created = await client.post(
            "/api/v1/users", json=_person_body(case, case.value(n_api), n_api)
        )
        outcomes["api"] = "ok" if created.status_code == 201 else created.json()["code"]
        if expected is not None:
            assert created.json().get("field") == case.field, created.text

        invited = await client.post(
            "/admin/users", data=_form(_person_body(case, case.value(n_form), n_form))
        )
        outcomes["invite form"] = _html_outcome(invited, expected)

        if case.field in CORRECTABLE or case.part is not None:
            fix = _person_body(case, case.value(n_fix), n_fix)
            change = {"address": fix["address"]} if case.part else {case.field: fix[case.field]}
            corrected = await client.patch(f"/api/v1/users/{hina_id}/personal-data", json=change)
            outcomes["correction"] = (
                "ok" if corrected.status_code == 200 else corrected.json()["code"]
            )
            form = _form({**change, "address": change.get("address", {})})
            by_form = await client.post(f"/admin/users/{hina_id}/personal-data", data=form)
            outcomes["correction form"] = _html_outcome(by_form, expected)
        rows.append(_person_body(case, case.value(n_csv), n_csv))
        assert set(outcomes.values()) == {want}, (case, outcomes)

    async with database.sessionmaker() as session:
        report = await import_users(
            session,
            test_keyring,
            settings,
            Actor(admin_a.user_id, admin_a.account_id, admin_a.role),
            account_id=admin_a.account_id,
            rows=parse_import_file(_csv(rows)),
            atomic=False,
        )
        await session.rollback()
    refused = {row.line - 2: row.code for row in report.rejected}
    for index, case in enumerate(cases):
        expected = _rule(case, case.value(4 * index + 3))
        want = "ok" if expected is None else expected[0]
        assert refused.get(index, "ok") == want, (case, refused.get(index))
