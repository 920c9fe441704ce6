"""中期检查: one midterm check of a running project (``states.MIDTERM``) and the scores of
its expert panel, round by round (a 整改 asks for a second round)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from states import MidtermState
from workflow.core.models.base import (
    AuditedMixin,
    Base,
    JSONType,
    Money,
    TimestampMixin,
    UTCDateTime,
    state_column,
)

if TYPE_CHECKING:
    from workflow.accounts.models import User
    from workflow.applying.models import Application

# What an expert recommends and what the officer concludes.
OUTCOMES: dict[str, str] = {"pass": "通过", "rectify": "整改", "terminate": "终止"}
# The kinds of outputs a team lists.
OUTPUT_KINDS: dict[str, str] = {
    "paper": "论文", "patent": "专利", "standard": "标准", "software": "软件著作权",
    "product": "新产品（样机）", "talent": "人才培养", "other": "其他"}


class MidtermForm(Base):
    """A call's midterm form (中期检查表), in the format of the call's ``form_schema``; a
    call without one uses the default (进展情况, 阶段性成果, 存在问题及下一步计划)."""

    __tablename__ = "midterm_form"

    call_id: Mapped[int] = mapped_column(
        sa.ForeignKey("call.id", ondelete="CASCADE"), primary_key=True)
    fields: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class MidtermReport(AuditedMixin, TimestampMixin, Base):
    """One midterm check of a project: the officer's due date and instructions, the
    team's progress report (the call's midterm form, spending to date by category,
    outputs, evidence), the 整改 asked for, and the officer's outcome."""

    __tablename__ = "midterm_report"
    __table_args__ = (
        sa.UniqueConstraint("application_id", "seq"),
        sa.CheckConstraint("spent_total >= 0", name="midterm_spent_nonnegative"),
        sa.CheckConstraint("round IN (1, 2)", name="midterm_round"),
        sa.CheckConstraint("state NOT IN ('passed', 'terminated') OR decided_at IS NOT NULL",
                           name="midterm_decided_when"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(
        sa.ForeignKey("application.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int]  # the project's n-th midterm check
    state: Mapped[MidtermState] = mapped_column(
        state_column(MidtermState, "midterm_state"), default=MidtermState.open, index=True)
    version: Mapped[int] = mapped_column(default=1)
    round: Mapped[int] = mapped_column(default=1)  # 2 after a 整改
    due_on: Mapped[date] = mapped_column(sa.Date, index=True)
    instructions: Mapped[str] = mapped_column(sa.Text, default="")
    opened_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    # The form's fields as the call defined them when the check was opened.
    form: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    answers: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    # {category: "12.50"} in 万元 as typed, keys of the annual report's SPENDING_CATEGORIES.
    spending: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    spent_total: Mapped[Decimal] = mapped_column(Money, default=Decimal("0.00"))
    # [{"kind": OUTPUT_KINDS key, "title": ..., "note": ...}]
    outputs: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    # The project's attachments uploaded as this report's evidence (SHA-256).
    evidence: Mapped[list[str]] = mapped_column(JSONType, default=list)
    # The first round's report as it was sent, kept when a 整改 asks for a second.
    earlier: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    overdue_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    rectify_due_on: Mapped[date | None] = mapped_column(sa.Date)
    rectify_items: Mapped[list[str]] = mapped_column(JSONType, default=list)
    rectify_opinion: Mapped[str] = mapped_column(sa.Text, default="")
    outcome: Mapped[str | None] = mapped_column(sa.String(16))
    opinion: Mapped[str] = mapped_column(sa.Text, default="")
    override_reason: Mapped[str] = mapped_column(sa.Text, default="")
    recovery_wan: Mapped[str | None] = mapped_column(sa.String(20))
    decided_by: Mapped[str | None] = mapped_column(sa.String(100))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    application: Mapped[Application] = relationship()
    scores: Mapped[list[MidtermScore]] = relationship(
        back_populates="midterm", order_by="(MidtermScore.round, MidtermScore.seq)",
        cascade="all, delete-orphan")

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012

    @property
    def label(self) -> str:
        return f"第{self.seq}次中期检查" if self.seq > 1 else "中期检查"

    @property
    def title(self) -> str:
        return f"{self.application.title}（{self.label}）"

    @property
    def due(self) -> date:
        """The date the report of the current round is due."""
        return self.rectify_due_on if self.round == 2 and self.rectify_due_on else self.due_on

    def panel(self, round_no: int | None = None) -> list[MidtermScore]:
        wanted = self.round if round_no is None else round_no
        return [s for s in self.scores if s.round == wanted]

    def __repr__(self) -> str:
        return f"<MidtermReport {self.id} {self.state.value}>"


class MidtermScore(AuditedMixin, Base):
    """One panel expert's score of one round: 0–100, an opinion and a recommended
    outcome. The team reads it as 专家N (``seq``), never by name; its own audit chain
    (``midterm_score``) keeps who assigned and who scored, off the report's timeline."""

    __tablename__ = "midterm_score"
    __table_args__ = (
        sa.UniqueConstraint("midterm_id", "round", "expert_id"),
        sa.UniqueConstraint("midterm_id", "round", "seq"),
        sa.CheckConstraint("score IS NULL OR (score >= 0 AND score <= 100)",
                           name="midterm_score_range"),
        # A seat drawn again is a new row with an id never used: its audit chain is its own.
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    midterm_id: Mapped[int] = mapped_column(
        sa.ForeignKey("midterm_report.id", ondelete="CASCADE"), index=True)
    round: Mapped[int] = mapped_column(default=1)
    seq: Mapped[int]
    expert_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id"), index=True)
    score: Mapped[int | None]
    opinion: Mapped[str] = mapped_column(sa.Text, default="")
    recommendation: Mapped[str | None] = mapped_column(sa.String(16))
    assigned_at: Mapped[datetime] = mapped_column(UTCDateTime)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    midterm: Mapped[MidtermReport] = relationship(back_populates="scores")
    expert: Mapped[User] = relationship()

    @property
    def alias(self) -> str:
        return f"专家{self.seq}"
