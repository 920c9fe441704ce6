"""The rules of decisions that ``states/`` names: guards and effects."""

from __future__ import annotations

from decimal import Decimal

import sqlalchemy as sa

from forms import format_wan
from states import CallState
from workflow.applying.models import Application
from workflow.calls.models import Call
from workflow.core import numbering
from workflow.core.models import db
from workflow.core.registry import Rules
from workflow.core.rules import MIN_COMMENT, Changes, GuardContext, Reason, refuse
from workflow.decisions.models import DecisionState, FundingDecision, Objection, ObjectionState
from workflow.decisions.notices import resolve_objections, settle_call
from workflow.timeutil import period_end


def decision_approved(ctx: GuardContext) -> list[Reason]:
    app: Application = ctx.row
    if app.call.state is not CallState.decided:
        return refuse("decision_pending", "立项建议名单尚未经领导审定")
    return []


def objection_real_name(ctx: GuardContext) -> list[Reason]:
    out: list[Reason] = []
    if not ctx.text("objector_name"):
        out += refuse("anonymous_objection", "异议须实名提出：请填写异议人姓名")
    if not ctx.text("objector_contact"):
        out += refuse("objection_contact_missing", "请填写异议人联系方式")
    if len((ctx.comment or "").strip()) < MIN_COMMENT:
        out += refuse("objection_text_missing", "请填写书面异议内容")
    return out


def notice_period_over(ctx: GuardContext) -> list[Reason]:
    app: Application = ctx.row
    if app.notice_ends_at is None or ctx.now < app.notice_ends_at:
        return refuse("notice_running", "公示期尚未结束")
    return []


def no_open_objection(ctx: GuardContext) -> list[Reason]:
    app: Application = ctx.row
    still_open = db.session.scalar(sa.select(sa.func.count(Objection.id)).where(
        Objection.application_id == app.id, Objection.state == ObjectionState.open))
    if still_open:
        return refuse("objection_open", f"尚有 {still_open} 件异议未处理")
    return []


def decision_ready(ctx: GuardContext) -> list[Reason]:
    call: Call = ctx.row
    decision = db.session.scalar(sa.select(FundingDecision).where(
        FundingDecision.call_id == call.id, FundingDecision.state == DecisionState.proposed))
    if decision is None:
        return refuse("no_decision", "尚无待审定的立项建议名单，请项目主管先拟定名单")
    threshold = call.collective_threshold
    if threshold is not None and decision.total >= threshold and not decision.has_meeting:
        return refuse("meeting_missing",
                      f"拟资助总额 {format_wan(decision.total)} 万元达到“三重一大”集体决策标准"
                      f"（{format_wan(threshold)} 万元），须先登记会议名称、日期、参会人员、"
                      "纪要文号并上传会议纪要")
    return []


def open_notice_period(ctx: GuardContext, ch: Changes) -> None:
    call = ctx.row.call
    ch.set(ctx.row, "notice_started_at", ctx.now)
    ch.set(ctx.row, "notice_ends_at",
           period_end(ctx.now, call.notice_days, call.notice_working_days))


def set_grant(ctx: GuardContext, ch: Changes) -> None:
    if ctx.text("amount"):  # the decision service passes the listed amount
        ch.set(ctx.row, "granted_amount", Decimal(ctx.text("amount")))


def record_objection(ctx: GuardContext, ch: Changes) -> None:
    db.session.add(Objection(
        application_id=ctx.row.id, name=ctx.text("objector_name")[:50],
        contact=ctx.text("objector_contact")[:100],
        organization=ctx.text("objector_org")[:200], text=ctx.comment,
        ip=ctx.text("objector_ip")[:45] or None, received_at=ctx.now))


def decide_objections(ctx: GuardContext, ch: Changes) -> None:
    upheld = ctx.row.state.value == "not_funded"
    ch["objections"] = resolve_objections(ctx.row, upheld, ctx.comment, ctx.actor, ctx.now)
    if upheld:
        settle_call(ctx.row, ctx.now)


def number_project(ctx: GuardContext, ch: Changes) -> None:
    app = ctx.row
    if app.project_number is None:
        ch.set(app, "project_number", numbering.project_number(app.call.year, app.call.scheme.code))
    if app.doc_number is None:
        ch.set(app, "doc_number", numbering.doc_number(ctx.now))
    ch.set(app, "approved_at", ctx.now)
    settle_call(app, ctx.now)


RULES = Rules(
    guards={
        "decision_approved": decision_approved,
        "objection_real_name": objection_real_name,
        "notice_period_over": notice_period_over,
        "no_open_objection": no_open_objection,
        "decision_ready": decision_ready,
    },
    effects={
        "open_notice_period": open_notice_period,
        "set_grant": set_grant,
        "record_objection": record_objection,
        "resolve_objections": decide_objections,
        "number_project": number_project,
    },
)
