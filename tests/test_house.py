"""The house rules that can be counted: rooms a person can read in one sitting.

No module above 400 lines, and no top-level package above 35 % of the lines under
`src/amanat/`, so no room becomes everyone's door again. (Which room may import which is
checked by import-linter, configured in pyproject.toml.)
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import amanat

SOURCE = Path(amanat.__file__).parent
MODULE_MAX_LINES = 400
ROOM_MAX_SHARE = 0.35


def _lines(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines())


def _modules() -> list[Path]:
    return sorted(SOURCE.rglob("*.py"))


def test_the_source_tree_is_where_the_rules_look() -> None:
    # Guards the two tests below against passing on an empty or misplaced tree.
    assert (SOURCE / "identity").is_dir()
    assert len(_modules()) > 50


def test_no_module_is_longer_than_400_lines() -> None:
    too_long = {
        str(path.relative_to(SOURCE)): _lines(path)
        for path in _modules()
        if _lines(path) > MODULE_MAX_LINES
    }
    assert too_long == {}, f"split these by topic: {too_long}"


def test_no_room_holds_more_than_35_percent_of_the_code() -> None:
    per_room: Counter[str] = Counter()
    for path in _modules():
        relative = path.relative_to(SOURCE)
        room = relative.parts[0] if len(relative.parts) > 1 else relative.name
        per_room[room] += _lines(path)
    total = sum(per_room.values())
    shares = {room: round(lines / total, 3) for room, lines in per_room.items()}
    crowded = {room: share for room, share in shares.items() if share > ROOM_MAX_SHARE}
    assert crowded == {}, f"these rooms hold too much of the code: {crowded}"
