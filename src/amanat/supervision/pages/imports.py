"""The admin's bulk invitation page: upload a CSV file (the format of
`amanat.identity.import_file`), try it (dry run) or import it, and read the per-row report.

A dry run imports inside a savepoint and rolls it back (nothing is kept, nobody is mailed), so
its report is rendered straight from the POST: reloading it repeats nothing. A real import
answers with a redirect (POST/redirect/GET): its summary travels as the flash message and its
per-row report is kept in this process, for one signed-in person and a few minutes, under a
random key (`/admin/imports/{key}`); the file itself is never stored. With several server
processes the report page may answer "no longer available"; the summary still says what
happened and the audit log keeps the counts.
"""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from starlette.responses import Response

from amanat.core.errors import AmanatError, InvalidInput, NotFound
from amanat.identity.bulk_import import ImportReport, import_users
from amanat.identity.import_file import MAX_IMPORT_BYTES, MAX_IMPORT_ROWS, parse_import_file
from amanat.web.auth import Keyring, UserSupervisor
from amanat.web.deps import CurrentSettings, DbSession
from amanat.web.flash import redirect_with
from amanat.web.templating import render

router = APIRouter(include_in_schema=False)

# Browsers label a .csv file variously (Excel on Windows says vnd.ms-excel); the parser decides.
ACCEPTED_TYPES = frozenset(
    {"", "text/csv", "application/csv", "text/plain", "application/vnd.ms-excel"}
    | {"application/octet-stream"}
)
REPORT_SECONDS = 600
REPORTS_KEPT = 16

# Outcomes in words, by the import's stable codes; any other code reads as its own words.
OUTCOME_WORDS = {
    "username_taken": "Username already taken",
    "duplicate_in_file": "Repeated in the file",
    "wrong_field_count": "Wrong number of fields",
    "invalid_role": "Role not allowed",
    "role_not_allowed": "Role not allowed",
    "conflict": "Conflicts with a user created meanwhile",
    "identity_field_required": "A required field is missing",
}
# The file column a refusal is about, when its code says so.
CODE_FIELDS = {
    "username_taken": "username",
    "invalid_username": "username",
    "invalid_email": "email",
    "invalid_full_name": "full_name",
    "invalid_role": "role",
    "role_not_allowed": "role",
    "invalid_phone": "phone",
    "invalid_cnic": "cnic",
}


@dataclass(frozen=True)
class ReportRow:
    line: int
    outcome: str
    refused: bool
    field: str
    message: str


@dataclass(frozen=True)
class ReportView:
    """A report as the page shows it: words only, usernames and messages (no personal data)."""

    dry_run: bool
    total: int
    created: int
    refused: int
    committed: bool
    rows: list[ReportRow]

    @property
    def summary(self) -> str:
        if self.dry_run:
            return (
                f"Dry run: {self.created} of {self.total} rows would be invited; "
                f"{self.refused} refused. Nothing was kept and nobody was mailed."
            )
        if not self.committed:
            return f"Nothing imported: {self.refused} of {self.total} rows refused (all or none)."
        return (
            f"Imported {self.created} user{'' if self.created == 1 else 's'}; "
            f"{self.refused} row{'' if self.refused == 1 else 's'} refused"
        )


def _words(code: str) -> str:
    return OUTCOME_WORDS.get(code) or code.replace("_", " ").capitalize()


def _field(code: str, message: str) -> str:
    if code in CODE_FIELDS:
        return CODE_FIELDS[code]
    # The import leads a person field's message with its column ("cnic: ...").
    head, separator, _rest = message.partition(": ")
    return head if separator and head.isidentifier() and head.islower() else ""


def view_of(report: ImportReport, *, dry_run: bool) -> ReportView:
    rows = [
        ReportRow(row.line, "Would be invited" if dry_run else "Invited", False, "", row.username)
        for row in report.created
    ]
    rows += [
        ReportRow(row.line, _words(row.code), True, _field(row.code, row.message), row.message)
        for row in report.rejected
    ]
    return ReportView(
        dry_run=dry_run,
        total=report.total,
        created=len(report.created),
        refused=len(report.rejected),
        committed=report.committed and not dry_run,
        rows=sorted(rows, key=lambda row: row.line),
    )


# key -> (who may read it, when it was kept, the report): this process's short memory.
_reports: OrderedDict[str, tuple[str, float, ReportView]] = OrderedDict()


def keep_report(user_id: str, view: ReportView) -> str:
    now = time.monotonic()
    for key in [key for key, (_who, at, _view) in _reports.items() if now - at > REPORT_SECONDS]:
        del _reports[key]
    while len(_reports) >= REPORTS_KEPT:
        _reports.popitem(last=False)
    key = secrets.token_urlsafe(16)
    _reports[key] = (user_id, now, view)
    return key


def kept_report(user_id: str, key: str) -> ReportView:
    kept = _reports.get(key)
    if kept is None or kept[0] != user_id or time.monotonic() - kept[1] > REPORT_SECONDS:
        raise NotFound(
            "This import report is no longer available; the users list shows who was invited.",
            code="import_report_not_found",
        )
    return kept[2]


def _page(
    request: Request,
    auth: UserSupervisor,
    *,
    report: ReportView | None = None,
    error: str | None = None,
    dry_run: bool = True,
    status: int = 200,
) -> Response:
    context: dict[str, Any] = {
        "auth": auth,
        "report": report,
        "file_error": error,
        "dry_run": dry_run,
        "max_rows": MAX_IMPORT_ROWS,
        "max_mib": MAX_IMPORT_BYTES // (1024 * 1024),
    }
    return render(request, "supervision/import.html", context, status_code=status)


@router.get("/admin/imports")
async def import_page(request: Request, auth: UserSupervisor) -> Response:
    return _page(request, auth)


@router.post("/admin/imports")
async def import_submit(
    request: Request,
    auth: UserSupervisor,
    db: DbSession,
    ring: Keyring,
    settings: CurrentSettings,
    file: Annotated[UploadFile | None, File()] = None,
    mode: Annotated[str, Form(max_length=16)] = "dry-run",
) -> Response:
    dry_run = mode != "import"
    try:
        if file is None or not file.filename:
            raise InvalidInput("Choose a CSV file to upload.", code="file_required", field="file")
        media_type = (file.content_type or "").partition(";")[0].strip().lower()
        if media_type not in ACCEPTED_TYPES:
            raise InvalidInput("Upload a CSV file in UTF-8.", code="unsupported_media_type")
        # One byte past the limit is enough for the parser to refuse the file before decoding.
        rows = parse_import_file(await file.read(MAX_IMPORT_BYTES + 1))
        trial = await db.begin_nested() if dry_run else None
        try:
            report = await import_users(
                db,
                ring,
                settings,
                auth.actor,
                account_id=auth.user.account_id,
                rows=rows,
                atomic=False,
            )
        finally:
            if trial is not None:
                await trial.rollback()  # a dry run keeps nothing and mails nobody
    except AmanatError as exc:
        if exc.status >= 500 or exc.status in (401, 403):
            raise
        return _page(request, auth, error=exc.message, dry_run=dry_run, status=exc.status)
    view = view_of(report, dry_run=dry_run)
    if dry_run:
        return _page(request, auth, report=view, dry_run=True)
    key = keep_report(auth.user.id, view)
    return redirect_with(f"/admin/imports/{key}", view.summary)


@router.get("/admin/imports/{token}")
async def import_result(request: Request, token: str, auth: UserSupervisor) -> Response:
    # `token`: the random key of a report kept for this signed-in person only.
    return _page(request, auth, report=kept_report(auth.user.id, token[:64]), dry_run=False)
