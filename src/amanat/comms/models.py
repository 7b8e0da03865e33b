"""The outbox: mail waiting to be delivered by the worker, encrypted at rest."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Enum, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from amanat.core.db import Base, UTCDateTime


class OutboxMessage(Base):
    __tablename__ = "outbox_message"
    __table_args__ = (Index("ix_outbox_message_due", "status", "next_attempt_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    account_id: Mapped[str | None] = mapped_column(String(36), index=True)
    category: Mapped[str] = mapped_column(String(32))
    # Recipient, subject and body are AES-256-GCM under the outbox key, bound to this row.
    recipient: Mapped[bytes] = mapped_column(LargeBinary)
    subject: Mapped[bytes] = mapped_column(LargeBinary)
    body: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(
        Enum(
            "pending",
            "sent",
            "failed",
            name="outbox_status",
            native_enum=False,
            create_constraint=True,
            length=16,
        )
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(String(64))
