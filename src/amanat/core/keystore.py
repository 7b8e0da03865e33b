"""The key store: each person's wrapped data key, kept in a database apart from the data.

Embedded, it is its own SQLite file (`keys.db` in the data directory); in production its own
PostgreSQL database. `amanat backup` copies the data and never this, so erasing a person
(deleting their row here) also erases them from every backup of the data: crypto-shredding.

The key store has its own declarative base and metadata, so its tables are migrated by their
own chain (`migrations/keystore/`) and the session routes them to the key store's engine.
"""

from __future__ import annotations

from sqlalchemy import Integer, LargeBinary, MetaData, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# The same names as the main database's convention; a separate dict because this module must
# not import `core.db` (which imports this module to route the key store's tables).
KEYSTORE_NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class KeystoreBase(DeclarativeBase):
    """Base of the key store's tables; a session bound with `binds` sends them to its engine."""

    metadata = MetaData(naming_convention=KEYSTORE_NAMING_CONVENTION)


class PersonKey(KeystoreBase):
    """The person's data key, wrapped by a master key version. Erasure deletes this row.

    No foreign key to `person`: the two rows live in different databases.
    """

    __tablename__ = "person_key"

    person_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    master_version: Mapped[int] = mapped_column(Integer)
    wrapped: Mapped[bytes] = mapped_column(LargeBinary)
