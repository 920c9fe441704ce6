import sqlalchemy as sa

from workflow.core import outbox
from workflow.core.models import OutboxDelivery, OutboxEvent, db


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


def test_a_released_savepoint_waits_for_the_outer_commit(app, sent):
    with db.session.begin_nested():
        event = outbox.emit("application.submitted", "application", 7)
    assert sent == []  # RELEASE SAVEPOINT is no commit: nothing leaves yet
    db.session.commit()
    assert sent == [(outbox.RELAY_TASK, {"event_ids": [event.id]})]


def test_a_rolled_back_savepoint_takes_its_events_with_it(app, sent):
    outer = outbox.emit("application.submitted", "application", 7)
    db.session.flush()
    savepoint = db.session.begin_nested()
    with db.session.begin_nested():  # released into the savepoint, then rolled back with it
        outbox.emit("application.withdrawn", "application", 8)
    outbox.emit("application.withdrawn", "application", 9)
    db.session.flush()
    savepoint.rollback()
    db.session.commit()
    assert sent == [(outbox.RELAY_TASK, {"event_ids": [outer.id]})]


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


def _captured(app, monkeypatch):
    tasks = []
    monkeypatch.setattr(app.extensions["celery"], "send_task",
                        lambda name, kwargs: tasks.append((name, kwargs)))
    return tasks


def test_the_relay_sends_one_task_per_consumer_and_batch_and_journals_itself(app, monkeypatch):
    tasks = _captured(app, monkeypatch)
    events = [outbox.emit("application.round_submitted", "application", i)
              for i in range(outbox.BATCH + 5)]
    db.session.commit()
    ids = [e.id for e in events]
    assert outbox.relay(ids, worker="w1") == 4  # notify and render_application, 2 batches
    assert sorted((name, kw["consumer"], len(kw["event_ids"])) for name, kw in tasks) == [
        (outbox.CONSUME_TASK, "notify", 5), (outbox.CONSUME_TASK, "notify", outbox.BATCH),
        (outbox.CONSUME_TASK, "render_application", 5),
        (outbox.CONSUME_TASK, "render_application", outbox.BATCH)]
    journal = db.session.scalars(sa.select(OutboxDelivery.worker).where(
        OutboxDelivery.consumer == "journal")).all()
    assert journal == ["w1"] * len(ids)


def test_an_event_with_no_other_consumer_is_dispatched_by_the_relay(app, monkeypatch):
    tasks = _captured(app, monkeypatch)
    event = outbox.emit("x.y", "application", 1)
    db.session.commit()
    assert outbox.relay([event.id]) == 0 and tasks == []
    assert db.session.get(OutboxEvent, event.id).dispatched_at is not None


def test_the_sweep_waits_longer_after_each_relay(app, monkeypatch):
    from datetime import timedelta

    from workflow.core.models import utcnow

    tasks = _captured(app, monkeypatch)
    event = outbox.emit("application.round_submitted", "application", 1)
    db.session.commit()
    row = db.session.get(OutboxEvent, event.id)
    row.created_at = utcnow() - timedelta(seconds=40)
    db.session.commit()
    assert outbox.sweep(30) == 2  # handed out: it was never relayed
    assert outbox.sweep(30) == 0  # just relayed: still in the queue, not again
    row.relayed_at = utcnow() - timedelta(seconds=45)  # after one try: wait 60 s
    db.session.commit()
    assert outbox.sweep(30) == 0
    row.relayed_at = utcnow() - timedelta(seconds=61)
    db.session.commit()
    assert outbox.sweep(30) == 2 and len(tasks) == 4


def test_two_relays_of_one_event_journal_it_once(app, monkeypatch):
    from workflow.core.models import utcnow

    _captured(app, monkeypatch)
    event = outbox.emit("application.round_submitted", "application", 1)
    db.session.commit()
    real, raced = outbox.consumers_for, []

    def racing(topic):
        # Another relay (a sweep, a late task) journals the event between this relay's
        # read of what was delivered and its own write.
        if not raced:
            raced.append(True)
            db.session.execute(sa.insert(OutboxDelivery).values(
                event_id=event.id, consumer="journal", worker="other", delivered_at=utcnow()))
        return real(topic)

    monkeypatch.setattr(outbox, "consumers_for", racing)
    assert outbox.relay([event.id], worker="this") == 2
    journal = db.session.scalars(sa.select(OutboxDelivery.worker).where(
        OutboxDelivery.consumer == "journal")).all()
    assert journal == ["other"]
