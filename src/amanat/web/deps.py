"""Request-scoped dependencies shared by every domain's routes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from amanat.core.db import ReadConflict, is_write_conflict
from amanat.core.errors import AmanatError
from amanat.core.settings import Settings
from amanat.web.state import AppState

# Set by the front door when it runs a request again after a `ReadConflict`.
AS_WRITER = "amanat_as_writer"
READING_METHODS = frozenset({"GET", "HEAD"})


def app_state(request: Request) -> AppState:
    state: AppState = request.app.state.amanat
    return state


async def db_session(request: Request) -> AsyncIterator[AsyncSession]:
    """The one owner of a request's session: commit on success, roll back on any error.

    A GET begins as a reader (on SQLite a deferred transaction, beside any writer: most GETs
    write nothing, and the rest only now and then, like a session's once-a-minute touch). If
    such a request must write after another connection did, SQLite refuses, and the request
    is run again once as a writer (`ReadConflict`, caught by the front door).
    """
    database = app_state(request).require_database()
    reading = (
        database.read_sessionmaker is not None
        and request.method in READING_METHODS
        and not request.scope.get("state", {}).get(AS_WRITER, False)
    )
    maker = database.read_sessionmaker if reading else database.sessionmaker
    assert maker is not None
    async with maker() as session:
        try:
            try:
                yield session
                await session.commit()
            except AmanatError as exc:
                await (session.commit() if exc.keep_changes else session.rollback())
                raise
            except BaseException:
                await session.rollback()
                raise
        except Exception as exc:
            if reading and is_write_conflict(exc):
                raise ReadConflict from exc
            raise


def client_address(request: Request) -> str | None:
    """The caller's address as the front door worked it out (trusted proxies considered)."""
    address = request.scope.get("state", {}).get("client_address")
    return str(address) if address is not None else None


async def settings_of(request: Request) -> Settings:
    # Dependencies are async even when they never await: FastAPI runs a plain `def` dependency
    # in a worker thread, a thread hop per request.
    return app_state(request).settings


# Scope "function": the commit finishes before the response leaves, so a client that follows a
# redirect sees what it just wrote, and a failed commit is an error answer, never a silent loss.
DbSession = Annotated[AsyncSession, Depends(db_session, scope="function")]
CurrentSettings = Annotated[Settings, Depends(settings_of)]
