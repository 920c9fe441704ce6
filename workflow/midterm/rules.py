"""What midterm checks implement of ``states.MIDTERM``: the guards (a complete report, a
panel of three, every score in or a reason, a valid 整改), the effects (what each step
records, the 中期检查结论通知 issued at the outcome), the follow-ups that move the project
(``pass_midterm``, ``terminate``) through the engine, the messages, and who owns and
sees a check."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from states import MIDTERM, SYSTEM, ApplicationState, MidtermState
from workflow.accounts.models import User, UserRole
from workflow.applying.models import Application
from workflow.core import engine, numbering
from workflow.core.entities import Entity
from workflow.core.models import OutboxEvent, db
from workflow.core.registry import Rules
from workflow.core.rules import Changes, FireResult, GuardContext, Reason, refuse
from workflow.midterm import documents
from workflow.midterm import operations as midterm
from workflow.midterm.models import MidtermReport, MidtermScore
from workflow.notify.notifications import Message
from workflow.permissions import bureau_reader, principal_investigator, unit_office
from workflow.review.conflicts import MIN_PANEL

MT = MidtermState
CONCLUSION_TOPIC = "midterm.conclusion"
MAX_ITEMS = 30


# ---- guards ------------------------------------------------------------------------------

def midterm_report_complete(ctx: GuardContext) -> list[Reason]:
    lacking = midterm.missing(ctx.row)
    if not lacking:
        return []
    return refuse("midterm_report_incomplete", "中期报告尚未填写完整：" + "；".join(
        dict.fromkeys(lacking.values())), fields=lacking)


def midterm_project_running(ctx: GuardContext) -> list[Reason]:
    app: Application = ctx.row.application
    if app.state is not ApplicationState.midterm:
        return refuse("project_not_in_midterm",
                      f"项目当前为“{app.state.label}”，不在中期检查中", status=409)
    return []


def midterm_check_concluded(ctx: GuardContext) -> list[Reason]:
    """The project's ``pass_midterm``: not while a midterm check of it is under way (its
    conclusion passes the project, through ``carry_out_midterm``)."""
    app: Application = ctx.row
    open_check = db.session.scalar(sa.select(MidtermReport.id).where(
        MidtermReport.application_id == app.id,
        MidtermReport.state.not_in([MT.passed, MT.terminated])).limit(1))
    if open_check is not None:
        return refuse("midterm_check_open", "项目的中期检查尚未作出结论：请在中期检查页面"
                      "组织专家评议并作出结论", status=409)
    return []


def midterm_panel_ready(ctx: GuardContext) -> list[Reason]:
    n = len(ctx.row.panel())
    if n < MIN_PANEL:
        return refuse("panel_missing", f"请先组织至少{MIN_PANEL}名专家的评议专家组"
                      f"（现有{n}名）")
    return []


def midterm_scores_in(ctx: GuardContext) -> list[Reason]:
    """Every panel expert has scored the round, or the officer says why not."""
    report: MidtermReport = ctx.row
    if report.state is not MT.reviewing:
        return []
    lacking = midterm.scores_missing(report)
    if lacking and len(ctx.text("override_reason")) < 2:
        return refuse("scores_missing",
                      f"专家组尚有{lacking}名专家未提交评议；如需先作结论，请填写理由",
                      {"override_reason": "未评完即作结论的理由"})
    return []


def midterm_rectification_valid(ctx: GuardContext) -> list[Reason]:
    report: MidtermReport = ctx.row
    if report.round >= 2:
        return refuse("rectified_once", "整改后的第二轮评议只能作出“通过”或“终止”结论")
    out: list[Reason] = []
    due = midterm.parse_date(ctx.data.get("due_on"))
    if due is None:
        out += refuse("rectify_due_missing", "请填写整改报告的提交期限（YYYY-MM-DD）",
                      {"due_on": "请填写提交期限（YYYY-MM-DD）"})
    elif due <= midterm.today(ctx.now):
        out += refuse("rectify_due_past", "整改报告的提交期限应晚于今天",
                      {"due_on": "应晚于今天"})
    if not rectify_items(ctx.data.get("items")):
        out += refuse("rectify_items_missing", "请写明整改要求（每行一项）",
                      {"items": "请写明整改要求"})
    return out


def rectify_items(raw: Any) -> list[str]:
    if isinstance(raw, str):
        raw = raw.splitlines()
    if not isinstance(raw, list):
        return []
    return [s.strip()[:1000] for s in raw if isinstance(s, str) and s.strip()][:MAX_ITEMS]


def midterm_past_due(ctx: GuardContext) -> list[Reason]:
    due = ctx.row.due
    if midterm.today(ctx.now) <= due:
        return refuse("midterm_not_late", f"中期报告提交期限为{due}，尚未逾期")
    return []


# ---- effects -----------------------------------------------------------------------------

def _name(ctx: GuardContext) -> str:
    return ctx.actor.name if ctx.actor is not None else "系统"


def record_midterm_submission(ctx: GuardContext, ch: Changes) -> None:
    ch.set(ctx.row, "submitted_at", ctx.now)


def record_midterm_overdue(ctx: GuardContext, ch: Changes) -> None:
    ch.set(ctx.row, "overdue_at", ctx.now)


def _snapshot(report: MidtermReport) -> dict[str, Any]:
    return {"round": report.round, "answers": report.answers, "spending": report.spending,
            "spent_total": str(report.spent_total), "outputs": report.outputs,
            "evidence": report.evidence,
            "submitted_at": report.submitted_at.isoformat() if report.submitted_at else None}


def record_rectification(ctx: GuardContext, ch: Changes) -> None:
    """The first round's report is kept as sent; the second round starts from it."""
    report: MidtermReport = ctx.row
    ch.set(report, "earlier", [*(report.earlier or []), _snapshot(report)])
    ch.set(report, "rectify_due_on", midterm.parse_date(ctx.data.get("due_on")))
    ch.set(report, "rectify_items", rectify_items(ctx.data.get("items")))
    ch.set(report, "rectify_opinion", ctx.comment[:5000])
    ch.set(report, "override_reason", ctx.text("override_reason")[:5000])
    ch.set(report, "outcome", "rectify")
    ch.set(report, "round", 2)
    ch.set(report, "submitted_at", None)


def record_midterm_outcome(ctx: GuardContext, ch: Changes) -> None:
    """通过 or 终止, by whom and when; the 中期检查结论通知 is issued (its 发文字号 taken
    now, or awaited from the office)."""
    report: MidtermReport = ctx.row
    outcome = "pass" if ctx.trigger == "pass" else "terminate"
    ch.set(report, "outcome", outcome)
    ch.set(report, "opinion", ctx.comment[:5000])
    ch.set(report, "override_reason", ctx.text("override_reason")[:5000])
    if outcome == "terminate" and ctx.data.get("recovery_wan") not in (None, ""):
        ch.set(report, "recovery_wan", str(ctx.data["recovery_wan"]).strip()[:20])
    ch.set(report, "decided_by", _name(ctx)[:100])
    ch.set(report, "decided_at", ctx.now)
    app = report.application
    numbering.issue(documents.KIND, "midterm", report.id, ctx.now, topic=CONCLUSION_TOPIC,
                    subject=f"关于“{app.title}”项目中期检查结论的通知")


# ---- follow-ups --------------------------------------------------------------------------

def carry_out_midterm(result: FireResult, actor: Any, ip: str | None) -> None:
    """The project follows the outcome through its own lifecycle: 通过 back to 执行中
    (``pass_midterm``); 终止 to its termination (``terminate``, with the reason and the
    sum to recover, and its wind-up)."""
    report: MidtermReport = result.row
    app = engine.load("application", report.application_id, lock=True)
    if report.state is MT.passed:
        engine.fire(app, "pass_midterm", actor, comment=f"中期检查通过：{report.opinion}"[:5000],
                    ip=ip)
    elif report.state is MT.terminated:
        data = {"recovery_wan": report.recovery_wan} if report.recovery_wan else {}
        engine.fire(app, "terminate", actor,
                    comment=f"中期检查结论为终止：{report.opinion}"[:5000], data=data, ip=ip)


def convene_if_panel_ready(result: FireResult, actor: Any, ip: str | None) -> None:
    """A report sent to a panel already drawn goes to it at once."""
    report: MidtermReport = result.row
    if len(report.panel()) >= MIN_PANEL:
        engine.fire(report, "convene", None, ip=ip)


# ---- messages ----------------------------------------------------------------------------

def _report(event: OutboxEvent) -> MidtermReport | None:
    return db.session.get(MidtermReport, event.entity_id)


def _link(report: MidtermReport) -> str:
    return f"/midterms/{report.id}"


def midterm_panel_invited(event: OutboxEvent) -> list[Message]:
    report = _report(event)
    if report is None:
        return []
    return [Message(s.expert_id, "midterm_panel_invited", context={
        "app": report.application, "midterm": report}, link=_link(report))
        for s in report.panel()]


def midterm_decided(event: OutboxEvent) -> list[Message]:
    report = _report(event)
    if report is None:
        return []
    # The conclusion this event made (the check may have moved on since: 整改, then 终止).
    outcome = {"rectify": "rectify", "passed": "pass", "terminated": "terminate"}.get(
        event.payload.get("to") or "", report.outcome)
    return [Message(report.application.applicant_id, "midterm_decided", "decision", {
        "app": report.application, "midterm": report, "outcome": outcome,
        "comment": event.payload.get("comment") or ""}, link=_link(report))]


def _unit_admins(org_id: int) -> list[int]:
    return list(db.session.scalars(sa.select(User.id).join(UserRole).where(
        UserRole.role == "org_admin", User.organization_id == org_id, User.active.is_(True))))


def midterm_overdue(event: OutboxEvent) -> list[Message]:
    report = _report(event)
    if report is None:
        return []
    app = report.application
    people = dict.fromkeys([app.applicant_id, *_unit_admins(app.organization_id)])
    return [Message(uid, "midterm_due", "reminder", {
        "app": app, "midterm": report, "due_on": report.due.isoformat(), "overdue": True},
        link=_link(report)) for uid in people]


# ---- who -----------------------------------------------------------------------------------

def midterm_owner(user: Any, role: str, report: MidtermReport) -> bool:
    """The PI reports; the bureau's officers conclude; the system marks it overdue."""
    if role in (SYSTEM, "officer"):
        return True
    if user is None:
        return False
    if role == "applicant":
        return principal_investigator(user, report.application)
    return False


def midterm_owned(user: Any, role: str) -> sa.ColumnElement[bool] | None:
    if role == "officer":
        return sa.true()
    if role == "applicant":
        return MidtermReport.application_id.in_(
            sa.select(Application.id).where(Application.applicant_id == user.id))
    return None


def on_panel(user: Any, report: MidtermReport) -> bool:
    uid = getattr(user, "id", None)
    return uid is not None and user.has_role("expert") and any(
        s.expert_id == uid for s in report.scores)


def can_view_midterm(user: Any, report: MidtermReport) -> bool:
    """The bureau's readers, the PI, the unit's research office and the panel's experts
    (each sees only the checks they sit on)."""
    return user is not None and bool(
        bureau_reader(user) or principal_investigator(user, report.application)
        or unit_office(user, report.application) or on_panel(user, report))


def visible_midterms(user: Any) -> sa.Select[Any]:
    """``can_view_midterm`` as a query."""
    query = sa.select(MidtermReport)
    if bureau_reader(user):
        return query
    conditions: list[sa.ColumnElement[bool]] = []
    if user.has_role("applicant"):
        conditions.append(MidtermReport.application_id.in_(
            sa.select(Application.id).where(Application.applicant_id == user.id)))
    if user.has_role("org_admin") and user.organization_id is not None:
        conditions.append(MidtermReport.application_id.in_(sa.select(Application.id).where(
            Application.organization_id == user.organization_id)))
    if user.has_role("expert"):
        conditions.append(MidtermReport.id.in_(sa.select(MidtermScore.midterm_id).where(
            MidtermScore.expert_id == user.id)))
    return query.where(sa.or_(*conditions)) if conditions else query.where(sa.false())


def midterm_name(r: MidtermReport) -> str:
    app = r.application
    return f"{app.project_number or '“' + app.title + '”'} {r.label}"


MIDTERM_ENTITY = Entity("midterm", MidtermReport, MIDTERM, midterm_owner, can_view_midterm,
                        "中期检查", "midterms", parent=("application", "application_id"),
                        owned=midterm_owned, name=midterm_name)

RULES = Rules(
    entities=(MIDTERM_ENTITY,),
    guards={
        "midterm_report_complete": midterm_report_complete,
        "midterm_project_running": midterm_project_running,
        "midterm_check_concluded": midterm_check_concluded,
        "midterm_panel_ready": midterm_panel_ready,
        "midterm_scores_in": midterm_scores_in,
        "midterm_rectification_valid": midterm_rectification_valid,
        "midterm_past_due": midterm_past_due,
    },
    effects={
        "record_midterm_submission": record_midterm_submission,
        "record_midterm_overdue": record_midterm_overdue,
        "record_rectification": record_rectification,
        "record_midterm_outcome": record_midterm_outcome,
    },
    follow_ups={"carry_out_midterm": carry_out_midterm,
                "convene_if_panel_ready": convene_if_panel_ready},
    messages={"midterm_panel_invited": midterm_panel_invited,
              "midterm_decided": midterm_decided,
              "midterm_overdue": midterm_overdue},
    documents={"midterm_conclusion": documents.midterm_conclusion},
)
