"""The suite-wide personal-data guard fires: a seeded value in a log line, a URL or an error body
fails the test that let it out (issue 4 acceptance; ASVS V14.2.1, V16.2.5)."""

from __future__ import annotations

import json

import httpx
import pytest

from amanat.core.logging import get_logger
from amanat.people import profile, registry, self_service
from tests.support.identity import Person
from tests.support.leak_guard import (
    LOG_LINE,
    SERVER_LOG,
    URL,
    LeakGuard,
    active_guard,
    guarding,
)
from tests.support.leak_observers import error_body_text, is_observed
from tests.support.processes import log_lines_of, seed_person_options
from tests.support.seeded_personal_data import MIN_LENGTH, SeededPersonalData

pytestmark = [pytest.mark.asvs("V14.2.1", "V16.2.5"), pytest.mark.policy("§4 privacy by design")]

NAME = "Zarmeena Qadeer-Lodhi"
URDU_NAME = "زرمینہ قدیر"
EMAIL = "Zarmeena.Lodhi@Example.com"


def _kinds_found(seeded: SeededPersonalData, text: str) -> list[str]:
    return [match.kind for match in seeded.matches(text)]


def test_an_email_is_found_whatever_its_case() -> None:
    seeded = SeededPersonalData()
    seeded.add_email(EMAIL)
    assert _kinds_found(seeded, '{"event": "x", "to": "zarmeena.lodhi@example.com"}') == ["email"]
    assert _kinds_found(seeded, '{"event": "x", "to": "z***@example.com"}') == []


def test_a_phone_is_found_in_every_form_it_is_stored_or_shown() -> None:
    seeded = SeededPersonalData()
    seeded.add_phone("0300-1234567")
    for written in ("+923001234567", "+92 300 1234567", "0300 1234567", "03001234567"):
        assert _kinds_found(seeded, f"sent to {written}") == ["phone"], written
    assert _kinds_found(seeded, "sent to +92 3** ****567") == []


def test_a_cnic_is_found_with_and_without_dashes() -> None:
    seeded = SeededPersonalData()
    seeded.add_cnic("35202-1234567-1")
    assert _kinds_found(seeded, "cnic=3520212345671") == ["CNIC"]
    assert _kinds_found(seeded, "cnic=35202-1234567-1") == ["CNIC"]
    assert _kinds_found(seeded, "cnic=35202-*******-1") == []


def test_names_and_address_lines_are_found_as_json_and_html_write_them() -> None:
    seeded = SeededPersonalData()
    seeded.add_fields(
        {
            "full_name": URDU_NAME,
            "address": {"line1": "House 7, Street O'Neil", "city": "Lahore"},
            "username": "not-personal-data",
        }
    )
    assert _kinds_found(seeded, json.dumps({"name": URDU_NAME})) == ["full name"]
    assert _kinds_found(seeded, "<td>House 7, Street O&#39;Neil</td>") == ["address line"]
    assert _kinds_found(seeded, "Lahore, not-personal-data") == []


def test_values_too_short_to_mean_anyone_are_not_kept() -> None:
    seeded = SeededPersonalData()
    seeded.add_full_name("A" * (MIN_LENGTH - 1))
    assert not seeded


def test_a_value_allowed_on_one_channel_still_counts_on_the_others() -> None:
    guard = LeakGuard()
    guard.seeded.add_email(EMAIL)
    guard.allow(URL, EMAIL, reason="the test sends it in a query string on purpose")
    guard.see_url("https://testserver/x?email=zarmeena.lodhi%40example.com")
    guard.see(LOG_LINE, f'{{"event": "x", "email": "{EMAIL}"}}')
    assert [(leak.channel, leak.kind) for leak in guard.leaks()] == [(LOG_LINE, "email")]
    with pytest.raises(ValueError, match="say why"):
        guard.allow(URL, EMAIL, reason=" ")


def test_an_html_error_page_is_checked_outside_the_fields_it_gives_back() -> None:
    page = (
        '<form><input name="email" value="zarmeena.lodhi@example.com"><textarea>'
        f"{NAME}</textarea></form><p>{NAME} is taken.</p>"
    )
    response = httpx.Response(422, html=page)
    seeded = SeededPersonalData()
    seeded.add_fields({"full_name": NAME, "email": EMAIL})
    assert _kinds_found(seeded, error_body_text(response)) == ["full name"]


def test_the_people_service_is_observed_wherever_it_is_imported() -> None:
    assert is_observed(registry.create_people)
    assert is_observed(registry.update_person)
    assert is_observed(registry.enter_people)
    assert is_observed(registry.correct_person)
    # The names these modules imported before the observers were installed.
    assert is_observed(vars(profile)["update_person"])
    assert is_observed(vars(self_service)["update_person"])
    assert is_observed(vars(self_service)["request_contact_change"])


async def test_people_made_by_the_shared_fixtures_are_seeded(
    personal_data_guard: LeakGuard, admin_a: Person
) -> None:
    assert "Ayesha Admin" in personal_data_guard.seeded
    assert admin_a.email in personal_data_guard.seeded


def test_person_fields_given_to_the_command_line_are_seeded(
    personal_data_guard: LeakGuard,
) -> None:
    seed_person_options(
        ["admin", "create", "--username", "boss", "--email", EMAIL, f"--name={NAME}"]
    )
    assert EMAIL in personal_data_guard.seeded
    assert NAME in personal_data_guard.seeded
    output = '{"event": "started", "level": "info"}\nSet a password at https://x/set/abc\n'
    assert log_lines_of(output) == ['{"event": "started", "level": "info"}']


def test_a_log_line_with_a_seeded_value_is_caught(personal_data_guard: LeakGuard) -> None:
    personal_data_guard.seeded.add_fields({"full_name": NAME, "email": EMAIL})
    get_logger("amanat.test").info("invited", to=EMAIL.lower())
    leaks = personal_data_guard.leaks()
    personal_data_guard.forget_sightings()
    assert [(leak.channel, leak.kind) for leak in leaks] == [(LOG_LINE, "email")]


async def test_a_url_and_an_error_body_with_a_seeded_value_are_caught(
    personal_data_guard: LeakGuard, client: httpx.AsyncClient
) -> None:
    personal_data_guard.seeded.add_email(EMAIL)
    response = await client.get("/no-such-page", params={"email": EMAIL})
    assert response.status_code == 404
    leaks = personal_data_guard.leaks()
    personal_data_guard.forget_sightings()
    assert [(leak.channel, leak.kind) for leak in leaks] == [(URL, "email")]


def test_guards_nest_and_the_innermost_is_active(personal_data_guard: LeakGuard) -> None:
    with guarding() as inner:
        assert active_guard() is inner
        inner.seeded.add_email(EMAIL)
        inner.see(SERVER_LOG, f"listening for {EMAIL}")
        assert [leak.channel for leak in inner.leaks()] == [SERVER_LOG]
    assert active_guard() is personal_data_guard


def test_a_test_that_logs_a_seeded_value_fails(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        f"""
        from amanat.core.logging import get_logger
        from tests.support.leak_guard import active_guard

        def test_logs_an_email():
            active_guard().seeded.add_email({EMAIL!r})
            get_logger("amanat.inner").info("mailed", to={EMAIL!r})

        def test_logs_an_id():
            active_guard().seeded.add_email({EMAIL!r})
            get_logger("amanat.inner").info("mailed", person_id="01HX")
        """
    )
    result = pytester.runpytest_inprocess(
        "-p",
        "tests.support.personal_data_guard",
        "-p",
        "no:xdist",
        "-p",
        "no:cacheprovider",
        "-o",
        "asyncio_default_fixture_loop_scope=function",
    )
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(
        ["*ERROR at teardown of test_logs_an_email*", "*email 'Zarmeena.Lodhi@Example.com'*"]
    )
