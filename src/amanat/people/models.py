"""Personal data (policy §1): every value encrypted under the person's own data key.

Lookups go through keyed blind indexes; the database holds no plaintext name, email, phone,
CNIC or address. The wrapped data key lives in `person_key`; deleting that row erases the
person from every copy of the data (crypto-shredding).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from amanat.core.db import Base, UTCDateTime


class Person(Base):
    __tablename__ = "person"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("customer_account.id"), index=True)
    full_name: Mapped[bytes] = mapped_column(LargeBinary)
    email: Mapped[bytes] = mapped_column(LargeBinary)
    phone: Mapped[bytes | None] = mapped_column(LargeBinary)
    cnic: Mapped[bytes | None] = mapped_column(LargeBinary)
    address: Mapped[bytes | None] = mapped_column(LargeBinary)
    # Blind indexes: equal values give equal digests under the index key, nothing more.
    email_index: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    phone_index: Mapped[bytes | None] = mapped_column(LargeBinary(32), index=True)
    cnic_index: Mapped[bytes | None] = mapped_column(LargeBinary(32), unique=True)
    index_key_version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class PersonKey(Base):
    """The person's data key, wrapped by a master key version. Erasure deletes this row."""

    __tablename__ = "person_key"

    person_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    master_version: Mapped[int] = mapped_column(Integer)
    wrapped: Mapped[bytes] = mapped_column(LargeBinary)


class PersonNameWord(Base):
    """One blind index per whole word of the name, for admin search by any word."""

    __tablename__ = "person_name_word"
    __table_args__ = (Index("ix_person_name_word_lookup", "account_id", "digest"),)

    person_id: Mapped[str] = mapped_column(
        ForeignKey("person.id", ondelete="CASCADE"), primary_key=True
    )
    digest: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    account_id: Mapped[str] = mapped_column(String(36))
