"""Keeping the holiday calendar: seeded from the ``chinese-calendar`` package for the years
it knows, each later year entered by an administrator from the State Council's notice
(published each autumn for the next year), and the counting convention. Every change by
a person is audited (who, when, old → new)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from workflow.core import audit
from workflow.core.errors import Forbidden, Invalid
from workflow.core.models import db, utcnow
from workflow.core.rules import Changes
from workflow.holidays.calendar import Calendar
from workflow.holidays.models import CalendarDay, CalendarSettings, HolidayYear
from workflow.permissions import calendar_keeper
from workflow.timeutil import SHANGHAI

FIRST_YEAR, LAST_YEAR = 2000, 2100
MAX_NAME = 20
MAX_NOTE = 200
MAX_HOLIDAY_SPAN = 15  # days of one holiday (春节 and 国庆节 run to 8 or 9)
# The festivals of the State Council's yearly notice, in its order.
FESTIVALS = ("元旦", "春节", "清明节", "劳动节", "端午节", "中秋节", "国庆节")
# Admins are reminded of next year's schedule from November (it is usually published in
# late October or November) until it is entered.
REMIND_FROM_MONTH = 11


@dataclass(frozen=True)
class DayEntry:
    """A day that is not what its weekday says: a day off, or a working weekend."""

    day: date
    is_working_day: bool
    name: str

    def describe(self) -> str:
        return f"{self.day.isoformat()} {'调休上班' if self.is_working_day else '放假'} {self.name}"

    def as_json(self) -> dict[str, Any]:
        return {"date": self.day.isoformat(), "is_working_day": self.is_working_day,
                "name": self.name}


def _keeper(actor: Any) -> None:
    if not calendar_keeper(actor):
        raise Forbidden("只有系统管理员可以维护节假日安排", code="role_not_allowed")


# ---- seeding from the package -------------------------------------------------------------

def package_schedule() -> dict[int, list[DayEntry]]:
    """The years the pinned ``chinese-calendar`` knows, with their days."""
    from chinese_calendar import constants

    names = {h.value: h.chinese for h in constants.Holiday}
    out: dict[int, list[DayEntry]] = {}
    for days, working in ((constants.holidays, False), (constants.workdays, True)):
        for day, name in days.items():
            out.setdefault(day.year, []).append(
                DayEntry(day, working, names.get(name, str(name))[:MAX_NAME]))
    return {year: sorted(entries, key=lambda e: e.day) for year, entries in sorted(out.items())}


def seed_from_package(years: Iterable[int] | None = None) -> list[int]:
    """Write the package's schedule of each year the calendar does not know yet (a year
    an administrator entered or corrected is never overwritten); the years written."""
    from chinese_calendar import __version__ as version

    schedule = package_schedule()
    wanted = set(schedule) if years is None else set(years) & set(schedule)
    present = set(db.session.scalars(sa.select(HolidayYear.year)))
    missing = sorted(wanted - present)
    if not missing:
        return []
    db.session.execute(sa.insert(HolidayYear), [
        {"year": y, "source": "chinese_calendar", "note": f"chinese-calendar {version}",
         "entered_at": utcnow()} for y in missing])
    db.session.execute(sa.insert(CalendarDay), [
        {"day": e.day, "year": y, "is_working_day": e.is_working_day, "name": e.name}
        for y in missing for e in schedule[y]])
    db.session.flush()
    return missing


# ---- reading --------------------------------------------------------------------------------

@dataclass
class YearSchedule:
    year: int
    row: HolidayYear | None
    days: list[DayEntry] = field(default_factory=list)

    @property
    def known(self) -> bool:
        return self.row is not None

    @property
    def holidays(self) -> list[DayEntry]:
        return [d for d in self.days if not d.is_working_day]

    @property
    def workdays(self) -> list[DayEntry]:
        return [d for d in self.days if d.is_working_day]


def _entries(year: int) -> list[DayEntry]:
    return [DayEntry(d.day, d.is_working_day, d.name) for d in db.session.scalars(
        sa.select(CalendarDay).where(CalendarDay.year == year).order_by(CalendarDay.day))]


def schedule(year: int) -> YearSchedule:
    row = db.session.scalar(sa.select(HolidayYear).where(HolidayYear.year == year))
    return YearSchedule(year, row, _entries(year) if row is not None else [])


def today() -> date:
    return utcnow().astimezone(SHANGHAI).date()


@dataclass(frozen=True)
class YearStatus:
    year: int
    row: HolidayYear | None
    holidays: int
    workdays: int

    @property
    def known(self) -> bool:
        return self.row is not None


def overview(on: date | None = None) -> list[YearStatus]:
    """Every known year, newest first, and this year and the next even when unknown."""
    on = on or today()
    counts = {(y, w): n for y, w, n in db.session.execute(sa.select(
        CalendarDay.year, CalendarDay.is_working_day, sa.func.count()).group_by(
        CalendarDay.year, CalendarDay.is_working_day))}
    rows = {r.year: r for r in db.session.scalars(sa.select(HolidayYear))}
    years = sorted(set(rows) | {on.year, on.year + 1}, reverse=True)
    return [YearStatus(y, rows.get(y), counts.get((y, False), 0), counts.get((y, True), 0))
            for y in years]


def missing_next_year(now: datetime | None = None) -> int | None:
    """From November on, next year when its schedule is still missing (the reminder)."""
    on = (now or utcnow()).astimezone(SHANGHAI).date()
    if on.month < REMIND_FROM_MONTH:
        return None
    return None if Calendar().known(on.year + 1) else on.year + 1


# ---- entering a year ------------------------------------------------------------------------

def check_year(year: Any) -> int:
    if not isinstance(year, int) or isinstance(year, bool) or not \
            FIRST_YEAR <= year <= LAST_YEAR:
        raise Invalid(f"年份应在{FIRST_YEAR}至{LAST_YEAR}之间", details={"year": "年份有误"})
    return year


def _date(value: Any) -> date | None:
    if not isinstance(value, str):
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        return None


def parse_days(raw: Any) -> list[DayEntry]:
    """The API's ``days``: ``[{date, is_working_day, name}]``, each checked by position."""
    if not isinstance(raw, list):
        raise Invalid("days 应为数组", details={"days": "应为 [{date, is_working_day, name}]"})
    out: list[DayEntry] = []
    errors: dict[str, str] = {}
    for i, item in enumerate(raw):
        where = f"days[{i}]"
        if not isinstance(item, dict) or set(item) - {"date", "is_working_day", "name"}:
            errors[where] = "应为 {date, is_working_day, name}，不接受其他字段"
            continue
        day = _date(item.get("date"))
        working = item.get("is_working_day")
        name = item.get("name", "")
        if day is None:
            errors[f"{where}.date"] = "应为 YYYY-MM-DD 格式的日期"
        if not isinstance(working, bool):
            errors[f"{where}.is_working_day"] = "应为布尔值：true（调休上班）或 false（放假）"
        if not isinstance(name, str):
            errors[f"{where}.name"] = "应为字符串"
        if day is not None and isinstance(working, bool) and isinstance(name, str):
            out.append(DayEntry(day, working, name.strip()))
    if errors:
        raise Invalid("节假日安排有误：" + "；".join(f"{k} {v}" for k, v in errors.items()),
                      details=errors)
    return out


def check_days(year: int, days: list[DayEntry]) -> list[DayEntry]:
    """A year's days as the State Council's notice gives them: each in the year, once;
    a working day only on a weekend (调休上班), each named; at least one day off."""
    errors: dict[str, str] = {}
    seen: set[date] = set()
    for entry in days:
        key = entry.day.isoformat()
        if entry.day.year != year:
            errors[key] = f"{key} 不在{year}年内（跨年的日期录入到其所在年份）"
        elif entry.day in seen:
            errors[key] = f"{key} 重复录入"
        elif entry.is_working_day and entry.day.weekday() < 5:
            errors[key] = f"{key} 是工作日，调休上班日应为周六或周日"
        elif not entry.name or len(entry.name) > MAX_NAME:
            errors[key] = f"{key} 请填写所属节日名称（不超过{MAX_NAME}字）"
        seen.add(entry.day)
    if not any(not e.is_working_day for e in days):
        errors["days"] = f"请录入{year}年的放假日期（至少一天）"
    if errors:
        raise Invalid(f"{year}年节假日安排有误：" + "；".join(errors.values()), details=errors)
    return sorted(days, key=lambda e: e.day)


def enter_year(actor: Any, year: int, days: list[DayEntry], note: str = "",
               ip: str | None = None) -> HolidayYear:
    """Enter (or correct) a year's schedule: its days replace what was there. Audited:
    the days removed and added, by whom and when."""
    _keeper(actor)
    year = check_year(year)
    days = check_days(year, days)
    note = (note or "").strip()
    if len(note) > MAX_NOTE:
        raise Invalid(f"依据不超过{MAX_NOTE}字", details={"note": f"不超过{MAX_NOTE}字"})
    row = db.session.scalar(sa.select(HolidayYear).where(HolidayYear.year == year)
                            .with_for_update())
    trigger = "change_holiday_year" if row is not None else "enter_holiday_year"
    old = _entries(year) if row is not None else []
    if row is None:
        row = HolidayYear(year=year, source="admin", note="", entered_by_id=actor.id)
        db.session.add(row)
        db.session.flush()
    ch = Changes()
    ch.set(row, "source", "admin")
    ch.set(row, "note", note)
    removed = sorted({e.describe() for e in old} - {e.describe() for e in days})
    added = sorted({e.describe() for e in days} - {e.describe() for e in old})
    if not (removed or added or ch):
        return row  # (nothing changed: nothing to record)
    ch.set(row, "entered_by_id", actor.id)
    row.entered_at = utcnow()
    db.session.execute(sa.delete(CalendarDay).where(CalendarDay.year == year))
    db.session.execute(sa.insert(CalendarDay), [
        {"day": e.day, "year": year, "is_working_day": e.is_working_day, "name": e.name}
        for e in days])
    audit.record(row, "holiday_year", trigger, actor, "admin", None, None, note,
                 {"changes": dict(ch), "removed": removed, "added": added}, ip)
    db.session.flush()
    return row


# ---- the page's form: one line per festival ------------------------------------------------

@dataclass
class Festival:
    """One line of the State Council's notice: 国庆节：10月1日至7日放假调休，共7天。
    9月26日（星期日）、10月9日（星期六）上班。"""

    name: str = ""
    start: str = ""
    end: str = ""
    workdays: str = ""  # dates separated by commas or spaces


def festivals_of(days: list[DayEntry]) -> list[Festival]:
    """A year's days as the form's lines: each run of consecutive days off of one name,
    with that name's working weekends on its first line."""
    lines: list[Festival] = []
    last: dict[str, tuple[Festival, date]] = {}
    for entry in (d for d in days if not d.is_working_day):
        found = last.get(entry.name)
        if found is not None and entry.day == found[1] + timedelta(days=1):
            found[0].end = entry.day.isoformat()
            last[entry.name] = (found[0], entry.day)
            continue
        line = Festival(entry.name, entry.day.isoformat(), entry.day.isoformat())
        lines.append(line)
        last[entry.name] = (line, entry.day)
    for entry in (d for d in days if d.is_working_day):
        named = next((f for f in lines if f.name == entry.name), None)
        if named is None:
            named = Festival(entry.name)
            lines.append(named)
        named.workdays = "、".join(x for x in (named.workdays, entry.day.isoformat()) if x)
    return lines


def blank_festivals() -> list[Festival]:
    return [Festival(name) for name in FESTIVALS]


_SEPARATORS = re.compile(r"[\s,，、;；]+")


def festivals_to_days(lines: list[Festival]) -> list[DayEntry]:
    """The form's lines as days; every mistake named by its line and field."""
    out: list[DayEntry] = []
    errors: dict[str, str] = {}
    for i, line in enumerate(lines):
        if not (line.start.strip() or line.end.strip() or line.workdays.strip()):
            continue
        label = line.name.strip() or f"第{i + 1}行"
        name = line.name.strip()
        if not name or len(name) > MAX_NAME:
            errors[f"name-{i}"] = f"{label}：请填写节日名称（不超过{MAX_NAME}字）"
        start, end = _date(line.start), _date(line.end or line.start)
        if start is None or end is None:
            errors[f"start-{i}"] = f"{label}：请填写放假的起止日期"
        elif end < start or (end - start).days >= MAX_HOLIDAY_SPAN:
            errors[f"end-{i}"] = f"{label}：结束日期应不早于开始日期，且不超过{MAX_HOLIDAY_SPAN}天"
        else:
            out += [DayEntry(start + timedelta(days=n), False, name)
                    for n in range((end - start).days + 1)]
        for raw in (x for x in _SEPARATORS.split(line.workdays.strip()) if x):
            day = _date(raw)
            if day is None:
                errors[f"workdays-{i}"] = f"{label}：调休上班日“{raw}”不是 YYYY-MM-DD 格式的日期"
            else:
                out.append(DayEntry(day, True, name))
    if errors:
        raise Invalid("节假日安排有误：" + "；".join(errors.values()), details=errors)
    return out


def festivals_from_form(form: Mapping[str, str], lines: int) -> list[Festival]:
    return [Festival(*(str(form.get(f"{key}-{i}", ""))[:200]
                       for key in ("name", "start", "end", "workdays")))
            for i in range(lines)]


# ---- the counting convention ----------------------------------------------------------------

def settings() -> CalendarSettings:
    row = db.session.get(CalendarSettings, 1)
    return row if row is not None else CalendarSettings(id=1, opening_day_counts=False)


def set_counting(actor: Any, opening_day_counts: Any, ip: str | None = None
                 ) -> CalendarSettings:
    """Whether a period's opening day is its first day. Applies to periods opened from
    now on; those already running keep their published days. Audited."""
    _keeper(actor)
    if not isinstance(opening_day_counts, bool):
        raise Invalid("opening_day_counts 应为布尔值",
                      details={"opening_day_counts": "应为 true 或 false"})
    row = db.session.get(CalendarSettings, 1, with_for_update=True)
    if row is None:
        row = CalendarSettings(id=1, opening_day_counts=False)
        db.session.add(row)
        db.session.flush()
    ch = Changes()
    ch.set(row, "opening_day_counts", opening_day_counts)
    if ch:
        row.updated_by_id, row.updated_at = actor.id, utcnow()
        audit.record(row, "calendar_settings", "set_counting", actor, "admin", None, None,
                     "", {"changes": dict(ch)}, ip)
        db.session.flush()
    return row


def convention_text(opening_day_counts: bool) -> str:
    return ("公示（发布）当日计入期限，为第一天" if opening_day_counts
            else "公示（发布）当日不计入期限，自次日起算")
