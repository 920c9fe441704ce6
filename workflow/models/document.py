from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from workflow.models.base import Base, UTCDateTime, utcnow


class Document(Base):
    """A rendered PDF, stored by its SHA-256. One per (application, kind, round): rendering
    again what was already rendered finds this row and does nothing."""

    __tablename__ = "document"
    __table_args__ = (sa.UniqueConstraint("application_id", "kind", "round"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(
        sa.ForeignKey("application.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(30))
    round: Mapped[int]
    sha256: Mapped[str] = mapped_column(sa.String(64))
    size: Mapped[int]
    pages: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
