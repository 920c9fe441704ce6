"""项目变更申请: one request to change a running project, with what it asks for, who
endorsed and decided it, and what the project was before an approved change took
effect."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from states import ChangeState
from workflow.core.models.base import (
    AuditedMixin,
    Base,
    JSONType,
    TimestampMixin,
    UTCDateTime,
    state_column,
)

if TYPE_CHECKING:
    from workflow.accounts.models import Organization, User
    from workflow.applying.models import Application


class ChangeKind(enum.Enum):
    pi = "pi"                       # 负责人变更
    member = "member"               # 团队成员变更
    organization = "organization"   # 承担单位变更
    extension = "extension"         # 延期
    content = "content"             # 研究内容或考核指标调整
    termination = "termination"     # 终止

    @property
    def label(self) -> str:
        return KIND_LABELS[self.value]


KIND_LABELS = {"pi": "负责人变更", "member": "团队成员变更", "organization": "承担单位变更",
               "extension": "延期", "content": "研究内容或考核指标调整", "termination": "终止"}


class ChangeRequest(AuditedMixin, TimestampMixin, Base):
    """项目变更申请 of a running project (``states.CHANGE``)."""

    __tablename__ = "change_request"
    __table_args__ = (
        sa.UniqueConstraint("application_id", "seq"),
        # Each kind carries what it asks for.
        sa.CheckConstraint("kind <> 'pi' OR new_pi_id IS NOT NULL", name="pi_named"),
        sa.CheckConstraint("kind <> 'organization' OR new_organization_id IS NOT NULL",
                           name="organization_named"),
        sa.CheckConstraint("kind <> 'extension' OR new_end_date IS NOT NULL",
                           name="end_date_given"),
        # Decided once, with its decider and time.
        sa.CheckConstraint("state NOT IN ('approved', 'rejected') OR decided_at IS NOT NULL",
                           name="decided_when"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(
        sa.ForeignKey("application.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int]  # the project's n-th change request (its 变更批复 is its round)
    kind: Mapped[ChangeKind] = mapped_column(state_column(ChangeKind, "change_kind"))
    state: Mapped[ChangeState] = mapped_column(
        state_column(ChangeState, "change_state"), default=ChangeState.draft, index=True)
    version: Mapped[int] = mapped_column(default=1)
    reason: Mapped[str] = mapped_column(sa.Text, default="")
    # The attachments of the project uploaded as this request's evidence (SHA-256).
    evidence: Mapped[list[str]] = mapped_column(JSONType, default=list)
    new_pi_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    new_organization_id: Mapped[int | None] = mapped_column(sa.ForeignKey("organization.id"))
    new_end_date: Mapped[date | None] = mapped_column(sa.Date)
    new_team: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONType)
    new_indicators: Mapped[dict[str, str] | None] = mapped_column(JSONType)  # 揭榜挂帅
    new_content: Mapped[str | None] = mapped_column(sa.Text)                  # 包干制
    # What the project was before the approved change (shown on the 变更批复).
    before: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    requested_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    unit_opinion: Mapped[str | None] = mapped_column(sa.Text)
    unit_by: Mapped[str | None] = mapped_column(sa.String(100))
    demand_opinion: Mapped[str | None] = mapped_column(sa.Text)
    demand_by: Mapped[str | None] = mapped_column(sa.String(100))
    officer_opinion: Mapped[str | None] = mapped_column(sa.Text)
    officer_by: Mapped[str | None] = mapped_column(sa.String(100))
    decision: Mapped[str | None] = mapped_column(sa.Text)
    decided_by: Mapped[str | None] = mapped_column(sa.String(100))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    application: Mapped[Application] = relationship()
    new_pi: Mapped[User | None] = relationship(foreign_keys=[new_pi_id])
    new_organization: Mapped[Organization | None] = relationship()

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012

    @property
    def label(self) -> str:
        return f"变更申请{self.seq}：{self.kind.label}"

    def __repr__(self) -> str:
        return f"<ChangeRequest {self.id} {self.kind.value} {self.state.value}>"
