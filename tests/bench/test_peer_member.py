"""`python -m bench.peer_member` seeds what the side-by-side peer benchmark signs in with: a
member of a customer account whose members need no second factor."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import httpx

from tests.support.processes import amanat_env

REPOSITORY = Path(__file__).resolve().parents[2]


def _seed(data_dir: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bench.peer_member"],
        cwd=REPOSITORY,
        env=amanat_env(data_dir, AMANAT_ENVIRONMENT="production", **extra),
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
        check=False,
    )


async def _sign_in(data_dir: Path, login: str, password: str) -> httpx.Response:
    from amanat.core.settings import Settings
    from amanat.web.app import create_app

    app = create_app(Settings(environment="production", data_dir=data_dir, in_process_worker=False))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 4000))
        async with httpx.AsyncClient(transport=transport, base_url="https://bench") as client:
            signed = await client.post(
                "/api/v1/session", json={"login": login, "password": password}
            )
            if signed.status_code != 200:
                return signed
            return await client.get("/api/v1/me")


def test_the_seeded_member_signs_in_with_a_password_alone(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    seeded = _seed(data_dir, PEERS_AMANAT_USERNAME="peer-one", PEERS_PASSWORD="quiet amber gulls")
    assert seeded.returncode == 0, seeded.stderr
    me = asyncio.run(_sign_in(data_dir, "peer-one", "quiet amber gulls"))
    assert me.status_code == 200, me.text
    assert me.json()["username"] == "peer-one"


def test_a_directory_in_use_is_refused_in_one_line(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "something").write_text("x")
    refused = _seed(data_dir)
    assert refused.returncode == 2
    assert refused.stderr.count("\n") == 1
    assert "not empty" in refused.stderr
    missing = subprocess.run(
        [sys.executable, "-m", "bench.peer_member"],
        cwd=REPOSITORY,
        env=amanat_env(tmp_path, AMANAT_DATA_DIR=""),
        capture_output=True,
        text=True,
        check=False,
    )
    assert missing.returncode == 2
    assert "AMANAT_DATA_DIR" in missing.stderr
