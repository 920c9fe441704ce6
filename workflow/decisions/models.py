"""立项决策: the funded list a leader approves, and the objections raised in public notice.

The states are declared with their lifecycles (``states``) and re-exported here."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from states import DecisionState, ObjectionState
from workflow.core.models.base import AuditedMixin, Base, Money, UTCDateTime, state_column, utcnow

__all__ = ["DecisionItem", "DecisionState", "FundingDecision", "Objection", "ObjectionState"]

if TYPE_CHECKING:
    from workflow.accounts.models.user import User
    from workflow.applying.models import Application
    from workflow.calls.models import Call


class FundingDecision(AuditedMixin, Base):
    """The officer's proposed funded list for a call (per challenge for 揭榜挂帅); a
    leader approves it or sends it back (``states.DECISION``). A list whose total reaches
    the call's collective-decision threshold (三重一大) carries the meeting that decided it."""

    __tablename__ = "funding_decision"
    __table_args__ = (sa.CheckConstraint("total >= 0", name="total_nonnegative"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int] = mapped_column(sa.ForeignKey("call.id", ondelete="CASCADE"),
                                         index=True)
    state: Mapped[DecisionState] = mapped_column(
        state_column(DecisionState, "decision_state"), default=DecisionState.proposed)
    total: Mapped[Decimal] = mapped_column(Money)
    comment: Mapped[str] = mapped_column(sa.Text, default="")
    proposed_by_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id"))
    proposed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decision_comment: Mapped[str] = mapped_column(sa.Text, default="")
    # 三重一大: the meeting that decided the list.
    meeting_name: Mapped[str | None] = mapped_column(sa.String(200))
    meeting_date: Mapped[date | None] = mapped_column(sa.Date)
    meeting_attendees: Mapped[str | None] = mapped_column(sa.Text)
    minutes_ref: Mapped[str | None] = mapped_column(sa.String(100))
    minutes_attachment_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("attachment.id", ondelete="SET NULL"))
    version: Mapped[int] = mapped_column(default=1, server_default="1")

    items: Mapped[list[DecisionItem]] = relationship(
        back_populates="decision", order_by="DecisionItem.position",
        cascade="all, delete-orphan")
    proposed_by: Mapped[User] = relationship(foreign_keys=[proposed_by_id])
    decided_by: Mapped[User | None] = relationship(foreign_keys=[decided_by_id])
    call: Mapped[Call] = relationship()

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012

    @property
    def has_meeting(self) -> bool:
        return bool(self.meeting_name and self.meeting_date and self.meeting_attendees
                    and self.minutes_ref and self.minutes_attachment_id)


class DecisionItem(Base):
    """One funded project of a proposed list, with its amount."""

    __tablename__ = "decision_item"
    __table_args__ = (
        sa.UniqueConstraint("decision_id", "application_id"),
        sa.CheckConstraint("amount > 0", name="amount_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    decision_id: Mapped[int] = mapped_column(
        sa.ForeignKey("funding_decision.id", ondelete="CASCADE"), index=True)
    application_id: Mapped[int] = mapped_column(sa.ForeignKey("application.id"), index=True)
    position: Mapped[int]
    amount: Mapped[Decimal] = mapped_column(Money)

    decision: Mapped[FundingDecision] = relationship(back_populates="items")
    application: Mapped[Application] = relationship()


class Objection(AuditedMixin, Base):
    """A written objection to a project in public notice. Real-name ones are investigated;
    anonymous ones are recorded and marked not accepted (``states.OBJECTION``)."""

    __tablename__ = "objection"

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(
        sa.ForeignKey("application.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(sa.String(50), default="")
    contact: Mapped[str] = mapped_column(sa.String(100), default="")
    organization: Mapped[str] = mapped_column(sa.String(200), default="")
    text: Mapped[str] = mapped_column(sa.Text)
    state: Mapped[ObjectionState] = mapped_column(
        state_column(ObjectionState, "objection_state"), default=ObjectionState.open)
    ip: Mapped[str | None] = mapped_column(sa.String(45))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    resolution: Mapped[str] = mapped_column(sa.Text, default="")
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    version: Mapped[int] = mapped_column(default=1, server_default="1")

    application: Mapped[Application] = relationship()

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012
