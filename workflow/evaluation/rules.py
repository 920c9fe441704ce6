"""What evaluations implement of ``states/``: the follow-up that opens one when a project
closes, the guards and effects of its lifecycle, the grade kept on the people and the
organisation, the PI's notice, and the entity (who owns and sees an evaluation)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from states import EVALUATION, LEADER_CONFIRMS, SYSTEM
from workflow.applying.models import Application
from workflow.core.entities import Entity
from workflow.core.models import OutboxEvent, db, utcnow
from workflow.core.registry import Rules
from workflow.core.rules import Changes, FireResult, GuardContext, Reason, refuse
from workflow.evaluation import operations as evaluations
from workflow.evaluation.models import DIMENSIONS, Evaluation, Grade
from workflow.evaluation.scoring import MAX
from workflow.notify.notifications import Message
from workflow.permissions import bureau_reader, principal_investigator, unit_office
from workflow.timeutil import SHANGHAI

# ---- opening at closure ------------------------------------------------------------------

def open_evaluation(result: FireResult, actor: Any, ip: str | None) -> None:
    """The project has closed (completed, failed, terminated): its evaluation opens, once."""
    evaluations.open_for(result.row, result.now, None, ip)


# ---- guards and effects ------------------------------------------------------------------

def evaluation_graded(ctx: GuardContext) -> list[Reason]:
    ev: Evaluation = ctx.row
    scores = ev.scores
    if set(scores) != set(DIMENSIONS) or not all(
            isinstance(v, int) and 0 <= v <= MAX for v in scores.values()):
        return refuse("evaluation_incomplete", "评价得分不完整，请先逐项给出得分（各0至25分）")
    if ev.adjusted is not None and len(ev.adjust_reason.strip()) < evaluations.MIN_REASON:
        return refuse("adjust_reason_missing", "调整了系统建议的得分，须说明理由",
                      {"reason": f"不少于{evaluations.MIN_REASON}字"})
    return []


def record_evaluation_proposal(ctx: GuardContext, ch: Changes) -> None:
    ch.set(ctx.row, "proposed_at", ctx.now)


def record_evaluation_confirmation(ctx: GuardContext, ch: Changes) -> None:
    ch.set(ctx.row, "confirmed_at", ctx.now)
    ch.set(ctx.row, "confirmed_by", ctx.actor.name if ctx.actor is not None else "系统")
    if ctx.comment:
        ch.set(ctx.row, "comment", ctx.comment[:5000])


def record_evaluation_return(ctx: GuardContext, ch: Changes) -> None:
    ch.set(ctx.row, "proposed_at", None)
    ch.set(ctx.row, "comment", ctx.comment[:5000])


def keep_performance(result: FireResult, actor: Any, ip: str | None) -> None:
    """The grade goes on the PI, the team members with accounts and the organisation."""
    evaluations.keep(result.row, (result.now or utcnow()).astimezone(SHANGHAI).date())


# ---- messages ----------------------------------------------------------------------------

def evaluation_confirmed(event: OutboxEvent) -> list[Message]:
    ev = db.session.get(Evaluation, event.entity_id)
    if ev is None:
        return []
    return [Message(ev.application.applicant_id, "evaluation_confirmed", "decision",
                    {"app": ev.application, "ev": ev}, link=f"/evaluations/{ev.id}")]


# ---- who ---------------------------------------------------------------------------------

def evaluation_owner(user: Any, role: str, ev: Evaluation) -> bool:
    """The bureau evaluates: any officer drafts and confirms, a leader confirms 不合格."""
    return role in (SYSTEM, "officer", "leader")


def evaluation_owned(user: Any, role: str) -> sa.ColumnElement[bool] | None:
    return sa.true() if role in ("officer", "leader") else None


def can_view_evaluation(user: Any, ev: Evaluation) -> bool:
    """The bureau's readers, the project's PI and its unit's research office; never an
    expert or another organisation."""
    return user is not None and bool(
        bureau_reader(user, ev) or principal_investigator(user, ev.application)
        or unit_office(user, ev.application))


def visible_evaluations(user: Any) -> sa.Select[Any]:
    """``can_view_evaluation`` as a query."""
    query = sa.select(Evaluation)
    if bureau_reader(user):
        return query
    conditions: list[sa.ColumnElement[bool]] = []
    if user.has_role("applicant"):
        conditions.append(Evaluation.application_id.in_(
            sa.select(Application.id).where(Application.applicant_id == user.id)))
    if user.has_role("org_admin") and user.organization_id is not None:
        conditions.append(Evaluation.application_id.in_(sa.select(Application.id).where(
            Application.organization_id == user.organization_id)))
    return query.where(sa.or_(*conditions)) if conditions else query.where(sa.false())


def evaluation_steps(ev: Evaluation) -> frozenset[str]:
    """不合格 is confirmed by a leader."""
    return frozenset({LEADER_CONFIRMS}) if ev.grade is Grade.unqualified else frozenset()


def evaluation_name(ev: Evaluation) -> str:
    app = ev.application
    return f"{app.project_number or '“' + app.title + '”'} 绩效评价"


EVALUATION_ENTITY = Entity("evaluation", Evaluation, EVALUATION, evaluation_owner,
                           can_view_evaluation, "绩效评价", "evaluations",
                           steps=evaluation_steps, parent=("application", "application_id"),
                           owned=evaluation_owned, name=evaluation_name)

RULES = Rules(
    entities=(EVALUATION_ENTITY,),
    guards={"evaluation_graded": evaluation_graded},
    effects={
        "record_evaluation_proposal": record_evaluation_proposal,
        "record_evaluation_confirmation": record_evaluation_confirmation,
        "record_evaluation_return": record_evaluation_return,
    },
    follow_ups={"open_evaluation": open_evaluation, "keep_performance": keep_performance},
    messages={"evaluation_confirmed": evaluation_confirmed},
)
