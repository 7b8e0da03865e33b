"""The connection SQLAlchemy's aiosqlite dialect drives for the embedded database: `sqlite3`
called in the event loop's own thread, with every wait done asynchronously.

aiosqlite gives each connection a thread and makes each call (cursor, execute, fetch, close) a
round trip to it: four per statement, each costing more than the statement itself against a
local file. So statements run inline here. What must never happen inline is a *wait*: SQLite's
busy timeout would block the whole loop while another connection holds the write lock, and a
holder in this process could never finish meanwhile. So connections run with busy timeout 0
and wait here instead:

- writers in this process queue on one asyncio lock per database file (first come, first served,
  woken at once when the writer before them ends its transaction);
- a lock held by another process (a CLI command, a worker) answers SQLITE_BUSY, and the call is
  retried after a short asyncio sleep until `busy_timeout_s` has passed, as SQLite would.

The objects mirror the parts of aiosqlite's interface that SQLAlchemy uses.
"""

from __future__ import annotations

import asyncio
import sqlite3
import weakref
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, TypeVar

T = TypeVar("T")

SQLITE_BUSY = 5  # the primary code alone: BUSY_SNAPSHOT (517) and friends cannot be waited out
RETRY_FIRST_DELAY_S = 0.001
RETRY_MAX_DELAY_S = 0.05
# Statements that never take the write lock by themselves. A PRAGMA that must have it (a change
# of journal mode) answers SQLITE_BUSY and is retried; one that merely sets a connection's own
# option must not queue behind a writer.
_READING_KEYWORDS = frozenset(
    {"SELECT", "PRAGMA", "EXPLAIN", "BEGIN", "COMMIT", "END", "ROLLBACK", "RELEASE", "SAVEPOINT"}
)

_gates: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Lock]] = (
    weakref.WeakKeyDictionary()
)


def _writer_gate(path: str) -> asyncio.Lock:
    """The one lock this loop's writers to `path` queue on (a lock belongs to one loop)."""
    per_loop = _gates.setdefault(asyncio.get_running_loop(), {})
    return per_loop.setdefault(path, asyncio.Lock())


def _takes_write_lock(sql: str) -> bool:
    words = sql.lstrip().split(None, 2)
    if not words:
        return False
    keyword = words[0].upper()
    if keyword == "BEGIN":
        return len(words) > 1 and words[1].upper() in ("IMMEDIATE", "EXCLUSIVE")
    return keyword not in _READING_KEYWORDS


def _locked_error(message: str) -> sqlite3.OperationalError:
    error = sqlite3.OperationalError(message)
    error.sqlite_errorcode = SQLITE_BUSY
    error.sqlite_errorname = "SQLITE_BUSY"
    return error


class InlineConnection:
    """One `sqlite3` connection in autocommit mode (SQLAlchemy issues BEGIN itself)."""

    def __init__(self, connection: sqlite3.Connection, path: str, busy_timeout_s: float) -> None:
        self._conn = connection
        self._path = path
        self._busy_timeout_s = busy_timeout_s
        self._holds_gate: asyncio.Lock | None = None
        self._gate_loop: asyncio.AbstractEventLoop | None = None
        self._closed = False

    # aiosqlite's surface ------------------------------------------------------------------

    @property
    def _connection(self) -> sqlite3.Connection | None:
        # SQLAlchemy's adapter reads aiosqlite's attribute to skip commit and rollback once closed.
        return None if self._closed else self._conn

    @property
    def isolation_level(self) -> str | None:
        return self._conn.isolation_level

    @property
    def in_transaction(self) -> bool:
        return self._conn.in_transaction

    def cursor(self) -> InlineCursor:
        return InlineCursor(self)

    async def commit(self) -> None:
        await self._call(self._conn.commit)

    async def rollback(self) -> None:
        await self._call(self._conn.rollback)

    async def close(self) -> None:
        self.stop()

    def stop(self) -> None:
        self._closed = True
        try:
            self._conn.close()
        finally:
            self._release_gate()

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        self._conn.create_function(*args, **kwargs)

    # waiting without blocking the loop ---------------------------------------------------

    async def _call(self, function: Callable[..., T], *args: Any, sql: str = "") -> T:
        if sql and self._holds_gate is None and _takes_write_lock(sql):
            await self._enter_gate()
        try:
            return await self._retrying_busy(function, *args)
        finally:
            if self._holds_gate is not None and not self._conn.in_transaction:
                self._release_gate()

    async def _retrying_busy(self, function: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._busy_timeout_s
        delay = RETRY_FIRST_DELAY_S
        while True:
            try:
                return function(*args)
            except sqlite3.OperationalError as error:
                busy = getattr(error, "sqlite_errorcode", None) == SQLITE_BUSY
                if not busy or loop.time() + delay > deadline:
                    raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX_DELAY_S)

    async def _enter_gate(self) -> None:
        gate = _writer_gate(self._path)
        try:
            async with asyncio.timeout(self._busy_timeout_s):
                await gate.acquire()
        except TimeoutError:
            raise _locked_error("database is locked") from None
        self._holds_gate = gate
        self._gate_loop = asyncio.get_running_loop()

    def _release_gate(self) -> None:
        gate, self._holds_gate = self._holds_gate, None
        owner, self._gate_loop = self._gate_loop, None
        if gate is None or owner is None:
            return
        try:
            here = asyncio.get_running_loop()
        except RuntimeError:
            here = None
        if here is owner:
            gate.release()
        elif not owner.is_closed():
            # Closed from elsewhere (a pool finalizer's thread): an asyncio lock is released
            # only on its own loop.
            owner.call_soon_threadsafe(gate.release)


class InlineCursor:
    """A `sqlite3` cursor with aiosqlite's awaitable methods."""

    def __init__(self, connection: InlineConnection) -> None:
        self._connection = connection
        self._cursor = connection._conn.cursor()

    async def __aenter__(self) -> InlineCursor:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value

    async def execute(self, sql: str, parameters: Any = ()) -> InlineCursor:
        await self._connection._call(self._cursor.execute, sql, parameters, sql=sql)
        return self

    async def executemany(self, sql: str, parameters: Iterable[Any]) -> InlineCursor:
        await self._connection._call(self._cursor.executemany, sql, parameters, sql=sql)
        return self

    async def fetchone(self) -> Any:
        return await self._connection._call(self._cursor.fetchone)

    async def fetchmany(self, size: int | None = None) -> Sequence[Any]:
        count = self._cursor.arraysize if size is None else size
        return await self._connection._call(self._cursor.fetchmany, count)

    async def fetchall(self) -> Sequence[Any]:
        return await self._connection._call(self._cursor.fetchall)

    async def close(self) -> None:
        self._cursor.close()

    def __aiter__(self) -> InlineCursor:
        return self

    async def __anext__(self) -> Any:
        row = await self.fetchone()
        if row is None:
            raise StopAsyncIteration
        return row


def inline_connector(
    path: str, *, busy_timeout_s: float
) -> Callable[[], Awaitable[InlineConnection]]:
    """`async_creator` for `create_async_engine`: a new inline connection to the file `path`."""

    async def connect() -> InlineConnection:
        # check_same_thread off: the pool may close a connection from a finalizer's thread.
        connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        connection.execute("PRAGMA busy_timeout=0")
        return InlineConnection(connection, path, busy_timeout_s)

    return connect
