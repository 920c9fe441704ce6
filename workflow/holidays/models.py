"""The holiday calendar (节假日安排): the State Council's schedule of each year kept in the
database, and how periods are counted.

A year is known when it has a ``HolidayYear`` row: its days off (放假, weekends within a
holiday included, each named) and its working weekends (调休上班) are then all in
``CalendarDay``; every other day is a working day from Monday to Friday. A year without a
row is unknown, and a period that reaches it is refused, never guessed.
"""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from workflow.core.models.base import AuditedMixin, Base, UTCDateTime, utcnow

# Where a year's schedule came from.
SOURCES = {"chinese_calendar": "chinese-calendar 数据包", "admin": "管理员录入"}


class HolidayYear(AuditedMixin, Base):
    """A year whose schedule is known. Its changes are in its own audit chain."""

    __tablename__ = "holiday_year"
    __table_args__ = (
        sa.CheckConstraint("year BETWEEN 2000 AND 2100", name="year_range"),
        sa.CheckConstraint("source IN ('chinese_calendar', 'admin')", name="source_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    year: Mapped[int] = mapped_column(unique=True)
    source: Mapped[str] = mapped_column(sa.String(20))
    # What it was entered from (the State Council's notice, 国办发明电〔2026〕x号).
    note: Mapped[str] = mapped_column(sa.String(200), default="", server_default="")
    entered_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    entered_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @property
    def source_label(self) -> str:
        return SOURCES.get(self.source, self.source)


class CalendarDay(Base):
    """A day that is not what its weekday says: a day off (``is_working_day`` false; a
    weekend inside a holiday too, for its name) or a working weekend (调休上班)."""

    __tablename__ = "calendar_day"

    day: Mapped[date] = mapped_column(sa.Date, primary_key=True)
    year: Mapped[int] = mapped_column(
        sa.ForeignKey("holiday_year.year", ondelete="CASCADE"), index=True)
    is_working_day: Mapped[bool]
    name: Mapped[str] = mapped_column(sa.String(40), default="", server_default="")


class CalendarSettings(AuditedMixin, Base):
    """How periods are counted (one row; none: the defaults). ``opening_day_counts``:
    the day a period opens is its first day (a 公示 opened on 9-29 for 5 working days
    ends on 10-10 in 2022), or the period starts the next day (it ends on 10-11)."""

    __tablename__ = "calendar_settings"
    __table_args__ = (sa.CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    opening_day_counts: Mapped[bool] = mapped_column(default=False,
                                                     server_default=sa.false())
    updated_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
