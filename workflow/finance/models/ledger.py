"""The money side: each call's budget ledger, and the milestones of 揭榜挂帅 projects."""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from states import MilestoneState
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
    from workflow.finance.models.tranche import Tranche


class EntryKind(enum.Enum):
    allocation = "allocation"      # 预算下达: the call's budget becomes available
    commitment = "commitment"      # 立项承诺: a project's grant is set aside at approval
    disbursement = "disbursement"  # 拨付: a tranche is paid out of the commitment
    decommitment = "decommitment"  # 释放: a cancelled tranche goes back to the budget
    recovery = "recovery"          # 追回: money owed back after failure or termination
    surplus = "surplus"            # 结余: what a passed 包干制 project keeps for research

    @property
    def label(self) -> str:
        return {"allocation": "预算下达", "commitment": "立项承诺", "disbursement": "拨付",
                "decommitment": "取消释放", "recovery": "追回", "surplus": "结余留用"}[self.value]


class LedgerEntry(Base):
    """One append-only entry of a call's budget ledger.

    Each entry carries the balances after it (derived from the entries before it, under
    the call's row lock, and recomputed by the reconciliation report): the database
    refuses a negative available balance, a second disbursement of one tranche and a gap
    in the sequence.
    """

    __tablename__ = "ledger_entry"
    __table_args__ = (
        sa.UniqueConstraint("call_id", "seq"),
        sa.UniqueConstraint("tranche_id", "kind"),  # a tranche is paid (or released) once
        sa.CheckConstraint("amount > 0", name="amount_positive"),
        sa.CheckConstraint("available_after >= 0", name="available_nonnegative"),
        sa.CheckConstraint("committed_after >= 0", name="committed_nonnegative"),
        sa.CheckConstraint("disbursed_after >= 0", name="disbursed_nonnegative"),
        sa.CheckConstraint("seq >= 1", name="seq_positive"),
        # The reconciliation's sums by call and kind, read from the index alone.
        sa.Index("ix_ledger_entry_call_id_kind_amount", "call_id", "kind", "amount"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int] = mapped_column(sa.ForeignKey("call.id", ondelete="CASCADE"),
                                         index=True)
    seq: Mapped[int]
    kind: Mapped[EntryKind] = mapped_column(state_column(EntryKind, "entry_kind"))
    amount: Mapped[Decimal] = mapped_column(Money)
    application_id: Mapped[int | None] = mapped_column(sa.ForeignKey("application.id"),
                                                       index=True)
    tranche_id: Mapped[int | None] = mapped_column(sa.ForeignKey("tranche.id"))
    # A recovery entry is a sum received on its recovery (追回).
    recovery_id: Mapped[int | None] = mapped_column(sa.ForeignKey("recovery.id"), index=True)
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    ref: Mapped[str] = mapped_column(sa.String(100), default="")
    memo: Mapped[str] = mapped_column(sa.String(300), default="")
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    available_after: Mapped[Decimal] = mapped_column(Money)
    committed_after: Mapped[Decimal] = mapped_column(Money)
    disbursed_after: Mapped[Decimal] = mapped_column(Money)

    application: Mapped[Application | None] = relationship(viewonly=True)
    tranche: Mapped[Tranche | None] = relationship(viewonly=True)


class Milestone(AuditedMixin, Base):
    """A milestone of a 揭榜挂帅 task book: the team reports it with evidence; the demand
    side and the officer both accept it (then its tranche is due) or reject it. Its
    lifecycle is ``states.MILESTONE``."""

    __tablename__ = "milestone"
    __table_args__ = (
        sa.UniqueConstraint("application_id", "seq"),
        sa.CheckConstraint("amount > 0", name="amount_positive"),
        sa.CheckConstraint("rejections >= 0", name="rejections_nonnegative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(
        sa.ForeignKey("application.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int]
    label: Mapped[str] = mapped_column(sa.String(200))
    amount: Mapped[Decimal] = mapped_column(Money)
    due_on: Mapped[date] = mapped_column(sa.Date)
    state: Mapped[MilestoneState] = mapped_column(
        state_column(MilestoneState, "milestone_state"), default=MilestoneState.planned)
    report: Mapped[str] = mapped_column(sa.Text, default="")
    evidence: Mapped[list[Any]] = mapped_column(JSONType, default=list)  # attachment sha256s
    reported_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    demand_verdict: Mapped[str | None] = mapped_column(sa.String(10))   # pass | fail
    demand_opinion: Mapped[str] = mapped_column(sa.Text, default="")
    officer_verdict: Mapped[str | None] = mapped_column(sa.String(10))
    officer_opinion: Mapped[str] = mapped_column(sa.Text, default="")
    rejections: Mapped[int] = mapped_column(default=0)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    version: Mapped[int] = mapped_column(default=1, server_default="1")

    application: Mapped[Application] = relationship()

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012
