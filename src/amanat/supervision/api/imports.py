"""POST /api/v1/users/import: an account admin invites users from a CSV upload.

Upload rules (ASVS V5.1.1, V5.2.1): one multipart field `file`, Content-Type `text/csv` or
`application/octet-stream`, UTF-8 (a byte-order mark is allowed), at most 10,000 rows and
5 MiB. The request body limit (`settings.max_body_bytes`, 1 MiB by default) is checked first
by the front door, so over HTTP it is the effective size limit. The file is never stored.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Query, UploadFile
from pydantic import BaseModel

from amanat.core.errors import AmanatError
from amanat.identity.api_tokens import ApiScope
from amanat.identity.bulk_import import import_users
from amanat.identity.import_file import MAX_IMPORT_BYTES, parse_import_file
from amanat.web.auth import Keyring, UserSupervisor, require_scope
from amanat.web.deps import CurrentSettings, DbSession

router = APIRouter(prefix="/api/v1", tags=["identity"])

ACCEPTED_TYPES = frozenset({"text/csv", "application/octet-stream"})
_UTF8_NAMES = frozenset({"utf-8", "utf8"})


class UnsupportedMediaType(AmanatError):
    code = "unsupported_media_type"
    status = 415
    title = "Unsupported media type"


class CreatedRowOut(BaseModel):
    line: int
    id: str
    username: str


class RejectedRowOut(BaseModel):
    line: int
    code: str
    message: str


class ImportReportOut(BaseModel):
    total: int
    created: list[CreatedRowOut]
    rejected: list[RejectedRowOut]
    atomic: bool
    committed: bool


def _check_media_type(content_type: str | None) -> None:
    media_type, _, parameters = (content_type or "").partition(";")
    charset = ""
    for parameter in parameters.split(";"):
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset":
            charset = value.strip().strip('"').lower()
    if media_type.strip().lower() not in ACCEPTED_TYPES or (charset and charset not in _UTF8_NAMES):
        raise UnsupportedMediaType(
            "Upload a CSV file (text/csv or application/octet-stream) in UTF-8."
        )


@router.post(
    "/users/import",
    response_model=ImportReportOut,
    summary="Invite users into my account from a CSV file (username,full_name,email; "
    "optionally role, phone, cnic and the address columns)",
    # An API token needs users:write, as for one invitation (POST /api/v1/users).
    dependencies=[require_scope(ApiScope.USERS_WRITE)],
)
async def import_users_from_file(
    file: Annotated[UploadFile, File(description="CSV, UTF-8, at most 10,000 rows")],
    auth: UserSupervisor,
    db: DbSession,
    ring: Keyring,
    settings: CurrentSettings,
    atomic: Annotated[
        bool, Query(description="Keep nothing unless every row is imported.")
    ] = False,
) -> ImportReportOut:
    _check_media_type(file.content_type)
    # One byte past the limit is enough for the parser to refuse the file before decoding it.
    data = await file.read(MAX_IMPORT_BYTES + 1)
    report = await import_users(
        db,
        ring,
        settings,
        auth.actor,
        account_id=auth.user.account_id,
        rows=parse_import_file(data),
        atomic=atomic,
        progress=None,
    )
    return ImportReportOut(
        total=report.total,
        created=[
            CreatedRowOut(line=row.line, id=row.user_id, username=row.username)
            for row in report.created
        ],
        rejected=[
            RejectedRowOut(line=row.line, code=row.code, message=row.message)
            for row in report.rejected
        ],
        atomic=report.atomic,
        committed=report.committed,
    )
