from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from workflow.core.models.base import Base, UTCDateTime, utcnow


class Document(Base):
    """A rendered PDF, stored by its SHA-256. One per (application or call, kind, round):
    rendering again what was already rendered finds this row and does nothing. ``code``
    names it on the public verification page (the QR code printed on it)."""

    __tablename__ = "document"
    __table_args__ = (
        sa.UniqueConstraint("application_id", "kind", "round"),
        sa.UniqueConstraint("call_id", "kind", "round"),
        sa.CheckConstraint("(application_id IS NULL) <> (call_id IS NULL)", name="one_owner"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("application.id", ondelete="CASCADE"), index=True)
    call_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("call.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(30))
    title: Mapped[str] = mapped_column(sa.String(200), default="", server_default="")
    doc_number: Mapped[str | None] = mapped_column(sa.String(40))
    code: Mapped[str | None] = mapped_column(sa.String(32), unique=True)
    round: Mapped[int]
    sha256: Mapped[str] = mapped_column(sa.String(64))
    size: Mapped[int]
    pages: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
