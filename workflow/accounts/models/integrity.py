from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from workflow.core.models.base import Base, TimestampMixin


class Sanction(TimestampMixin, Base):
    """科研失信记录: a person (by 身份证号) or an organisation (by 统一社会信用代码) that may
    not apply, or be drawn as an expert, from ``starts_on`` until ``ends_on``."""

    __tablename__ = "sanction"
    __table_args__ = (
        sa.CheckConstraint("subject IN ('person', 'org')", name="subject_known"),
        sa.CheckConstraint("ends_on >= starts_on", name="ends_after_start"),
        sa.CheckConstraint(
            "(subject = 'person' AND id_number IS NOT NULL AND uscc IS NULL) OR "
            "(subject = 'org' AND uscc IS NOT NULL AND id_number IS NULL)",
            name="subject_identified"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    subject: Mapped[str] = mapped_column(sa.String(8))
    name: Mapped[str] = mapped_column(sa.String(200))
    id_number: Mapped[str | None] = mapped_column(sa.String(18), index=True)
    uscc: Mapped[str | None] = mapped_column(sa.String(18), index=True)
    reason: Mapped[str] = mapped_column(sa.Text)
    starts_on: Mapped[date]
    ends_on: Mapped[date]
    recorded_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
