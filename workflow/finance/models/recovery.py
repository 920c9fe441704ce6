"""追回 (recovery) as a row with its own lifecycle, the sums received on it, and the
review that a sanction entered after funding opens on a running project."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from states import RecoveryState, SanctionReviewState
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
    from workflow.accounts.models import Sanction
    from workflow.applying.models import Application


class Recovery(AuditedMixin, TimestampMixin, Base):
    """What a project owes back (应追回) after termination, failed acceptance or
    revocation: notified by a 追回通知, repaid in instalments, closed when repaid or
    written off by a leader. Its lifecycle is ``states.RECOVERY``."""

    __tablename__ = "recovery"
    __table_args__ = (
        sa.CheckConstraint("amount > 0", name="amount_positive"),
        sa.CheckConstraint("repaid >= 0 AND repaid <= amount", name="repaid_within_amount"),
        # The recovery list's default order (the nearest deadline first).
        sa.Index("ix_recovery_due_on_id", "due_on", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(
        sa.ForeignKey("application.id", ondelete="CASCADE"), unique=True)
    amount: Mapped[Decimal] = mapped_column(Money)           # yuan owed
    repaid: Mapped[Decimal] = mapped_column(Money, default=Decimal("0.00"))
    reason: Mapped[str] = mapped_column(sa.String(200))
    due_on: Mapped[date] = mapped_column(sa.Date)
    state: Mapped[RecoveryState] = mapped_column(
        state_column(RecoveryState, "recovery_state"), default=RecoveryState.opened,
        index=True)
    notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    overdue_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    version: Mapped[int] = mapped_column(default=1)

    application: Mapped[Application] = relationship()
    instalments: Mapped[list[RecoveryInstalment]] = relationship(
        order_by="RecoveryInstalment.id", viewonly=True)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012

    @property
    def outstanding(self) -> Decimal:
        return self.amount - (self.repaid or Decimal("0.00"))


class RecoveryInstalment(Base):
    """One sum received on a recovery (its ledger entry is the money's record); the
    bank's 流水号 (``key``) is recorded once per recovery."""

    __tablename__ = "recovery_instalment"
    __table_args__ = (
        sa.UniqueConstraint("recovery_id", "key"),
        sa.CheckConstraint("amount > 0", name="amount_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    recovery_id: Mapped[int] = mapped_column(
        sa.ForeignKey("recovery.id", ondelete="CASCADE"), index=True)
    key: Mapped[str] = mapped_column(sa.String(100))
    amount: Mapped[Decimal] = mapped_column(Money)
    paid_on: Mapped[date] = mapped_column(sa.Date)
    ledger_entry_id: Mapped[int | None] = mapped_column(sa.ForeignKey("ledger_entry.id"))
    recorded_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SanctionReview(AuditedMixin, TimestampMixin, Base):
    """A sanction entered against the people or organisation of a running project: its
    due tranches are held (暂停拨付) until the officer decides (continue, terminate,
    revoke). Its lifecycle is ``states.SANCTION_REVIEW``."""

    __tablename__ = "sanction_review"
    __table_args__ = (
        sa.UniqueConstraint("sanction_id", "application_id"),
        # The list's default order (the newest first).
        sa.Index("ix_sanction_review_created_at_id", "created_at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    sanction_id: Mapped[int] = mapped_column(sa.ForeignKey("sanction.id", ondelete="CASCADE"))
    application_id: Mapped[int] = mapped_column(
        sa.ForeignKey("application.id", ondelete="CASCADE"), index=True)
    # Whom the sanction hit on this project: 项目负责人张三 / 项目组成员李四 / 承担单位…
    subject: Mapped[str] = mapped_column(sa.String(300))
    state: Mapped[SanctionReviewState] = mapped_column(
        state_column(SanctionReviewState, "sanction_review_state"),
        default=SanctionReviewState.open, index=True)
    held_tranche_ids: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    version: Mapped[int] = mapped_column(default=1)

    application: Mapped[Application] = relationship()
    sanction: Mapped[Sanction] = relationship()

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012
