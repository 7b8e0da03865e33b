"""The bulk import file: its format, and reading it into rows (the import itself:
`amanat.identity.bulk_import`).

The file is UTF-8 (a byte-order mark is allowed) with the header `username,full_name,email` and
optional columns: `role` (`member` when left out or empty; account roles only), `phone`, `cnic`
and the postal address `address_line1,address_line2,city,province,postal_code,country` (all
empty: no address).

Limits (ASVS V15.2.2: every row costs an invitation mail): at most `MAX_IMPORT_ROWS` (10,000)
rows and `MAX_IMPORT_BYTES` (5 MiB) per file. Over HTTP the request body limit
(`settings.max_body_bytes`, 1 MiB by default) applies first, so it is the effective limit there.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from amanat.access.roles import Role
from amanat.core.errors import AmanatError, InvalidInput

MAX_IMPORT_ROWS = 10_000
MAX_IMPORT_BYTES = 5 * 1024 * 1024

REQUIRED_COLUMNS = ("username", "full_name", "email")
# The file's address columns, by the part of a postal address each one gives.
ADDRESS_COLUMNS = {
    "address_line1": "line1",
    "address_line2": "line2",
    "city": "city",
    "province": "province",
    "postal_code": "postal_code",
    "country": "country",
}
OPTIONAL_COLUMNS = ("role", "phone", "cnic", *ADDRESS_COLUMNS)
COLUMNS = REQUIRED_COLUMNS + OPTIONAL_COLUMNS
DEFAULT_ROLE = Role.MEMBER

_HEADER_HINT = (
    "the first line must be the header: username,full_name,email and optionally "
    "role,phone,cnic,address_line1,address_line2,city,province,postal_code,country"
)
_SHOWN_COLUMN_MAX = 40


class FileTooLarge(AmanatError):
    code = "file_too_large"
    status = 413
    title = "File too large"


@dataclass(frozen=True)
class ImportRow(Mapping[str, str]):
    """One data row of an import file: its values by column, the file line it starts on, and
    how many fields it had when that differs from the header (`None` when it fits)."""

    line: int
    cells: Mapping[str, str]
    misfit_fields: int | None = None

    def __getitem__(self, key: str) -> str:
        return self.cells[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.cells)

    def __len__(self) -> int:
        return len(self.cells)


def decode_import_file(data: bytes) -> str:
    """Check the size, then decode once, strictly: UTF-8 with or without a byte-order mark."""
    if len(data) > MAX_IMPORT_BYTES:
        raise FileTooLarge(
            f"The file is larger than {MAX_IMPORT_BYTES // (1024 * 1024)} MiB; split it."
        )
    try:
        text = data.decode("utf-8-sig", errors="strict")
    except UnicodeDecodeError:
        raise InvalidInput(
            'The file is not UTF-8 text; save it as "CSV UTF-8" and try again.',
            code="not_utf8",
        ) from None
    if "\x00" in text:
        raise InvalidInput("The file is not a text CSV file.", code="not_utf8")
    return text


def parse_import_file(data: bytes) -> list[ImportRow]:
    """The rows of an import file, or InvalidInput refusing the whole file (encoding, header,
    CSV syntax, too many rows). Blank lines are skipped."""
    reader = csv.reader(io.StringIO(decode_import_file(data), newline=""), strict=True)
    try:
        header = next(reader, None)
        if header is None or not any(cell.strip() for cell in header):
            raise InvalidInput(f"The file is empty; {_HEADER_HINT}.", code="invalid_header")
        columns = _checked_header(header)
        rows: list[ImportRow] = []
        start = reader.line_num + 1
        for record in reader:
            line, start = start, reader.line_num + 1
            if not any(cell.strip() for cell in record):
                continue
            if len(rows) == MAX_IMPORT_ROWS:
                raise too_many_rows()
            values = dict(zip(columns, record, strict=False))
            # A short row may leave out the optional role; a long one split a value on a comma.
            fits = len(record) <= len(columns) and all(name in values for name in REQUIRED_COLUMNS)
            misfit = None if fits else len(record)
            rows.append(ImportRow(line=line, cells=values, misfit_fields=misfit))
    except csv.Error:
        # The csv module's message can quote the offending text: give the line only.
        raise InvalidInput(
            f"The file is not valid CSV near line {reader.line_num}.", code="invalid_csv"
        ) from None
    return rows


def _checked_header(header: list[str]) -> list[str]:
    columns = [cell.strip().lower() for cell in header]
    unknown = [name for name in columns if name not in COLUMNS]
    missing = [name for name in REQUIRED_COLUMNS if name not in columns]
    repeated = sorted({name for name in columns if name in COLUMNS and columns.count(name) > 1})
    if not unknown and not missing and not repeated:
        return columns
    if len(unknown) == len(columns):
        # Probably a data row where the header should be: its cells are not echoed (personal data).
        raise InvalidInput(
            f"The header names none of the columns; {_HEADER_HINT}.", code="invalid_header"
        )
    problems = []
    if missing:
        problems.append(f"missing column(s): {', '.join(missing)}")
    if unknown:
        problems.append(f"unknown column(s): {_shown_columns(unknown)}")
    if repeated:
        problems.append(f"repeated column(s): {', '.join(repeated)}")
    raise InvalidInput(
        f"The header is not right ({'; '.join(problems)}); {_HEADER_HINT}.",
        code="invalid_header",
    )


def _shown_columns(names: list[str]) -> str:
    shown = [name for name in names if is_plain_token(name, _SHOWN_COLUMN_MAX)]
    hidden = len(names) - len(shown)
    parts = [repr(name) for name in shown]
    if hidden:
        parts.append(f"{hidden} more not shown")
    return ", ".join(parts)


def is_plain_token(value: str, limit: int) -> bool:
    """Short, printable, one word and no `@`: safe to name in a message (no email, no name)."""
    return (
        0 < len(value) <= limit
        and value.isprintable()
        and not any(ch.isspace() for ch in value)
        and "@" not in value
    )


def too_many_rows() -> InvalidInput:
    return InvalidInput(
        f"The file has more than {MAX_IMPORT_ROWS:,} rows; split it.", code="too_many_rows"
    )
