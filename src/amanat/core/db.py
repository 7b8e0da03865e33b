"""Database engine, sessions and the declarative base shared by every domain's models.

The engine is made in the app's lifespan (or by a CLI command), never at import time.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, MetaData, event, make_url, text
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DisconnectionError, OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

from amanat.core.clock import UTC
from amanat.core.keystore import KeystoreBase
from amanat.core.sqlite_inline import inline_connector

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

SQLITE_BUSY_TIMEOUT_MS = 5000
WRITE_INTENT_OPTION = "amanat_write_intent"
SQLITE_CACHE_KIB = 65536  # page cache per connection (negative cache_size means KiB)
SQLITE_MMAP_BYTES = 1 << 30  # reads through the OS page cache, no copy per page
# A pooled PostgreSQL connection idle this long is pinged before use (see _configure_postgres).
POSTGRES_PING_AFTER_IDLE_S = 30.0
_IDLE_SINCE = "amanat_idle_since"


# SQLITE_BUSY and SQLITE_BUSY_SNAPSHOT: a read transaction could not become a write transaction.
_SQLITE_LOCK_CODES = frozenset({5, 517})


class ReadConflict(Exception):
    """A request that began as a reader (a deferred transaction, beside any writer) had to
    write, and another connection wrote first: its snapshot cannot become a write transaction.
    Nothing of it was kept; the front door runs the request again once, as a writer."""


def is_write_conflict(error: BaseException) -> bool:
    """Whether `error` is SQLite refusing a reader's first write (locked, or a stale snapshot)."""
    if not isinstance(error, OperationalError):
        return False
    code = getattr(error.orig, "sqlite_errorcode", None)
    return code in _SQLITE_LOCK_CODES or "database is locked" in str(error.orig)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite stores no zone, so we add it back)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@dataclass
class Database:
    """The main engine, the key store's engine, and the session factory bound to both.

    A session from `sessionmaker` sends the key store's tables (`KeystoreBase`) to the key
    store and everything else to the main database, so services use one session for both.
    Committing it commits the two connections one after the other, with no two-phase commit
    (SQLite has none), in an order SQLAlchemy does not promise. If one commit fails after
    the other succeeded, the two databases disagree about one unit of work:

    - a person row committed without its key row is unreadable: it fails closed, never open;
    - a key row committed without its person row holds a key for no data: harmless;
    - an erasure whose key-row delete failed after the person rows were deleted leaves a key
      that still opens old backups of that person: erasure is idempotent, and whoever saw the
      commit fail must run it again (the erasure request stays open until it succeeds).
    """

    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    keystore_engine: AsyncEngine | None = None
    # On SQLite, sessions whose transactions begin deferred: a request that only reads runs
    # beside a writer instead of queueing for the one write lock (None: use `sessionmaker`).
    read_sessionmaker: async_sessionmaker[AsyncSession] | None = None

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    async def dispose(self) -> None:
        try:
            await self.engine.dispose()
        finally:
            if self.keystore_engine is not None:
                await self.keystore_engine.dispose()

    async def ping(self) -> bool:
        """True when a trivial query succeeds on the database and the key store: `/readyz`."""
        engines = [self.engine]
        if self.keystore_engine is not None:
            engines.append(self.keystore_engine)
        try:
            for engine in engines:
                async with engine.connect() as conn:
                    await conn.execute(text("SELECT 1"))
        except Exception:  # any driver error means "not ready"
            return False
        return True


def _configure_sqlite(engine: AsyncEngine, *, inline: bool) -> None:
    # pysqlite's own transaction handling breaks SAVEPOINT and emits BEGIN lazily; take it over
    # so SQLAlchemy controls transactions (the documented recipe for the sqlite3 driver).
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        if dbapi_connection.isolation_level is not None:  # inline connections start without
            dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        if not inline:  # inline connections wait asynchronously (see core/sqlite_inline)
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        # Blind indexes are random keys, so every insert and look-up lands on a random page of
        # each index: SQLite's default 2 MiB page cache thrashes long before a million people.
        cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
        cursor.execute(f"PRAGMA mmap_size={SQLITE_MMAP_BYTES}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        # A session's transaction may read and then write. Deferred, it would fail at once with
        # "database is locked" whenever another connection wrote meanwhile (WAL cannot move a
        # reader's snapshot forward), which concurrent sign-ins hit all the time; IMMEDIATE
        # takes the write lock first, waiting up to the busy timeout. Plain connections (health
        # checks, migrations) stay deferred and never wait behind a writer to read.
        immediate = conn.get_execution_options().get(WRITE_INTENT_OPTION, False)
        # Straight to the driver: one BEGIN per transaction needs no statement machinery.
        cursor = conn.connection.cursor()
        try:
            cursor.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
        finally:
            cursor.close()


def create_engine_for(url: str, *, echo: bool = False, **engine_options: Any) -> AsyncEngine:
    """The engine for an SQLite or PostgreSQL URL with the settings each one needs."""
    if url.startswith("sqlite"):
        path = make_url(url).database
        inline = bool(path) and path != ":memory:" and "async_creator" not in engine_options
        if inline:
            assert path is not None
            engine_options["async_creator"] = inline_connector(
                path, busy_timeout_s=SQLITE_BUSY_TIMEOUT_MS / 1000
            )
        engine = create_async_engine(url, echo=echo, **engine_options)
        _configure_sqlite(engine, inline=inline)
        return engine
    ping_after_idle_s = engine_options.pop("ping_after_idle_s", POSTGRES_PING_AFTER_IDLE_S)
    engine = create_async_engine(url, echo=echo, **engine_options)
    _configure_postgres(engine, ping_after_idle_s=ping_after_idle_s)
    return engine


def _configure_postgres(engine: AsyncEngine, *, ping_after_idle_s: float) -> None:
    """Hand out only live connections, without a ping per checkout.

    `pool_pre_ping` would cost three round trips on every checkout (asyncpg pings inside a
    BEGIN/ROLLBACK of its own): on a look-up of one person, which reads the database and the
    key store, that was twelve round trips where six do. Instead:

    - a connection the server closed (a restart, `pg_terminate_backend`, an idle timeout) is
      marked closed by asyncpg as soon as the event loop sees the socket close: checked for free;
    - one that sat idle in the pool for `ping_after_idle_s` is pinged, for what a closed socket
      does not show (a peer gone without a word).

    Either failure makes the pool drop the connection and hand out a fresh one.
    """

    @event.listens_for(engine.sync_engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        if dbapi_connection.driver_connection.is_closed():
            raise DisconnectionError("the server closed this pooled connection")
        idle_since = record.info.get(_IDLE_SINCE)
        if idle_since is None or time.monotonic() - idle_since < ping_after_idle_s:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as error:  # any failure to answer means "do not use"
            raise DisconnectionError("a pooled connection did not answer a ping") from error


def create_database(
    url: str, *, keystore_url: str | None = None, echo: bool = False, **engine_options: Any
) -> Database:
    """Engines for the database and (when given) the key store, and sessions over both.

    Without `keystore_url` the key store's tables are unreachable: fine for tools that never
    touch personal data, and a loud "no such table" for any that do.
    """
    engine = create_engine_for(url, echo=echo, **engine_options)
    keystore_engine = (
        None
        if keystore_url is None
        else create_engine_for(keystore_url, echo=echo, **engine_options)
    )
    return Database(
        engine=engine,
        sessionmaker=sessionmaker_for(engine, keystore=keystore_engine),
        keystore_engine=keystore_engine,
        read_sessionmaker=(
            sessionmaker_for(engine, keystore=keystore_engine, write_intent=False)
            if engine.dialect.name == "sqlite"
            else None
        ),
    )


def sessionmaker_for(
    bind: AsyncEngine | AsyncConnection,
    *,
    keystore: AsyncEngine | AsyncConnection | None = None,
    write_intent: bool = True,
    **options: Any,
) -> async_sessionmaker[AsyncSession]:
    """Sessions on `bind`, with the key store's tables on `keystore` when given.

    On SQLite, sessions over engines begin their transactions IMMEDIATE (see `_configure_sqlite`)
    unless `write_intent` is False: then deferred, for requests that only read.
    """
    if keystore is not None:
        binds = dict(options.pop("binds", None) or {})
        binds.setdefault(KeystoreBase, _with_write_intent(keystore, write_intent))
        options["binds"] = binds
    return async_sessionmaker(
        bind=_with_write_intent(bind, write_intent),
        expire_on_commit=False,
        autoflush=False,
        **options,
    )


def _with_write_intent(
    bind: AsyncEngine | AsyncConnection, intent: bool = True
) -> AsyncEngine | AsyncConnection:
    # A connection handed in (tests' outer transaction) has begun already; only engines vary.
    if isinstance(bind, AsyncEngine):
        return bind.execution_options(**{WRITE_INTENT_OPTION: intent})
    return bind


def keep_loaded(session: AsyncSession, *objects: object) -> None:
    """Keep loaded objects for the session's life. Its identity map holds them weakly: one that
    nobody references any more is dropped, and a later `session.get` of it queries again."""
    session.info.setdefault("amanat_kept", []).extend(objects)


async def end_read_before_slow_work(session: AsyncSession) -> None:
    """End a transaction that has only read, so slow work next (a password hash) holds no lock:
    on SQLite a session's transaction holds the database's one write lock. The next statement
    begins a new transaction; loaded objects stay loaded."""
    if session.new or session.dirty or session.deleted:
        raise RuntimeError("only a transaction that has written nothing may end early")
    await session.commit()


@asynccontextmanager
async def unit_of_work(database: Database) -> AsyncIterator[AsyncSession]:
    """A session that commits on success and rolls back on error (for CLI and jobs)."""
    async with database.sessionmaker() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise
