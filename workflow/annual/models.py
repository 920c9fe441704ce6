"""The annual report of a running project (``states.ANNUAL_REPORT``)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from states import AnnualReportState
from workflow.core.models.base import (
    AuditedMixin,
    Base,
    JSONType,
    Money,
    UTCDateTime,
    state_column,
    utcnow,
)

if TYPE_CHECKING:
    from workflow.applying.models import Application

# Spending to date by category (国办发〔2021〕32号: 设备费、业务费、劳务费, and 间接费用),
# as the form and the API name them.
SPENDING_CATEGORIES: dict[str, str] = {
    "equipment": "设备费", "business": "业务费", "labour": "劳务费", "indirect": "间接费用",
}


class AnnualReport(AuditedMixin, Base):
    """One project's report for one year: progress against the task book's indicators
    and milestones, outputs so far, spending to date (yuan, shown in 万元) by category;
    for 包干制 the statement that the unit published the spending report internally."""

    __tablename__ = "annual_report"
    __table_args__ = (
        sa.UniqueConstraint("application_id", "year"),
        sa.CheckConstraint("spent_total >= 0", name="spent_nonnegative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(
        sa.ForeignKey("application.id", ondelete="CASCADE"), index=True)
    year: Mapped[int] = mapped_column(index=True)
    state: Mapped[AnnualReportState] = mapped_column(
        state_column(AnnualReportState, "annual_report_state"), default=AnnualReportState.due,
        index=True)
    due_on: Mapped[date] = mapped_column(sa.Date)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    progress: Mapped[str] = mapped_column(sa.Text, default="")
    # [{"indicator": 指标或里程碑, "status": 完成情况}]
    indicators: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    outputs: Mapped[str] = mapped_column(sa.Text, default="")
    # {category: "12.50"} in 万元 as typed (two decimals), keys of SPENDING_CATEGORIES.
    spending: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    spent_total: Mapped[Decimal] = mapped_column(Money, default=Decimal("0.00"))
    published_on: Mapped[date | None] = mapped_column(sa.Date)
    published_where: Mapped[str] = mapped_column(sa.String(200), default="")
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    endorsed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    overdue_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    return_reason: Mapped[str] = mapped_column(sa.Text, default="")
    version: Mapped[int] = mapped_column(default=1, server_default="1")

    application: Mapped[Application] = relationship()

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012

    @property
    def label(self) -> str:
        return f"{self.year}年度报告"

    @property
    def title(self) -> str:
        """As the 工作台 lists it: the project, then the year."""
        return f"{self.application.title}（{self.year}年度报告）"
