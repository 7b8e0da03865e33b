"""Request-scoped dependencies shared by every domain's routes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from amanat.core.errors import AmanatError
from amanat.core.settings import Settings
from amanat.web.state import AppState


def app_state(request: Request) -> AppState:
    state: AppState = request.app.state.amanat
    return state


async def db_session(request: Request) -> AsyncIterator[AsyncSession]:
    """The one owner of a request's session: commit on success, roll back on any error."""
    database = app_state(request).require_database()
    async with database.sessionmaker() as session:
        try:
            yield session
            await session.commit()
        except AmanatError as exc:
            await (session.commit() if exc.keep_changes else session.rollback())
            raise
        except BaseException:
            await session.rollback()
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
