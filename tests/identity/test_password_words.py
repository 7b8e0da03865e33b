"""Regional words and the "Word@123456" pattern (ASVS V6.2.11, V6.2.12), and the strength
meter's verdict: the one rule set that setting a password enforces, never a 5xx."""

from __future__ import annotations

import json

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from amanat.core.crypto import MasterKeyring
from amanat.core.db import Database
from amanat.core.errors import InvalidInput
from amanat.core.settings import Settings
from amanat.identity.credentials import set_new_password
from amanat.identity.models import User
from amanat.identity.password_policy import PasswordContext, check_new_password
from amanat.identity.password_words import REGIONAL_WORDS, is_regional
from tests.support.identity import Person, make_user, sign_in

pytestmark = pytest.mark.policy("§4 user responsibility")

ALONE = PasswordContext()


def codes(password: str, context: PasswordContext = ALONE) -> list[str]:
    return [p.code for p in check_new_password(password, context)]


@pytest.mark.asvs("V6.2.11")
@pytest.mark.parametrize(
    "password",
    [
        "Pakistan@123456",
        "Karachi@12345678",
        "پاکستان زندہ باد",
        "پاكستان زنده باد",  # typed on an Arabic keyboard: kaf and heh of another form
        "Ｐａｋｉｓｔａｎ＠１２３４５６",  # full width: NFKC makes it Pakistan@123456
        "PAKISTAN ZINDABAD!!!",
        "pakistanzindabad2024",
        "Islamabad!!2023##",
        "2024 Jeevay Pakistan",
    ],
)
def test_regional_words_with_symbols_and_digits_are_refused(password: str) -> None:
    problems = check_new_password(password, ALONE)
    assert "regional_word" in [p.code for p in problems]
    message = next(p.message for p in problems if p.code == "regional_word")
    assert "place name or slogan" in message
    assert password not in message


@pytest.mark.asvs("V6.2.11")
def test_every_regional_word_is_refused_as_the_whole_password() -> None:
    for word in REGIONAL_WORDS:
        assert is_regional(word), word
        assert "regional_word" in codes(word + "@123456789012345", ALONE), word


@pytest.mark.asvs("V6.2.11")
@pytest.mark.parametrize(
    "word",
    [
        "Pakistan",
        "Karachi",
        "Lahore",
        "Islamabad",
        "Punjab",
        "Sindh",
        "Balochistan",
        "Khyber Pakhtunkhwa",
        "Allah hu Akbar",
        "Bismillah",
        "Jeevay Pakistan",
        "کراچی",
        "لاہور",
        "اسلام آباد",
        "پنجاب",
        "سندھ",
        "زندہ باد",
    ],
)
def test_the_briefs_words_are_regional(word: str) -> None:
    assert is_regional(word)


@pytest.mark.asvs("V6.2.12")
@pytest.mark.parametrize(
    "password", ["Butterfly@123456", "Wonderful#2024!!", "Trustworthy@12345", "!!Sunshine2024!!"]
)
def test_one_word_with_symbols_and_digits_is_refused(password: str) -> None:
    problems = check_new_password(password, ALONE)
    assert [p.code for p in problems] == ["word_and_digits"]
    assert "Word@123456" in problems[0].message
    assert password not in problems[0].message


@pytest.mark.asvs("V6.2.5", "V6.2.11")
@pytest.mark.parametrize(
    "password",
    [
        "tea at lahore fort under monsoon clouds",  # a passphrase may mention a city
        "violet tundra lantern mosaic quill",
        "ایک لمبا اور آسان جملہ",
        "maple orbit gravel lantern 2024!",  # several words and digits: not the pattern
    ],
)
def test_passphrases_stay_accepted(password: str) -> None:
    assert codes(password) == []


# --- the strength meter's verdict is the set-password service's -------------------------------

VERDICT_PASSWORDS = [
    "",
    " ",
    "Pakistan@123456",
    "Karachi@12345678",
    "پاکستان زندہ باد",
    "Butterfly@123456",
    "Lahore@2024",
    "baseball123",
    "qwertyuiop",
    "password1234567890",
    "short",
    "tea at lahore fort under monsoon clouds",
    "violet tundra lantern mosaic quill",
    "zebra quartz nine",
    "ایک لمبا اور آسان جملہ",
    "amanat is my bank of trust",
    "x" * 129,
    "maple orbit\x00gravel lantern",
]


async def _service_refuses(
    database: Database, ring: MasterKeyring, settings: Settings, user_id: str, password: str
) -> list[str] | None:
    """The problem codes setting `password` answers (None when it is accepted); rolled back."""
    async with database.sessionmaker() as session:
        user = await session.get(User, user_id)
        assert user is not None
        try:
            await set_new_password(session, ring, settings, user, password)
        except InvalidInput as exc:
            return [str(p["code"]) for p in exc.extra["problems"]]
        finally:
            await session.rollback()
    return None


@pytest.mark.asvs("V6.2.4", "V6.2.11", "V6.2.12")
async def test_the_meter_gives_the_verdict_the_service_enforces(
    client: httpx.AsyncClient,
    database: Database,
    test_keyring: MasterKeyring,
    settings: Settings,
    account_a: str,
) -> None:
    # The users' own context words (username, name, email, account) appear in no password here.
    with_mfa = await make_user(
        database, test_keyring, settings, account_id=account_a, username="zu-one", mfa=True
    )
    without: Person = await make_user(
        database, test_keyring, settings, account_id=account_a, username="zu-two", mfa=False
    )
    for person, two_factor in ((with_mfa, True), (without, False)):
        for password in VERDICT_PASSWORDS:
            answer = await client.post(
                "/api/v1/password-strength",
                json={"password": password, "two_factor": two_factor},
            )
            assert answer.status_code == 200, (password, answer.text)
            verdict = answer.json()
            refused = await _service_refuses(
                database, test_keyring, settings, person.user_id, password
            )
            assert verdict["acceptable"] == (refused is None), (password, two_factor)
            assert [p["code"] for p in verdict["problems"]] == (refused or []), password
            if len(password.strip()) > 5:  # "short" is in "too short"
                assert all(password not in p["message"] for p in verdict["problems"])


@pytest.mark.asvs("V6.2.1")
async def test_an_empty_password_gets_a_verdict_not_a_server_error(
    client: httpx.AsyncClient,
) -> None:
    answer = await client.post("/api/v1/password-strength", json={"password": ""})
    assert answer.status_code == 200
    body = answer.json()
    assert body["score"] == 0
    assert body["acceptable"] is False
    assert [p["code"] for p in body["problems"]] == ["too_short"]


@pytest.mark.asvs("V6.2.9")
async def test_the_meter_never_answers_a_server_error(client: httpx.AsyncClient) -> None:
    candidates: list[str] = ["", " ", "\t\n", "\ud800", "\x00" * 3, "ا" * 1024, "x" * 1025]

    @settings(
        max_examples=120,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(
        text=st.one_of(
            st.text(max_size=40),
            st.text(alphabet=st.characters(codec="utf-8"), min_size=100, max_size=1100),
            st.text(alphabet=" \t\u00a0\u3000\u200b", max_size=20),
        )
    )
    def collect(text: str) -> None:
        candidates.append(text)

    collect()
    for text in candidates:
        # Sent as JSON escapes, so lone surrogates reach the server as typed.
        answer = await client.post(
            "/api/v1/password-strength",
            content=json.dumps({"password": text}),
            headers={"content-type": "application/json"},
        )
        assert answer.status_code < 500, (text[:20], answer.status_code, answer.text)
        if answer.status_code != 200:
            assert answer.headers["content-type"].startswith("application/problem+json")
            assert answer.json()["code"]


async def test_the_page_meter_shows_the_servers_verdict(
    client: httpx.AsyncClient, database: Database, member_a: Person
) -> None:
    script = await client.get("/static/password.js")
    assert script.status_code == 200
    # The page asks the endpoint and shows its verdict; it carries no rules of its own.
    assert "/api/v1/password-strength" in script.text
    assert "result.acceptable" in script.text
    assert "two_factor" in script.text
    await sign_in(client, member_a, database)
    page = await client.get("/account/password")
    assert "data-strength data-two-factor" in page.text  # member_a has TOTP: minimum 8
