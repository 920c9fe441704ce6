"""Gap-free counters (project numbers, 发文字号) and the office's register of 发文字号."""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from workflow.core.models.base import AuditedMixin, Base, UTCDateTime, state_column, utcnow


class NumberSequence(Base):
    """The last number handed out under a key (``project:2026:BG``,
    ``docno:赣市科字〔2026〕``). Taken with an UPDATE in the issuing transaction: the row
    lock orders concurrent takers, and a rolled-back one gives its number back
    (gap-free)."""

    __tablename__ = "number_sequence"

    key: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    last: Mapped[int] = mapped_column(default=0)


class NumberingMode(enum.StrEnum):
    """How a kind of document gets its 发文字号."""

    sequence = "sequence"  # taken from the office's sequence when the document is issued
    entered = "entered"    # typed by the office when it issues the document

    @property
    def label(self) -> str:
        return {"sequence": "按流水号自动编号", "entered": "办公室逐件录入"}[self.value]


class DocNumberSetting(AuditedMixin, Base):
    """How the office numbers one kind of document (no row: the defaults). ``prefix`` is
    the template of the number's head, ``{year}`` standing for the year of issue
    (Asia/Shanghai): ``赣市科字〔{year}〕`` gives ``赣市科字〔2026〕15号``. The next
    number is the sequence's (``NumberSequence`` under ``docno:`` and the head), which
    kinds sharing a head share: the office's register of that head is one."""

    __tablename__ = "doc_number_setting"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(30), unique=True)
    mode: Mapped[NumberingMode] = mapped_column(
        state_column(NumberingMode, "numbering_mode"), default=NumberingMode.sequence)
    prefix: Mapped[str] = mapped_column(sa.String(30))
    updated_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class IssuedNumber(AuditedMixin, Base):
    """One document to issue under a 发文字号 (the office's 发文登记): a row per document,
    numbered when it is issued (a sequence) or waiting for the office to enter its
    number (待编号). ``number`` is unique over every kind: the office never gives a
    number twice. ``prefix``/``seq`` split a number of the form ``…〔2026〕15号`` so that
    a sequence never hands out a number the office already entered. ``topic`` is the
    outbox event that renders the document once it is numbered."""

    __tablename__ = "issued_number"
    __table_args__ = (
        sa.UniqueConstraint("kind", "entity_type", "entity_id"),
        sa.CheckConstraint("(number IS NULL) = (numbered_at IS NULL)", name="numbered_when"),
        sa.Index("ix_issued_number_prefix_seq", "prefix", "seq"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(30))
    entity_type: Mapped[str] = mapped_column(sa.String(30))
    entity_id: Mapped[int]
    mode: Mapped[NumberingMode] = mapped_column(state_column(NumberingMode, "numbering_mode"))
    subject: Mapped[str] = mapped_column(sa.String(300), default="", server_default="")
    topic: Mapped[str] = mapped_column(sa.String(60))
    number: Mapped[str | None] = mapped_column(sa.String(40), unique=True)
    prefix: Mapped[str | None] = mapped_column(sa.String(40))
    seq: Mapped[int | None]
    due_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    numbered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    numbered_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
