"""答辩 for 揭榜挂帅: sessions, panel scores with the demand side present, team selection."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import sqlalchemy as sa

from forms import parse_id
from states import ApplicationState
from workflow.accounts.models import User
from workflow.applying.models import Application
from workflow.calls.models import Call, Challenge
from workflow.calls.operations import parse_local_time
from workflow.core import audit, engine
from workflow.core.errors import Conflict, Forbidden, Invalid, NotFound
from workflow.core.models import db
from workflow.core.rules import FireResult
from workflow.permissions import (
    allow,
    defence_keeper,
    demand_side,
    expert,
    found,
    has_role,
    organiser,
)
from workflow.review import conflicts, ranking
from workflow.review.models import DefenceScore, DefenceSession
from workflow.review.results import call_results


def schedule(actor: User, call: Call, data: dict[str, Any]) -> DefenceSession:
    if not defence_keeper(actor):
        raise Forbidden("只有项目主管可以安排答辩", code="role_not_allowed")
    errors: dict[str, str] = {}
    challenge = None
    raw_challenge = str(data.get("challenge_id") or "")
    if raw_challenge:
        challenge_id = parse_id(raw_challenge)
        challenge = db.session.get(Challenge, challenge_id) if challenge_id else None
        if challenge is None or challenge.call_id != call.id:
            errors["challenge_id"] = "请选择本批次的榜单"
    try:
        starts_at = parse_local_time(data.get("starts_at"))
    except ValueError as err:
        errors["starts_at"] = str(err)
    place = str(data.get("place") or "").strip()
    if not place:
        errors["place"] = "请填写答辩地点"
    panel_raw = data.get("panel") or []
    panel: list[User] = []
    unknown: list[str] = []
    for raw in dict.fromkeys(str(p) for p in (
            panel_raw if isinstance(panel_raw, list) else [panel_raw])):
        user_id = parse_id(raw)
        user = db.session.get(User, user_id) if user_id else None
        if user is not None and expert(user):
            panel.append(user)
        else:
            unknown.append(raw[:20])
    if unknown:  # never a smaller panel than the one asked for
        errors["panel"] = "以下不是专家库中的专家：" + "、".join(unknown)
    elif len(panel) < 3:
        errors["panel"] = "答辩评审组至少需要3位专家"
    if errors:
        raise Invalid("答辩安排有误", details=errors)
    session = DefenceSession(call_id=call.id, challenge_id=challenge.id if challenge else None,
                             starts_at=starts_at, place=place,
                             panel=sorted(u.id for u in panel),
                             demand_present=challenge is not None, created_by_id=actor.id)
    db.session.add(session)
    db.session.flush()
    audit.record(call, "call", "schedule_defence", actor, "officer", call.state.value,
                 call.state.value, data={"session_id": session.id, "place": place,
                                         "panel": session.panel})
    return session


# Who runs defences and sees every session of a call (``permissions.organiser``); a
# panelist (or the demand side at its challenge's session) sees only their own sessions.


def sessions_for(actor: User, call: Call) -> list[DefenceSession]:
    """The sessions of ``call`` that ``actor`` may see, by start time; refused (403: the
    call is seen, its defence is not) to someone who is neither an organiser nor on a
    panel of the call."""
    sessions = list(db.session.scalars(sa.select(DefenceSession).where(
        DefenceSession.call_id == call.id).order_by(DefenceSession.starts_at,
                                                    DefenceSession.id)))
    if organiser(actor):
        return sessions
    mine = [s for s in sessions if panel_role(actor, s)]
    allow(bool(mine), "只有项目主管、领导和答辩评审组成员可以查看答辩安排",
          code="not_panelist")
    return mine


def visible_session(actor: User, session_id: int | None) -> DefenceSession:
    session = db.session.get(DefenceSession, session_id) if session_id else None
    return found(session, actor, lambda user, s: organiser(user) or bool(panel_role(user, s)),
                 what="答辩")


def scores_of(sessions: list[DefenceSession]
              ) -> dict[tuple[int, int], list[DefenceScore]]:
    """The panel's scores by (session, team)."""
    out: dict[tuple[int, int], list[DefenceScore]] = {}
    for row in db.session.scalars(sa.select(DefenceScore).where(
            DefenceScore.session_id.in_([s.id for s in sessions])).order_by(DefenceScore.id)):
        out.setdefault((row.session_id, row.application_id), []).append(row)
    return out


def team_of(session: DefenceSession, app_id: int | None) -> Application:
    """An application heard (or to be heard) at ``session``: of its call and, for a
    challenge's session, of that challenge. Any other is not found."""
    app = db.session.get(Application, app_id) if app_id else None
    if app is None or app.call_id != session.call_id or (
            session.challenge_id is not None and app.challenge_id != session.challenge_id):
        raise NotFound("该项目不在本场答辩中")
    return app


def teams(session: DefenceSession) -> list[Application]:
    query = sa.select(Application).where(Application.call_id == session.call_id,
                                         Application.state == ApplicationState.defence)
    if session.challenge_id is not None:
        query = query.where(Application.challenge_id == session.challenge_id)
    return list(db.session.scalars(query.order_by(Application.id)))


def panel_role(user: User, session: DefenceSession) -> str | None:
    if user.id in session.panel:
        return "expert"
    if session.challenge_id is not None and has_role("demand")(user):
        challenge = db.session.get(Challenge, session.challenge_id)
        if challenge is not None and demand_side(user, challenge):
            return "demand"
    return None


def record_score(actor: User, session: DefenceSession, app: Application, score: Any,
                 comment: Any) -> DefenceScore:
    role = panel_role(actor, session)
    if role is None:
        raise Forbidden("您不是本场答辩的评审组成员", code="not_panelist")
    if app not in teams(session):
        raise Conflict("该项目不在本场答辩中", code="not_in_session")
    if role == "expert":
        found = conflicts.reasons(actor, app)
        if found:
            raise Forbidden("您需回避该项目：" + "、".join(found), code="conflict")
    try:
        value = Decimal(str(score).strip())
    except InvalidOperation as err:
        raise Invalid("答辩评分有误", details={"score": "应为0至100之间的数字"}) from err
    if not value.is_finite() or not 0 <= value <= 100:
        raise Invalid("答辩评分有误", details={"score": "应为0至100之间的数字"})
    row = db.session.scalar(sa.select(DefenceScore).where(
        DefenceScore.session_id == session.id, DefenceScore.application_id == app.id,
        DefenceScore.panelist_id == actor.id))
    if row is None:
        row = DefenceScore(session_id=session.id, application_id=app.id, panelist_id=actor.id,
                           role=role, score=value)
        db.session.add(row)
    row.score, row.comment = value.quantize(Decimal("0.01")), str(comment or "")[:5000]
    db.session.flush()
    return row


def finish(actor: User, session: DefenceSession, app: Application,
           ip: str | None = None) -> FireResult:
    """The panel's scores (mean) become the team's defence score; the team is reviewed."""
    if not defence_keeper(actor):
        raise Forbidden("只有项目主管可以确认答辩完成", code="role_not_allowed")
    if app not in teams(session):
        raise Conflict("该项目不在本场答辩中", code="not_in_session")
    return engine.fire(engine.load("application", app.id, lock=True), "finish_defence", actor,
                       ip=ip)


def panel_score(app: Application) -> tuple[Decimal | None, str]:
    """The team's defence score, the mean of its latest hearing's panel (the demand side
    included), once enough of the panel's experts scored; else None and why not."""
    session = db.session.scalar(sa.select(DefenceSession).where(
        DefenceSession.call_id == app.call_id,
        sa.or_(DefenceSession.challenge_id.is_(None),
               DefenceSession.challenge_id == app.challenge_id))
        .order_by(DefenceSession.starts_at.desc(), DefenceSession.id.desc()).limit(1))
    if session is None:
        return None, "尚未安排答辩"
    rows = db.session.execute(sa.select(DefenceScore.score, DefenceScore.role).where(
        DefenceScore.session_id == session.id, DefenceScore.application_id == app.id)).all()
    experts = sum(1 for _, role in rows if role == "expert")
    if experts < min(3, len(session.panel)) or not rows:
        return None, f"评审组专家评分不足（已评{experts}人）"
    return ranking.aggregate([Decimal(score) for score, _ in rows], "mean"), ""


@dataclass
class Selection:
    challenge: Challenge
    chosen: list[Application]
    order: list[tuple[Application, Decimal | None, Decimal | None]]


def select_teams(actor: User, challenge: Challenge, k: int | None = None,
                 ip: str | None = None) -> Selection:
    """Put the best team in charge (挂帅), or the top K racing in parallel (赛马): ordered
    by defence score, then review score; each chosen team is shortlisted."""
    if not organiser(actor):
        raise Forbidden("只有项目主管或领导可以确定揭榜团队", code="role_not_allowed")
    k = challenge.max_teams if k is None else k
    if not 1 <= k <= challenge.max_teams:
        raise Invalid("入选团队数有误", details={"k": f"应为1至{challenge.max_teams}"})
    review = {r.app.id: r.aggregate for r in call_results(challenge.call).rows}
    candidates = list(db.session.scalars(sa.select(Application).where(
        Application.challenge_id == challenge.id,
        Application.state == ApplicationState.reviewed)))
    if not candidates:
        raise NotFound("该榜单没有评审完成的团队")

    def key(app: Application) -> tuple[Decimal, Decimal, int]:
        defence = app.defence_score if app.defence_score is not None else Decimal(-1)
        return (-defence, -(review.get(app.id) or Decimal(-1)), app.id)

    ordered = sorted(candidates, key=key)
    chosen = ordered[:k]
    with engine.carrying_out("select_teams"):
        for place, app in enumerate(chosen, 1):
            engine.fire(engine.load("application", app.id, lock=True), "shortlist", actor,
                        comment=f"揭榜团队入选（第{place}名）", ip=ip)
    order = [(a, a.defence_score, review.get(a.id)) for a in ordered]
    return Selection(challenge, chosen, order)
