"""Times are stored in UTC and shown in Asia/Shanghai. (Working days are counted with the
holiday calendar in the database: ``workflow.holidays.calendar``.)"""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")


def local_time(value: datetime | str | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A moment (or one kept as ISO text in a JSON column) in Beijing time."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return value
        return local_time(moment, fmt)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(SHANGHAI).strftime(fmt)


def shanghai(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """A wall-clock time in Asia/Shanghai as an aware UTC datetime."""
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI).astimezone(UTC)


def cn_date(day: date) -> str:
    """A day as official texts write it: 2022年9月30日."""
    return f"{day.year}年{day.month}月{day.day}日"
