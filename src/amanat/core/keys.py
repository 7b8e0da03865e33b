"""The master key ring at run time: where it comes from, and proof it is the right one.

The ring comes from `AMANAT_MASTER_KEY` or a 0600 key file in the data directory (created on
first start only). A canary per key version, stored in the database, lets start-up refuse a
missing or different key before anything is written under it.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from sqlalchemy import Integer, LargeBinary, String, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from amanat.core.clock import utcnow
from amanat.core.crypto import (
    KeyringError,
    MasterKeyring,
    check_key_canary,
    load_or_create_key_file,
    make_key_canary,
    parse_master_key_env,
)
from amanat.core.db import Base, UTCDateTime
from amanat.core.errors import ConfigurationError
from amanat.core.settings import Settings

KEY_FILE_NAME = "master.key"


class MasterKeyCanary(Base):
    """One row per master key version in use: a known value encrypted under that version."""

    __tablename__ = "master_key_canary"

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    fingerprint: Mapped[str] = mapped_column(String(32))
    canary: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


def key_file_path(settings: Settings) -> Path:
    return settings.data_dir / KEY_FILE_NAME


def load_master_keyring(settings: Settings, *, create: bool) -> MasterKeyring:
    """The configured ring; create the key file only when `create` (a database with no data)."""
    try:
        if settings.master_key is not None:
            return parse_master_key_env(settings.master_key.get_secret_value())
        return load_or_create_key_file(key_file_path(settings), create=create)
    except KeyringError as exc:
        raise ConfigurationError(str(exc), code=exc.code) from None


async def database_has_canaries(session: AsyncSession) -> bool:
    return (await session.execute(select(MasterKeyCanary.version).limit(1))).first() is not None


async def verify_master_keyring(
    session: AsyncSession, ring: MasterKeyring, *, record_new_versions: bool = True
) -> None:
    """Refuse a ring that cannot open what the database holds; record canaries for new versions."""
    stored = {row.version: row for row in (await session.scalars(select(MasterKeyCanary))).all()}
    for version, row in stored.items():
        if version not in ring.versions:
            raise ConfigurationError(
                f"the database holds data under master key version {version}, "
                "which is not in the configured key ring",
                code="key_missing",
            )
        if not check_key_canary(ring, version, row.canary):
            raise ConfigurationError(
                f"master key version {version} is not the key this database was written with",
                code="key_wrong",
            )
    if not record_new_versions:
        return
    for version in ring.versions:
        if version not in stored:
            session.add(
                MasterKeyCanary(
                    version=version,
                    fingerprint=ring.fingerprint(version),
                    canary=make_key_canary(ring, version),
                    created_at=utcnow(),
                )
            )
    await session.flush()
