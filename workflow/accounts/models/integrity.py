from __future__ import annotations

from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from workflow.core.models.base import Base, JSONType, TimestampMixin

# 科研失信 measures (处理措施) as the bureau records them.
MEASURES = {"no_apply": "不得申报", "no_review": "不得评审", "revoke": "撤销立项",
            "recover": "追回资金", "notice": "通报批评"}
DEFAULT_MEASURES = ("no_apply", "no_review")


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
    # The measures taken (``MEASURES``), each in force from ``starts_on`` to ``ends_on``;
    # rows recorded before measures existed bar applying and reviewing.
    measures: Mapped[list[Any]] = mapped_column(
        JSONType, default=lambda: list(DEFAULT_MEASURES),
        server_default='["no_apply", "no_review"]')

    def in_force(self, day: date, measure: str | None = None) -> bool:
        return self.starts_on <= day <= self.ends_on and (
            measure is None or measure in (self.measures or DEFAULT_MEASURES))

