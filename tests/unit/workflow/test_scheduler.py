from datetime import timedelta

from states import ApplicationState, CallState
from tests.factories import ApplicationFactory, CallFactory
from workflow.core import audit, engine
from workflow.core.models import db, utcnow
from workflow.notify import scheduler


def test_calls_close_at_their_deadline_as_the_system(app):
    due = CallFactory(opens_at=utcnow() - timedelta(days=5), closes_at=utcnow() - timedelta(1))
    running = CallFactory()
    db.session.commit()
    assert scheduler.close_due_calls() == 1
    db.session.expire_all()
    assert due.state is CallState.closed and running.state is CallState.published
    ev = audit.history("call", due.id)[-1]
    assert (ev.trigger, ev.actor_role, ev.actor_name) == ("close", "system", "系统")
    assert scheduler.close_due_calls() == 0  # nothing twice


def test_notice_ends_without_objection_means_approved(app):
    call = CallFactory(state=CallState.decided)
    ended = ApplicationFactory(call=call, state=ApplicationState.public_notice,
                               notice_ends_at=utcnow() - timedelta(minutes=1))
    running = ApplicationFactory(call=call, state=ApplicationState.public_notice,
                                 notice_ends_at=utcnow() + timedelta(days=2))
    db.session.commit()
    assert scheduler.approve_ended_notices() == 1
    db.session.expire_all()
    assert ended.state is ApplicationState.approved
    assert running.state is ApplicationState.public_notice


def test_a_dismissed_objection_returns_to_notice_and_then_approval(app):
    from tests.factories import UserFactory

    officer = UserFactory(roles=("officer",), organization=None)
    call = CallFactory(state=CallState.decided)
    row = ApplicationFactory(call=call, state=ApplicationState.public_notice,
                             notice_ends_at=utcnow() + timedelta(days=1))
    db.session.commit()
    engine.fire(row, "raise_objection", officer, comment="署名有争议",
                data={"objector_name": "张三", "objector_contact": "13812345678"})
    db.session.commit()
    engine.fire(row, "dismiss_objection", officer, comment="经核查不属实")
    row.notice_ends_at = utcnow() - timedelta(minutes=1)
    db.session.commit()
    assert scheduler.approve_ended_notices() == 1
    db.session.expire_all()
    assert row.state is ApplicationState.approved
