"""绩效评价 (``states.EVALUATION``): one per closed project, with the facts it was judged
on, the scores the system proposed, the officer's adjustment (with its reason) and the
grade; and the record of the grade kept on each person and organisation."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from states import EvaluationState
from workflow.core.models.base import (
    AuditedMixin,
    Base,
    JSONType,
    TimestampMixin,
    UTCDateTime,
    state_column,
    utcnow,
)

if TYPE_CHECKING:
    from workflow.applying.models import Application


class Grade(enum.Enum):
    excellent = "excellent"        # 优秀
    good = "good"                  # 良好
    qualified = "qualified"        # 合格
    unqualified = "unqualified"    # 不合格

    @property
    def label(self) -> str:
        return GRADE_LABELS[self.value]


GRADE_LABELS = {"excellent": "优秀", "good": "良好", "qualified": "合格",
                "unqualified": "不合格"}
# The four dimensions, each scored 0–25 (``workflow/evaluation/scoring.py``).
DIMENSIONS = {"indicators": "目标完成", "outputs": "成果产出", "spending": "经费使用",
              "timeliness": "按期完成"}
# How the project closed.
CLOSURES = {"completed": "结题", "failed": "验收不通过", "terminated": "终止"}


class Evaluation(AuditedMixin, TimestampMixin, Base):
    __tablename__ = "evaluation"
    __table_args__ = (
        sa.CheckConstraint("proposed_total BETWEEN 0 AND 100", name="proposed_total_range"),
        sa.CheckConstraint("total BETWEEN 0 AND 100", name="total_range"),
        sa.CheckConstraint("state <> 'confirmed' OR confirmed_at IS NOT NULL",
                           name="confirmed_when"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # One evaluation per project.
    application_id: Mapped[int] = mapped_column(
        sa.ForeignKey("application.id", ondelete="CASCADE"), unique=True)
    state: Mapped[EvaluationState] = mapped_column(
        state_column(EvaluationState, "evaluation_state"), default=EvaluationState.draft,
        index=True)
    closure: Mapped[str] = mapped_column(sa.String(16))
    closed_on: Mapped[date] = mapped_column(sa.Date)
    # What the proposal was computed from (``facts.gather``), as JSON.
    facts: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    proposed: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)  # {dim: 0..25}
    proposed_total: Mapped[int] = mapped_column(default=0)
    proposed_grade: Mapped[Grade] = mapped_column(state_column(Grade, "proposed_grade"))
    # The officer's scores when they differ from the proposal, and why.
    adjusted: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    adjust_reason: Mapped[str] = mapped_column(sa.Text, default="")
    adjusted_by: Mapped[str | None] = mapped_column(sa.String(100))
    adjusted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The scores and grade that stand (the adjustment's, else the proposal's).
    total: Mapped[int] = mapped_column(default=0)
    grade: Mapped[Grade] = mapped_column(state_column(Grade, "grade"), index=True)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    proposed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    confirmed_by: Mapped[str | None] = mapped_column(sa.String(100))
    comment: Mapped[str] = mapped_column(sa.Text, default="")
    version: Mapped[int] = mapped_column(default=1, server_default="1")

    application: Mapped[Application] = relationship()

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012

    @property
    def label(self) -> str:
        return "绩效评价"

    @property
    def title(self) -> str:
        return f"{self.application.title}（绩效评价）"

    @property
    def scores(self) -> dict[str, int]:
        """The scores that stand."""
        return dict(self.adjusted if self.adjusted is not None else self.proposed)


class PerformanceRecord(TimestampMixin, Base):
    """A confirmed grade kept on a person (the PI, a team member who has an account) or on
    the undertaking organisation: shown to officers and leaders when they next apply."""

    __tablename__ = "performance_record"
    __table_args__ = (
        sa.CheckConstraint("subject IN ('pi', 'member', 'org')", name="subject_known"),
        sa.CheckConstraint("(subject = 'org') = (organization_id IS NOT NULL AND user_id IS NULL)",
                           name="subject_identified"),
        sa.UniqueConstraint("evaluation_id", "subject", "user_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    evaluation_id: Mapped[int] = mapped_column(
        sa.ForeignKey("evaluation.id", ondelete="CASCADE"), index=True)
    application_id: Mapped[int] = mapped_column(
        sa.ForeignKey("application.id", ondelete="CASCADE"), index=True)
    subject: Mapped[str] = mapped_column(sa.String(8))
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"), index=True)
    organization_id: Mapped[int | None] = mapped_column(sa.ForeignKey("organization.id"),
                                                        index=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    grade: Mapped[Grade] = mapped_column(state_column(Grade, "grade"))
    total: Mapped[int]
    confirmed_on: Mapped[date] = mapped_column(sa.Date)

    evaluation: Mapped[Evaluation] = relationship()
    application: Mapped[Application] = relationship()
