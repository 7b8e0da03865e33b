"""Personal data leaving as CSV: RFC 4180 text whose cells a spreadsheet never runs as formulas.

A cell that starts with `=`, `+`, `-`, `@`, a tab, a carriage return or NUL is prefixed with a
single quote (ASVS V1.2.10; OWASP "CSV injection"), so a spreadsheet shows it as text. That
includes masked phone numbers (`'+92 3** ****567`): the rule is about the first character, not
about whether the cell looks harmful. Quoting of commas, quotes and line breaks is the `csv`
module's (RFC 4180 §2.6–2.7), with CRLF line ends.

What goes into the cells is the caller's business; callers put masked values only.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\0")


def spreadsheet_safe(cell: str) -> str:
    """The cell as text a spreadsheet will not evaluate."""
    return f"'{cell}" if cell.startswith(_FORMULA_STARTS) else cell


def csv_document(header: Sequence[str], rows: Iterable[Sequence[str | None]]) -> str:
    """A header line and one line per row; None is an empty cell."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow([spreadsheet_safe(cell) for cell in header])
    for row in rows:
        writer.writerow(["" if cell is None else spreadsheet_safe(cell) for cell in row])
    return buffer.getvalue()
