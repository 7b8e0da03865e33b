"""What clients and browsers see stays as it was unless a change means to alter it."""

from __future__ import annotations

import json
from pathlib import Path

from tests.web.surface import OPENAPI_SNAPSHOT, ROUTES_SNAPSHOT, dump, live_openapi, live_routes


def test_openapi_document_matches_the_snapshot_exactly(tmp_path: Path) -> None:
    expected = OPENAPI_SNAPSHOT.read_text(encoding="utf-8")
    assert dump(live_openapi(tmp_path)) == expected, (
        "the API changed: run `python -m tests.web.surface` if you meant it, and review the diff"
    )


def test_every_route_answers_where_and_as_it_did(tmp_path: Path) -> None:
    expected = json.loads(ROUTES_SNAPSHOT.read_text(encoding="utf-8"))
    assert live_routes(tmp_path) == expected
