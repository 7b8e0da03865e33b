"""A 405 names, in `Allow`, every method the path takes (RFC 9110 §15.5.6), not only the methods
of the first route the router tried: a path served by a GET route and a POST route allows both.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.web.surface import matched_routes

# What a client may try; a route's methods are drawn from these (HEAD where Starlette adds it).
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
# The method sent to a path: the first that none of its routes takes.
PROBES = ("PATCH", "PUT", "DELETE", "POST", "GET", "OPTIONS")


def _sample(template: str) -> str:
    return re.sub(r"\{[^}]+\}", "sample", template)


def _routed_paths(data_dir: Path) -> dict[str, set[str]]:
    """Each path template of the app (static files apart), with the methods its routes declare."""
    templates: dict[str, set[str]] = {}
    for prefix, route in matched_routes(data_dir):
        methods = getattr(route, "methods", None)
        if methods:
            templates.setdefault(prefix + getattr(route, "path", ""), set()).update(methods)
    return templates


def _taken(data_dir: Path, path: str) -> set[str]:
    """The methods the router sends to some route at `path`, found by asking each route whether
    it fully matches: a second template may match a sample too (`sessions/end-others` is also a
    `sessions/{session_id}`)."""
    routes = matched_routes(data_dir)
    taken: set[str] = set()
    for method in METHODS:
        for prefix, route in routes:
            if getattr(route, "methods", None) is None or not path.startswith(prefix):
                continue
            scope = {"type": "http", "path": path[len(prefix) :], "method": method}
            if route.matches(scope)[0].name == "FULL":
                taken.add(method)
                break
    if "GET" in taken:
        taken.add("HEAD")  # the front door answers HEAD as GET without the body
    return taken


@pytest.fixture
async def http(bare_app: Any) -> Any:
    transport = httpx.ASGITransport(app=bare_app, client=("127.0.0.1", 1))
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as client:
        yield client


async def test_every_path_allows_all_the_methods_of_its_routes(
    http: httpx.AsyncClient, tmp_path: Path
) -> None:
    templates = _routed_paths(tmp_path)
    assert len(templates) > 40
    several = 0
    for template, declared in sorted(templates.items()):
        path = _sample(template)
        taken = _taken(tmp_path, path)
        assert declared <= taken, template
        probe = next(method for method in PROBES if method not in taken)
        # JSON asked for: page paths answer problem+json too, instead of their HTML error page.
        response = await http.request(probe, path, headers={"accept": "application/json"})
        assert response.status_code == 405, (probe, template)
        assert response.headers["content-type"] == "application/problem+json", template
        assert response.json()["code"] == "method_not_allowed", template
        allow = {method.strip() for method in response.headers["allow"].split(",")}
        assert allow == taken, (probe, template)
        several += len(declared - {"HEAD"}) > 1
    # The case that went wrong: paths served by more than one route (GET and POST apart).
    assert several > 10


async def test_a_get_and_a_post_route_on_one_path_both_appear(http: httpx.AsyncClient) -> None:
    response = await http.put("/api/v1/users")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD, POST"


async def test_a_page_405_carries_allow_too(http: httpx.AsyncClient) -> None:
    response = await http.put("/signin", headers={"accept": "text/html"})
    assert response.status_code == 405
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["allow"] == "GET, HEAD, POST"


async def test_static_files_keep_their_own_allow(http: httpx.AsyncClient) -> None:
    response = await http.post("/static/amanat.css", headers={"accept": "application/json"})
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD"
    assert response.json()["code"] == "method_not_allowed"


async def test_head_answers_like_get_without_the_body(http: httpx.AsyncClient) -> None:
    for path in ("/healthz", "/privacy-policy", "/static/amanat.css"):
        got = await http.get(path)
        head = await http.head(path)
        assert head.status_code == got.status_code == 200, path
        assert head.content == b"", path
        assert head.headers["content-type"] == got.headers["content-type"], path
        assert head.headers["content-length"] == str(len(got.content)), path
    # A path with no GET answers HEAD as it answers GET: 405, naming what it takes.
    refused = await http.head("/api/v1/session/second-factor")
    assert refused.status_code == 405
    assert "HEAD" not in refused.headers["allow"]
