"""docs/security.md keeps up with the tests.

Every OWASP ASVS id a test is marked with (`@pytest.mark.asvs(...)`, on a test, a class or a
module's `pytestmark`) must be in the document, in the table row of its id, and that row must name
exactly the test files that carry one of its ids. Every path the document names must exist. An id
the document lists as not yet covered must carry no mark, and no requirement in
`tests/security/not_applicable.md` may carry one either.

The marks are read with `ast`, not found by pattern in the text, so a comment or a string that
happens to look like a mark counts for nothing. Run as a module, this file prints each marked id
with its test files: `python -m tests.security.test_security_doc`.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TESTS = ROOT / "tests"
DOC = ROOT / "docs" / "security.md"
NOT_APPLICABLE = TESTS / "security" / "not_applicable.md"
UNCOVERED_HEADING = "## Not yet covered by a test"

# A requirement id as marks must give it: chapter, section, requirement (V6.2.1).
REQUIREMENT_ID = re.compile(r"V\d+\.\d+\.\d+")
# Any id in prose or tables: a chapter (V9), a section (V1.4) or a requirement (V6.2.10). The
# dotted groups are taken greedily, so V6.2.1 is never found inside V6.2.10.
ANY_ID = re.compile(r"\bV\d+(?:\.\d+)*")
# A table's first cell that holds ids only: "V6.2.1" or "V3.3.1, V3.3.2".
ID_CELL = re.compile(r"V\d+(?:\.\d+)*(?:\s*,\s*V\d+(?:\.\d+)*)*")
# Repository-relative paths the document names, such as tests/identity/test_signin.py.
NAMED_PATH = re.compile(r"(?<![\w./-])(?:tests|docs|src)/[\w./-]*\w\.(?:py|md|toml|json)\b")


@dataclass(frozen=True)
class Mark:
    requirement: str
    path: str  # relative to the repository root, with forward slashes
    line: int


@dataclass(frozen=True)
class Row:
    ids: frozenset[str]
    paths: frozenset[str]
    line: int


def _is_asvs_mark(func: ast.expr) -> bool:
    """`pytest.mark.asvs` or `mark.asvs` (after `from pytest import mark`)."""
    if not isinstance(func, ast.Attribute) or func.attr != "asvs":
        return False
    owner = func.value
    return (isinstance(owner, ast.Attribute) and owner.attr == "mark") or (
        isinstance(owner, ast.Name) and owner.id == "mark"
    )


def _test_sources() -> Iterator[Path]:
    for path in sorted(TESTS.rglob("*.py")):
        if "__pycache__" not in path.parts:
            yield path


@cache
def collect_marks() -> tuple[tuple[Mark, ...], tuple[str, ...]]:
    """Every id given to an `asvs` mark under tests/, and the problems found on the way (an
    argument that is not a string literal cannot be read, so it is reported, not skipped)."""
    marks: list[Mark] = []
    problems: list[str] = []
    for source in _test_sources():
        relative = source.relative_to(ROOT).as_posix()
        tree = ast.parse(source.read_text(encoding="utf-8"), filename=relative)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or not _is_asvs_mark(node.func):
                continue
            if node.keywords:
                problems.append(f"{relative}:{node.lineno}: asvs mark with keyword arguments")
            if not node.args:
                problems.append(f"{relative}:{node.lineno}: asvs mark without an id")
            for argument in node.args:
                if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
                    marks.append(Mark(argument.value, relative, node.lineno))
                else:
                    problems.append(
                        f"{relative}:{node.lineno}: asvs mark argument is not a string literal"
                    )
    return tuple(marks), tuple(problems)


def files_by_id() -> dict[str, set[str]]:
    found: dict[str, set[str]] = defaultdict(set)
    for mark in collect_marks()[0]:
        found[mark.requirement].add(mark.path)
    return dict(found)


def _id_key(requirement: str) -> tuple[int, ...]:
    return tuple(int(part) for part in requirement[1:].split("."))


def _doc_text() -> str:
    return DOC.read_text(encoding="utf-8")


def _covered_part(text: str) -> str:
    """The document before its list of requirements that no test covers yet."""
    return text.split(UNCOVERED_HEADING, 1)[0]


def _uncovered_part(text: str) -> str:
    parts = text.split(UNCOVERED_HEADING, 1)
    return parts[1] if len(parts) == 2 else ""


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def requirement_rows(text: str) -> list[Row]:
    """Table rows whose first cell holds only requirement ids (V6.2.1, or V3.3.1, V3.3.2)."""
    rows: list[Row] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.lstrip().startswith("|"):
            continue
        cells = _cells(line)
        if len(cells) < 2:
            continue
        if not ID_CELL.fullmatch(cells[0]):
            continue
        ids = ANY_ID.findall(cells[0])
        paths = frozenset(p for p in NAMED_PATH.findall(cells[-1]) if p.startswith("tests/"))
        rows.append(Row(frozenset(ids), paths, number))
    return rows


def not_applicable_ids() -> set[str]:
    text = NOT_APPLICABLE.read_text(encoding="utf-8")
    return {
        _cells(line)[0]
        for line in text.splitlines()
        if line.startswith("|") and ANY_ID.fullmatch(_cells(line)[0])
    }


def _within(requirement: str, scope: str) -> bool:
    """V1.4.2 is within V1.4 and within V1, and within V1.4.2 itself."""
    return requirement == scope or requirement.startswith(scope + ".")


def test_marks_are_readable_and_well_formed() -> None:
    marks, problems = collect_marks()
    assert marks, "no asvs mark found under tests/: the collector is broken"
    assert not problems, "\n".join(problems)
    malformed = sorted(
        f"{mark.path}:{mark.line}: {mark.requirement!r}"
        for mark in marks
        if not REQUIREMENT_ID.fullmatch(mark.requirement)
    )
    assert not malformed, "asvs marks take requirement ids such as V6.2.1:\n" + "\n".join(malformed)


def test_every_marked_id_is_in_the_document() -> None:
    documented = set(ANY_ID.findall(_covered_part(_doc_text())))
    missing = sorted(set(files_by_id()) - documented, key=_id_key)
    assert not missing, (
        f"{DOC.relative_to(ROOT)} does not list these marked ids (add a row to the chapter's "
        f"table; `python -m tests.security.test_security_doc` shows their files): {missing}"
    )


def test_every_path_named_in_the_document_exists() -> None:
    named = sorted(set(NAMED_PATH.findall(_doc_text())))
    assert named, "the document names no test file"
    absent = [path for path in named if not (ROOT / path).is_file()]
    assert not absent, f"{DOC.relative_to(ROOT)} names files that do not exist: {absent}"


def test_each_row_names_exactly_the_files_that_carry_its_ids() -> None:
    marked = files_by_id()
    rows = requirement_rows(_covered_part(_doc_text()))
    assert rows, "the document has no requirement table rows"
    wrong: list[str] = []
    for row in rows:
        carrying: set[str] = set()
        for requirement in row.ids:
            carrying |= marked.get(requirement, set())
        ids = ", ".join(sorted(row.ids, key=_id_key))
        if not carrying:
            wrong.append(f"line {row.line} ({ids}): no test carries these ids")
            continue
        for path in sorted(row.paths - carrying):
            wrong.append(f"line {row.line} ({ids}): {path} carries none of these ids")
        for path in sorted(carrying - row.paths):
            wrong.append(f"line {row.line} ({ids}): {path} carries one of them but is not named")
    assert not wrong, "\n".join(wrong)


def test_ids_listed_as_not_covered_carry_no_mark() -> None:
    # The rows' first cells; a note may mention the id of the test that checks it in passing.
    listed: set[str] = set()
    for row in requirement_rows(_uncovered_part(_doc_text())):
        listed |= row.ids
    covered = sorted(listed & set(files_by_id()), key=_id_key)
    assert not covered, (
        f"these ids are marked on tests now; move them out of '{UNCOVERED_HEADING}': {covered}"
    )


def test_not_applicable_requirements_carry_no_mark() -> None:
    scopes = not_applicable_ids()
    assert scopes, f"{NOT_APPLICABLE.relative_to(ROOT)} lists no requirement"
    clashes = sorted(
        f"{requirement} (not applicable: {scope})"
        for requirement in files_by_id()
        for scope in scopes
        if _within(requirement, scope)
    )
    assert not clashes, "marked on a test yet listed as not applicable:\n" + "\n".join(clashes)


if __name__ == "__main__":
    for requirement, paths in sorted(files_by_id().items(), key=lambda item: _id_key(item[0])):
        print(requirement, " ".join(sorted(paths)))
