"""The OpenAPI document declares what the API really answers: every error as problem+json,
and how each operation is authenticated, so generated clients and fuzzers can trust it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.web.surface import live_openapi

ERRORS = ("400", "413", "415", "422", "429", "500")


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return live_openapi(tmp_path_factory.mktemp("openapi"))


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
    ]


def test_every_error_answer_is_declared_as_problem_json(document: dict[str, Any]) -> None:
    assert len(operations(document)) > 40
    for path, method, operation in operations(document):
        responses = operation["responses"]
        for status in ERRORS:
            assert status in responses, f"{method} {path} does not declare {status}"
        for status, response in responses.items():
            if status.startswith(("4", "5")):
                assert list(response["content"]) == ["application/problem+json"], (method, path)
    assert "HTTPValidationError" not in document["components"]["schemas"]
    assert "Problem" in document["components"]["schemas"]


def test_signed_in_operations_name_their_schemes(document: dict[str, Any]) -> None:
    schemes = document["components"]["securitySchemes"]
    assert schemes["sessionCookie"]["in"] == "cookie"
    assert schemes["csrfToken"]["in"] == "header"
    assert schemes["bearerToken"]["scheme"] == "bearer"
    by_operation = {(path, method): op for path, method, op in operations(document)}
    me = by_operation[("/api/v1/me", "get")]
    assert {"sessionCookie": []} in me["security"]
    assert {"bearerToken": []} in me["security"]
    assert "401" in me["responses"]
    change = by_operation[("/api/v1/me/password", "post")]
    assert change["security"] == [{"sessionCookie": [], "csrfToken": []}]
    signin = by_operation[("/api/v1/session", "post")]
    assert signin["security"] == [{}]
    # Anonymous, yet a wrong password answers 401 `signin_failed`: declared, as it is sent.
    assert "401" in signin["responses"]


async def test_what_the_document_promises_is_what_the_api_answers(
    client: httpx.AsyncClient, document: dict[str, Any]
) -> None:
    # Without a session, a signed-in operation answers a declared 401 in problem+json.
    response = await client.get("/api/v1/me")
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
    declared = document["paths"]["/api/v1/me"]["get"]["responses"]
    assert str(response.status_code) in declared
    # An invalid body answers a declared 422 of the declared media type.
    response = await client.post("/api/v1/session", json={"login": ""})
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "422" in document["paths"]["/api/v1/session"]["post"]["responses"]


def test_the_document_is_served_once_built(tmp_path: Path) -> None:
    first = live_openapi(tmp_path)
    assert live_openapi(tmp_path) == first
