"""Gap-free counters (project numbers, document numbers)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from workflow.core.models.base import Base


class NumberSequence(Base):
    """The last number handed out under a key (``project:2026:BG``, ``doc:2026``). Taken
    with an UPDATE in the approving transaction: the row lock orders concurrent
    approvals, and a rolled-back approval gives its number back (gap-free)."""

    __tablename__ = "number_sequence"

    key: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    last: Mapped[int] = mapped_column(default=0)
