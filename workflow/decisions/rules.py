"""The rules of decisions that ``states/`` names: guards, effects and follow-ups of the
project's decision and notice, of the funded list (立项建议名单) and of the objections."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from forms import format_wan
from states import DECISION, OBJECTION, CallState
from workflow.applying.models import Application
from workflow.calls.models import Call
from workflow.calls.rules import bureau_owned, bureau_owner
from workflow.core import numbering
from workflow.core.entities import Entity
from workflow.core.models import db
from workflow.core.registry import Rules
from workflow.core.rules import MIN_COMMENT, Changes, GuardContext, Reason, refuse
from workflow.decisions import notices
from workflow.decisions import operations as decisions
from workflow.decisions.models import DecisionState, FundingDecision, Objection, ObjectionState
from workflow.decisions.notices import settle_call
from workflow.holidays.calendar import UnknownYear, count_period
from workflow.permissions import decision_reader


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


def notice_period_countable(ctx: GuardContext) -> list[Reason]:
    """The calendar knows every day the notice period reaches: a year whose holiday
    schedule is not entered is named, never counted Monday to Friday."""
    call = ctx.row.call
    try:
        count_period(ctx.now, call.notice_days, call.notice_working_days)
    except UnknownYear as err:
        return refuse("calendar_year_unknown",
                      f"公示期（{call.notice_days}个工作日）将进入{err.year}年：{err.message}")
    return []


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
    """The call is decided by its approved list (the list's ``approve`` decides it)."""
    call: Call = ctx.row
    approved = db.session.scalar(sa.select(FundingDecision.id).where(
        FundingDecision.call_id == call.id, FundingDecision.state == DecisionState.approved))
    if approved is None:
        return refuse("no_decision",
                      "立项建议名单尚未经领导审定，请项目主管先拟定名单并提交领导审定")
    return []


def meeting_recorded(ctx: GuardContext) -> list[Reason]:
    """三重一大: a list whose total reaches the call's threshold is approved only with the
    meeting that decided it on record."""
    decision: FundingDecision = ctx.row
    threshold = decision.call.collective_threshold
    if threshold is not None and decision.total >= threshold and not decision.has_meeting:
        return refuse("meeting_missing",
                      f"拟资助总额 {format_wan(decision.total)} 万元达到“三重一大”集体决策标准"
                      f"（{format_wan(threshold)} 万元），须先登记会议名称、日期、参会人员、"
                      "纪要文号并上传会议纪要")
    return []


def objection_anonymous(ctx: GuardContext) -> list[Reason]:
    objection: Objection = ctx.row
    if objection.name and objection.contact:
        return refuse("objection_real_name", "实名异议须经调查，由项目主管作出处理结论")
    return []


def return_reason_given(ctx: GuardContext) -> list[Reason]:
    """The leader says why the list goes back (``comment_required``: typed, it answers)."""
    if len((ctx.comment or "").strip()) < MIN_COMMENT:
        return refuse("comment_required", "请填写退回理由")
    return []


def open_notice_period(ctx: GuardContext, ch: Changes) -> None:
    """The period as it is published: its first and its last day (counted by the
    calendar and the counting convention), over at midnight after the last."""
    call = ctx.row.call
    period = count_period(ctx.now, call.notice_days, call.notice_working_days)
    ch.set(ctx.row, "notice_started_at", ctx.now)
    ch.set(ctx.row, "notice_first_day", period.first_day)
    ch.set(ctx.row, "notice_ends_at", period.ends_at)


def set_grant(ctx: GuardContext, ch: Changes) -> None:
    if ctx.text("amount"):  # the decision service passes the listed amount
        ch.set(ctx.row, "granted_amount", Decimal(ctx.text("amount")))


def record_leader_decision(ctx: GuardContext, ch: Changes) -> None:
    ch.set(ctx.row, "decided_by_id", ctx.actor.id if ctx.actor else None)
    ch.set(ctx.row, "decided_at", ctx.now)
    ch.set(ctx.row, "decision_comment", ctx.comment[:2000])


def record_withdrawal(ctx: GuardContext, ch: Changes) -> None:
    ch.set(ctx.row, "decision_comment", ctx.comment[:2000])


def record_finding(ctx: GuardContext, ch: Changes) -> None:
    ch.set(ctx.row, "resolution", ctx.comment)
    ch.set(ctx.row, "resolved_at", ctx.now)
    ch.set(ctx.row, "resolved_by_id", ctx.actor.id if ctx.actor else None)


def number_project(ctx: GuardContext, ch: Changes) -> None:
    app = ctx.row
    if app.project_number is None:
        ch.set(app, "project_number", numbering.project_number(app.call.year, app.call.scheme.code))
    # No 发文字号 here: the 立项通知书 is issued after the call's 立项文件 (``settle_call``).
    ch.set(app, "approved_at", ctx.now)
    settle_call(app, ctx.now)


def can_view_decision(user: Any, decision: FundingDecision) -> bool:
    """Those who read what is decided on a review: the lists as the 立项决策 pages show."""
    return decision_reader(user, decision)


def can_view_objection(user: Any, objection: Objection) -> bool:
    """The same readers, as the project's page shows its objections: never the team, so
    an objector's identity never reaches it."""
    return decision_reader(user, objection)


DECISION_ENTITY = Entity("decision", FundingDecision, DECISION, bureau_owner,
                         can_view_decision, "立项建议名单", "decisions",
                         parent=("call", "call_id"), owned=bureau_owned,
                         name=lambda d: f"{d.call.title}立项建议名单")
OBJECTION_ENTITY = Entity("objection", Objection, OBJECTION, bureau_owner,
                          can_view_objection, "公示异议", "objections",
                          parent=("application", "application_id"), owned=bureau_owned,
                          name=lambda o: f"对“{o.application.title}”的公示异议")

RULES = Rules(
    entities=(DECISION_ENTITY, OBJECTION_ENTITY),
    guards={
        "decision_approved": decision_approved,
        "objection_real_name": objection_real_name,
        "notice_period_countable": notice_period_countable,
        "notice_period_over": notice_period_over,
        "no_open_objection": no_open_objection,
        "decision_ready": decision_ready,
        "meeting_recorded": meeting_recorded,
        "objection_anonymous": objection_anonymous,
        "return_reason_given": return_reason_given,
    },
    effects={
        "open_notice_period": open_notice_period,
        "set_grant": set_grant,
        "number_project": number_project,
        "record_leader_decision": record_leader_decision,
        "record_withdrawal": record_withdrawal,
        "record_finding": record_finding,
    },
    follow_ups={
        "record_objection": notices.record_objection,
        "uphold_objections": notices.uphold_objections,
        "dismiss_objections": notices.dismiss_objections,
        "carry_out_decision": decisions.carry_out_decision,
    },
)
