"""立项决策: from the ranking to the funded list a leader approves, then public notice.

The officer proposes the list (per challenge for 揭榜挂帅), prefilled from the funding
line; a leader approves it (the list's ``approve`` transition, whose guard asks for the
meeting record when the total reaches the 三重一大 threshold) or sends it back. Approval
decides the call, shortlists every listed application with its amount and declines the
other reviewed ones (the follow-up ``carry_out_decision``), each through ``fire`` and
audited, in one transaction.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import IO, Any

import sqlalchemy as sa

from forms import format_wan, has_line_break, parse_wan
from forms.validators import FieldError
from states import ApplicationState, CallState
from workflow.accounts.models import User
from workflow.applying.models import Application
from workflow.calls.models import Call
from workflow.core import audit, engine
from workflow.core.errors import Conflict, Forbidden, Invalid, NotFound, ServiceError
from workflow.core.files import save_upload
from workflow.core.models import db, utcnow
from workflow.core.rules import FireResult
from workflow.decisions.models import DecisionItem, DecisionState, FundingDecision
from workflow.permissions import decision_proposer, meeting_recorder, officer
from workflow.review.results import _requested, _stream, call_results, collector_paused
from workflow.timeutil import SHANGHAI

UNDER_REVIEW = (ApplicationState.expert_review, ApplicationState.defence)
DECIDABLE = (ApplicationState.reviewed, ApplicationState.shortlisted)
SUPERSEDED = "已由新的建议名单替代"
# Rows written or read by id at a time: a statement binds at most a few thousand parameters
# (PostgreSQL takes 65,535).
BATCH = 1000
MEETING_FIELDS = {"meeting_name": "会议名称", "meeting_date": "会议日期",
                  "meeting_attendees": "参会人员", "minutes_ref": "会议纪要文号"}


def pending(call_id: int) -> FundingDecision | None:
    """The list awaiting the leader, if any."""
    return db.session.scalar(sa.select(FundingDecision).where(
        FundingDecision.call_id == call_id, FundingDecision.state == DecisionState.proposed))


def approved(call_id: int) -> FundingDecision | None:
    return db.session.scalar(sa.select(FundingDecision).where(
        FundingDecision.call_id == call_id, FundingDecision.state == DecisionState.approved))


def history(call_id: int) -> list[FundingDecision]:
    return list(db.session.scalars(sa.select(FundingDecision).where(
        FundingDecision.call_id == call_id).order_by(FundingDecision.id.desc())))


def needs_meeting(call: Call, total: Decimal) -> bool:
    return call.collective_threshold is not None and total >= call.collective_threshold


@dataclass
class Draft:
    """What the proposal page shows: every reviewed application with its rank, score and
    request, and the amount the funding line would give it."""

    call: Call
    rows: list[dict[str, Any]] = field(default_factory=list)
    open_reviews: int = 0


def draft(call: Call) -> Draft:
    with collector_paused():  # a row per reviewed application: 100,000 in a large call
        return _draft(call)


def _draft(call: Call) -> Draft:
    res = call_results(call)
    out = Draft(call)
    out.open_reviews = sum(1 for r in res.rows if r.app.state in UNDER_REVIEW)
    for r in res.rows:
        if r.app.state not in DECIDABLE:
            continue
        requested = r.app.requested
        out.rows.append({
            "app": r.app, "rank": r.ranked.rank, "score": r.aggregate,
            "requested": requested, "line": r.status,
            "funded": r.status == "funded" or r.app.state is ApplicationState.shortlisted,
            "amount": requested if requested > 0 else None,
            "group": r.app.challenge.title if r.app.challenge else None,
        })
    return out


def _meeting(fields: dict[str, Any], errors: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, label in MEETING_FIELDS.items():
        value = str(fields.get(key) or "").strip()
        if not value:
            continue
        if key == "meeting_date":
            try:
                day = date.fromisoformat(value)
            except ValueError:
                errors[key] = "会议日期格式应为 2026-11-28"
                continue
            if day > utcnow().astimezone(SHANGHAI).date():
                errors[key] = "会议日期不能晚于今天"
                continue
            out[key] = day
        else:
            limit = 100 if key == "minutes_ref" else 200 if key == "meeting_name" else 2000
            if len(value) > limit:
                errors[key] = f"{label}不能超过{limit}字"
                continue
            if key in ("meeting_name", "minutes_ref") and has_line_break(value):
                errors[key] = f"{label}不能换行，请写在一行内"
                continue
            out[key] = value
    return out


@dataclass(frozen=True, slots=True)
class _Decidable:
    """What a proposal checks of a decidable application (read as a plain row)."""

    id: int
    title: str
    state: ApplicationState
    challenge_id: int | None
    requested: Decimal


def _decidable(call: Call) -> dict[int, _Decidable]:
    """The call's applications a list may name (reviewed or shortlisted), by id: one
    streamed statement joined on the call, never a list of ids."""
    query = (sa.select(Application.id, Application.title, Application.state,
                       Application.challenge_id, Application.data["amount"].as_string(),
                       Application.data["milestones"])
             .where(Application.call_id == call.id, Application.state.in_(DECIDABLE))
             .order_by(Application.id))
    out: dict[int, _Decidable] = {}
    for app_id, title, state, challenge_id, amount, milestones in _stream(query):
        try:
            requested = _requested(amount, milestones)
        except (ArithmeticError, AttributeError, TypeError, ValueError):
            requested = Decimal("0.00")
        out[app_id] = _Decidable(app_id, title, state, challenge_id, requested)
    return out


def _elsewhere(call: Call, ids: set[int]) -> dict[int, tuple[str, ApplicationState]]:
    """The title and state of those of ``ids`` that are the call's but not decidable (a
    list naming them is refused), read ``BATCH`` ids at a time."""
    wanted = sorted(ids)
    out: dict[int, tuple[str, ApplicationState]] = {}
    for start in range(0, len(wanted), BATCH):
        out.update((i, (title, state)) for i, title, state in db.session.execute(
            sa.select(Application.id, Application.title, Application.state).where(
                Application.call_id == call.id,
                Application.id.in_(wanted[start:start + BATCH]))))
    return out


def propose(call: Call, actor: User, items: list[dict[str, Any]], comment: str = "",
            meeting: dict[str, Any] | None = None, ip: str | None = None) -> FundingDecision:
    """The officer's proposed list; replaces a list still awaiting the leader."""
    if not decision_proposer(actor):
        raise Forbidden("只有项目主管可以拟定立项建议名单", code="role_not_allowed")
    call = engine.load("call", call.id, lock=True)
    if call.state is not CallState.reviewing:
        raise Conflict(f"当前指南状态为“{call.state.label}”，只有评审中的指南可以拟定立项名单",
                       code="invalid_state")
    if approved(call.id) is not None:
        raise Conflict("该指南的立项名单已经审定", code="already_decided")
    # Counted and read in SQL, a fixed number of statements whatever the size of the call
    # (a call of 100,000 applications once loaded each as an ORM object).
    open_reviews = db.session.scalar(sa.select(sa.func.count(Application.id)).where(
        Application.call_id == call.id, Application.state.in_(UNDER_REVIEW))) or 0
    if open_reviews:
        raise Conflict(f"尚有 {open_reviews} 件申报书评审未完成，不能拟定立项名单",
                       code="reviews_open")
    apps = _decidable(call)
    challenges = {ch.id: ch for ch in call.challenges}

    errors: dict[str, str] = {}
    chosen: list[tuple[_Decidable, Decimal]] = []
    seen: set[int] = set()
    ids: dict[int, int] = {}
    for i, item in enumerate(items):
        try:
            ids[i] = int(item.get("application_id"))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            continue
    others = _elsewhere(call, {app_id for app_id in ids.values() if app_id not in apps})
    for i, item in enumerate(items):
        key = f"items[{i}]"
        if i not in ids:
            errors[key] = "申报书编号无效"
            continue
        app_id = ids[i]
        found = apps.get(app_id)
        if found is None:
            if app_id in others:
                title, state = others[app_id]
                errors[key] = f"“{title}”当前状态为“{state.label}”，不能列入立项名单"
            else:
                errors[key] = f"申报书 {app_id} 不属于该指南"
            continue
        app = found
        if app_id in seen:
            errors[key] = f"“{app.title}”重复列入"
            continue
        seen.add(app_id)
        try:
            amount = parse_wan(item.get("amount_wan", ""))
        except FieldError as err:
            errors[key] = f"“{app.title}”的资助金额：{err}"
            continue
        if amount <= 0:
            errors[key] = f"“{app.title}”的资助金额应大于零"
            continue
        asked = app.requested
        if asked > 0 and amount > asked:
            errors[key] = (f"“{app.title}”的资助金额不能超过申请金额 {format_wan(asked)} 万元")
            continue
        challenge = challenges.get(app.challenge_id) if app.challenge_id else None
        if challenge is not None and amount > challenge.ceiling:
            errors[key] = (f"“{app.title}”的资助金额不能超过榜单“{challenge.title}”的"
                           f"经费上限 {format_wan(challenge.ceiling)} 万元")
            continue
        chosen.append((app, amount))
    listed = {a.id for a, _ in chosen}
    for app in apps.values():
        if app.state is ApplicationState.shortlisted and app.id not in listed:
            errors[f"application:{app.id}"] = f"已确定入选的“{app.title}”须列入名单"
    per_challenge = Counter(a.challenge_id for a, _ in chosen)
    for ch in challenges.values():
        teams = per_challenge[ch.id]
        if teams > ch.max_teams:
            errors[f"challenge:{ch.id}"] = (f"榜单“{ch.title}”最多立项 {ch.max_teams} 个团队，"
                                            f"名单中有 {teams} 个")
    if not chosen and not errors:
        errors["items"] = "请至少列入一个拟立项项目"
    total = sum((amount for _, amount in chosen), Decimal("0.00"))
    if total > call.budget:
        errors["total"] = (f"拟资助总额 {format_wan(total)} 万元超过指南预算 "
                           f"{format_wan(call.budget)} 万元")
    meeting_values = _meeting(meeting or {}, errors)
    comment = (comment or "").strip()
    if len(comment) > 2000:
        errors["comment"] = "说明不能超过2000字"
    if errors:
        raise Invalid("立项建议名单有误：" + "；".join(errors.values()), details=errors)

    previous = pending(call.id)
    if previous is not None:
        engine.fire(previous, "withdraw", actor, comment=SUPERSEDED, ip=ip)
    decision = FundingDecision(call_id=call.id, total=total, comment=comment,
                               proposed_by_id=actor.id, **meeting_values)
    db.session.add(decision)
    db.session.flush()
    # The items in batches: a bounded number of bound parameters per statement.
    for start in range(0, len(chosen), BATCH):
        db.session.execute(sa.insert(DecisionItem), [
            {"decision_id": decision.id, "application_id": app.id, "amount": amount,
             "position": start + n + 1}
            for n, (app, amount) in enumerate(chosen[start:start + BATCH])])
    db.session.expire(decision, ["items"])
    audit.record(decision, "decision", "propose", actor, "officer", None,
                 decision.state.value, comment, {
                     "call_id": call.id, "total": str(total),
                     "items": [[app.id, str(amount)] for app, amount in chosen],
                     "replaces": previous.id if previous else None}, ip)
    return decision


def record_meeting(decision: FundingDecision, actor: User, meeting: dict[str, Any],
                   minutes: tuple[str, IO[bytes]] | None = None,
                   ip: str | None = None) -> FundingDecision:
    """三重一大: the meeting that decided a list still awaiting the leader, with its
    minutes (纪要) uploaded as a file."""
    if not meeting_recorder(actor):
        raise Forbidden("只有项目主管或领导可以登记集体决策会议", code="role_not_allowed")
    decision = engine.load("decision", decision.id, lock=True)  # the call first
    if decision.state is not DecisionState.proposed:
        raise Conflict("该名单已不在待审定状态", code="invalid_state")
    errors: dict[str, str] = {}
    values = _meeting(meeting, errors)
    for key, label in MEETING_FIELDS.items():
        if key not in values and key not in errors:
            errors[key] = f"请填写{label}"
    if minutes is None and not decision.minutes_attachment_id:
        errors["minutes"] = "请上传会议纪要（PDF 或 Word）"
    if errors:
        raise Invalid("会议记录不完整：" + "；".join(errors.values()), details=errors)
    if minutes is not None:
        row = save_upload(actor, minutes[0], minutes[1], "meeting_minutes",
                          call_id=decision.call_id)
        values["minutes_attachment_id"] = row.id
    for key, value in values.items():
        setattr(decision, key, value)
    audit.record(decision, "decision", "record_meeting", actor, "officer" if officer(
        actor) else "leader", decision.state.value, decision.state.value, "", {
        k: str(v) for k, v in values.items()}, ip)
    return decision


def approve(decision: FundingDecision, actor: User, comment: str = "",
            ip: str | None = None) -> FundingDecision:
    """The leader approves the list (its ``approve`` transition): the call is decided,
    every listed application is shortlisted with its amount, the other reviewed ones
    are not funded."""
    decision = engine.load("decision", decision.id, lock=True)  # the call first
    engine.fire(decision, "approve", actor, comment=comment, ip=ip)
    return decision


def carry_out_decision(result: FireResult, actor: User | None, ip: str | None) -> None:
    """The follow-up of an approved list: the call's ``decide``, then each reviewed
    application of the call shortlisted (listed) or declined (not listed)."""
    decision: FundingDecision = result.row
    call = engine.load("call", decision.call_id, lock=True)
    engine.fire(call, "decide", actor, comment=result.audit_event.comment, ip=ip,
                data={"decision_id": decision.id, "total": str(decision.total)})
    # A listed application neither reviewed nor shortlisted: the list must be redone.
    stray = db.session.execute(
        sa.select(Application.title, Application.state)
        .join(DecisionItem, DecisionItem.application_id == Application.id)
        .where(DecisionItem.decision_id == decision.id, Application.state.not_in(DECIDABLE))
        .order_by(DecisionItem.position).limit(1)).first()
    if stray is not None:
        raise Conflict(f"“{stray.title}”当前状态为“{stray.state.label}”，名单需重拟",
                       code="invalid_state")
    # The call's decidable applications a batch at a time (by id, locked), each through
    # the engine (``fire_many``: its rules, its audit event and its outbox event per
    # application, a batch written at once): a fixed number of statements per batch.
    last = 0
    while True:
        apps = engine.load_many("application", Application.call_id == call.id,
                                Application.state.in_(DECIDABLE), after=last, limit=BATCH)
        if not apps:
            break
        last = apps[-1].id
        items = {item.application_id: item for item in db.session.scalars(
            sa.select(DecisionItem).where(DecisionItem.decision_id == decision.id,
                                          DecisionItem.application_id.between(
                                              apps[0].id, last)))}
        chosen, declined = [], []
        for app in apps:
            item = items.get(app.id)
            if item is None:
                if app.state is ApplicationState.reviewed:
                    declined.append((app, "未列入立项名单", {"decision_id": decision.id}))
            elif app.state is ApplicationState.reviewed:
                chosen.append((app, f"立项名单第{item.position}项",
                               {"amount": str(item.amount), "decision_id": decision.id}))
            else:  # shortlisted already (a team chosen for its challenge)
                app.granted_amount = item.amount
        engine.fire_many(chosen, "shortlist", actor, ip=ip)
        engine.fire_many(declined, "decline_funding", actor, ip=ip)


def send_back(decision: FundingDecision, actor: User, comment: str,
              ip: str | None = None) -> FundingDecision:
    """The leader returns the list to the officer, with the reason (``send_back``)."""
    decision = engine.load("decision", decision.id, lock=True)
    engine.fire(decision, "send_back", actor, comment=comment, ip=ip)
    return decision


def shortlisted(call: Call) -> int:
    """How many of the call's projects wait to go on public notice."""
    return db.session.scalar(sa.select(sa.func.count(Application.id)).where(
        Application.call_id == call.id,
        Application.state == ApplicationState.shortlisted)) or 0


@dataclass
class NoticeReport:
    done: int = 0
    refused: list[tuple[int, str]] = field(default_factory=list)


def open_notices(call: Call, actor: User, ip: str | None = None) -> NoticeReport:
    """Put every shortlisted application of the call on public notice, each in its own
    savepoint (one refused leaves the others done)."""
    ids = list(db.session.scalars(sa.select(Application.id).where(
        Application.call_id == call.id, Application.state == ApplicationState.shortlisted)
        .order_by(Application.id)))
    if not ids:
        raise NotFound("该指南没有待公示的拟立项项目")
    report = NoticeReport()
    for app_id in ids:
        savepoint = db.session.begin_nested()
        try:
            engine.fire(engine.load("application", app_id, lock=True), "open_notice", actor,
                        ip=ip)
            savepoint.commit()
            report.done += 1
        except ServiceError as err:
            savepoint.rollback()
            report.refused.append((app_id, err.message))
    return report
