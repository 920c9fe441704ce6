from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from states import ReviewState
from workflow.core.models.base import (
    AuditedMixin,
    Base,
    JSONType,
    TimestampMixin,
    UTCDateTime,
    state_column,
)

if TYPE_CHECKING:
    from workflow.accounts.models.user import User
    from workflow.applying.models import Application


class ReviewAssignment(AuditedMixin, TimestampMixin, Base):
    """评审任务: one expert invited to review one application."""

    __tablename__ = "review_assignment"
    __table_args__ = (
        sa.UniqueConstraint("application_id", "expert_id"),
        sa.CheckConstraint("total IS NULL OR (total >= 0 AND total <= 100)", name="total_range"),
        # An expert's queue and its counts by state (4,000,000 reviews: an index lookup).
        sa.Index("ix_review_assignment_expert_state", "expert_id", "state"),
        # A call's ranking reads every review of its applications: on PostgreSQL from this
        # index alone (an index-only scan, not 4,000,000 rows' heap), in the order it wants.
        sa.Index("ix_review_assignment_application_totals", "application_id", "id",
                 postgresql_include=["state", "total"]),
        # The 工作台's oldest rows of a state (``WHERE state = ? ORDER BY id LIMIT 501``).
        sa.Index("ix_review_assignment_state_id", "state", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(
        sa.ForeignKey("application.id", ondelete="CASCADE"))
    expert_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id"))
    state: Mapped[ReviewState] = mapped_column(
        state_column(ReviewState, "review_state"), default=ReviewState.invited)
    version: Mapped[int] = mapped_column(default=1)
    reserve: Mapped[bool] = mapped_column(default=False)  # 备选
    respond_by: Mapped[datetime | None] = mapped_column(UTCDateTime)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    scores: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    comment: Mapped[str] = mapped_column(sa.Text, default="")
    total: Mapped[Decimal | None] = mapped_column(sa.Numeric(5, 2))
    decline_reason: Mapped[str | None] = mapped_column(sa.Text)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    draw_id: Mapped[int | None] = mapped_column(sa.ForeignKey("review_draw.id"))

    application: Mapped[Application] = relationship()
    expert: Mapped[User] = relationship()

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012
