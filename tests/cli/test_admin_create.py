"""`amanat admin create`, run as an operator would: the administrator's phone, CNIC and postal
address are optional unless `AMANAT_REQUIRE_IDENTITY_FIELDS` requires them; a refusal is one
line naming the option (never the value), and nothing but the one-time link is printed."""

from __future__ import annotations

import asyncio
from pathlib import Path
from subprocess import CompletedProcess

import pytest
from sqlalchemy import select

from amanat.core.runtime import open_runtime
from amanat.core.settings import Settings
from amanat.identity.models import User
from amanat.people.personal_data import PersonData, read_person
from tests.support.identity import CNIC, CNIC_DIGITS, PHONE, PHONE_E164, VERIFYING_IDENTITY
from tests.support.processes import amanat_env, assert_one_line_error, run_amanat

pytestmark = VERIFYING_IDENTITY

ADDRESS_OPTIONS = [
    "--address-line1",
    "House 12, Street 4",
    "--address-line2",
    "Model Town",
    "--city",
    "Lahore",
    "--province",
    "Punjab",
    "--postal-code",
    "54700",
]
REQUIRED = {"AMANAT_REQUIRE_IDENTITY_FIELDS": "phone,cnic"}
TYPED_VALUES = (PHONE, CNIC, "3001234567", CNIC_DIGITS, "House 12", "Model Town")


async def _amanat(args: list[str], tmp_path: Path, **extra: str) -> CompletedProcess[str]:
    env = amanat_env(tmp_path / "data", **extra)
    return await asyncio.to_thread(run_amanat, args, cwd=tmp_path, env=env)


def _create(username: str, *options: str) -> list[str]:
    return [
        "admin",
        "create",
        "--username",
        username,
        "--email",
        f"{username}@example.com",
        "--full-name",
        "Rukhsana Operator",
        *options,
    ]


async def _person(tmp_path: Path, username: str) -> PersonData | None:
    """The personal data of `username`, read through the people service; None without them."""
    runtime = await open_runtime(Settings(data_dir=tmp_path / "data"))
    try:
        async with runtime.database.sessionmaker() as session:
            user = await session.scalar(select(User).where(User.username == username))
            if user is None or user.person_id is None:
                return None
            return await read_person(session, runtime.keyring, user.person_id)
    finally:
        await runtime.database.dispose()


def _nothing_typed_is_printed(result: CompletedProcess[str]) -> None:
    for value in TYPED_VALUES:
        assert value not in result.stdout + result.stderr


def _one_line_error(result: CompletedProcess[str], *fragments: str) -> None:
    assert_one_line_error(result, *fragments)
    _nothing_typed_is_printed(result)


async def test_a_missing_required_field_exits_2_naming_its_option_and_stores_nothing(
    tmp_path: Path,
) -> None:
    without_phone = await _amanat(_create("root", "--cnic", CNIC), tmp_path, **REQUIRED)
    _one_line_error(without_phone, "--phone", "required for identity verification")
    without_cnic = await _amanat(_create("root", "--phone", PHONE), tmp_path, **REQUIRED)
    _one_line_error(without_cnic, "--cnic", "required for identity verification")
    assert await _person(tmp_path, "root") is None


@pytest.mark.parametrize(
    ("options", "option"),
    [
        (["--cnic", "35202-12345"], "--cnic"),
        (["--cnic", CNIC, *ADDRESS_OPTIONS[:-1], "5470"], "--postal-code"),
        (["--cnic", CNIC, "--address-line1", "House 12, Street 4"], "--city"),
    ],
)
async def test_a_bad_value_exits_2_naming_its_option_without_the_value(
    tmp_path: Path, options: list[str], option: str
) -> None:
    refused = await _amanat(_create("root", "--phone", PHONE, *options), tmp_path, **REQUIRED)
    _one_line_error(refused, option)
    assert "35202-12345" not in refused.stderr
    assert await _person(tmp_path, "root") is None


async def test_the_required_fields_given_are_stored_and_only_the_link_is_printed(
    tmp_path: Path,
) -> None:
    created = await _amanat(
        _create("root", "--phone", PHONE, "--cnic", CNIC, *ADDRESS_OPTIONS), tmp_path, **REQUIRED
    )
    assert created.returncode == 0, created.stdout + created.stderr
    assert "/invite/" in created.stdout.strip().splitlines()[-1]
    _nothing_typed_is_printed(created)
    person = await _person(tmp_path, "root")
    assert person is not None
    assert (person.full_name, person.phone, person.cnic) == (
        "Rukhsana Operator",
        PHONE_E164,
        CNIC_DIGITS,
    )
    assert person.address is not None
    assert (person.address.line2, person.address.city, person.address.postal_code) == (
        "Model Town",
        "Lahore",
        "54700",
    )


async def test_with_nothing_required_the_fields_are_optional_and_kept_when_given(
    tmp_path: Path,
) -> None:
    bare = await _amanat(
        ["admin", "create", "--username", "root", "--email", "root@example.com"], tmp_path
    )
    assert bare.returncode == 0, bare.stdout + bare.stderr
    given = await _amanat(
        [
            *("admin", "create", "--username", "deputy", "--email", "deputy@example.com"),
            *("--name", "Danish Deputy", "--phone", PHONE, *ADDRESS_OPTIONS),
        ],
        tmp_path,
    )
    assert given.returncode == 0, given.stdout + given.stderr
    _nothing_typed_is_printed(given)
    root = await _person(tmp_path, "root")
    assert root is not None
    assert (root.full_name, root.phone, root.cnic, root.address) == ("root", None, None, None)
    deputy = await _person(tmp_path, "deputy")
    assert deputy is not None
    assert (deputy.full_name, deputy.phone, deputy.cnic) == ("Danish Deputy", PHONE_E164, None)
    assert deputy.address is not None
    assert deputy.address.province == "Punjab"
