"""What annual reports implement of ``states/``: the report's guards and effects, its
messages, its entity (who owns and sees a report), and the 限项 guard on applying."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from states import ANNUAL_REPORT, SYSTEM
from workflow.accounts.models import User, UserRole
from workflow.annual import operations as annual
from workflow.annual.models import AnnualReport
from workflow.applying.models import Application
from workflow.core.entities import Entity
from workflow.core.models import OutboxEvent, db
from workflow.core.registry import Rules
from workflow.core.rules import Changes, GuardContext, Reason, refuse
from workflow.notify.notifications import Message
from workflow.permissions import bureau_reader, principal_investigator, unit_office
from workflow.timeutil import SHANGHAI


def annual_report_complete(ctx: GuardContext) -> list[Reason]:
    lacking = annual.missing(ctx.row)
    if not lacking:
        return []
    return refuse("annual_report_incomplete", "年度报告尚未填写完整：" + "；".join(
        dict.fromkeys(lacking.values())), fields=lacking)


def annual_report_past_due(ctx: GuardContext) -> list[Reason]:
    if ctx.now.astimezone(SHANGHAI).date() <= ctx.row.due_on:
        return refuse("annual_report_not_late", f"年度报告截止日期为{ctx.row.due_on}，尚未逾期")
    return []


def no_overdue_annual_report(ctx: GuardContext) -> list[Reason]:
    """限项: a PI with an overdue annual report applies for nothing new until it is
    filed (submitted: the block lifts at once, whatever the review of it)."""
    app: Application = ctx.row
    out: list[Reason] = []
    for report in annual.overdue_reports_of(app.applicant_id):
        project = report.application
        name = project.project_number or f"“{project.title}”"
        out += refuse("annual_report_overdue",
                      f"项目负责人主持的项目{name}的{report.year}年度报告已逾期未报"
                      f"（截止{report.due_on}），逾期期间不能申报新项目（限项）。"
                      "请在该项目的年度报告页面填写并提交，提交后即可申报")
    return out


def record_annual_submission(ctx: GuardContext, ch: Changes) -> None:
    ch.set(ctx.row, "submitted_at", ctx.now)


def record_annual_endorsement(ctx: GuardContext, ch: Changes) -> None:
    ch.set(ctx.row, "endorsed_at", ctx.now)


def record_annual_return(ctx: GuardContext, ch: Changes) -> None:
    ch.set(ctx.row, "return_reason", ctx.comment[:5000])
    ch.set(ctx.row, "endorsed_at", None)


def record_annual_acceptance(ctx: GuardContext, ch: Changes) -> None:
    ch.set(ctx.row, "accepted_at", ctx.now)


def record_annual_overdue(ctx: GuardContext, ch: Changes) -> None:
    ch.set(ctx.row, "overdue_at", ctx.now)


# ---- messages ----------------------------------------------------------------------------

def _report(event: OutboxEvent) -> AnnualReport | None:
    return db.session.get(AnnualReport, event.entity_id)


def _link(report: AnnualReport) -> str:
    return f"/annual-reports/{report.id}"


def annual_report_submitted(event: OutboxEvent) -> list[Message]:
    """The unit's research office hears that a report waits for its endorsement."""
    report = _report(event)
    if report is None:
        return []
    admins = db.session.scalars(sa.select(User.id).join(UserRole).where(
        UserRole.role == "org_admin", User.active.is_(True),
        User.organization_id == report.application.organization_id))
    return [Message(uid, "annual_report_submitted", context={
        "app": report.application, "report": report}, link=_link(report)) for uid in admins]


def annual_report_returned(event: OutboxEvent) -> list[Message]:
    report = _report(event)
    if report is None:
        return []
    return [Message(report.application.applicant_id, "annual_report_returned", context={
        "app": report.application, "report": report, "comment": report.return_reason},
        link=_link(report))]


def annual_report_accepted(event: OutboxEvent) -> list[Message]:
    report = _report(event)
    if report is None:
        return []
    return [Message(report.application.applicant_id, "annual_report_accepted", context={
        "app": report.application, "report": report}, link=_link(report))]


# ---- who ---------------------------------------------------------------------------------

def report_owner(user: Any, role: str, report: AnnualReport) -> bool:
    """The PI files the report; the unit's research office endorses its own unit's; the
    officer accepts any."""
    if role in (SYSTEM, "officer"):
        return True
    if user is None:
        return False
    if role == "applicant":
        return principal_investigator(user, report.application)
    if role == "org_admin":
        return bool(unit_office(user, report.application))
    return False


def report_owned(user: Any, role: str) -> sa.ColumnElement[bool] | None:
    if role == "officer":
        return sa.true()
    if role == "applicant":
        return AnnualReport.application_id.in_(
            sa.select(Application.id).where(Application.applicant_id == user.id))
    if role == "org_admin" and user.organization_id is not None:
        return AnnualReport.application_id.in_(
            sa.select(Application.id).where(
                Application.organization_id == user.organization_id))
    return None


def can_view_report(user: Any, report: AnnualReport) -> bool:
    """The bureau's readers, the PI and the unit's research office: not a colleague,
    not an expert, not another organisation."""
    return bool(bureau_reader(user, report) or principal_investigator(user, report.application)
                or unit_office(user, report.application))


def visible_reports(user: Any) -> sa.Select[Any]:
    """``can_view_report`` as a query."""
    query = sa.select(AnnualReport)
    if bureau_reader(user):
        return query
    conditions: list[sa.ColumnElement[bool]] = []
    if user.has_role("applicant"):
        conditions.append(AnnualReport.application_id.in_(
            sa.select(Application.id).where(Application.applicant_id == user.id)))
    if user.has_role("org_admin") and user.organization_id is not None:
        conditions.append(AnnualReport.application_id.in_(sa.select(Application.id).where(
            Application.organization_id == user.organization_id)))
    return query.where(sa.or_(*conditions)) if conditions else query.where(sa.false())


def report_name(r: AnnualReport) -> str:
    app = r.application
    return f"{app.project_number or '“' + app.title + '”'} {r.year}年度报告"


ANNUAL_REPORT_ENTITY = Entity("annual_report", AnnualReport, ANNUAL_REPORT, report_owner,
                              can_view_report, "年度报告", "annual-reports",
                              parent=("application", "application_id"), owned=report_owned,
                              name=report_name)

RULES = Rules(
    entities=(ANNUAL_REPORT_ENTITY,),
    guards={
        "annual_report_complete": annual_report_complete,
        "annual_report_past_due": annual_report_past_due,
        "no_overdue_annual_report": no_overdue_annual_report,
    },
    effects={
        "record_annual_submission": record_annual_submission,
        "record_annual_endorsement": record_annual_endorsement,
        "record_annual_return": record_annual_return,
        "record_annual_acceptance": record_annual_acceptance,
        "record_annual_overdue": record_annual_overdue,
    },
    messages={
        "annual_report_submitted": annual_report_submitted,
        "annual_report_returned": annual_report_returned,
        "annual_report_accepted": annual_report_accepted,
    },
)
