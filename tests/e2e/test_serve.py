"""`amanat serve` as a newcomer runs it: HTTPS with a development certificate on loopback."""

from __future__ import annotations

import os
import ssl
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.support.processes import amanat_env, run_amanat
from tests.support.server import running_server

pytestmark = pytest.mark.e2e


@pytest.mark.asvs("V12.1.1", "V12.2.1", "V3.4.1")
def test_serve_brings_up_https_with_security_headers(tmp_path: Path) -> None:
    env = amanat_env(tmp_path / "amanat-data")
    with running_server(tmp_path, env) as server:
        with httpx.Client(verify=ssl.create_default_context(cafile=str(server.cert))) as http:
            response = http.get(f"{server.url}/healthz")
            head = http.head(f"{server.url}/signin")
            page = http.get(f"{server.url}/signin")  # the same connection, still in step
            ready = http.get(f"{server.url}/readyz")
        first_cert = server.cert.read_bytes()
    assert response.status_code == 200
    # HEAD is GET without the body, through uvicorn too (RFC 9110 §9.3.2).
    assert (head.status_code, head.content) == (200, b"")
    assert head.headers["content-type"] == page.headers["content-type"]
    assert int(head.headers["content-length"]) > 0
    assert page.status_code == 200
    assert "<form" in page.text
    assert "Content-Length" not in "\n".join(server.output)  # no "shorter than" error
    assert "max-age=" in response.headers["strict-transport-security"]
    assert "default-src 'self'" in response.headers["content-security-policy"]
    assert ready.json() == {"status": "ready", "database": "ok"}
    printed = "\n".join(server.output)
    assert f"https://127.0.0.1:{server.port}/" in printed
    assert str((tmp_path / "amanat-data").resolve()) in printed
    # The JSON log has one line per request and no traceback.
    assert any('"event": "request"' in line and '"/healthz"' in line for line in server.output)

    with running_server(tmp_path, env) as again:
        assert again.cert.read_bytes() == first_cert  # the development certificate is reused


@pytest.mark.asvs("V12.1.1")
def test_serve_refuses_tls_below_1_2(tmp_path: Path) -> None:
    env = amanat_env(tmp_path / "amanat-data")
    with running_server(tmp_path, env) as server:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        context.minimum_version = ssl.TLSVersion.TLSv1
        context.maximum_version = ssl.TLSVersion.TLSv1_1
        with (
            pytest.raises((httpx.ConnectError, ssl.SSLError)),
            httpx.Client(verify=context) as http,
        ):
            http.get(f"{server.url}/healthz")


def test_serve_refuses_a_postgres_schema_that_is_behind(tmp_path: Path) -> None:
    admin_url = os.environ.get("AMANAT_TEST_POSTGRES_URL")
    if admin_url is None:
        pytest.skip("PostgreSQL backend not selected (AMANAT_TEST_BACKENDS)")
    import asyncio

    name = f"amanat_behind_{os.getpid()}"

    async def create() -> None:
        engine = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
        async with engine.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
        await engine.dispose()

    asyncio.run(create())
    url = admin_url.rsplit("/", 1)[0] + f"/{name}"
    env = amanat_env(tmp_path / "data", AMANAT_DATABASE_URL=url)
    result = run_amanat(["serve", "--port", "1"], cwd=tmp_path, env=env)
    assert result.returncode == 2
    assert "run: amanat db upgrade" in result.stderr
    upgraded = run_amanat(["db", "upgrade"], cwd=tmp_path, env=env)
    assert upgraded.returncode == 0, upgraded.stderr
    check = run_amanat(["check"], cwd=tmp_path, env=env)
    assert check.returncode == 0, check.stdout
