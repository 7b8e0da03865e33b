"""The application's outward surface: the OpenAPI document and the table of HTML routes.

Moving code between rooms must not change what a client or a browser sees. The test in
`test_surface.py` compares the live surface with the snapshots beside this file; after a
deliberate change of the API or the pages, write them again with
`python -m tests.web.surface` and review the diff.
"""

from __future__ import annotations

import json
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

from fastapi.routing import APIRoute
from starlette.routing import BaseRoute, Match, Mount

from amanat.core.settings import Settings
from amanat.web.app import create_app

SNAPSHOTS = Path(__file__).parent / "snapshots"
OPENAPI_SNAPSHOT = SNAPSHOTS / "openapi.json"
ROUTES_SNAPSHOT = SNAPSHOTS / "routes.json"


def _app(data_dir: Path) -> Any:
    return create_app(Settings(data_dir=data_dir, environment="development"))


def live_openapi(data_dir: Path) -> dict[str, Any]:
    document: dict[str, Any] = _app(data_dir).openapi()
    return document


def _flat(routes: list[BaseRoute], prefix: str = "") -> list[tuple[str, BaseRoute]]:
    """Routes in the order they are matched, with the prefix their routers were included under."""
    flat: list[tuple[str, BaseRoute]] = []
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:
            context_prefix = getattr(getattr(route, "include_context", None), "prefix", "")
            flat.extend(_flat(included.routes, prefix + context_prefix))
        else:
            flat.append((prefix, route))
    return flat


def matched_routes(data_dir: Path) -> list[tuple[str, BaseRoute]]:
    return _flat(list(_app(data_dir).routes))


def _answering(routes: list[tuple[str, BaseRoute]], path: str, method: str) -> str:
    """The name of the first route that takes `method path`: the one that answers it."""
    for prefix, route in routes:
        if prefix and not path.startswith(prefix):
            continue
        scope = {"type": "http", "path": path[len(prefix) :], "method": method, "root_path": ""}
        match, _ = route.matches(scope)
        if match == Match.FULL:
            return getattr(route, "name", "") or type(route).__name__
    return ""


def _sample(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "sample", path)


def live_routes(data_dir: Path) -> list[dict[str, Any]]:
    """Every route: method set, path, name, response class, and which route actually answers a
    request to it (order matters where paths overlap); sorted by path and method."""
    table: list[dict[str, Any]] = []
    routes = matched_routes(data_dir)
    for prefix, route in routes:
        if isinstance(route, APIRoute):
            table.append(
                {
                    "path": prefix + route.path,
                    "methods": sorted(route.methods),
                    "name": route.name,
                    "in_schema": route.include_in_schema,
                    "response_class": route.response_class.__name__
                    if isinstance(route.response_class, type)
                    else type(route.response_class).__name__,
                    "status_code": route.status_code,
                    "answered_by": [
                        _answering(routes, _sample(prefix + route.path), method)
                        for method in sorted(route.methods)
                    ],
                }
            )
        elif isinstance(route, Mount):
            table.append({"path": prefix + route.path, "mount": route.name})
        else:
            path = prefix + getattr(route, "path", "")
            table.append({"path": path, "other": type(route).__name__})
    return sorted(table, key=lambda row: (row["path"], row.get("methods", [])))


def dump(value: object) -> str:
    # Keys sorted: the order routers are included in is not something a client can see.
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_snapshots() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        OPENAPI_SNAPSHOT.write_text(dump(live_openapi(Path(scratch))), encoding="utf-8")
        ROUTES_SNAPSHOT.write_text(dump(live_routes(Path(scratch))), encoding="utf-8")


if __name__ == "__main__":
    write_snapshots()
    sys.stdout.write(f"wrote {OPENAPI_SNAPSHOT} and {ROUTES_SNAPSHOT}\n")
