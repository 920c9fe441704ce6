from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from workflow.core.models.base import Base, JSONType, TimestampMixin, UTCDateTime


class DefenceSession(TimestampMixin, Base):
    """答辩会: a panel hears the teams of one challenge (or of a whole call)."""

    __tablename__ = "defence_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int] = mapped_column(sa.ForeignKey("call.id", ondelete="CASCADE"),
                                         index=True)
    challenge_id: Mapped[int | None] = mapped_column(sa.ForeignKey("challenge.id"))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    place: Mapped[str] = mapped_column(sa.String(200))
    panel: Mapped[list[int]] = mapped_column(JSONType, default=list)  # expert user ids
    demand_present: Mapped[bool] = mapped_column(default=False)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))


class DefenceScore(TimestampMixin, Base):
    """One panel member's score for one team at a defence."""

    __tablename__ = "defence_score"
    __table_args__ = (
        sa.UniqueConstraint("session_id", "application_id", "panelist_id"),
        sa.CheckConstraint("score >= 0 AND score <= 100", name="score_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(
        sa.ForeignKey("defence_session.id", ondelete="CASCADE"), index=True)
    application_id: Mapped[int] = mapped_column(
        sa.ForeignKey("application.id", ondelete="CASCADE"), index=True)
    panelist_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id"))
    role: Mapped[str] = mapped_column(sa.String(10))  # expert | demand
    score: Mapped[Decimal] = mapped_column(sa.Numeric(5, 2))
    comment: Mapped[str] = mapped_column(sa.Text, default="")
