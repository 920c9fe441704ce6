"""Evaluations: opening one when a project closes (once per project), the officer's
adjustment of the proposed scores, the grade kept on the people and the organisation,
and the 历史绩效 of a PI or organisation shown when they next apply."""

from __future__ import annotations

import logging
import re
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from states import SYSTEM, ApplicationState, EvaluationState
from workflow.accounts import integrity
from workflow.accounts.models import User
from workflow.applying.models import Application
from workflow.core import audit
from workflow.core.errors import Conflict, Forbidden, Invalid
from workflow.core.models import AuditEvent, db, utcnow
from workflow.evaluation import facts as facts_mod
from workflow.evaluation.models import DIMENSIONS, Evaluation, Grade, PerformanceRecord
from workflow.evaluation.scoring import MAX, grade_of, propose
from workflow.permissions import has_role, officer, principal_investigator
from workflow.timeutil import SHANGHAI

log = logging.getLogger(__name__)

EV = EvaluationState
A = ApplicationState
# The project states that close it, and how each is called on the evaluation.
CLOSED = {A.completed: "completed", A.failed: "failed", A.terminated: "terminated"}
CLOSING_TRIGGERS = ("pass_acceptance", "fail_acceptance", "terminate")
MIN_REASON = 10
MAX_REASON = 2000
# Who reads the 历史绩效 of the people and organisation of an application (never an
# expert; the PI reads their own).
performance_reader = has_role("officer", "leader")


def _day(value: datetime) -> date:
    return value.astimezone(SHANGHAI).date()


def of_application(app_id: int) -> Evaluation | None:
    return db.session.scalar(sa.select(Evaluation).where(Evaluation.application_id == app_id))


def _closed_at(app: Application) -> datetime | None:
    return db.session.scalar(sa.select(sa.func.max(AuditEvent.at)).where(
        AuditEvent.entity_type == "application", AuditEvent.entity_id == app.id,
        AuditEvent.trigger.in_(CLOSING_TRIGGERS)))


def open_for(app: Application, now: datetime | None = None, actor: Any = None,
             ip: str | None = None) -> Evaluation | None:
    """Open the project's evaluation, with its facts and proposed scores, unless it has
    one (idempotent: the unique key on the project backs this up); None when the project
    is not closed or already has one."""
    closure = CLOSED.get(app.state)
    if closure is None or of_application(app.id) is not None:
        return None
    now = now or utcnow()
    closed_on = _day(_closed_at(app) or now)
    gathered = facts_mod.gather(app, closure, closed_on)
    proposal = propose(gathered)
    row = Evaluation(application_id=app.id, closure=closure, closed_on=closed_on,
                     facts=gathered, proposed=proposal.scores, proposed_total=proposal.total,
                     proposed_grade=proposal.grade, total=proposal.total,
                     grade=proposal.grade, opened_at=now)
    try:
        with db.session.begin_nested():
            db.session.add(row)
            db.session.flush()
    except IntegrityError:
        return None  # opened just now by another transaction
    audit.record(row, "evaluation", "open_evaluation", actor, SYSTEM, None, EV.draft.value,
                 "", {"closure": closure, "proposed": proposal.scores,
                      "total": proposal.total, "grade": proposal.grade.value}, ip)
    return row


def open_missing(now: datetime | None = None) -> int:
    """The beat (and the seed): every closed project without an evaluation gets one."""
    have = sa.select(Evaluation.application_id)
    ids = list(db.session.scalars(sa.select(Application.id).where(
        Application.state.in_(list(CLOSED)), Application.approved_at.is_not(None),
        Application.id.not_in(have)).order_by(Application.id)))
    opened = 0
    for app_id in ids:
        app = db.session.get(Application, app_id)
        if app is not None and open_for(app, now) is not None:
            opened += 1
    db.session.commit()
    return opened


# ---- the officer's adjustment ------------------------------------------------------------

def _score(value: Any, label: str) -> int | str:
    if isinstance(value, bool):
        return f"{label}应为 0 至 {MAX} 的整数"
    if isinstance(value, str) and re.fullmatch(r"[0-9]{1,3}", value.strip()):
        value = int(value.strip())  # ASCII digits only: "²" is a digit int() refuses
    if not isinstance(value, int) or not 0 <= value <= MAX:
        return f"{label}应为 0 至 {MAX} 的整数"
    return value


def refresh(ev: Evaluation) -> None:
    """Gather the project's facts again and recompute the proposal (the officer's
    adjustment, if any, stands)."""
    app = ev.application
    gathered = facts_mod.gather(app, ev.closure, ev.closed_on)
    proposal = propose(gathered)
    ev.facts = gathered
    ev.proposed = proposal.scores
    ev.proposed_total = proposal.total
    ev.proposed_grade = proposal.grade


def adjust(actor: User, ev: Evaluation, body: dict[str, Any], expected_version: int | None = None,
           ip: str | None = None) -> Evaluation:
    """The officer sets the scores (each 0–25; those not given keep the current ones)
    with a reason (at least 10 characters) when they differ from the proposal; the grade
    follows the total. Scores equal to the proposal clear the adjustment."""
    if not officer(actor):
        raise Forbidden("只有项目主管可以调整绩效评价得分", code="role_not_allowed")
    if ev.state is not EV.draft:
        raise Conflict(f"绩效评价当前为“{ev.state.label}”，只有待评价时可以调整得分",
                       code="wrong_state")
    if expected_version is not None and expected_version != ev.version:
        raise Conflict("绩效评价已被他人修改，请刷新后重试", details={"version": ev.version},
                       code="stale_version")
    before = {"scores": ev.scores, "total": ev.total, "grade": ev.grade.value,
              "proposed": dict(ev.proposed)}
    # The facts as they stand now (money recovered since the closure, a report filed
    # late…): the proposal the scores are compared with is recomputed first (a refusal
    # rolls it back with the rest).
    refresh(ev)
    errors: dict[str, str] = {}
    unknown = [k for k in body if k not in (*DIMENSIONS, "reason")]
    for key in unknown:
        errors[key] = "不接受此字段"
    scores = dict(ev.scores)
    for dim, label in DIMENSIONS.items():
        if dim in body and body[dim] is not None and body[dim] != "":
            checked = _score(body[dim], label)
            if isinstance(checked, str):
                errors[dim] = checked
            else:
                scores[dim] = checked
    raw_reason = body.get("reason")
    reason = raw_reason.strip() if isinstance(raw_reason, str) else ""
    changed = scores != dict(ev.proposed)
    if raw_reason is not None and not isinstance(raw_reason, str):
        errors["reason"] = "理由应为文字"
    elif changed and len(reason) < MIN_REASON:
        errors["reason"] = f"调整系统建议的得分须说明理由（不少于{MIN_REASON}字）"
    elif len(reason) > MAX_REASON:
        errors["reason"] = f"理由不能超过{MAX_REASON}字"
    if errors:
        raise Invalid("绩效评价得分调整有误", details=errors)
    now = utcnow()
    if changed:
        ev.adjusted = scores
        ev.adjust_reason = reason
        ev.adjusted_by = actor.name
        ev.adjusted_at = now
        ev.total = sum(scores.values())
        ev.grade = grade_of(ev.total)
    else:
        ev.adjusted = None
        ev.adjust_reason = ""
        ev.adjusted_by = None
        ev.adjusted_at = None
        ev.total = ev.proposed_total
        ev.grade = ev.proposed_grade
    db.session.flush()
    audit.record(ev, "evaluation", "adjust_evaluation", actor, "officer", ev.state.value,
                 ev.state.value, reason, {"before": before, "proposed": ev.proposed,
                                          "scores": ev.scores, "total": ev.total,
                                          "grade": ev.grade.value}, ip)
    return ev


# ---- kept on the people and the organisation ---------------------------------------------

def team_users(app: Application) -> list[User]:
    """The project's team members who have accounts (by 身份证号), the PI apart."""
    ids = [number for number, _name in integrity.team_of(app.data)]
    if not ids:
        return []
    return [u for u in db.session.scalars(sa.select(User).where(
        sa.func.upper(User.id_number).in_(ids), User.id != app.applicant_id).order_by(User.id))]


def keep(ev: Evaluation, on: date) -> list[PerformanceRecord]:
    """The confirmed grade on the PI, the team members with accounts and the
    organisation (once each)."""
    if db.session.scalar(sa.select(sa.func.count()).select_from(PerformanceRecord).where(
            PerformanceRecord.evaluation_id == ev.id)):
        return []
    app = ev.application
    rows = [PerformanceRecord(evaluation_id=ev.id, application_id=app.id, subject="pi",
                              user_id=app.applicant_id, name=app.applicant.name,
                              grade=ev.grade, total=ev.total, confirmed_on=on)]
    rows += [PerformanceRecord(evaluation_id=ev.id, application_id=app.id, subject="member",
                               user_id=u.id, name=u.name, grade=ev.grade, total=ev.total,
                               confirmed_on=on) for u in team_users(app)]
    rows.append(PerformanceRecord(evaluation_id=ev.id, application_id=app.id, subject="org",
                                  organization_id=app.organization_id,
                                  name=app.organization.name, grade=ev.grade,
                                  total=ev.total, confirmed_on=on))
    db.session.add_all(rows)
    db.session.flush()
    return rows


def records_of(user_id: int | None = None, organization_id: int | None = None,
               exclude_app: int | None = None) -> list[PerformanceRecord]:
    query = sa.select(PerformanceRecord)
    if user_id is not None:
        query = query.where(PerformanceRecord.user_id == user_id)
    if organization_id is not None:
        query = query.where(PerformanceRecord.organization_id == organization_id)
    if exclude_app is not None:
        query = query.where(PerformanceRecord.application_id != exclude_app)
    return list(db.session.scalars(query.order_by(PerformanceRecord.confirmed_on.desc(),
                                                  PerformanceRecord.id.desc())))


def history(app: Application, user: Any) -> dict[str, list[PerformanceRecord]] | None:
    """The 历史绩效 box of an application's page: the confirmed grades of its PI and its
    organisation on their other projects. Officers and leaders read it; the PI reads
    their own (not their colleagues' under the organisation); nobody else (never an
    expert). None: not shown."""
    if user is None or not getattr(user, "is_authenticated", True):
        return None
    if performance_reader(user):
        return {"pi": records_of(user_id=app.applicant_id, exclude_app=app.id),
                "org": records_of(organization_id=app.organization_id, exclude_app=app.id)}
    if principal_investigator(user, app):
        return {"pi": records_of(user_id=app.applicant_id, exclude_app=app.id)}
    return None


def failing_records() -> list[PerformanceRecord]:
    """绩效评价不合格 records, as the 科研失信 list page shows them."""
    return list(db.session.scalars(sa.select(PerformanceRecord).where(
        PerformanceRecord.grade == Grade.unqualified).order_by(
        PerformanceRecord.confirmed_on.desc(), PerformanceRecord.id.desc())))
