from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from states import TrancheState
from workflow.core.models.base import (
    AuditedMixin,
    Base,
    Money,
    TimestampMixin,
    UTCDateTime,
    state_column,
)

if TYPE_CHECKING:
    from workflow.applying.models import Application


class Tranche(AuditedMixin, TimestampMixin, Base):
    """拨付批次: one payment of a project's grant."""

    __tablename__ = "tranche"
    __table_args__ = (
        sa.UniqueConstraint("application_id", "seq"),
        sa.CheckConstraint("amount > 0", name="amount_positive"),
        sa.CheckConstraint(
            "condition IN ('contract', 'milestone', 'acceptance')", name="condition_known"),
        # A released tranche carries its payment reference and time, and only then.
        sa.CheckConstraint(
            "(state = 'released') = (released_at IS NOT NULL AND payment_ref IS NOT NULL)",
            name="released_has_reference"),
        sa.CheckConstraint(
            "approved_by_id IS NULL OR approved_by_id <> prepared_by_id",
            name="checker_is_not_maker"),
        # A voucher names the account it was checked against, and a payment the account
        # it went to: from preparation on, the payee is the tranche's own.
        sa.CheckConstraint(
            "state NOT IN ('prepared', 'approved', 'released') OR (payee_name IS NOT NULL "
            "AND payee_bank IS NOT NULL AND payee_account IS NOT NULL)",
            name="payee_on_voucher"),
        # The 工作台's and the queue's oldest rows of a state (``WHERE state = ? ORDER BY id``).
        sa.Index("ix_tranche_state_id", "state", "id"),
        # The money lists' order, by project (its number, then the tranche's seq): each
        # page, the last of a million tranches too, read in order from an index.
        sa.Index("ix_tranche_project_number_seq_id", "project_number", "seq", "id"),
        sa.Index("ix_tranche_state_project_number_seq_id", "state", "project_number", "seq",
                 "id"),
        # The finance queue's search (``finance.lists.TRANCHES``), on PostgreSQL:
        # migration 20261228_0001.
        sa.Index("ix_tranche_search_grams", sa.text(
            "search_grams(VARIADIC ARRAY[project_number, title, payee_name, label, "
            "payment_ref])"), postgresql_using="gin").ddl_if(dialect="postgresql"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(
        sa.ForeignKey("application.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int]
    # The project's number (项目编号), copied when the tranches are planned at the contract,
    # after the approval numbered the project (a number never changes): the lists sort by
    # it without joining every tranche to its application.
    project_number: Mapped[str | None] = mapped_column(sa.String(32))
    # The project's title and organisation, copied with its number (a funded project's
    # title is no longer edited; its organisation never changes): the queue is searched
    # by them from the tranches' own indexes, without going through a million
    # applications (the organisation's name is still read from its own row).
    title: Mapped[str | None] = mapped_column(sa.String(200))
    organization_id: Mapped[int | None] = mapped_column(sa.ForeignKey("organization.id"),
                                                        index=True)
    label: Mapped[str] = mapped_column(sa.String(100))
    amount: Mapped[Decimal] = mapped_column(Money)
    condition: Mapped[str] = mapped_column(sa.String(20))
    milestone_accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    milestone_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("milestone.id", ondelete="SET NULL"))
    state: Mapped[TrancheState] = mapped_column(
        state_column(TrancheState, "tranche_state"), default=TrancheState.planned)
    version: Mapped[int] = mapped_column(default=1)
    prepared_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    approved_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    decision_ref: Mapped[str | None] = mapped_column(sa.String(100))  # 三重一大 record
    payment_ref: Mapped[str | None] = mapped_column(sa.String(100))
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The payee as the maker checked it when preparing the voucher (收款单位、开户银行、
    # 银行账号): what is approved and paid, whatever the organisation's record says later.
    payee_name: Mapped[str | None] = mapped_column(sa.String(200))
    payee_bank: Mapped[str | None] = mapped_column(sa.String(100))
    payee_account: Mapped[str | None] = mapped_column(sa.String(40))

    application: Mapped[Application] = relationship()

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012
