"""Times are stored in UTC and shown in Asia/Shanghai."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar

SHANGHAI = ZoneInfo("Asia/Shanghai")
log = logging.getLogger(__name__)


def local_time(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(SHANGHAI).strftime(fmt)


def shanghai(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """A wall-clock time in Asia/Shanghai as an aware UTC datetime."""
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI).astimezone(UTC)


def is_working_day(day: date) -> bool:
    """A working day by the State Council's holiday schedule, 调休 Saturdays included.

    For a year the ``chinese-calendar`` package has no schedule for yet, Monday to
    Friday counts (the schedule is published each November for the next year).
    """
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        log.warning("no holiday schedule for %s; counting Monday-Friday", day.year)
        return day.weekday() < 5


def add_working_days(start: date, days: int) -> date:
    """The ``days``-th working day after ``start`` (``start`` itself not counted)."""
    day, left = start, days
    while left > 0:
        day += timedelta(days=1)
        if is_working_day(day):
            left -= 1
    return day


def period_end(start: datetime, days: int, working_days: bool) -> datetime:
    """When a period of ``days`` that opens at ``start`` ends: midnight (Asia/Shanghai)
    after its last day, which is counted from the day after ``start``."""
    first = start.astimezone(SHANGHAI).date()
    last = add_working_days(first, days) if working_days else first + timedelta(days=days)
    after = last + timedelta(days=1)
    return datetime(after.year, after.month, after.day, tzinfo=SHANGHAI).astimezone(UTC)
