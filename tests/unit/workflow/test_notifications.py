"""Events become notifications, once per (event, recipient, channel); e-mail goes to a
real SMTP server (or the mail folder), retries, and ends as a dead letter an officer
can resend; reminders come once per person and milestone."""

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa

from states import ApplicationState, CallState, ReviewState
from tests.conftest import client_for, csrf_of
from tests.factories import PASSWORD, ApplicationFactory, CallFactory, UserFactory
from tests.smtp import SmtpServer
from workflow.core import engine, outbox, registry
from workflow.core.errors import Conflict
from workflow.core.models import OutboxDelivery, OutboxEvent, db, utcnow
from workflow.notify import messages, notifications
from workflow.notify.models import DeliveryState, Notification
from workflow.review.models import ReviewAssignment


def run(topic=None):
    """Deliver what the outbox holds, consumer by consumer, as the worker would (the
    delivery events written on the way included)."""
    done, failed = 0, set()
    while True:
        query = sa.select(OutboxEvent).where(OutboxEvent.dispatched_at.is_(None))
        if topic:
            query = query.where(OutboxEvent.topic.in_([topic, notifications.DELIVER]))
        events = list(db.session.scalars(query.order_by(OutboxEvent.id)))
        progressed = False
        for event in events:
            for name in outbox.consumers_for(event.topic):
                if (event.id, name) in failed:
                    continue  # one attempt per run: the worker retries later
                try:
                    if outbox.consume(event.id, name):
                        progressed = True
                        done += 1
                except notifications.DeliveryFailed:
                    failed.add((event.id, name))
        if not progressed:
            return done


@pytest.fixture
def smtp(app):
    with SmtpServer() as server:
        app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=server.port)
        yield server.sink
        notifications.close_smtp()
        app.config.update(MAIL_SERVER=None, MAIL_PORT=25)


@pytest.fixture
def officer(app):
    return UserFactory(roles=("officer",), organization=None, name="张科长")


def returned_application(officer, **kw):
    row = ApplicationFactory(state=ApplicationState.formal_review, **kw)
    db.session.commit()
    engine.fire(row, "return_for_revision", officer, comment="预算明细不完整，请补充")
    db.session.commit()
    return row


def test_a_return_reaches_the_researcher_by_inbox_and_smtp(smtp, officer):
    row = returned_application(officer)
    run()
    notes = {n.channel: n for n in db.session.scalars(sa.select(Notification).where(
        Notification.user_id == row.applicant_id))}
    assert set(notes) == {"inapp", "email"}
    assert "预算明细不完整" in notes["inapp"].body
    (mail,) = smtp.messages
    assert mail["To"] == row.applicant.email and "退回修改" in str(mail["Subject"])
    assert "预算明细不完整，请补充" in mail.get_content()
    assert mail["Message-ID"] == notifications.message_id(notes["email"].key)
    assert notes["email"].state is DeliveryState.sent
    assert [a.ok for a in notes["email"].log] == [True]


def test_one_smtp_connection_serves_many_messages(smtp, officer):
    for _ in range(3):
        returned_application(officer)
    run()
    assert len(smtp.messages) == 3 and smtp.greetings == 1


def test_a_repeated_event_or_delivery_tells_nobody_twice(smtp, officer):
    row = returned_application(officer)
    run()
    event = db.session.scalars(sa.select(OutboxEvent).where(
        OutboxEvent.topic == "application.return_for_revision")).one()
    # The consumer runs again (a lost acknowledgement): nothing new is written.
    db.session.execute(sa.text("DELETE FROM outbox_delivery WHERE event_id = :e"),
                       {"e": event.id})
    db.session.commit()
    assert notifications.notify_events([event]) == 0
    email_row = db.session.scalars(sa.select(Notification).where(
        Notification.channel == "email")).one()
    assert notifications.deliver(email_row.id) is False  # already sent
    assert len(smtp.messages) == 1
    assert row.state is ApplicationState.returned


def test_smtp_refusals_are_retried_and_end_as_a_dead_letter_to_resend(app, smtp, officer):
    returned_application(officer)
    smtp.refusing = notifications.MAX_ATTEMPTS
    run()  # the notify consumer, and the first delivery: refused, kept for a retry
    email_row = db.session.scalars(sa.select(Notification).where(
        Notification.channel == "email")).one()
    assert (email_row.state, email_row.attempts) == (DeliveryState.pending, 1)
    for _ in range(notifications.MAX_ATTEMPTS - 2):
        with pytest.raises(notifications.DeliveryFailed):
            notifications.deliver(email_row.id)
    assert notifications.deliver(email_row.id) is False
    db.session.expire_all()
    assert email_row.state is DeliveryState.dead
    assert email_row.attempts == notifications.MAX_ATTEMPTS
    assert len(email_row.log) == notifications.MAX_ATTEMPTS and "451" in email_row.last_error
    assert smtp.messages == []

    page = client_for(app, officer.username, PASSWORD)
    overview = page.get("/notifications").get_data(as_text=True)
    assert "发送失败 <strong>1</strong> 条" in overview and "451" in overview
    # The dead letters alone, each with its resend button.
    dead = page.get("/notifications?state=dead").get_data(as_text=True)
    assert dead.count("重新发送</button>") == 1 and email_row.address in dead
    page.post(f"/notifications/{email_row.id}/resend", data={"csrf_token": csrf_of(overview)})
    db.session.expire_all()
    assert email_row.state is DeliveryState.pending
    run()
    db.session.expire_all()
    assert email_row.state is DeliveryState.sent and len(smtp.messages) == 1
    with pytest.raises(Conflict):
        notifications.resend(officer, email_row.id)


def test_a_refusal_then_acceptance_delivers_once(smtp, officer):
    returned_application(officer)
    smtp.refusing = 3
    run()  # the first attempt is refused
    email_row = db.session.scalars(sa.select(Notification).where(
        Notification.channel == "email")).one()
    outcomes = []
    for _ in range(3):
        try:
            outcomes.append(notifications.deliver(email_row.id))
        except notifications.DeliveryFailed:
            outcomes.append("retry")
        db.session.commit()
    assert outcomes == ["retry", "retry", True]
    assert len(smtp.messages) == 1 and email_row.state is DeliveryState.sent


def test_without_smtp_mail_goes_to_the_folder_an_officer_can_read(app, officer):
    row = returned_application(officer)
    run()
    folder = Path(app.config["MAIL_FOLDER"])
    files = list(folder.glob("*.eml"))
    assert len(files) >= 1
    page = client_for(app, officer.username, PASSWORD).get("/mail").get_data(as_text=True)
    assert "预算明细不完整" in page and row.applicant.email in page
    researcher = client_for(app, row.applicant.username, PASSWORD)
    assert researcher.get("/mail").status_code == 403  # a page, not an object: refused
    for f in files:
        f.unlink()


def test_the_applicant_hears_of_an_objection_without_the_objectors_name(smtp, officer):
    from workflow.decisions import notices

    call = CallFactory(state=CallState.decided)
    row = ApplicationFactory(call=call, state=ApplicationState.public_notice,
                             granted_amount=Decimal("100000.00"),
                             notice_ends_at=utcnow() + timedelta(days=2))
    db.session.commit()
    notices.submit_objection(row.id, {"name": "赵敏", "contact": "13912345678",
                                      "text": "合作单位并未实际参与该项目，材料不实。"}, None)
    db.session.commit()
    run()
    to_applicant = [m for m in smtp.messages if m["To"] == row.applicant.email]
    assert len(to_applicant) == 1 and "赵敏" not in to_applicant[0].get_content()
    assert any(m["To"] == officer.email for m in smtp.messages)


def test_decisions_also_go_by_sms_through_the_adapter(app, officer):
    sent = []

    class Gateway:
        def send(self, phone, text):
            sent.append((phone, text))

    app.extensions["kjflow.sms"] = Gateway()
    try:
        applicant = UserFactory(phone="13800001111")
        row = ApplicationFactory(applicant=applicant, state=ApplicationState.formal_review)
        db.session.commit()
        engine.fire(row, "reject", officer, comment="不符合申报条件")
        db.session.commit()
        run()
        assert sent == [("13800001111", sent[0][1])] and "不予受理" in sent[0][1]
    finally:
        app.extensions.pop("kjflow.sms")


# ---- reminders -----------------------------------------------------------------------------

def test_a_closing_call_reminds_drafts_at_three_days_and_one_day_once_each(app):
    call = CallFactory(closes_at=utcnow() + timedelta(days=2, hours=5))
    draft = ApplicationFactory(call=call)
    ApplicationFactory(call=call, state=ApplicationState.formal_review)  # submitted
    db.session.commit()
    assert messages.send_reminders() == 2  # inbox and e-mail, to the draft's author
    assert messages.send_reminders() == 0  # a second beat, or the next run
    assert messages.send_reminders(now=utcnow() + timedelta(days=1, hours=12)) == 2
    keys = sorted(db.session.scalars(sa.select(Notification.key)))
    assert [k.split(":")[3] for k in keys] == ["1d", "1d", "3d", "3d"]
    assert {n.user_id for n in db.session.scalars(sa.select(Notification))} == {
        draft.applicant_id}


def test_reminders_by_email_can_be_turned_off_but_decisions_cannot(app, officer):
    call = CallFactory(closes_at=utcnow() + timedelta(hours=10))
    draft = ApplicationFactory(call=call)
    db.session.commit()
    client = client_for(app, draft.applicant.username, PASSWORD)
    page = client.get("/preferences").get_data(as_text=True)
    client.post("/preferences", data={"csrf_token": csrf_of(page)})  # unticked
    db.session.expire_all()
    assert draft.applicant.email_reminders is False
    assert messages.send_reminders() == 1
    assert [n.channel for n in db.session.scalars(sa.select(Notification))] == ["inapp"]
    row = ApplicationFactory(applicant=draft.applicant, state=ApplicationState.formal_review)
    db.session.commit()
    engine.fire(row, "reject", officer, comment="不符合申报条件")
    db.session.commit()
    run()
    assert db.session.scalar(sa.select(sa.func.count(Notification.id)).where(
        Notification.channel == "email", Notification.topic == "rejected")) == 1


def test_reviews_due_overdue_and_invitations_expiring_remind_the_expert(app):
    expert = UserFactory(roles=("expert",))
    app_row = ApplicationFactory(state=ApplicationState.expert_review)
    db.session.flush()
    due = ReviewAssignment(application_id=app_row.id, expert_id=expert.id,
                           state=ReviewState.accepted, due_at=utcnow() + timedelta(days=1),
                           respond_by=utcnow() - timedelta(days=3))
    invited = ReviewAssignment(application_id=ApplicationFactory(
        state=ApplicationState.expert_review).id, expert_id=expert.id,
        state=ReviewState.invited, respond_by=utcnow() + timedelta(hours=6),
        due_at=utcnow() + timedelta(days=10))
    db.session.add_all([due, invited])
    db.session.commit()
    messages.send_reminders()
    topics = sorted(db.session.scalars(sa.select(Notification.topic).where(
        Notification.channel == "inapp")))
    assert topics == ["invitation_expiring", "review_due"]
    messages.send_reminders(now=utcnow() + timedelta(days=2))
    lines = db.session.scalars(sa.select(Notification.body).where(
        Notification.channel == "inapp", Notification.topic == "review_due")).all()
    assert len(lines) == 2 and any("逾期" in line for line in lines)


def _waiting(topic):
    return list(db.session.scalars(sa.select(OutboxEvent.id).where(
        OutboxEvent.topic == topic, OutboxEvent.dispatched_at.is_(None))
        .order_by(OutboxEvent.id)))


def _delivered(events):
    return list(db.session.scalars(sa.select(OutboxDelivery.event_id).where(
        OutboxDelivery.event_id.in_(events), OutboxDelivery.consumer == "deliver")))


def test_a_batch_of_events_tells_everyone_and_a_refused_message_alone_is_retried(
        smtp, officer):
    """As the worker runs them: one task for the batch's events, one for its e-mails.
    The server refuses one message: the others are sent and recorded, and only that one
    is raised for the task's retry, which sends it."""
    rows = [returned_application(officer) for _ in range(4)]
    events = _waiting("application.return_for_revision")
    assert outbox.consume_many(events, "notify") == 4
    emails = _waiting(notifications.DELIVER)
    assert len(emails) == 4
    assert len(db.session.scalars(sa.select(Notification).where(
        Notification.channel == "inapp")).all()) == 4

    smtp.refusing = 1
    with pytest.raises(notifications.DeliveryFailed, match="451"):
        outbox.consume_many(emails, "deliver")
    assert len(smtp.messages) == 3
    assert len(_delivered(emails)) == 3  # the other three are done
    assert outbox.consume_many(emails, "deliver") == 1  # the retry: only the refused one
    assert sorted(str(m["To"]) for m in smtp.messages) == sorted(r.applicant.email
                                                                 for r in rows)
    assert sorted(_delivered(emails)) == emails
    sent = db.session.scalars(sa.select(Notification).where(Notification.channel == "email"))
    assert {(n.state, n.attempts) for n in sent} <= {(DeliveryState.sent, 1),
                                                     (DeliveryState.sent, 2)}


def test_an_event_that_spoils_its_batch_is_left_alone_for_the_retry(
        smtp, officer, monkeypatch):
    """A rule fails for one event: the batch is rolled back and the events are taken one
    by one, so the others are told; the failure is raised for the retry."""
    first, second = returned_application(officer), returned_application(officer)
    events = _waiting("application.return_for_revision")
    rule = registry.MESSAGES["returned"]

    def flaky(event):
        if event.entity_id == first.id:
            raise RuntimeError("模板缺少字段")
        return rule(event)

    monkeypatch.setitem(registry.MESSAGES, "returned", flaky)
    with pytest.raises(RuntimeError, match="模板缺少字段"):
        outbox.consume_many(events, "notify")
    told = set(db.session.scalars(sa.select(Notification.user_id)))
    assert told == {second.applicant_id}
    monkeypatch.setitem(registry.MESSAGES, "returned", rule)
    assert outbox.consume_many(events, "notify") == 1
    assert set(db.session.scalars(sa.select(Notification.user_id))) == {
        first.applicant_id, second.applicant_id}


def test_the_team_hears_of_a_milestone_once_it_is_judged(smtp, officer):
    """The milestone's own transitions tell the team: not the first of the two
    acceptances, but the second (accepted, its money due) and any rejection."""
    from datetime import date

    from tests.factories import ChallengeFactory
    from workflow.finance import operations as finance
    from workflow.finance.models import Milestone

    challenge = ChallengeFactory()
    demand = UserFactory(organization=challenge.demand_org, roles=("demand",))
    row = ApplicationFactory(call=challenge.call, challenge=challenge,
                             state=ApplicationState.in_progress)
    db.session.flush()
    first, second = (Milestone(application_id=row.id, seq=i, label=label,
                               amount=Decimal("100000.00"), due_on=date(2027, 1, 1))
                     for i, label in ((1, "样机"), (2, "中试")))
    db.session.add_all([first, second])
    db.session.commit()
    for m in (first, second):
        finance.report_milestone(row.applicant, m.id, "完成情况说明：样机已通过第三方测试")
    finance.judge_milestone(demand, first.id, "pass", "样机满足要求")
    db.session.commit()
    run()
    assert db.session.scalars(sa.select(Notification.topic).where(
        Notification.user_id == row.applicant_id)).all() == []
    finance.judge_milestone(officer, first.id, "pass", "同意")
    finance.judge_milestone(officer, second.id, "fail", "中试数据不全")
    db.session.commit()
    run()
    told = db.session.execute(sa.select(Notification.topic, Notification.title).where(
        Notification.user_id == row.applicant_id, Notification.channel == "inapp")
        .order_by(Notification.id)).all()
    assert [tuple(t) for t in told] == [("milestone_decided", "里程碑验收通过：样机"),
                                        ("milestone_decided", "里程碑验收未通过：中试")]
    assert len([m for m in smtp.messages if m["To"] == row.applicant.email]) == 2
