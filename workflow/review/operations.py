"""Expert review: assignment (optimal or random draw), reserves, the reviewer's queue,
scores, and moving an application on once its reviews are in."""

from __future__ import annotations

import contextlib
import secrets
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

import sqlalchemy as sa

from states import ApplicationState, CallState, ReviewState
from workflow.accounts.models import ExpertProfile, User
from workflow.applying.models import Application
from workflow.calls.models import Call
from workflow.core import audit, engine, outbox
from workflow.core.errors import Conflict, Forbidden, GuardFailed, Invalid, NotFound
from workflow.core.jobs import JobResult, Progress
from workflow.core.models import Job, db, utcnow
from workflow.core.rules import FireResult
from workflow.permissions import expert as is_expert
from workflow.permissions import pair_explainer, review_assigner
from workflow.review import conflicts, matching, results
from workflow.review.models import ConflictRelation, ReviewAssignment, ReviewDraw

ACTIVE = (ReviewState.invited, ReviewState.accepted, ReviewState.submitted)
RESPOND_DAYS = 3
ASSIGNABLE = (CallState.closed, CallState.reviewing)


def assignable(call: Call) -> bool:
    """Experts are assigned to a call once it has closed, while it is under review."""
    return call.state in ASSIGNABLE


def takes_reviewers(app: Application) -> bool:
    """An application takes more reviewers while under expert review."""
    return app.state is ApplicationState.expert_review


def _officer(actor: User) -> None:
    if not review_assigner(actor):
        raise Forbidden("只有项目主管可以分配评审专家", code="role_not_allowed")


def _words(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = value.replace("，", ",").replace("；", ",").replace(";", ",").split(",")
    if not isinstance(value, list | tuple):
        return ()
    return tuple(str(v).strip() for v in value if str(v).strip())


def _active_count(app_ids: list[int]) -> Counter[int]:
    return Counter(dict(db.session.execute(
        sa.select(ReviewAssignment.application_id, sa.func.count())
        .where(ReviewAssignment.application_id.in_(app_ids),
               ReviewAssignment.state.in_(ACTIVE))
        .group_by(ReviewAssignment.application_id)).all()))


def loads() -> Counter[int]:
    """Open invitations and reviews in progress per expert."""
    return Counter(dict(db.session.execute(
        sa.select(ReviewAssignment.expert_id, sa.func.count())
        .where(ReviewAssignment.state.in_((ReviewState.invited, ReviewState.accepted)))
        .group_by(ReviewAssignment.expert_id)).all()))


def expert_pool() -> list[tuple[User, ExpertProfile]]:
    rows = db.session.execute(sa.select(User, ExpertProfile).join(
        ExpertProfile, ExpertProfile.user_id == User.id).where(User.active.is_(True)))
    return [(u, p) for u, p in rows]


def _inputs(apps: list[Application], per_application: int
            ) -> tuple[list[matching.Proposal], list[matching.Expert], dict[tuple[int, int],
                                                                           list[str]]]:
    pool = expert_pool()
    have = _active_count([a.id for a in apps])
    load = loads()
    already = {(a, e) for a, e in db.session.execute(sa.select(
        ReviewAssignment.application_id, ReviewAssignment.expert_id).where(
        ReviewAssignment.application_id.in_([a.id for a in apps])))}
    # Without a keywords field, the pool's own keywords found in the title or summary
    # stand in (Chinese text has no spaces to split on).
    vocabulary = {k for _u, p in pool for k in (p.keywords or ())}
    proposals = []
    for app in apps:
        data = app.data or {}
        text = f"{app.title} {data.get('summary', '')}"
        proposals.append(matching.Proposal(
            id=app.id, org_ids=frozenset({app.organization_id}),
            disciplines=_words(data.get("discipline") or data.get("disciplines")),
            keywords=_words(data.get("keywords"))
            or tuple(sorted(k for k in vocabulary if k and k in text)),
            needed=max(per_application - have[app.id], 0)))
    experts = [matching.Expert(
        id=u.id, org_id=u.organization_id, disciplines=tuple(p.disciplines or ()),
        keywords=tuple(p.keywords or ()), load_cap=p.load_cap, current_load=load[u.id],
        available=p.available) for u, p in pool]
    conflict_codes = conflicts.conflict_map([u for u, _ in pool], apps)
    for pair in already:  # an expert already invited once is not drawn again
        conflict_codes.setdefault(pair, []).append("already_assigned")
    return proposals, experts, conflict_codes


@dataclass
class AssignReport:
    draw: ReviewDraw
    created: list[ReviewAssignment]


def check_assign(actor: User, call: Call, mode: Any, per_application: Any = None,
                 seed: Any = None) -> int:
    """Refuse at once what ``assign`` would refuse of its parameters and the call's state
    (the page checks before it starts the assignment as a job); the reviewers per
    application it would use."""
    _officer(actor)
    errors: dict[str, str] = {}
    if mode not in ("optimal", "random"):
        errors["mode"] = "分配方式应为 optimal（最优匹配）或 random（随机抽取）"
    per = call.reviewers_per_application if per_application is None else per_application
    if not isinstance(per, int) or isinstance(per, bool) or not 1 <= per <= 15:
        errors["per_application"] = "每项评审专家数应为1至15的整数"
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)
                             or not 0 <= seed < 2**31):
        errors["seed"] = "随机种子应为0至2147483647之间的整数"
    if errors:
        raise Invalid("分配参数有误", details=errors)
    if not assignable(call):
        raise Conflict("只有已截止或评审中的批次可以分配评审专家", code="invalid_state")
    return per


def assign(actor: User, call: Call, mode: Any, per_application: Any = None,
           seed: Any = None, now: datetime | None = None,
           progress: Progress | None = None) -> AssignReport:
    """Assign experts to every application of ``call`` under expert review; ``progress``
    hears how many applications have their invitations written."""
    per = check_assign(actor, call, mode, per_application, seed)
    apps = list(db.session.scalars(sa.select(Application).where(
        Application.call_id == call.id, Application.state == ApplicationState.expert_review
    ).order_by(Application.id)))
    if not apps:
        raise Conflict("本批次没有待专家评审的申报书", code="nothing_to_assign")
    now = now or utcnow()
    proposals, experts, conflict_codes = _inputs(apps, per)
    if mode == "optimal":
        result = matching.assign_optimal(proposals, experts, conflict_codes)
        seed = None
    else:
        seed = secrets.randbelow(2**31) if seed is None else seed
        result = matching.draw_random(proposals, experts, conflict_codes, seed=seed)
    draw = ReviewDraw(call_id=call.id, mode=mode, seed=seed, created_by_id=actor.id,
                      params={"per_application": per, "applications": len(apps),
                              "experts": len(experts)},
                      result={"pairs": len(result.pairs),
                              "unfilled": {str(k): v for k, v in result.unfilled.items()},
                              "unfilled_reasons": {str(k): v for k, v in
                                                   result.unfilled_reasons.items()},
                              "explanation": result.explanation},
                      reserves={str(k): v for k, v in (result.reserves or {}).items()})
    db.session.add(draw)
    db.session.flush()
    if progress is not None:
        progress(0, len(apps))
    by_app: dict[int, list[int]] = {}
    for app_id, expert_id in sorted(result.pairs):
        by_app.setdefault(app_id, []).append(expert_id)
    created: list[ReviewAssignment] = []
    for number, app in enumerate(apps, start=1):
        created += [_invite(app.id, expert_id, call, draw.id, now)
                    for expert_id in by_app.get(app.id, ())]
        if progress is not None:
            progress(number, len(apps))
    audit.record(call, "call", "assign_reviewers", actor, "officer", call.state.value,
                 call.state.value, data={"draw_id": draw.id, "mode": mode, "seed": seed,
                                         "per_application": per, "pairs": len(created),
                                         "unfilled": draw.result["unfilled"]})
    return AssignReport(draw, created)


ASSIGN_JOB = "assign_reviewers"


def start_assign(actor: User, call: Call, mode: Any, per_application: Any = None,
                 seed: Any = None) -> Job:
    """Check the parameters now and leave the assignment to the worker as a job."""
    from workflow.core import jobs

    check_assign(actor, call, mode, per_application, seed)
    return jobs.start(ASSIGN_JOB, actor.id, {"call_id": call.id, "mode": mode,
                                             "per_application": per_application,
                                             "seed": seed})


def assign_job(job: Job, progress: Progress) -> JobResult:
    """The ``assign_reviewers`` job: ``assign`` as its starter, and what came of it."""
    actor = db.session.get(User, job.started_by_id or 0)
    call = db.session.get(Call, job.params.get("call_id") or 0)
    if actor is None or call is None:
        raise NotFound("申报指南或发起人已不存在")
    report = assign(actor, call, job.params.get("mode"), job.params.get("per_application"),
                    job.params.get("seed"), progress=progress)
    draw = report.draw
    titles = dict(db.session.execute(sa.select(Application.id, Application.title).where(
        Application.id.in_([int(k) for k in draw.result["unfilled"]]))).all())
    reasons = draw.result.get("unfilled_reasons") or {}
    return {
        "summary": f"已分配 {len(report.created)} 项评审任务",
        "counts": [["申报书", draw.params["applications"]],
                   ["评审任务", len(report.created)],
                   ["专家不足的申报书", len(draw.result["unfilled"])]],
        "link": {"endpoint": "reviewing.assign", "values": {"call_id": call.id},
                 "text": "查看分配结果"},
        "errors": [f"{titles.get(int(k), '申报书')}：缺 {v} 位专家"
                   + (f"（{reasons[k]}）" if reasons.get(k) else "")
                   for k, v in draw.result["unfilled"].items()],
    }


def _invite(app_id: int, expert_id: int, call: Call, draw_id: int | None,
            now: datetime) -> ReviewAssignment:
    review = ReviewAssignment(application_id=app_id, expert_id=expert_id, draw_id=draw_id,
                              respond_by=now + timedelta(days=RESPOND_DAYS),
                              due_at=now + timedelta(days=call.review_days))
    db.session.add(review)
    db.session.flush()
    audit.record(review, "review", "invite", None, "system", None, review.state.value,
                 data={"application_id": app_id, "draw_id": draw_id})
    outbox.emit("review.invited", "review", review.id, {"application_id": app_id})
    return review


def add_reviewer(actor: User, app: Application, expert_id: Any) -> ReviewAssignment:
    """The officer adds one expert by hand, under the same conflict checks."""
    _officer(actor)
    expert = db.session.get(User, expert_id) if isinstance(expert_id, int) else None
    if expert is None or not is_expert(expert):
        raise Invalid("请选择一位评审专家", details={"expert_id": "不是评审专家"})
    if not takes_reviewers(app):
        raise Conflict("只有专家评审阶段的申报书可以增加评审专家", code="invalid_state")
    found = conflicts.reasons(expert, app)
    if db.session.scalar(sa.select(ReviewAssignment.id).where(
            ReviewAssignment.application_id == app.id, ReviewAssignment.expert_id == expert.id)):
        found.append("已分配过该专家")
    if found:
        raise GuardFailed("该专家需回避：" + "、".join(found),
                          details=[{"code": "conflict", "message": m} for m in found])
    review = _invite(app.id, expert.id, app.call, None, utcnow())
    audit.record(app.call, "call", "add_reviewer", actor, "officer", app.call.state.value,
                 app.call.state.value, data={"application_id": app.id, "expert_id": expert.id})
    return review


def replace_from_reserve(review: ReviewAssignment, now: datetime | None = None
                         ) -> ReviewAssignment | None:
    """Invite the next reserve (备选) of the draw for a declined or expired invitation."""
    if review.draw_id is None:
        return None
    draw = db.session.get(ReviewDraw, review.draw_id)
    if draw is None:
        return None
    app = review.application
    taken = set(db.session.scalars(sa.select(ReviewAssignment.expert_id).where(
        ReviewAssignment.application_id == app.id)))
    load = loads()
    for expert_id in draw.reserves.get(str(app.id), []):
        expert = db.session.get(User, expert_id)
        profile = db.session.get(ExpertProfile, expert_id)
        if expert is None or profile is None or expert_id in taken or not profile.available:
            continue
        if load[expert_id] >= profile.load_cap or conflicts.reasons(expert, app):
            continue
        return _invite(app.id, expert_id, app.call, draw.id, now or utcnow())
    return None


def decline(expert: User, review: ReviewAssignment, reason: str,
            conflict_kind: str | None = None, ip: str | None = None) -> ReviewAssignment | None:
    """The expert declines; a conflict declared here is recorded for the future too."""
    invited = set(db.session.scalars(sa.select(ReviewAssignment.id).where(
        ReviewAssignment.application_id == review.application_id)))
    engine.fire(review, "decline", expert, comment=reason, ip=ip,
                data={} if conflict_kind is None else {"conflict_kind": conflict_kind})
    return db.session.scalar(sa.select(ReviewAssignment).where(
        ReviewAssignment.application_id == review.application_id,
        ReviewAssignment.id.not_in(invited)).order_by(ReviewAssignment.id).limit(1))


def record_conflict(result: FireResult, actor: User | None, ip: str | None) -> None:
    """A conflict the expert declared when declining is kept for future draws too."""
    review: ReviewAssignment = result.row
    kind = (result.audit_event.data or {}).get("input", {}).get("conflict_kind")
    if kind and actor is not None:
        db.session.add(ConflictRelation(
            expert_id=review.expert_id, kind=kind, application_id=review.application_id,
            other_user_id=review.application.applicant_id, note=result.audit_event.comment,
            recorded_by_id=actor.id, year=(result.now or utcnow()).year))


def invite_reserve(result: FireResult, actor: User | None, ip: str | None) -> None:
    """A declined or expired invitation: the draw's next reserve is invited instead."""
    replace_from_reserve(result.row, result.now)


def expire_overdue(now: datetime | None = None) -> int:
    """Invitations not answered in time expire; a reserve is invited in their place."""
    now = now or utcnow()
    overdue = list(db.session.scalars(sa.select(ReviewAssignment).where(
        ReviewAssignment.state == ReviewState.invited, ReviewAssignment.respond_by <= now)))
    done = 0
    for review in overdue:
        try:
            engine.fire(review, "expire", None, now=now)
            db.session.commit()
            done += 1
        except (Conflict, GuardFailed):
            db.session.rollback()
    return done


MIN_REVIEW_COMMENT = 20


def score_errors(rubric: list[dict[str, Any]], scores: Any, comment: Any, *,
                 complete: bool = False) -> tuple[dict[str, str], dict[str, str]]:
    """The scores as stored (``{criterion: "85"}``) and every error, each under its
    criterion's name or ``comment``. ``complete``: as for a submission, where each
    criterion needs a score and the comment its length."""
    errors: dict[str, str] = {}
    clean: dict[str, str] = {}
    if not isinstance(scores, dict):
        return {}, {"scores": "评分应为对象：{评分项: 分数}"}
    for name in sorted(set(scores) - {c["name"] for c in rubric}):
        errors[f"scores.{name}"] = "评分标准中没有此项"
    for crit in rubric:
        raw = scores.get(crit["name"])
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            if complete:
                errors[crit["name"]] = f"请填写“{crit['label']}”的分数"
            continue
        try:
            value = Decimal(str(raw).strip())
        except InvalidOperation:
            errors[crit["name"]] = f"“{crit['label']}”应为数字"
            continue
        if not value.is_finite() or not 0 <= value <= Decimal(str(crit["max"])):
            errors[crit["name"]] = f"“{crit['label']}”应在0至{crit['max']}分之间"
        else:
            clean[crit["name"]] = str(value)
    if comment is not None and (not isinstance(comment, str) or len(comment) > 5000):
        errors["comment"] = "评审意见应为不超过5000字的文字"
    elif complete:
        text = (comment or "").strip()
        if not text:
            errors["comment"] = "请填写综合评价意见"
        elif len(text) < MIN_REVIEW_COMMENT:
            errors["comment"] = (f"综合评价意见不少于{MIN_REVIEW_COMMENT}字"
                                 f"（当前{len(text)}字）")
    return clean, errors


def save_scores(expert: User, review: ReviewAssignment, scores: Any, comment: Any,
                submit: bool = False, ip: str | None = None) -> ReviewAssignment:
    """Save a draft of the scores; ``submit`` locks them. Only the assigned expert. A
    refusal names every error at once: with a submission, what it still lacks too."""
    if review.expert_id != expert.id:
        raise NotFound("评审任务不存在")
    review = engine.load("review", review.id, lock=True)
    if review.state is not ReviewState.accepted:
        raise Conflict(f"评审任务当前为“{review.state.label}”，不能评分"
                       + ("，请先接受邀请" if review.state is ReviewState.invited else ""),
                       code="invalid_state")
    rubric = review.application.call.rubric or []
    clean, errors = score_errors(rubric, scores, comment)
    if errors and submit:
        _, lacking = score_errors(rubric, {**(review.scores or {}), **clean},
                                  comment if isinstance(comment, str) else review.comment,
                                  complete=True)
        errors = {**lacking, **errors}
    if errors:
        raise Invalid("评分有误", details=errors)
    review.scores = {**(review.scores or {}), **clean}
    if comment is not None:
        review.comment = comment.strip()
    db.session.flush()
    if submit:
        engine.fire(review, "submit_scores", expert, ip=ip)
    return review


def keep_score(result: FireResult, actor: User | None, ip: str | None) -> None:
    """The submitted scores count in the application's kept score (``results.rescore``),
    its row locked first: two experts submitting at once are counted one after the other,
    the second's sums read after the first committed."""
    review: ReviewAssignment = result.row
    app = engine.load("application", review.application_id, lock=True)
    results.rescore(app.call, app.id)


def finish_when_all_in(result: FireResult, actor: User | None, ip: str | None) -> None:
    """Once every active review of the application is submitted and there are enough, the
    system moves it on (to defence or to reviewed)."""
    review: ReviewAssignment = result.row
    app = engine.load("application", review.application_id, lock=True)  # two last at once
    states = [r.state for r in db.session.scalars(sa.select(ReviewAssignment).where(
        ReviewAssignment.application_id == app.id, ReviewAssignment.state.in_(ACTIVE)))]
    if states and all(s is ReviewState.submitted for s in states) and \
            len(states) >= app.call.reviewers_per_application:
        # If a guard still refuses, the officer sees why on the application page.
        with contextlib.suppress(Conflict, GuardFailed):
            engine.fire(app, "finish_review", None)


# The expert's queue, what waits on them first: invitations to answer, then reviews to
# score, each by its deadline (the answer's, then the scores'); finished ones after.
PENDING_RANK = sa.case((ReviewAssignment.state == ReviewState.invited, 0),
                       (ReviewAssignment.state == ReviewState.accepted, 1),
                       (ReviewAssignment.state == ReviewState.submitted, 2), else_=3)
DEADLINE = sa.case((ReviewAssignment.state == ReviewState.invited, ReviewAssignment.respond_by),
                   else_=ReviewAssignment.due_at)


def queue_counts(expert: User) -> tuple[int, int, int]:
    """待处理 (invited), 评审中 (accepted), 已完成 (submitted) of the expert's reviews."""
    states = Counter(dict(db.session.execute(
        sa.select(ReviewAssignment.state, sa.func.count()).where(
            ReviewAssignment.expert_id == expert.id).group_by(ReviewAssignment.state)).all()))
    return (states[ReviewState.invited], states[ReviewState.accepted],
            states[ReviewState.submitted])


def explain_pair(actor: User, app: Application, expert: User) -> dict[str, Any]:
    """Why ``expert`` may or may not review ``app``, and how well they match."""
    if not pair_explainer(actor):
        raise Forbidden("只有项目主管和审计人员可以查看回避与匹配说明")
    profile = db.session.get(ExpertProfile, expert.id)
    if profile is None:
        raise NotFound("该用户不在专家库中")
    proposals, experts, codes = _inputs([app], app.call.reviewers_per_application)
    mine = next((e for e in experts if e.id == expert.id), None)
    if mine is None:
        raise NotFound("该专家已停用")
    return matching.explain(mine, proposals[0], codes)
