"""Annual reports: opening them for a year, the team's content (parsed and checked),
marking the late ones overdue, and the reminders the beat sends.

Where days are counted the working-day calendar counts them (``workflow/holidays``):
a due date on a day off moves to the next working day, and the reminders go 7 and 1
working days before it. A year the calendar lacks is never guessed: the configured date
stands, and the reminders before it wait until the year is entered.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError

from forms import format_wan
from states import AnnualReportState
from states.lifecycles import ANNUAL_REPORTING
from workflow.accounts.models import User, UserRole
from workflow.annual.models import SPENDING_CATEGORIES, AnnualReport
from workflow.applying.models import Application
from workflow.calls.models import Call, Scheme
from workflow.core import audit, engine, memo
from workflow.core.errors import Conflict, Forbidden, Invalid, ServiceError
from workflow.core.models import db, utcnow
from workflow.holidays.calendar import Calendar, UnknownYear
from workflow.notify.notifications import REMINDER, Message, send_many
from workflow.permissions import allow, officer, principal_investigator
from workflow.timeutil import SHANGHAI

log = logging.getLogger(__name__)

AR = AnnualReportState
# States in which the team edits the report's content.
EDITABLE = (AR.due, AR.returned, AR.overdue)
MIN_PROGRESS = 20
MAX_TEXT = 20000
MAX_INDICATORS = 50
WAN = re.compile(r"^\d{1,8}(\.\d{1,2})?$")
# Characters no text of a report may hold (line breaks and tabs may).
BAD_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
TEN_THOUSAND = Decimal(10000)


# ---- settings ----------------------------------------------------------------------------

def _month_day(key: str) -> tuple[int, int]:
    raw = str(current_app.config[key])
    match = re.fullmatch(r"(\d{1,2})-(\d{1,2})", raw.strip())
    if not match:
        raise RuntimeError(f"{key} must be MM-DD, not {raw!r}")
    month, day = int(match.group(1)), int(match.group(2))
    date(2001, month, day)  # raises on 02-30
    return month, day


def opens_on(year: int) -> date:
    """The day the beat opens ``year``'s reports (``ANNUAL_REPORT_OPENS``, e.g. 12-01)."""
    return date(year, *_month_day("ANNUAL_REPORT_OPENS"))


def due_on(year: int, calendar: Calendar | None = None) -> date:
    """``year``'s due date: ``ANNUAL_REPORT_DUE`` (e.g. 01-31), in the next year when it
    comes before the opening day, moved to the next working day when it is a day off."""
    month, day = _month_day("ANNUAL_REPORT_DUE")
    due = date(year, month, day)
    if due < opens_on(year):
        due = date(year + 1, month, day)
    cal = calendar or Calendar()
    try:
        while not cal.is_working_day(due):
            due += timedelta(days=1)
    except UnknownYear:
        log.info("annual reports %s: no calendar for %s, due date as configured", year, due.year)
    return due


def today(now: datetime | None = None) -> date:
    return (now or utcnow()).astimezone(SHANGHAI).date()


# ---- opening -----------------------------------------------------------------------------

def reporting_projects() -> sa.Select[Any]:
    return sa.select(Application).where(Application.state.in_(ANNUAL_REPORTING))


def open_year(year: int, actor: Any = None, due: date | None = None,
              now: datetime | None = None, ip: str | None = None,
              among: list[int] | None = None) -> list[AnnualReport]:
    """Open ``year``'s report for every running project (``among`` these, when given)
    that has none yet (once per project and year: the unique key backs this up);
    returns the reports opened."""
    now = now or utcnow()
    due = due or due_on(year)
    have = sa.select(AnnualReport.application_id).where(AnnualReport.year == year)
    query = reporting_projects().where(Application.id.not_in(have))
    if among is not None:
        query = query.where(Application.id.in_(among))
    projects = list(db.session.scalars(query.order_by(Application.id)))
    opened = []
    for app in projects:
        # A new report starts in the lifecycle's initial state (due).
        report = AnnualReport(application_id=app.id, year=year, due_on=due, opened_at=now)
        try:
            with db.session.begin_nested():
                db.session.add(report)
                db.session.flush()
        except IntegrityError:
            continue  # another beat (or the officer) opened it just now
        audit.record(report, "annual_report", "open_annual_report", actor,
                     "officer" if actor is not None else "system", None, AR.due.value,
                     "", {"year": year, "due_on": due.isoformat()}, ip)
        opened.append(report)
    return opened


def open_by_officer(actor: User, year: Any, due: Any = None,
                    ip: str | None = None) -> list[AnnualReport]:
    """The officer opens a year's reports on demand (a due date may be given)."""
    allow(officer(actor), "只有项目主管可以开启年度报告")
    errors: dict[str, str] = {}
    this_year = today().year
    if not isinstance(year, int) or isinstance(year, bool) or not 2000 <= year <= this_year:
        errors["year"] = f"年度应为 2000 至 {this_year} 的整数"
    due_date = None
    if due not in (None, ""):
        due_date = _parse_date(due)
        if due_date is None:
            errors["due_on"] = "截止日期应为 YYYY-MM-DD 格式的日期"
        elif due_date <= today():
            errors["due_on"] = "截止日期应晚于今天"
    elif "year" not in errors and due_on(int(year)) <= today():
        # Reports opened already late would block their PIs at once (限项).
        errors["due_on"] = (f"{year}年度报告按设置的截止日为{due_on(int(year))}，已过；"
                            "请给出新的截止日期")
    if errors:
        raise Invalid("开启年度报告的输入有误", details=errors)
    return open_year(int(year), actor, due_date, ip=ip)


def report_year(on: date) -> int | None:
    """The year whose reports are open on ``on``: from its opening day to its due date."""
    for year in (on.year, on.year - 1):
        if opens_on(year) <= on <= due_on(year):
            return year
    return None


def open_due_reports(now: datetime | None = None) -> int:
    """The beat: in the reporting window, every running project without a report for the
    year gets one (a project that started mid-window too)."""
    now = now or utcnow()
    year = report_year(today(now))
    if year is None:
        return 0
    opened = open_year(year, now=now)
    db.session.commit()
    return len(opened)


# ---- overdue -----------------------------------------------------------------------------

def mark_overdue(now: datetime | None = None) -> int:
    """The beat: reports past their due date and not submitted become overdue."""
    now = now or utcnow()
    done = 0
    ids = list(db.session.scalars(sa.select(AnnualReport.id).where(
        AnnualReport.state == AR.due, AnnualReport.due_on < today(now))))
    for report_id in ids:
        try:
            report = engine.load("annual_report", report_id, lock=True)
            engine.fire(report, "mark_overdue", None, now=now)
            db.session.commit()
            done += 1
        except ServiceError as err:
            db.session.rollback()
            log.info("annual report %s not marked overdue: %s", report_id, err.message)
    return done


def overdue_reports_of(applicant_id: int) -> list[AnnualReport]:
    """The PI's overdue reports (each blocks their new applications: 限项)."""
    return list(memo.remembered(("overdue_reports", applicant_id), lambda: list(
        db.session.scalars(sa.select(AnnualReport).join(
            Application, Application.id == AnnualReport.application_id).where(
            Application.applicant_id == applicant_id, AnnualReport.state == AR.overdue)
            .order_by(AnnualReport.year, AnnualReport.id)))))


# ---- the team's content ------------------------------------------------------------------

@dataclass
class Content:
    progress: str
    indicators: list[dict[str, str]]
    outputs: str
    spending: dict[str, str]
    total: Decimal  # yuan
    published_on: date | None
    published_where: str


def _parse_date(value: Any) -> date | None:
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        return None


def _text(raw: Mapping[str, Any], key: str, label: str, limit: int,
          errors: dict[str, str]) -> str:
    value = raw.get(key, "")
    if value is None:
        value = ""
    if not isinstance(value, str):
        errors[key] = f"{label}应为文字"
        return ""
    value = value.strip()
    if len(value) > limit:
        errors[key] = f"{label}不能超过{limit}字"
    elif BAD_CHARS.search(value):
        errors[key] = f"{label}含有无法保存的控制字符，请删除后再保存"
    return value[:limit]


def released_to(app: Application) -> Decimal:
    """The funds released to the project so far (yuan): the sum of its released
    tranches, which the ledger keeps on the project (``Application.disbursed``)."""
    return app.disbursed or Decimal("0.00")


def parse_spending(raw: Any, errors: dict[str, str]) -> tuple[dict[str, str], Decimal]:
    """Spending to date by category of ``SPENDING_CATEGORIES`` as typed in 万元 (at most
    two decimals, not negative; a category left empty is none): the amounts kept as
    "12.50", and their total in yuan. Each problem is put in ``errors`` by field."""
    spending: dict[str, str] = {}
    total = Decimal("0.00")
    amounts = {} if raw is None else raw
    if not isinstance(amounts, dict):
        errors["spending"] = "支出情况应为按类别给出的金额"
        return spending, total
    for key in amounts:
        if key not in SPENDING_CATEGORIES:
            errors[f"spending.{key}"] = "没有这个支出类别（设备费、业务费、劳务费、间接费用）"
    for key, label in SPENDING_CATEGORIES.items():
        value = amounts.get(key)
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        text = str(value).strip() if isinstance(value, str | int) and not isinstance(
            value, bool) else None
        if text is None or not WAN.match(text):
            errors[f"spending.{key}"] = f"{label}应为不小于0的金额（万元），最多两位小数"
            continue
        try:
            wan = Decimal(text)
        except InvalidOperation:  # pragma: no cover (the pattern admits only numbers)
            errors[f"spending.{key}"] = f"{label}应为不小于0的金额（万元），最多两位小数"
            continue
        spending[key] = f"{wan:.2f}"
        total += wan * TEN_THOUSAND
    return spending, total.quantize(Decimal("0.01"))


def parse_content(report: AnnualReport, raw: Mapping[str, Any]) -> Content:
    """The content as typed (a form or a JSON body), checked: each field's problem in
    Chinese beside its key; raises ``Invalid`` with all of them. Formats are checked on
    every save; completeness when the report is submitted (``annual_report_complete``)."""
    errors: dict[str, str] = {}
    known = {"progress", "indicators", "outputs", "spending", "published_on",
             "published_where"}
    for key in raw:
        if key not in known:
            errors[key] = "不接受该字段"
    progress = _text(raw, "progress", "年度进展", MAX_TEXT, errors)
    outputs = _text(raw, "outputs", "阶段性成果", MAX_TEXT, errors)
    where = _text(raw, "published_where", "公开地点或方式", 200, errors)
    indicators: list[dict[str, str]] = []
    given = raw.get("indicators")
    given = [] if given is None else given
    if not isinstance(given, list) or len(given) > MAX_INDICATORS:
        errors["indicators"] = f"指标完成情况应为不超过{MAX_INDICATORS}行的列表"
    else:
        for i, row in enumerate(given):
            if not isinstance(row, dict) or set(row) - {"indicator", "status"} or not all(
                    isinstance(v, str) for v in row.values()):
                errors[f"indicators.{i}"] = "每行应含“指标”和“完成情况”两项文字"
                continue
            indicator = row.get("indicator", "").strip()[:500]
            status = row.get("status", "").strip()[:2000]
            if not indicator and not status:
                continue
            if BAD_CHARS.search(indicator + status):
                errors[f"indicators.{i}"] = f"第{i + 1}行含有无法保存的控制字符"
                continue
            if not indicator:
                errors[f"indicators.{i}.indicator"] = f"第{i + 1}行：请填写指标或里程碑"
            if not status:
                errors[f"indicators.{i}.status"] = f"第{i + 1}行：请填写完成情况"
            indicators.append({"indicator": indicator, "status": status})
    spending, total = parse_spending(raw.get("spending"), errors)
    released = released_to(report.application)
    if not any(k.startswith("spending") for k in errors) and total > released:
        errors["spending"] = (f"支出合计 {format_wan(total)} 万元，超过项目已拨付经费 "
                              f"{format_wan(released)} 万元（以财务已拨付的批次合计为准）")
    published = None
    raw_date = raw.get("published_on")
    if raw_date not in (None, ""):
        published = _parse_date(raw_date)
        if published is None:
            errors["published_on"] = "公开日期应为 YYYY-MM-DD 格式的日期"
        elif published > today():
            errors["published_on"] = "公开日期不能晚于今天"
    if errors:
        raise Invalid("年度报告填写有误，请修改", details=errors)
    return Content(progress, indicators, outputs, spending, total.quantize(Decimal("0.01")),
                   published, where)


def save_draft(actor: User, report_id: int, raw: Mapping[str, Any],
               expected_version: int | None = None, ip: str | None = None) -> AnnualReport:
    """The team saves the report's content (the PI, while it is to be filled in)."""
    report: AnnualReport = engine.load("annual_report", report_id, lock=True)
    if not principal_investigator(actor, report.application):
        raise Forbidden("只有项目负责人可以填写年度报告")
    if report.state not in EDITABLE:
        raise Conflict(f"年度报告当前为“{report.state.label}”，不能修改")
    if expected_version is not None and expected_version != report.version:
        raise Conflict("年度报告已被修改，请刷新后再保存")
    content = parse_content(report, raw)
    changes: dict[str, Any] = {}
    for name, value in (("progress", content.progress), ("indicators", content.indicators),
                        ("outputs", content.outputs), ("spending", content.spending),
                        ("spent_total", content.total), ("published_on", content.published_on),
                        ("published_where", content.published_where)):
        old = getattr(report, name)
        if old != value:
            changes[name] = [str(old) if isinstance(old, Decimal | date) else old,
                             str(value) if isinstance(value, Decimal | date) else value]
            setattr(report, name, value)
    if changes:
        db.session.flush()
        audit.record(report, "annual_report", "save_annual_report", actor, "applicant",
                     report.state.value, report.state.value, "", {"changes": changes}, ip)
    return report


def missing(report: AnnualReport) -> dict[str, str]:
    """What the report still lacks to be submitted, by field."""
    out: dict[str, str] = {}
    if len(report.progress.strip()) < MIN_PROGRESS:
        out["progress"] = f"请填写年度进展（不少于{MIN_PROGRESS}字）"
    if not report.indicators:
        out["indicators"] = "请逐项填写任务书考核指标（或里程碑）的完成情况"
    if not report.outputs.strip():
        out["outputs"] = "请填写阶段性成果（论文、专利、标准、产品等；尚无成果请写明“暂无”）"
    for key, label in SPENDING_CATEGORIES.items():
        if key not in (report.spending or {}):
            out[f"spending.{key}"] = f"请填写{label}（万元，无支出填 0）"
    if baogan(report):
        if report.published_on is None:
            out["published_on"] = "包干制项目须填写单位内部公开经费使用情况的日期"
        if not report.published_where.strip():
            out["published_where"] = ("包干制项目须填写单位内部公开的地点或方式"
                                      "（如：单位网站、公示栏）")
    return out


def baogan(report: AnnualReport) -> bool:
    return bool(report.application.call.scheme is Scheme.baogan)


# ---- reminders (beat) --------------------------------------------------------------------

def _unit_admins(org_id: int) -> list[int]:
    return list(db.session.scalars(sa.select(User.id).join(UserRole).where(
        UserRole.role == "org_admin", User.organization_id == org_id, User.active.is_(True))))


def working_days_left(on: date, due: date, calendar: Calendar) -> int:
    """Working days after ``on`` up to and including ``due``."""
    n, day = 0, on + timedelta(days=1)
    while day <= due:
        if calendar.is_working_day(day):
            n += 1
        day += timedelta(days=1)
    return n


def remind_steps() -> tuple[int, ...]:
    return tuple(sorted(int(d) for d in current_app.config["ANNUAL_REPORT_REMIND_DAYS"]))


def _recipients(report: AnnualReport) -> list[int]:
    app = report.application
    return list(dict.fromkeys([app.applicant_id, *_unit_admins(app.organization_id)]))


def reminders_due(now: datetime | None = None) -> list[tuple[AnnualReport, str, int]]:
    """(report, step, working days left) of every reminder due now: ``before{N}`` when N
    or fewer working days are left (the smallest such N of the settings), ``overdue{W}``
    in each week since the due date."""
    on = today(now)
    cal = Calendar()
    steps = remind_steps()
    out: list[tuple[AnnualReport, str, int]] = []
    for report in db.session.scalars(sa.select(AnnualReport).where(
            AnnualReport.state.in_([AR.due, AR.returned, AR.overdue]))
            .order_by(AnnualReport.id)):
        if report.state is AR.overdue:
            out.append((report, f"overdue{(on - report.due_on).days // 7}", 0))
            continue
        if report.due_on < on or not steps or report.due_on > on + timedelta(days=60):
            continue
        try:
            left = working_days_left(on, report.due_on, cal)
        except UnknownYear as err:
            log.info("annual report %s: no reminder, %s", report.id, err.message)
            continue
        step = next((s for s in steps if left <= s), None)
        if step is not None:
            out.append((report, f"before{step}", left))
    return out


def send_reminders(now: datetime | None = None) -> int:
    """Each reminder once per report and step (its key), to the PI and the unit's
    research office; the e-mails leave through the outbox after the commit."""
    batch: list[tuple[Message, str]] = []
    for report, step, left in reminders_due(now):
        app = report.application
        context = {"app": app, "report": report, "due_on": report.due_on.isoformat(),
                   "left": left, "overdue": report.state is AR.overdue}
        for uid in _recipients(report):
            batch.append((Message(uid, "annual_report_due", REMINDER, context,
                                  link=f"/annual-reports/{report.id}"),
                          f"reminder:annual:{report.id}:{step}"))
    made = len(send_many(batch)) if batch else 0
    db.session.commit()
    return made


def reports_of(app: Application) -> list[AnnualReport]:
    return list(db.session.scalars(sa.select(AnnualReport).where(
        AnnualReport.application_id == app.id).order_by(AnnualReport.year.desc())))


def report_json(r: AnnualReport) -> dict[str, Any]:
    app = r.application
    return {
        "id": r.id, "application_id": app.id, "project_number": app.project_number,
        "project": app.title, "scheme": app.call.scheme.value, "year": r.year,
        "state": r.state.value, "state_label": r.state.label, "version": r.version,
        "due_on": r.due_on.isoformat(), "progress": r.progress,
        "indicators": list(r.indicators or []), "outputs": r.outputs,
        "spending": {k: (r.spending or {}).get(k) for k in SPENDING_CATEGORIES},
        "spent_total_wan": format_wan(r.spent_total),
        "released_wan": format_wan(released_to(app)),
        "published_on": r.published_on.isoformat() if r.published_on else None,
        "published_where": r.published_where,
        "submitted_at": r.submitted_at.isoformat() if r.submitted_at else None,
        "endorsed_at": r.endorsed_at.isoformat() if r.endorsed_at else None,
        "accepted_at": r.accepted_at.isoformat() if r.accepted_at else None,
        "return_reason": r.return_reason,
        "missing": missing(r) if r.state in EDITABLE else {},
    }


def calls_with_reports(_user: Any) -> list[tuple[str, str]]:
    rows = db.session.execute(sa.select(Call.id, Call.title).where(Call.id.in_(
        sa.select(Application.call_id).join(
            AnnualReport, AnnualReport.application_id == Application.id)))
        .order_by(Call.id.desc()))
    return [(str(i), title) for i, title in rows]


def years_with_reports(_user: Any) -> list[tuple[str, str]]:
    years = db.session.scalars(sa.select(AnnualReport.year).distinct()
                               .order_by(AnnualReport.year.desc()))
    return [(str(y), f"{y}年度") for y in years]


# ---- what the report's page reads (the Jinja global ``ANNUAL``) ----------------------------

def editable(report: AnnualReport, user: Any) -> bool:
    return report.state in EDITABLE and principal_investigator(user, report.application)


def task_book_indicators(app: Application) -> list[str]:
    """What the report is measured against: the milestones of the task book and, for a
    揭榜挂帅 project, its challenge's indicators."""
    from workflow.finance.operations import milestones_of

    out = [f"里程碑{m.seq}：{m.label}" for m in milestones_of(app)]
    if app.challenge is not None:
        out += [f"{i.get('name', '')}（{i.get('target', '')}）" if isinstance(i, dict)
                else str(i) for i in (app.challenge.indicators or [])]
    return out


def indicator_rows(report: AnnualReport, form: Mapping[str, Any]) -> list[dict[str, str]]:
    """The indicator rows the form shows: as typed, else as saved, else the task book's
    indicators to answer; with two blank rows to add more."""
    if form:
        rows = []
        for i in range(MAX_INDICATORS):
            if f"indicator-{i}" not in form and f"status-{i}" not in form:
                break
            rows.append({"indicator": form.get(f"indicator-{i}", ""),
                         "status": form.get(f"status-{i}", "")})
    else:
        rows = [dict(r) for r in report.indicators or []] or [
            {"indicator": name, "status": ""}
            for name in task_book_indicators(report.application)]
    blank = [{"indicator": "", "status": ""}] * 2
    return (rows + blank)[:MAX_INDICATORS]


def visible_reports_of(app: Application, user: Any) -> list[AnnualReport]:
    """The project's reports that ``user`` sees (its page lists them)."""
    from workflow.core.entities import can_view

    return [r for r in reports_of(app) if can_view(user, r)]


def blocking(report: AnnualReport) -> bool:
    """Overdue: the report blocks its PI's new applications (限项)."""
    return report.state is AR.overdue


def return_opinion(report: AnnualReport) -> str:
    """The opinion it was returned with, while it waits to be revised."""
    return report.return_reason if report.state is AR.returned else ""


PAGE = {"editable": editable, "blocking": blocking, "return_opinion": return_opinion,
        "released": released_to, "indicator_rows": indicator_rows, "baogan": baogan,
        "CATEGORIES": SPENDING_CATEGORIES, "MIN_PROGRESS": MIN_PROGRESS,
        "reports_of": visible_reports_of}
