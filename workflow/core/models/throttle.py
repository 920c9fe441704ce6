"""Requests counted by a per-address limit that has no record of its own."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from workflow.core.models.base import Base, UTCDateTime, utcnow


class ThrottleHit(Base):
    """One counted request (a document verification) from an address. Logins and
    objections are counted on their own records (``login_attempt``, ``objection``); rows
    here older than their limit's window are deleted as new ones come."""

    __tablename__ = "throttle_hit"
    __table_args__ = (
        sa.Index("ix_throttle_hit_bucket_address_at", "bucket", "address", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    bucket: Mapped[str] = mapped_column(sa.String(16))
    address: Mapped[str] = mapped_column(sa.String(45))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
