"""Schemathesis over every operation of the OpenAPI document, anonymous, as a signed-in account
admin (session cookie and CSRF header) and with a bearer API token holding every scope: no 5xx,
and no status, media type or body the document does not declare.

Schemathesis generates the requests (valid and invalid ones) and checks the answers; each
generated request is sent three times, once per identity. The requests go to the app through
httpx's ASGI transport in the test's own event loop, because the app's database (the rolled-back
transaction of the `database` fixture) lives in that loop; Hypothesis runs in a worker thread and
hands each request over to the loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy.ext.asyncio import AsyncSession

from amanat.access.actors import Actor
from amanat.core.db import Database
from amanat.core.settings import Settings
from amanat.identity.api_tokens import ApiScope, create_api_token, resolve_api_token
from amanat.identity.models import User
from amanat.identity.sessions import resolve_session, start_session
from amanat.web.auth import CSRF_HEADER, SESSION_COOKIE, csrf_token_for
from tests.support.identity import Person

T = TypeVar("T")
Operation = schemathesis.APIOperation[Any, Any, Any, Any]
Send = Callable[[dict[str, Any]], Coroutine[Any, Any, httpx.Response]]

BASE_URL = "https://testserver"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
# Generated requests per operation (each sent three times): enough for the whole document to take
# about a minute on a two-core machine; derandomized, so a failure comes back on every run.
MAX_EXAMPLES = 12


@pytest.fixture
def backend(migrated_databases: dict[str, Database]) -> str:
    # SQLite only: the fuzzer checks the HTTP contract, which no database backend changes (the
    # services are tested on both), and running it twice would double the suite's longest test.
    if "sqlite" not in migrated_databases:
        pytest.skip("the schema fuzz runs on SQLite, not in this run's backends")
    return "sqlite"


class Runner(Protocol):
    """Runs a coroutine in the test's event loop from the Hypothesis thread."""

    def __call__(self, coroutine: Coroutine[Any, Any, T], /) -> T: ...


@dataclass
class Identity:
    """Credentials kept while they live and made anew once dead, so an example that signs out,
    ends sessions or revokes a token takes nothing away from the examples after it."""

    database: Database
    settings: Settings
    person: Person | None
    kind: str  # "anonymous", "session" or "token"
    secret: str = ""  # the session cookie or the bearer token
    suspect: bool = False  # refused once: a generated cookie or header may have shadowed it
    known: dict[str, str] = field(default_factory=dict)

    async def _alive(self, session: AsyncSession) -> bool:
        if self.kind == "session":
            return await resolve_session(session, self.settings, self.secret) is not None
        return await resolve_api_token(session, self.secret) is not None

    async def credentials(self) -> tuple[dict[str, str], dict[str, str]]:
        """(headers, cookies) to send."""
        if self.person is None:
            return {}, {}
        async with self.database.sessionmaker() as session:
            if self.secret and self.suspect and not await self._alive(session):
                self.secret = ""
            self.suspect = False
            if not self.secret:
                if self.kind == "session":
                    user = await session.get(User, self.person.user_id)
                    assert user is not None
                    self.secret, _row = await start_session(
                        session, self.settings, user=user, stage="active"
                    )
                else:
                    row, self.secret = await create_api_token(
                        session,
                        _actor(self.person),
                        name="schema fuzz",
                        scopes=[scope.value for scope in ApiScope],
                    )
                    self.known["token_id"] = row.id
                await session.commit()
        if self.kind == "session":
            return {CSRF_HEADER: csrf_token_for(self.secret)}, {SESSION_COOKIE: self.secret}
        return {"authorization": f"Bearer {self.secret}"}, {}


def _actor(person: Person) -> Actor:
    return Actor(
        user_id=person.user_id, account_id=person.account_id, role=person.role, via="session"
    )


# What the document's security schemes name; schemathesis fills them with made-up values.
CREDENTIAL_HEADERS = frozenset({"authorization", CSRF_HEADER})


def _request(case: Case[Any], headers: dict[str, str], cookies: dict[str, str]) -> dict[str, Any]:
    """The request schemathesis means, prepared to its bytes (requests' serializers build every
    media type the document names). A signed-in identity's request carries its credentials and
    no made-up ones (a made-up session cookie would shadow the bearer token); the anonymous one
    keeps what was generated, refused credentials being part of what it tries."""
    kwargs = case.as_transport_kwargs(base_url=BASE_URL)
    generated_headers: dict[str, Any] = kwargs.get("headers") or {}
    generated_cookies: dict[str, Any] = kwargs.get("cookies") or {}
    if headers or cookies:
        generated_headers = {
            name: value
            for name, value in generated_headers.items()
            if name.lower() not in CREDENTIAL_HEADERS
        }
        generated_cookies = {
            name: value for name, value in generated_cookies.items() if name != SESSION_COOKIE
        }
    kwargs["headers"] = {**generated_headers, **headers}
    kwargs["cookies"] = {**generated_cookies, **cookies}
    prepared = requests.Request(
        **{key: value for key, value in kwargs.items() if key != "timeout"}
    ).prepare()
    body = prepared.body.encode() if isinstance(prepared.body, str) else prepared.body
    return {
        "method": prepared.method,
        "url": prepared.url,
        "headers": dict(prepared.headers),
        "content": body,
    }


def _strategies(operation: Operation, known: dict[str, str]) -> st.SearchStrategy[Case[Any]]:
    """Positive and negative cases, and positive ones aimed at ids that exist (the account's
    member, the account, the caller's token) so that more than "not found" is reached."""
    names = {parameter.name for parameter in operation.path_parameters}
    options = [
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
    ]
    aimed = {name: value for name, value in known.items() if name in names}
    if aimed:
        options.append(operation.as_strategy(GenerationMode.POSITIVE, path_parameters=aimed))
    return st.one_of(options)


def _fuzz_operation(
    operation: Operation,
    identities: list[Identity],
    known: dict[str, str],
    run: Runner,
    send: Send,
    failures: dict[str, str],
) -> int:
    """One operation: each generated request sent once per identity (generating costs about as
    much as answering: once serves all three). Every example runs, so one failure does not hide
    the next; the first failure per identity is kept. Returns the number of requests sent."""
    sent = 0

    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=_strategies(operation, known))
    def example(case: Case[Any]) -> None:
        nonlocal sent
        for identity in identities:
            headers, cookies = run(identity.credentials())
            response = run(send(_request(case, headers, cookies)))
            sent += 1
            if response.status_code == 401:
                identity.suspect = True
            try:
                case.validate_response(response, checks=CHECKS)
            except FailureGroup as group:
                failures.setdefault(f"{identity.kind}: {operation.label}", str(group))

    example()
    return sent


def _fuzz(
    schema: schemathesis.BaseSchema, identities: list[Identity], run: Runner, send: Send
) -> tuple[int, dict[str, str]]:
    """Every operation in turn; returns the number of requests and the failures by identity and
    operation."""
    failures: dict[str, str] = {}
    sent = 0
    known = {key: value for identity in identities for key, value in identity.known.items()}
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result
        sent += _fuzz_operation(result.ok(), identities, known, run, send, failures)
    return sent, failures


async def test_every_operation_answers_only_what_the_document_declares(
    app: Any,
    database: Database,
    settings: Settings,
    admin_a: Person,
    member_a: Person,
) -> None:
    schema = schemathesis.openapi.from_dict(app.openapi())
    identities = [
        Identity(database, settings, None, "anonymous"),
        Identity(database, settings, admin_a, "session"),
        Identity(database, settings, admin_a, "token"),
    ]
    # Ids that exist, so that examples reach more than "not found": the admin's member and
    # account (and, once made, the token's own id).
    identities[0].known.update({"user_id": member_a.user_id, "account_id": admin_a.account_id})
    await identities[2].credentials()
    loop = asyncio.get_running_loop()

    def run(coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, loop).result()

    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as http:

        async def send(request: dict[str, Any]) -> httpx.Response:
            # Only the credentials given go along: no cookie an earlier answer set.
            http.cookies.clear()
            return await http.request(**request)

        sent, failures = await asyncio.to_thread(_fuzz, schema, identities, run, send)
    assert sent > 3 * 40 * MAX_EXAMPLES
    assert not failures, "\n\n".join(f"== {label}\n{text}" for label, text in failures.items())
