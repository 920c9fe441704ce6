"""Counting days with the calendar in the database: working days, and periods (a 公示 of N
working days) with their explicit first and last day. A day in a year the calendar does
not know raises ``UnknownYear`` naming that year: nothing is guessed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Protocol

import sqlalchemy as sa

from workflow.core.models import db
from workflow.holidays.models import CalendarDay, CalendarSettings, HolidayYear
from workflow.timeutil import SHANGHAI

# No period of the product is this long: a calendar whose every day is off ends the count.
MAX_SPAN = timedelta(days=400)


class UnknownYear(LookupError):
    """A day of ``year`` was needed and the calendar has no schedule for that year."""

    def __init__(self, year: int) -> None:
        super().__init__(f"no holiday schedule for {year}")
        self.year = year

    @property
    def message(self) -> str:
        return (f"节假日安排中尚无{self.year}年的放假和调休安排，无法按工作日计算。"
                f"请系统管理员先在“系统设置 › 节假日安排”中录入{self.year}年的安排"
                "（国务院办公厅每年秋季公布下一年的安排）")


class Calendar:
    """The calendar as one computation reads it: each year's exceptions loaded once."""

    def __init__(self) -> None:
        self._years: dict[int, dict[date, bool] | None] = {}

    def _year(self, year: int) -> dict[date, bool] | None:
        if year not in self._years:
            known = db.session.scalar(sa.select(HolidayYear.id).where(
                HolidayYear.year == year)) is not None
            self._years[year] = {day: bool(working) for day, working in db.session.execute(
                sa.select(CalendarDay.day, CalendarDay.is_working_day).where(
                    CalendarDay.year == year))} if known else None
        return self._years[year]

    def known(self, year: int) -> bool:
        return self._year(year) is not None

    def is_working_day(self, day: date) -> bool:
        """By the State Council's schedule, 调休 weekends included."""
        exceptions = self._year(day.year)
        if exceptions is None:
            raise UnknownYear(day.year)
        return exceptions.get(day, day.weekday() < 5)


class WorkingDays(Protocol):
    def is_working_day(self, day: date) -> bool: ...


def is_working_day(day: date) -> bool:
    return Calendar().is_working_day(day)


def year_known(year: int) -> bool:
    return Calendar().known(year)


def counts_opening_day() -> bool:
    """The counting convention (``CalendarSettings``); by default the opening day does not
    count and a period starts the next day."""
    row = db.session.get(CalendarSettings, 1)
    return bool(row is not None and row.opening_day_counts)


@dataclass(frozen=True)
class Period:
    """A period as published: opened on ``opened_on``, running from ``first_day`` to
    ``last_day`` (both included), over at midnight (Asia/Shanghai) after its last day."""

    opened_on: date
    first_day: date
    last_day: date
    days: int
    working_days: bool

    @property
    def ends_at(self) -> datetime:
        after = self.last_day + timedelta(days=1)
        return datetime(after.year, after.month, after.day, tzinfo=SHANGHAI).astimezone(UTC)

    @property
    def unit(self) -> str:
        return "个工作日" if self.working_days else "天"


def count_period(opened_at: datetime, days: int, working_days: bool, *,
                 opening_day_counts: bool | None = None,
                 calendar: WorkingDays | None = None) -> Period:
    """The period of ``days`` (working days, or calendar days) opened at ``opened_at``;
    ``opening_day_counts`` (default: the setting) whether the opening day is its first.
    Raises ``UnknownYear`` when counting working days reaches a year the calendar lacks."""
    counts = counts_opening_day() if opening_day_counts is None else opening_day_counts
    opened_on = opened_at.astimezone(SHANGHAI).date()
    first = opened_on if counts else opened_on + timedelta(days=1)
    days = max(days, 1)
    if not working_days:
        return Period(opened_on, first, first + timedelta(days=days - 1), days, False)
    cal = calendar or Calendar()
    day, left = first, days
    while True:
        if cal.is_working_day(day):
            left -= 1
            if left == 0:
                return Period(opened_on, first, day, days, True)
        day += timedelta(days=1)
        if day - first > MAX_SPAN:
            raise UnknownYear(day.year)
