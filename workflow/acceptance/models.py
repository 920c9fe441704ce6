"""结题验收: one acceptance of a project: the team's package (report, 科技报告, outputs, 决算,
self-assessment), the unit's endorsement, the panel (experts and, for 揭榜挂帅, the demand
side), 财务验收 and the officer's conclusion with its diligence finding (宽容失败)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from states import AcceptanceState
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

# The graded conclusion of a panel member and of the officer.
GRADES = {"pass": "通过", "concluded": "结题", "fail": "不通过"}
# The officer's trigger for each grade, and the grade of each final state.
GRADE_TRIGGERS = {"pass": "pass", "concluded": "conclude", "fail": "fail"}
STATE_GRADES = {AcceptanceState.passed: "pass", AcceptanceState.concluded: "concluded",
                AcceptanceState.failed: "fail"}
# From the strictest: a tie of the panel proposes the stricter grade.
STRICTNESS = ("fail", "concluded", "pass")
ASSESSMENTS = {"met": "已完成", "partly": "部分完成", "not_met": "未完成"}
OUTPUT_KINDS = {"paper": "论文", "patent": "专利", "standard": "标准",
                "software": "软件著作权", "product": "产品"}
FINANCE_VERDICTS = {"pass": "通过", "fail": "不通过"}


class Acceptance(AuditedMixin, TimestampMixin, Base):
    """结题验收 of a project (``states.ACCEPTANCE``); one per project."""

    __tablename__ = "acceptance"
    __table_args__ = (
        sa.CheckConstraint("surplus >= 0", name="surplus_nonnegative"),
        sa.CheckConstraint("spent IS NULL OR spent >= 0", name="spent_nonnegative"),
        sa.CheckConstraint("finance_verdict IS NULL OR finance_verdict IN ('pass', 'fail')",
                           name="finance_verdict_known"),
        sa.CheckConstraint("state NOT IN ('passed', 'concluded', 'failed') "
                           "OR concluded_at IS NOT NULL", name="concluded_when"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(
        sa.ForeignKey("application.id", ondelete="CASCADE"), unique=True)
    state: Mapped[AcceptanceState] = mapped_column(
        state_column(AcceptanceState, "acceptance_state"), default=AcceptanceState.draft,
        index=True)
    version: Mapped[int] = mapped_column(default=1)
    # The package.
    report: Mapped[str] = mapped_column(sa.Text, default="")
    tech_report_sha256: Mapped[str | None] = mapped_column(sa.String(64))  # 科技报告 (PDF)
    # [{kind, title, identifier}]: papers (DOI), patents (专利号), standards (标准号),
    # software copyrights (登记号), products.
    outputs: Mapped[list[dict[str, str]]] = mapped_column(JSONType, default=list)
    # 经费决算表 by category (yuan, as text) — 包干制 instead declares its use.
    spending: Mapped[dict[str, str]] = mapped_column(JSONType, default=dict)
    negative_list_declared: Mapped[bool] = mapped_column(default=False)
    spent: Mapped[Decimal | None] = mapped_column(Money)
    surplus: Mapped[Decimal] = mapped_column(Money, default=Decimal("0.00"))
    # {indicator: {"status": met|partly|not_met, "evidence": text}}
    self_assessment: Mapped[dict[str, dict[str, str]]] = mapped_column(JSONType, default=dict)
    submitted_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    unit_opinion: Mapped[str | None] = mapped_column(sa.Text)
    unit_by: Mapped[str | None] = mapped_column(sa.String(100))
    # 财务验收.
    finance_verdict: Mapped[str | None] = mapped_column(sa.String(8))
    finance_opinion: Mapped[str | None] = mapped_column(sa.Text)
    finance_by: Mapped[str | None] = mapped_column(sa.String(100))
    finance_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    disbursed_checked: Mapped[Decimal | None] = mapped_column(Money)
    # The conclusion.
    proposed: Mapped[str | None] = mapped_column(sa.String(12))  # the panel's majority
    conclusion: Mapped[str | None] = mapped_column(sa.Text)
    concluded_by: Mapped[str | None] = mapped_column(sa.String(100))
    concluded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    diligent: Mapped[bool | None] = mapped_column()  # 勤勉尽责 (asked at a 不通过)
    recovery_amount: Mapped[Decimal | None] = mapped_column(Money)
    sanction_id: Mapped[int | None] = mapped_column(sa.ForeignKey("sanction.id"))

    application: Mapped[Application] = relationship()
    submitted_by: Mapped[User | None] = relationship(foreign_keys=[submitted_by_id])
    members: Mapped[list[AcceptanceMember]] = relationship(
        back_populates="acceptance", order_by="AcceptanceMember.seq",
        cascade="all, delete-orphan")

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012

    @property
    def label(self) -> str:
        return "结题验收"

    @property
    def grade(self) -> str | None:
        return STATE_GRADES.get(self.state)

    def __repr__(self) -> str:
        return f"<Acceptance {self.id} {self.state.value}>"


class AcceptanceMember(Base):
    """A seat on the panel: an expert (专家N to the team) or the demand side (发榜方)."""

    __tablename__ = "acceptance_member"
    __table_args__ = (
        sa.UniqueConstraint("acceptance_id", "seq"),
        sa.CheckConstraint("role IN ('expert', 'demand')", name="role_known"),
        sa.CheckConstraint("role <> 'expert' OR user_id IS NOT NULL", name="expert_named"),
        sa.CheckConstraint("grade IS NULL OR grade IN ('pass', 'concluded', 'fail')",
                           name="grade_known"),
        sa.CheckConstraint("submitted_at IS NULL OR grade IS NOT NULL", name="graded_when_in"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    acceptance_id: Mapped[int] = mapped_column(
        sa.ForeignKey("acceptance.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int]
    role: Mapped[str] = mapped_column(sa.String(8))
    # The expert; for the demand side whoever of its organisation gave the verdict.
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"), index=True)
    # {indicator: true (met) | false (not met)}
    scores: Mapped[dict[str, bool]] = mapped_column(JSONType, default=dict)
    grade: Mapped[str | None] = mapped_column(sa.String(12))
    opinion: Mapped[str | None] = mapped_column(sa.Text)
    diligent: Mapped[bool | None] = mapped_column()
    signed_by: Mapped[str | None] = mapped_column(sa.String(100))
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    acceptance: Mapped[Acceptance] = relationship(back_populates="members")
    user: Mapped[User | None] = relationship()

    @property
    def alias(self) -> str:
        """How the team sees the seat: 专家N, never a name."""
        return "发榜方" if self.role == "demand" else f"专家{self.seq}"

    def shown_to(self, names: bool) -> str:
        if not names:
            return self.alias
        who = self.signed_by if self.role == "demand" else (self.user.name if self.user else "")
        return f"{self.alias}（{who}）" if who else self.alias

    def __repr__(self) -> str:
        return f"<AcceptanceMember {self.acceptance_id}#{self.seq} {self.role}>"
