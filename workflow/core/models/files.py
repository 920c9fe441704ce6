from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from workflow.core.models.base import Base, UTCDateTime, utcnow


class Attachment(Base):
    """An uploaded file, stored once by its SHA-256 outside the web root, attached to an
    application (a form field or evidence) or to a call (its guide)."""

    __tablename__ = "attachment"
    __table_args__ = (
        sa.CheckConstraint("(application_id IS NULL) <> (call_id IS NULL)", name="one_owner"),
        sa.CheckConstraint("size > 0", name="size_positive"),
        sa.CheckConstraint("kind IN ('pdf', 'docx', 'xlsx', 'jpg', 'png')", name="kind_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("application.id", ondelete="CASCADE"), index=True)
    call_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("call.id", ondelete="CASCADE"), index=True)
    field: Mapped[str] = mapped_column(sa.String(40))
    sha256: Mapped[str] = mapped_column(sa.String(64), index=True)
    size: Mapped[int]
    kind: Mapped[str] = mapped_column(sa.String(8))
    mime: Mapped[str] = mapped_column(sa.String(100))
    filename: Mapped[str] = mapped_column(sa.String(200))
    uploaded_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
