"""Long work run by the worker, with its progress (``workflow/core/jobs.py``)."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from workflow.core.models.base import Base, JSONType, UTCDateTime, utcnow


class JobState(enum.Enum):
    queued = "queued"
    running = "running"
    done = "done"
    failed = "failed"

    @property
    def label(self) -> str:
        return {"queued": "排队中", "running": "处理中", "done": "已完成",
                "failed": "失败"}[self.value]

    @property
    def finished(self) -> bool:
        return self in (JobState.done, JobState.failed)


class Job(Base):
    """One piece of long work a person started (an assignment, an import, a bulk review):
    what it is, how far it got, and what came of it. Written with its outbox event in the
    transaction that starts it; the worker moves it on."""

    __tablename__ = "job"
    __table_args__ = (
        sa.CheckConstraint("done >= 0", name="done_nonnegative"),
        sa.CheckConstraint("total IS NULL OR total >= 0", name="total_nonnegative"),
        # A finished job says when; a failed one says why.
        sa.CheckConstraint("state NOT IN ('done', 'failed') OR finished_at IS NOT NULL",
                           name="finished_has_time"),
        sa.CheckConstraint("state <> 'failed' OR error IS NOT NULL", name="failed_has_error"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(40))
    started_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("user_account.id"), index=True)
    state: Mapped[JobState] = mapped_column(
        sa.Enum(JobState, name="job_state", native_enum=False, create_constraint=True,
                length=24, validate_strings=True, values_callable=lambda e: [m.value for m in e]),
        default=JobState.queued)
    params: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    done: Mapped[int] = mapped_column(default=0)
    total: Mapped[int | None]
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    error: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
