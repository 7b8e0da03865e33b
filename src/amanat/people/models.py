"""Personal data (policy §1): every value encrypted under the person's own data key.

Lookups go through keyed blind indexes; the database holds no plaintext name, email, phone,
CNIC or address. The wrapped data key lives in `person_key`, a table of the separate key store
(`amanat.core.keystore`); deleting that row erases the person from every copy of the data,
backups included (crypto-shredding).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, LargeBinary, String, false, text
from sqlalchemy.orm import Mapped, mapped_column

from amanat.core.db import Base, UTCDateTime
from amanat.core.keystore import PersonKey

__all__ = ["IdentityClaim", "Person", "PersonKey", "PersonNameWord"]


def _unique_unless_held(column: str, held: str) -> Index:
    """Uniqueness of a blind index among the values people hold for good: a value held as a
    claim (another customer account's person has it) may repeat (`IdentityClaim`)."""
    where = text(f"NOT {held}")
    return Index(
        f"uq_person_{column}", column, unique=True, sqlite_where=where, postgresql_where=where
    )


class Person(Base):
    __tablename__ = "person"
    __table_args__ = (
        _unique_unless_held("email_index", "email_held"),
        _unique_unless_held("cnic_index", "cnic_held"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("customer_account.id"), index=True)
    full_name: Mapped[bytes] = mapped_column(LargeBinary)
    email: Mapped[bytes] = mapped_column(LargeBinary)
    phone: Mapped[bytes | None] = mapped_column(LargeBinary)
    cnic: Mapped[bytes | None] = mapped_column(LargeBinary)
    address: Mapped[bytes | None] = mapped_column(LargeBinary)
    # Blind indexes: equal values give equal digests under the index key, nothing more.
    # Indexed twice: every row (a door finds its own account's claims too) and, unique, the
    # values held for good.
    email_index: Mapped[bytes] = mapped_column(LargeBinary(32), index=True)
    phone_index: Mapped[bytes | None] = mapped_column(LargeBinary(32), index=True)
    cnic_index: Mapped[bytes | None] = mapped_column(LargeBinary(32), index=True)
    # A held value: an admin entered an email or CNIC a person of another customer account
    # holds. It is stored and shown as usual, but it is nobody's for look-ups and uniqueness.
    email_held: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    cnic_held: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    index_key_version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class PersonNameWord(Base):
    """One blind index per whole word of the name, for admin search by any word."""

    __tablename__ = "person_name_word"
    __table_args__ = (Index("ix_person_name_word_lookup", "account_id", "digest"),)

    person_id: Mapped[str] = mapped_column(
        ForeignKey("person.id", ondelete="CASCADE"), primary_key=True
    )
    digest: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    account_id: Mapped[str] = mapped_column(String(36))


class PersonalDataAccess(Base):
    """One reveal of one field of a person: who, in which role, for which policy §2 purpose,
    and why (the reason, sealed under the person's own data key: it may name them), and when.

    The person reads these rows ("who looked at my data"); an actor's rows of the last hour
    bound how many reveals they may make (ASVS V2.4.1). The audit record names the row's id.
    """

    __tablename__ = "personal_data_access"
    __table_args__ = (
        Index("ix_personal_data_access_actor_at", "actor_id", "at"),
        Index("ix_personal_data_access_person_at", "person_id", "at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("customer_account.id"))
    person_id: Mapped[str] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"))
    actor_id: Mapped[str] = mapped_column(String(36))
    actor_role: Mapped[str] = mapped_column(String(32))
    field: Mapped[str] = mapped_column(String(16))
    purpose: Mapped[str] = mapped_column(String(32))
    reason: Mapped[bytes] = mapped_column(LargeBinary)
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class PendingContactChange(Base):
    """A new email address (or phone number) a person asked for, waiting for proof that they
    control it: a one-time link token and a 6-digit code, both stored only as digests.

    The new value is sealed under the person's data key. `closed_at` is set when the change is
    confirmed, replaced by a newer request, or out of code attempts; a row is usable only
    while open and before `expires_at`.
    """

    __tablename__ = "pending_contact_change"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("customer_account.id"))
    person_id: Mapped[str] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), index=True)
    field: Mapped[str] = mapped_column(String(16))
    new_value: Mapped[bytes] = mapped_column(LargeBinary)
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    code_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    code_key_version: Mapped[int] = mapped_column(Integer)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class IdentityClaim(Base):
    """An email, CNIC or username an admin entered that a person or user of another customer
    account holds. The admin's door answered as for a free value; this row (and the audit log)
    lets the provider resolve it out of band. Ids and a field name only, never the value.
    """

    __tablename__ = "identity_claim"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    # The account whose admin entered the value, and the one whose person or user holds it.
    account_id: Mapped[str] = mapped_column(ForeignKey("customer_account.id"), index=True)
    holder_account_id: Mapped[str] = mapped_column(String(36))
    field: Mapped[str] = mapped_column(String(16))
    person_id: Mapped[str | None] = mapped_column(
        ForeignKey("person.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[str | None] = mapped_column(String(36), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
