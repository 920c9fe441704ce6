"""The rules from events to messages, and the reminders the beat sends.

Each rule names who hears of an event and which template tells them. Reminders are
keyed by their subject and milestone (a call closing in 3 days, then in 1 day; a review
due, then overdue…), so two beat processes, or a beat run twice, remind nobody twice.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from forms import format_wan
from states import ApplicationState, CallState, ReviewState
from workflow.accounts import passwords
from workflow.accounts.models import User, UserRole
from workflow.applying.models import Application
from workflow.applying.rules import eligible
from workflow.calls.models import Call
from workflow.core.models import AuditEvent, OutboxEvent, db, utcnow
from workflow.core.rules import GuardContext
from workflow.finance.models import Milestone, MilestoneState
from workflow.holidays.operations import missing_next_year
from workflow.notify.notifications import (
    CREDENTIAL,
    REMINDER,
    Message,
    notify_events,
    send,
    send_many,
)
from workflow.review.models import ReviewAssignment
from workflow.timeutil import SHANGHAI, local_time

DECISION = "decision"


def _app(event: OutboxEvent) -> Application | None:
    return db.session.get(Application, event.entity_id)


def _comment(event: OutboxEvent, trigger: str) -> str:
    """The comment the change was made with (the officer's words): in the event since
    the engine puts it there, else the latest ``trigger`` in the row's trail."""
    if "comment" in event.payload:
        return str(event.payload["comment"])
    return db.session.scalar(sa.select(AuditEvent.comment).where(
        AuditEvent.entity_type == event.entity_type, AuditEvent.entity_id == event.entity_id,
        AuditEvent.trigger == trigger).order_by(AuditEvent.seq.desc()).limit(1)) or ""


def _page(app: Application) -> str:
    return f"/applications/{app.id}"


def submitted(event: OutboxEvent) -> list[Message]:
    app = _app(event)
    if app is None:
        return []
    return [Message(app.applicant_id, "submitted", context={
        "app": app, "round": event.payload.get("round", app.round)}, link=_page(app))]


def returned(event: OutboxEvent) -> list[Message]:
    app = _app(event)
    if app is None:
        return []
    return [Message(app.applicant_id, "returned", context={
        "app": app, "comment": _comment(event, "return_for_revision")},
        link=f"/applications/{app.id}/edit")]


def rejected(event: OutboxEvent) -> list[Message]:
    """Not accepted, with the eligibility findings (限项, 一题多报, 科研失信) if any."""
    app = _app(event)
    if app is None:
        return []
    ctx = GuardContext(row=app, actor=None, role="system", comment="", data={}, now=utcnow())
    return [Message(app.applicant_id, "rejected", DECISION, {
        "app": app, "comment": _comment(event, "reject"),
        "reasons": [r.message for r in eligible(ctx)]}, link=_page(app))]


def _review_context(review: ReviewAssignment) -> dict[str, str]:
    app = review.application
    return {"title": app.title, "call_title": app.call.title,
            "respond_by": local_time(review.respond_by), "due_at": local_time(review.due_at)}


def review_invited(event: OutboxEvent) -> list[Message]:
    review = db.session.get(ReviewAssignment, event.entity_id)
    if review is None:
        return []
    return [Message(review.expert_id, "review_invited", context=_review_context(review),
                    link="/reviews")]


def review_expired(event: OutboxEvent) -> list[Message]:
    review = db.session.get(ReviewAssignment, event.entity_id)
    if review is None:
        return []
    return [Message(review.expert_id, "review_expired", context=_review_context(review))]


def shortlisted(event: OutboxEvent) -> list[Message]:
    app = _app(event)
    if app is None:
        return []
    return [Message(app.applicant_id, "shortlisted", DECISION, {
        "app": app, "amount": format_wan(app.granted_amount)}, link=_page(app))]


def not_funded(event: OutboxEvent) -> list[Message]:
    app = _app(event)
    if app is None:
        return []
    return [Message(app.applicant_id, "not_funded", DECISION, {
        "app": app, "comment": ""}, link=_page(app))]


def notice_opened(event: OutboxEvent) -> list[Message]:
    from flask import current_app

    app = _app(event)
    if app is None:
        return []
    url = current_app.config["PUBLIC_BASE_URL"].rstrip("/") + "/public/notices"
    return [Message(app.applicant_id, "notice_opened", context={"app": app,
                                                               "notice_url": url})]


def _officers() -> list[int]:
    return list(db.session.scalars(sa.select(UserRole.user_id).join(User).where(
        UserRole.role == "officer", User.active.is_(True))))


def objection_received(event: OutboxEvent) -> list[Message]:
    """The team hears that an objection arrived (never who raised it); officers too."""
    app = _app(event)
    if app is None:
        return []
    people = [app.applicant_id, *_officers()]
    return [Message(uid, "objection_received", context={"app": app}, link=_page(app))
            for uid in dict.fromkeys(people)]


def objection_decided(event: OutboxEvent) -> list[Message]:
    app = _app(event)
    if app is None:
        return []
    upheld = event.topic.endswith("uphold_objection")
    trigger = "uphold_objection" if upheld else "dismiss_objection"
    return [Message(app.applicant_id, "objection_decided", DECISION, {
        "app": app, "upheld": upheld, "comment": _comment(event, trigger)},
        link=_page(app))]


def task_book_to_sign(event: OutboxEvent) -> list[Message]:
    """Approved: the team (and the demand side of a 揭榜挂帅 project) signs the task book.
    The approval itself is told with its notice, once the worker has rendered it."""
    app = _app(event)
    if app is None:
        return []
    people = [app.applicant_id]
    if app.challenge is not None:
        people += list(db.session.scalars(sa.select(User.id).join(UserRole).where(
            UserRole.role == "demand", User.organization_id == app.challenge.demand_org_id)))
    return [Message(uid, "task_book_to_sign", context={"app": app}, link=_page(app))
            for uid in dict.fromkeys(people)]


def milestone_decided(event: OutboxEvent) -> list[Message]:
    m = db.session.get(Milestone, event.entity_id)
    app = db.session.get(Application, m.application_id) if m else None
    if m is None or app is None:
        return []
    # Told once judged: accepted by both parties, or rejected by either.
    accepted = event.payload.get("to") == MilestoneState.accepted.value
    opinion = "；".join(x for x in (m.demand_opinion, m.officer_opinion) if x)
    return [Message(app.applicant_id, "milestone_decided", DECISION, {
        "app": app, "milestone": m.label, "accepted": accepted, "opinion": opinion},
        link=_page(app))]


def recovery_overdue(event: OutboxEvent) -> list[Message]:
    """逾期督办: the officers and the project's organisation hear that the money owed
    was not repaid by the due date."""
    from workflow.finance.models import Recovery
    from workflow.finance.recovery import overdue_recipients

    row = db.session.get(Recovery, event.entity_id)
    if row is None:
        return []
    context = {"app": row.application, "amount": format_wan(row.amount),
               "outstanding": format_wan(row.outstanding), "due_on": row.due_on.isoformat()}
    return [Message(uid, "recovery_overdue", DECISION, context,
                    link=f"/recoveries/{row.id}") for uid in overdue_recipients(row)]


def password_reset(event: OutboxEvent) -> list[Message]:
    """忘记密码: the link, made now (only its hash is kept: the e-mail's body is cleared
    once it is sent, ``notifications.CREDENTIAL``), to the account's address."""
    from flask import current_app

    user = db.session.get(User, event.entity_id)
    if user is None or not user.active or not user.email:
        return []
    raw = passwords.issue_reset_token(user, event.payload.get("ip"))
    url = current_app.config["PUBLIC_BASE_URL"].rstrip("/") + f"/reset-password/{raw}"
    return [Message(user.id, "password_reset", CREDENTIAL, {
        "url": url, "minutes": current_app.config["PASSWORD_RESET_MINUTES"]})]


def notify_event(event: OutboxEvent) -> None:
    """The consumer that turns events into notifications, by the messages their rows name."""
    notify_events([event])


# The rows the rules read, loaded for a whole batch in one query per kind.
_SUBJECTS: dict[str, type[Any]] = {"application": Application, "review": ReviewAssignment,
                                   "milestone": Milestone}


def notify_batch(events: list[OutboxEvent]) -> tuple[set[int], Exception | None]:
    """A batch in one transaction: what the rules read in one query per kind, every
    notification in one insert. Any error sends the batch back to one event at a time."""
    wanted: dict[str, set[int]] = {}
    for event in events:
        if event.entity_type in _SUBJECTS:
            wanted.setdefault(event.entity_type, set()).add(event.entity_id)
    # Held here: the session's identity map keeps its rows only while someone does.
    loaded = [list(db.session.scalars(sa.select(_SUBJECTS[kind]).where(
        _SUBJECTS[kind].id.in_(ids)))) for kind, ids in wanted.items()]
    notify_events(events)
    del loaded
    return set(), None


# ---- reminders (beat) --------------------------------------------------------------------

def _left(delta: timedelta) -> str:
    hours = max(int(delta.total_seconds() // 3600), 0)
    return f"{hours // 24}天{hours % 24}小时" if hours >= 24 else f"{hours}小时"


def send_reminders(now: datetime | None = None) -> int:
    """Every reminder due now, each once per person and milestone; how many were new."""
    now = now or utcnow()
    made = 0
    # Calls closing in 3 days, then in 1 day: to whoever has a draft in them.
    for app, call in db.session.execute(sa.select(Application, Call).join(Call).where(
            Call.state == CallState.published, Call.closes_at > now,
            Call.closes_at <= now + timedelta(days=3),
            Application.state.in_([ApplicationState.draft, ApplicationState.returned]))):
        if call.closes_at is None:  # (published: never; the query asked for a time)
            continue
        left = call.closes_at - now
        step = "1d" if left <= timedelta(days=1) else "3d"
        made += len(send(Message(app.applicant_id, "call_closing", REMINDER, {
            "app": app, "call": call, "left": _left(left)},
            link=f"/applications/{app.id}/edit"), f"reminder:call-closing:{app.id}:{step}"))
    # Reviews due in 2 days, then overdue.
    for review in db.session.scalars(sa.select(ReviewAssignment).where(
            ReviewAssignment.state == ReviewState.accepted,
            ReviewAssignment.due_at <= now + timedelta(days=2))):
        overdue = review.due_at is not None and review.due_at <= now
        made += len(send(Message(review.expert_id, "review_due", REMINDER, {
            **_review_context(review), "overdue": overdue}, link="/reviews"),
            f"reminder:review:{review.id}:{'overdue' if overdue else 'due2d'}"))
    # Invitations expiring within a day.
    for review in db.session.scalars(sa.select(ReviewAssignment).where(
            ReviewAssignment.state == ReviewState.invited, ReviewAssignment.respond_by > now,
            ReviewAssignment.respond_by <= now + timedelta(days=1))):
        made += len(send(Message(review.expert_id, "invitation_expiring", REMINDER,
                                 _review_context(review), link="/reviews"),
                         f"reminder:invitation:{review.id}"))
    # Public notice ending within a day.
    for app in db.session.scalars(sa.select(Application).where(
            Application.state == ApplicationState.public_notice,
            Application.notice_ends_at > now,
            Application.notice_ends_at <= now + timedelta(days=1))):
        made += len(send(Message(app.applicant_id, "notice_ending", REMINDER, {"app": app},
                                 link=_page(app)),
                         f"reminder:notice-ending:{app.id}:{app.notice_ends_at:%Y%m%d%H%M}"))
    # Milestones due within 7 days.
    today = now.date()
    for m, app in db.session.execute(sa.select(Milestone, Application).join(
            Application, Milestone.application_id == Application.id).where(
            Milestone.state.in_([MilestoneState.planned, MilestoneState.rejected]),
            Application.state == ApplicationState.in_progress,
            Milestone.due_on <= today + timedelta(days=7))):
        made += len(send(Message(app.applicant_id, "milestone_due", REMINDER, {
            "app": app, "milestone": m.label, "due_on": m.due_on.isoformat()},
            link=_page(app)), f"reminder:milestone:{m.id}:{m.due_on.isoformat()}"))
    # From November, next year's holiday schedule while it is missing: to the
    # administrators, once in November and once more in December.
    year = missing_next_year(now)
    if year is not None:
        month = now.astimezone(SHANGHAI).month
        made += len(send_many([(Message(uid, "calendar_year_missing", REMINDER, {"year": year},
                                        link=f"/admin/calendar/{year}"),
                                f"reminder:calendar:{year}:{month:02d}")
                               for uid in _admins()]))
    db.session.commit()
    return made


def _admins() -> list[int]:
    return list(db.session.scalars(sa.select(UserRole.user_id).join(User).where(
        UserRole.role == "admin", User.active.is_(True))))



MESSAGES = {"submitted": submitted, "returned": returned, "rejected": rejected,
            "review_invited": review_invited, "review_expired": review_expired,
            "shortlisted": shortlisted, "not_funded": not_funded,
            "notice_opened": notice_opened, "objection_received": objection_received,
            "objection_decided": objection_decided, "task_book_to_sign": task_book_to_sign,
            "milestone_decided": milestone_decided, "password_reset": password_reset,
            "recovery_overdue": recovery_overdue}
