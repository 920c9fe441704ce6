from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from workflow.core.models.base import Base, JSONType, TimestampMixin, UTCDateTime, utcnow

CONFLICT_KINDS = ("declared", "near_relative", "teacher_student", "joint_work")


class ConflictRelation(TimestampMixin, Base):
    """A recorded relation that makes an expert conflicted (回避): with a person (by user or
    身份证号), with an organisation, or with one application (a declared conflict)."""

    __tablename__ = "conflict_relation"
    __table_args__ = (
        sa.CheckConstraint(
            "kind IN ('declared', 'near_relative', 'teacher_student', 'joint_work')",
            name="kind_known"),
        sa.CheckConstraint(
            "other_user_id IS NOT NULL OR other_id_number IS NOT NULL OR "
            "other_org_id IS NOT NULL OR application_id IS NOT NULL", name="has_counterpart"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    expert_id: Mapped[int] = mapped_column(
        sa.ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(20))
    other_user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    other_id_number: Mapped[str | None] = mapped_column(sa.String(18))
    other_org_id: Mapped[int | None] = mapped_column(sa.ForeignKey("organization.id"))
    application_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("application.id", ondelete="CASCADE"))
    year: Mapped[int | None]  # of a joint project, paper or patent
    note: Mapped[str] = mapped_column(sa.Text, default="")
    recorded_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))


class ReviewDraw(Base):
    """One assignment run: its mode, seed, parameters and result, for the record."""

    __tablename__ = "review_draw"
    __table_args__ = (sa.CheckConstraint("mode IN ('optimal', 'random', 'manual')",
                                         name="mode_known"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int] = mapped_column(sa.ForeignKey("call.id", ondelete="CASCADE"),
                                         index=True)
    mode: Mapped[str] = mapped_column(sa.String(10))
    seed: Mapped[int | None] = mapped_column(sa.BigInteger)
    params: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    result: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    reserves: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)  # app id → ids
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
