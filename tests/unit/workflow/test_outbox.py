import threading

import pytest
import sqlalchemy as sa

from workflow.core import outbox
from workflow.core.models import OutboxDelivery, OutboxEvent, db
from workflow.core.models.base import SQLITE_BUSY_MS, SQLITE_WRITER


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


# ---- a long consumer on SQLite does its work without the write lock ---------------------

STARTED, GO = threading.Event(), threading.Event()
RUNS: list[int] = []


def _render_slowly(event: OutboxEvent) -> None:
    """A document renderer's shape: it reads, works a while, then writes."""
    db.session.scalar(sa.select(sa.func.count()).select_from(OutboxEvent))
    RUNS.append(event.id)
    STARTED.set()
    assert GO.wait(30), "the test never let the renderer go on"
    db.session.add(OutboxEvent(topic="test.rendered", entity_type="application",
                               entity_id=event.entity_id))
    db.session.flush()


@pytest.fixture
def slow_renderer(app):
    outbox.install_consumer("test_render", ("test.render",), _render_slowly, read_first=True)
    STARTED.clear()
    GO.clear()
    RUNS.clear()
    yield
    outbox._HANDLERS.pop("test_render")
    outbox._READ_FIRST.discard("test_render")


def _in_a_worker(app, event_id: int) -> threading.Thread:
    """``consume`` as the worker's task runs it: a writer (``BEGIN IMMEDIATE``)."""
    def work() -> None:
        token = SQLITE_WRITER.set(True)
        try:
            with app.app_context():
                outbox.consume(event_id, "test_render")
                db.session.remove()
        finally:
            SQLITE_WRITER.reset(token)

    thread = threading.Thread(target=work)
    thread.start()
    return thread


def _write_meanwhile() -> None:
    """A page's write (a login) while the renderer works: it must get the lock at once."""
    raw = db.engine.raw_connection()
    try:
        raw.execute("PRAGMA busy_timeout=1000")
        raw.execute("BEGIN IMMEDIATE")  # "database is locked" after 1 s if the renderer held it
        raw.execute("UPDATE outbox_event SET attempts = attempts + 1 WHERE topic = 'x.login'")
        raw.execute("COMMIT")
    finally:
        raw.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")
        raw.close()


@pytest.mark.parametrize("meanwhile", [True, False], ids=["a-write-meanwhile", "alone"])
def test_on_sqlite_a_renderer_leaves_the_lock_free_while_it_works(app, slow_renderer,
                                                                   meanwhile):
    assert db.engine.dialect.name == "sqlite"
    outbox.emit("x.login", "user", 1)
    event = outbox.emit("test.render", "application", 7)
    db.session.commit()
    worker = _in_a_worker(app, event.id)
    try:
        assert STARTED.wait(30)
        if meanwhile:
            _write_meanwhile()
    finally:
        GO.set()
        worker.join(60)
    assert not worker.is_alive()
    db.session.rollback()  # a snapshot taken after the worker's commit
    # Refused its write after the page's, it ran again as a writer; its work and its
    # delivery are there once, and the event carries no error.
    runs = list(RUNS)
    assert runs == ([event.id, event.id] if meanwhile else [event.id])
    rendered = db.session.scalar(sa.select(sa.func.count()).select_from(OutboxEvent).where(
        OutboxEvent.topic == "test.rendered"))
    delivered = db.session.scalar(sa.select(sa.func.count()).select_from(OutboxDelivery).where(
        OutboxDelivery.event_id == event.id, OutboxDelivery.consumer == "test_render"))
    assert (rendered, delivered) == (1, 1)
    row = db.session.get(OutboxEvent, event.id)
    assert row.last_error is None
    assert db.session.scalar(sa.select(OutboxEvent.attempts).where(
        OutboxEvent.topic == "x.login")) == (1 if meanwhile else 0)
