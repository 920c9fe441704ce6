from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from workflow.core.models.base import Base, JSONType, UTCDateTime, utcnow


class OutboxEvent(Base):
    """A side effect to carry out after the transaction that wrote it commits."""

    __tablename__ = "outbox_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    topic: Mapped[str] = mapped_column(sa.String(60))
    entity_type: Mapped[str] = mapped_column(sa.String(20))
    entity_id: Mapped[int]
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    relayed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # last handed out
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(sa.Text)


class OutboxDelivery(Base):
    """That ``consumer`` has handled ``event``: the unique pair makes handling idempotent."""

    __tablename__ = "outbox_delivery"
    __table_args__ = (sa.UniqueConstraint("event_id", "consumer"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(
        sa.ForeignKey("outbox_event.id", ondelete="CASCADE"), index=True
    )
    consumer: Mapped[str] = mapped_column(sa.String(40))
    delivered_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    worker: Mapped[str | None] = mapped_column(sa.String(120))
