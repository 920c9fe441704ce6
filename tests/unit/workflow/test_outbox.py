import sqlalchemy as sa

from workflow.models import OutboxDelivery, OutboxEvent, db
from workflow.services import outbox


def test_committed_event_is_sent_to_the_relay(app, sent):
    event = outbox.emit("application.submitted", "application", 7, {"x": 1})
    db.session.commit()
    assert sent == [(outbox.RELAY_TASK, {"event_ids": [event.id]})]


def test_rolled_back_event_is_never_sent(app, sent):
    outbox.emit("application.submitted", "application", 7)
    db.session.flush()
    db.session.rollback()
    db.session.commit()
    assert sent == []
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboxEvent)) == 0


def test_broker_failure_keeps_the_event_for_the_sweep(app):
    def broken(name, kwargs):
        raise ConnectionError("broker down")

    app.extensions["kjflow.outbox_sender"] = broken
    event = outbox.emit("application.submitted", "application", 7)
    db.session.commit()  # the request still succeeds
    assert db.session.get(OutboxEvent, event.id).dispatched_at is None


def test_consuming_twice_delivers_once(app):
    event = outbox.emit("x.y", "application", 1)
    db.session.commit()
    assert outbox.consume(event.id, "journal") is True
    assert outbox.consume(event.id, "journal") is False
    rows = db.session.scalars(sa.select(OutboxDelivery).where(OutboxDelivery.event_id == event.id))
    assert len(list(rows)) == 1
    assert db.session.get(OutboxEvent, event.id).dispatched_at is not None
