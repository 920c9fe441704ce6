from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from states import CallState
from workflow.core.models.base import (
    AuditedMixin,
    Base,
    JSONType,
    Money,
    TimestampMixin,
    UTCDateTime,
    state_column,
    utcnow,
)

if TYPE_CHECKING:
    from workflow.accounts.models.org import Organization


class Scheme(enum.Enum):
    baogan = "baogan"
    jiebang = "jiebang"

    @property
    def label(self) -> str:
        return "包干制" if self is Scheme.baogan else "揭榜挂帅"

    @property
    def code(self) -> str:
        return "BG" if self is Scheme.baogan else "JB"


class AggregationRule(enum.Enum):
    trimmed = "trimmed"  # ≥5 scores: drop highest and lowest, average the rest
    mean = "mean"
    median = "median"


class Call(AuditedMixin, TimestampMixin, Base):
    """申报指南 / 榜单批次."""

    __tablename__ = "call"
    __table_args__ = (
        sa.CheckConstraint("budget >= 0", name="budget_nonnegative"),
        sa.CheckConstraint("closes_at > opens_at", name="closes_after_opens"),
        sa.CheckConstraint("reviewers_per_application BETWEEN 1 AND 15", name="reviewers_range"),
        sa.CheckConstraint("notice_days BETWEEN 1 AND 30", name="notice_days_range"),
        # A draft may wait for its dates (a copy of last year's guide has none yet).
        sa.CheckConstraint("state = 'draft' OR (opens_at IS NOT NULL AND closes_at IS NOT NULL)",
                           name="dated_unless_draft"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    scheme: Mapped[Scheme] = mapped_column(state_column(Scheme, "scheme"))
    year: Mapped[int]
    title: Mapped[str] = mapped_column(sa.String(200))
    guide: Mapped[str] = mapped_column(sa.Text, default="")
    state: Mapped[CallState] = mapped_column(
        state_column(CallState, "call_state"), default=CallState.draft
    )
    version: Mapped[int] = mapped_column(default=1)
    opens_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closes_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    budget: Mapped[Decimal] = mapped_column(Money)
    form_schema: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    form_version: Mapped[int] = mapped_column(default=1, server_default="1")
    checklist: Mapped[list[str]] = mapped_column(  # 形式审查要点
        JSONType, default=list, server_default=sa.text("'[]'"))
    # The items of the checklist that must be ticked for formal review to pass (必须勾选).
    checklist_required: Mapped[list[str]] = mapped_column(
        JSONType, default=list, server_default=sa.text("'[]'"))
    rubric: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    reviewers_per_application: Mapped[int] = mapped_column(default=5)
    aggregation: Mapped[AggregationRule] = mapped_column(
        state_column(AggregationRule, "aggregation_rule"), default=AggregationRule.trimmed
    )
    spread_stdev_limit: Mapped[Decimal | None] = mapped_column(sa.Numeric(5, 2))
    tranche_plan: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    steps: Mapped[list[str]] = mapped_column(JSONType, default=list)
    notice_days: Mapped[int] = mapped_column(default=5)
    notice_working_days: Mapped[bool] = mapped_column(default=True)
    collective_threshold: Mapped[Decimal | None] = mapped_column(Money)
    doc_number: Mapped[str | None] = mapped_column(sa.String(40), unique=True)  # 立项文件文号
    max_running_projects: Mapped[int] = mapped_column(default=2)  # 限项
    # Experts see neither the applicant's name nor organisation (双盲).
    hide_applicant: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    review_days: Mapped[int] = mapped_column(default=14, server_default="14")
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))

    challenges: Mapped[list[Challenge]] = relationship(
        back_populates="call", order_by="Challenge.id", cascade="all, delete-orphan"
    )

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012

    @property
    def enabled_steps(self) -> frozenset[str]:
        return frozenset(self.steps or ())

    def __repr__(self) -> str:
        return f"<Call {self.id} {self.scheme.value} {self.title}>"


class Challenge(TimestampMixin, Base):
    """榜单: one hard problem of a 揭榜挂帅 call."""

    __tablename__ = "challenge"
    __table_args__ = (
        sa.CheckConstraint("ceiling > 0", name="ceiling_positive"),
        sa.CheckConstraint("max_teams >= 1", name="max_teams_positive"),
        sa.CheckConstraint("duration_months BETWEEN 1 AND 120", name="duration_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int] = mapped_column(sa.ForeignKey("call.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(sa.String(200))
    description: Mapped[str] = mapped_column(sa.Text, default="")
    demand_org_id: Mapped[int] = mapped_column(sa.ForeignKey("organization.id"))
    indicators: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    ceiling: Mapped[Decimal] = mapped_column(Money)
    duration_months: Mapped[int] = mapped_column(default=24)
    milestone_template: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    max_teams: Mapped[int] = mapped_column(default=1)  # 赛马

    call: Mapped[Call] = relationship(back_populates="challenges")
    demand_org: Mapped[Organization] = relationship(lazy="joined")


class CallFormVersion(Base):
    """Every version of a call's application form: an application keeps being validated
    against the version it was started on, whatever the officer edits later."""

    __tablename__ = "call_form_version"
    __table_args__ = (sa.UniqueConstraint("call_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int] = mapped_column(sa.ForeignKey("call.id", ondelete="CASCADE"))
    version: Mapped[int]
    fields: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)
    fingerprint: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
