"""The transactional outbox end to end: PostgreSQL, Redis and a real celery worker."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from tests.factories import OrganizationFactory
from tests.integration.conftest import wait_for
from workflow.core import outbox
from workflow.core.models import OutboxDelivery, OutboxEvent, db, utcnow

pytestmark = pytest.mark.integration

SWEEP_TASK = "kjflow.sweep_outbox"


def deliveries(event_id: int) -> list[sa.Row[Any]]:
    """The delivery rows of ``event_id`` as committed now (a fresh transaction)."""
    db.session.rollback()
    return list(db.session.execute(
        sa.select(OutboxDelivery.consumer, OutboxDelivery.worker)
        .where(OutboxDelivery.event_id == event_id)
        .order_by(OutboxDelivery.id)
    ))


def event_row(event_id: int) -> Any:
    db.session.rollback()
    return db.session.execute(
        sa.select(OutboxEvent.dispatched_at, OutboxEvent.attempts, OutboxEvent.last_error)
        .where(OutboxEvent.id == event_id)
    ).one_or_none()


def dispatched(event_id: int) -> datetime | None:
    row = event_row(event_id)
    return None if row is None else row.dispatched_at


def wait_dispatched(event_id: int, timeout: float = 30) -> datetime:
    return wait_for(lambda: dispatched(event_id), timeout=timeout,
                    what=f"outbox event {event_id} to be dispatched by the worker")


class Spy:
    """An outbox sender that records what it sends and sends it to the real broker."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, name: str, kwargs: dict[str, Any]) -> None:
        self.sent.append((name, kwargs))
        self.app.extensions["celery"].send_task(name, kwargs=kwargs)


def test_a_committed_event_is_relayed_and_consumed_by_the_worker(worker_app: Flask) -> None:
    event = outbox.emit("test.ping", "application", 1, {"hello": "世界"})
    db.session.commit()  # the after-commit hook sends kjflow.relay_outbox through Redis
    event_id = event.id

    at = wait_dispatched(event_id)

    assert deliveries(event_id) == [("journal", socket.gethostname())]
    row = event_row(event_id)
    assert row is not None
    # Its only consumer is the journal, which the relay writes itself: no task needed.
    assert row.attempts == 0 and row.last_error is None
    assert at.tzinfo is not None and utcnow() - at < timedelta(minutes=1)
    stored = db.session.get(OutboxEvent, event_id)
    assert stored is not None and stored.payload == {"hello": "世界"}


def test_a_rolled_back_change_sends_nothing(worker_app: Flask,
                                           wait_idle: Callable[[], None]) -> None:
    spy = Spy(worker_app)
    worker_app.extensions["kjflow.outbox_sender"] = spy
    outbox.emit("test.ping", "application", 1)
    db.session.flush()  # the row had an id, inside the transaction only
    db.session.rollback()

    assert spy.sent == []
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboxEvent)) == 0

    # A later, unrelated commit does not send the rolled-back id either.
    OrganizationFactory()
    db.session.commit()
    assert spy.sent == []

    # And the next event goes out alone.
    event = outbox.emit("test.pong", "application", 2)
    db.session.commit()
    assert spy.sent == [(outbox.RELAY_TASK, {"event_ids": [event.id]})]
    wait_dispatched(event.id)
    wait_idle()
    db.session.rollback()
    rows = db.session.execute(sa.select(OutboxDelivery.event_id, OutboxDelivery.consumer)).all()
    assert rows == [(event.id, "journal")]


def test_a_lost_send_is_recovered_by_the_sweep(worker_app: Flask, wait_idle: Callable[[], None],
                                               caplog: pytest.LogCaptureFixture) -> None:
    def broker_down(name: str, kwargs: dict[str, Any]) -> None:
        raise ConnectionError("Redis is down")

    worker_app.extensions["kjflow.outbox_sender"] = broker_down
    with caplog.at_level(logging.WARNING, logger="workflow.core.outbox"):
        event = outbox.emit("test.lost", "application", 3)
        db.session.commit()  # the change itself commits: the send failure is not the user's
    event_id = event.id
    assert "the sweep will retry" in caplog.text

    wait_idle()
    assert event_row(event_id) == (None, 0, None)
    assert deliveries(event_id) == []

    celery = worker_app.extensions["celery"]
    # A sweep leaves an event younger than 30 s alone: its relay may still be in flight.
    celery.send_task(SWEEP_TASK)
    time.sleep(0.3)
    wait_idle()
    assert event_row(event_id) == (None, 0, None)

    # Backdate the event past the sweep's threshold, as if the outage had lasted a while.
    db.session.execute(sa.update(OutboxEvent).where(OutboxEvent.id == event_id)
                       .values(created_at=utcnow() - timedelta(minutes=5)))
    db.session.commit()
    celery.send_task(SWEEP_TASK)

    wait_dispatched(event_id)
    assert deliveries(event_id) == [("journal", socket.gethostname())]
    row = event_row(event_id)
    assert row is not None and row.attempts == 0  # the relay journalled it, no task


def test_consuming_an_event_twice_delivers_once(app: Flask) -> None:
    app.extensions["kjflow.outbox_sender"] = lambda name, kwargs: None  # keep the worker out
    event = outbox.emit("test.twice", "application", 4)
    db.session.commit()

    assert outbox.consume(event.id, "journal") is True
    assert outbox.consume(event.id, "journal") is False
    assert [row.consumer for row in deliveries(event.id)] == ["journal"]
    assert dispatched(event.id) is not None
    assert outbox.consume(event.id, "no-such-consumer") is False
    assert outbox.consume(event.id + 1000, "journal") is False


def test_repeated_relay_and_consume_tasks_deliver_once(worker_app: Flask,
                                                       wait_idle: Callable[[], None]) -> None:
    worker_app.extensions["kjflow.outbox_sender"] = lambda name, kwargs: None
    event = outbox.emit("test.repeat", "application", 5)
    db.session.commit()
    celery = worker_app.extensions["celery"]
    # A redelivered relay (acks_late) and redelivered consume tasks, all queued at once.
    for _ in range(2):
        celery.send_task(outbox.RELAY_TASK, kwargs={"event_ids": [event.id]})
    for _ in range(2):
        celery.send_task(outbox.CONSUME_TASK, kwargs={"event_ids": [event.id],
                                                      "consumer": "journal"})
    wait_dispatched(event.id)
    wait_idle()
    assert deliveries(event.id) == [("journal", socket.gethostname())]


def test_a_concurrent_delivery_loses_on_the_unique_constraint(app: Flask) -> None:
    """Two workers past the "already delivered?" check at once: PostgreSQL's unique index
    makes the second one roll back and report that it did nothing."""
    app.extensions["kjflow.outbox_sender"] = lambda name, kwargs: None
    event = outbox.emit("test.race", "application", 6)
    db.session.commit()
    event_id = event.id

    other = db.engine.connect()
    other_tx = other.begin()
    other.execute(sa.insert(OutboxDelivery).values(
        event_id=event_id, consumer="journal", worker="other-worker", delivered_at=utcnow()))

    def commit_later() -> None:
        time.sleep(0.5)  # consume() is then blocked on the unique index
        other_tx.commit()

    committer = threading.Thread(target=commit_later)
    committer.start()
    try:
        assert outbox.consume(event_id, "journal", worker="this-worker") is False
    finally:
        committer.join()
        other.close()
    assert deliveries(event_id) == [("journal", "other-worker")]


def test_a_rolled_back_savepoint_does_not_hold_back_the_outer_events(
        worker_app: Flask) -> None:
    spy = Spy(worker_app)
    worker_app.extensions["kjflow.outbox_sender"] = spy
    event = outbox.emit("test.outer", "application", 7)
    db.session.flush()
    savepoint = db.session.begin_nested()  # e.g. "try to insert, tolerate a duplicate"
    OrganizationFactory()
    savepoint.rollback()
    db.session.commit()

    assert [name for name, _ in spy.sent] == [outbox.RELAY_TASK]
    assert event.id in spy.sent[0][1]["event_ids"]
    wait_dispatched(event.id, timeout=10)
