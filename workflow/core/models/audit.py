from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from workflow.core.models.base import Base, JSONType, UTCDateTime, utcnow


class AuditEvent(Base):
    """One recorded change. Rows of one entity form a hash chain ordered by ``seq``.

    ``hash = sha256(prev_hash + canonical JSON of the row)``; ``prev_hash`` of the
    first row of an entity is 64 zeros. One chain per entity keeps writers of
    different entities from queueing on a single chain head.
    """

    __tablename__ = "audit_event"
    __table_args__ = (
        sa.UniqueConstraint("entity_type", "entity_id", "seq"),
        sa.CheckConstraint("seq >= 1", name="seq_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    entity_type: Mapped[str] = mapped_column(sa.String(20))
    entity_id: Mapped[int]
    seq: Mapped[int]
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    actor_name: Mapped[str] = mapped_column(sa.String(100))
    actor_role: Mapped[str] = mapped_column(sa.String(20))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    trigger: Mapped[str] = mapped_column(sa.String(40))
    from_state: Mapped[str | None] = mapped_column(sa.String(24))
    to_state: Mapped[str | None] = mapped_column(sa.String(24))
    comment: Mapped[str] = mapped_column(sa.Text, default="")
    data: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    ip: Mapped[str | None] = mapped_column(sa.String(45))
    prev_hash: Mapped[str] = mapped_column(sa.String(64))
    hash: Mapped[str] = mapped_column(sa.String(64))  # verified by recomputing, not an index


class AuditDigest(Base):
    """A periodic snapshot of every chain head, itself chained: deleting a whole
    entity's history, or cutting rows off a chain's end, shows against it."""

    __tablename__ = "audit_digest"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    heads: Mapped[dict[str, Any]] = mapped_column(JSONType)
    prev_hash: Mapped[str] = mapped_column(sa.String(64))
    hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
