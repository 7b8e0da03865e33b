"""The HTTP stack every route shares: headers, errors, limits, request ids, metrics."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from fastapi import Request
from pydantic import BaseModel, ConfigDict, SecretStr

from amanat.core.settings import Settings
from amanat.web.app import create_app

pytestmark = pytest.mark.asvs("V3.4.1", "V3.4.3", "V3.4.4", "V3.4.5", "V16.5.1")


class Echo(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    count: int


def _with_test_routes(app: Any) -> Any:
    @app.post("/api/v1/echo")
    async def echo(body: Echo) -> dict[str, Any]:
        return body.model_dump()

    @app.get("/api/v1/boom")
    async def boom() -> None:
        raise RuntimeError("secret-internal-detail")

    @app.get("/boom-page")
    async def boom_page() -> None:
        raise RuntimeError("secret-internal-detail")

    return app


@pytest.fixture
async def http(bare_app: Any) -> Any:
    transport = httpx.ASGITransport(app=_with_test_routes(bare_app), client=("127.0.0.1", 1))
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as client:
        yield client


async def test_healthz_answers_with_hsts_and_csp(http: httpx.AsyncClient) -> None:
    response = await http.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    hsts = response.headers["strict-transport-security"]
    assert "includeSubDomains" in hsts
    assert int(hsts.split("max-age=")[1].split(";")[0]) >= 31536000
    csp = response.headers["content-security-policy"]
    for directive in (
        "default-src 'self'",
        "frame-ancestors 'none'",
        "object-src 'none'",
        "base-uri 'none'",
    ):
        assert directive in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["cache-control"] == "no-store"


async def test_each_response_gets_its_own_csp_nonce_and_request_id(http: httpx.AsyncClient) -> None:
    first, second = await http.get("/healthz"), await http.get("/healthz")
    assert first.headers["x-request-id"] != second.headers["x-request-id"]
    assert first.headers["content-security-policy"] != second.headers["content-security-policy"]


@pytest.mark.asvs("V4.1.1")
async def test_unknown_api_route_is_a_problem_document(http: httpx.AsyncClient) -> None:
    response = await http.get("/api/v1/no-such-thing")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == "not_found"
    assert body["status"] == 404
    assert body["request_id"] == response.headers["x-request-id"]
    assert "strict-transport-security" in response.headers


async def test_unknown_page_is_an_html_page_with_headers(http: httpx.AsyncClient) -> None:
    response = await http.get("/no-such-page", headers={"accept": "text/html"})
    assert response.status_code == 404
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert "There is nothing at this address." in response.text
    assert "content-security-policy" in response.headers


async def test_wrong_method_is_405_with_a_code(http: httpx.AsyncClient) -> None:
    response = await http.delete("/healthz")
    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"


async def test_malformed_json_is_400_with_a_code(http: httpx.AsyncClient) -> None:
    response = await http.post(
        "/api/v1/echo",
        content=b'{"name": "x", "count":',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json()["code"] == "malformed_json"


@pytest.mark.asvs("V15.3.3")
async def test_invalid_fields_are_named_but_values_not_echoed(http: httpx.AsyncClient) -> None:
    response = await http.post(
        "/api/v1/echo", json={"name": "Zainab Qureshi", "count": "many", "extra": "x"}
    )
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "invalid_input"
    fields = {error["field"] for error in body["errors"]}
    assert fields == {"body.count", "body.extra"}
    assert "many" not in response.text
    assert "Zainab" not in response.text


async def test_valid_json_passes_through(http: httpx.AsyncClient) -> None:
    response = await http.post("/api/v1/echo", json={"name": "a", "count": 2})
    assert response.status_code == 200
    assert response.json() == {"name": "a", "count": 2}


async def test_declared_oversized_body_is_413(http: httpx.AsyncClient) -> None:
    body = json.dumps({"name": "x" * (1024 * 1024 + 10), "count": 1})
    response = await http.post(
        "/api/v1/echo", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"


async def test_streamed_oversized_body_is_413(http: httpx.AsyncClient) -> None:
    async def chunks() -> Any:
        for _ in range(20):
            yield b"x" * (64 * 1024)

    response = await http.post(
        "/api/v1/echo", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413


@pytest.mark.asvs("V16.5.1", "V13.4.2")
async def test_unhandled_error_is_a_generic_500_with_reference(
    http: httpx.AsyncClient, capsys: pytest.CaptureFixture[str]
) -> None:
    response = await http.get("/api/v1/boom")
    assert response.status_code == 500
    body = response.json()
    assert body["code"] == "internal_error"
    assert body["request_id"] == response.headers["x-request-id"]
    assert "secret-internal-detail" not in response.text
    assert "Traceback" not in response.text
    assert "strict-transport-security" in response.headers


async def test_unhandled_error_on_a_page_is_an_html_500(http: httpx.AsyncClient) -> None:
    response = await http.get("/boom-page")
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("text/html")
    assert "secret-internal-detail" not in response.text
    assert response.headers["x-request-id"] in response.text


async def test_readyz_without_database_is_503(http: httpx.AsyncClient) -> None:
    response = await http.get("/readyz")
    assert response.status_code == 503


async def test_readyz_with_database_is_ready(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["database"] == "ok"


async def test_metrics_for_loopback_count_requests(http: httpx.AsyncClient) -> None:
    await http.get("/healthz")
    response = await http.get("/metrics")
    assert response.status_code == 200
    assert 'amanat_http_requests_total{method="GET",route="/healthz",status="200"}' in response.text


async def test_metrics_refused_to_other_addresses(bare_app: Any) -> None:
    transport = httpx.ASGITransport(app=bare_app, client=("203.0.113.9", 1))
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as remote:
        response = await remote.get("/metrics")
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"


async def test_metrics_token_admits_a_remote_scraper(tmp_path: Any) -> None:
    settings = Settings(data_dir=tmp_path, metrics_token=SecretStr("t" * 32))
    transport = httpx.ASGITransport(app=create_app(settings), client=("203.0.113.9", 1))
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as remote:
        wrong = await remote.get("/metrics", headers={"authorization": "Bearer nope"})
        right = await remote.get("/metrics", headers={"authorization": f"Bearer {'t' * 32}"})
    assert wrong.status_code == 403
    assert right.status_code == 200


@pytest.mark.asvs("V4.1.3", "V15.3.4")
async def test_forwarded_for_from_an_untrusted_peer_is_ignored(tmp_path: Any) -> None:
    settings = Settings(data_dir=tmp_path, behind_proxy=True, trusted_proxies=["10.0.0.5"])
    app = create_app(settings)

    @app.get("/api/v1/whoami")
    async def whoami(request: Request) -> dict[str, str]:
        return {"ip": str(request.scope["state"]["client_address"])}

    for peer, expected in (("203.0.113.9", "203.0.113.9"), ("10.0.0.5", "198.51.100.7")):
        transport = httpx.ASGITransport(app=app, client=(peer, 1))
        async with httpx.AsyncClient(transport=transport, base_url="https://t") as c:
            response = await c.get("/api/v1/whoami", headers={"x-forwarded-for": "198.51.100.7"})
        assert response.json() == {"ip": expected}


async def test_api_docs_list_operations_without_third_party_scripts(
    http: httpx.AsyncClient,
) -> None:
    response = await http.get("/api/docs")
    assert response.status_code == 200
    assert "/api/v1/echo" in response.text
    assert '<script src="http' not in response.text
    spec = await http.get("/api/openapi.json")
    assert spec.status_code == 200


@pytest.mark.asvs("V13.4.5")
async def test_api_docs_are_off_in_production(tmp_path: Any) -> None:
    app = create_app(Settings(data_dir=tmp_path, environment="production"))
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 1))
    async with httpx.AsyncClient(transport=transport, base_url="https://t") as c:
        assert (await c.get("/api/docs")).status_code == 404
        assert (await c.get("/api/openapi.json")).status_code == 404
