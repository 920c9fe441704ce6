from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from states import ApplicationState
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
    from workflow.accounts.models.org import Organization
    from workflow.accounts.models.user import User
    from workflow.calls.models import Call, Challenge


class Application(AuditedMixin, Base):
    """申报书."""

    __tablename__ = "application"
    __table_args__ = (
        sa.CheckConstraint("granted_amount IS NULL OR granted_amount > 0",
                           name="granted_positive"),
        # Released money never exceeds the grant (the release's UPDATE of this column
        # runs under the application's row lock).
        sa.CheckConstraint("disbursed >= 0 AND disbursed <= COALESCE(granted_amount, 0)",
                           name="disbursed_within_grant"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int] = mapped_column(sa.ForeignKey("call.id"), index=True)
    challenge_id: Mapped[int | None] = mapped_column(sa.ForeignKey("challenge.id"), index=True)
    applicant_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id"), index=True)
    organization_id: Mapped[int] = mapped_column(sa.ForeignKey("organization.id"), index=True)
    title: Mapped[str] = mapped_column(sa.String(200))
    state: Mapped[ApplicationState] = mapped_column(
        state_column(ApplicationState, "application_state"),
        default=ApplicationState.draft,
        index=True,
    )
    version: Mapped[int] = mapped_column(default=1)
    data: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    project_number: Mapped[str | None] = mapped_column(sa.String(32), unique=True)
    receipt_no: Mapped[str | None] = mapped_column(sa.String(32), unique=True)  # 受理回执号
    doc_number: Mapped[str | None] = mapped_column(sa.String(40), unique=True)  # 立项通知书文号
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    form_version: Mapped[int] = mapped_column(default=1, server_default="1")
    round: Mapped[int] = mapped_column(default=0, server_default="0")  # submissions so far
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    granted_amount: Mapped[Decimal | None] = mapped_column(Money)
    disbursed: Mapped[Decimal] = mapped_column(Money, default=Decimal("0.00"),
                                               server_default="0")
    notice_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    notice_ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    call: Mapped[Call] = relationship(lazy="joined")
    challenge: Mapped[Challenge | None] = relationship()
    applicant: Mapped[User] = relationship()
    organization: Mapped[Organization] = relationship()

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012

    def __repr__(self) -> str:
        return f"<Application {self.id} {self.state.value}>"


class ApplicationRound(Base):
    """One submission of an application: what was sent, and what came back (the return
    comment and the formal-review checklist). Every round is kept."""

    __tablename__ = "application_round"
    __table_args__ = (sa.UniqueConstraint("application_id", "round"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(
        sa.ForeignKey("application.id", ondelete="CASCADE"), index=True)
    round: Mapped[int]
    title: Mapped[str] = mapped_column(sa.String(200))
    data: Mapped[dict[str, Any]] = mapped_column(JSONType)
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    checklist: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    outcome: Mapped[str | None] = mapped_column(sa.String(24))
    outcome_comment: Mapped[str | None] = mapped_column(sa.Text)
