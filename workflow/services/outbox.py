"""The transactional outbox.

A service appends ``OutboxEvent`` rows in the transaction that makes the change. Only
after that transaction commits is the relay task sent the new ids; a rolled-back
change sends nothing. The relay hands each event to its consumers, one task per
(event, consumer); a consumer's effect and its ``OutboxDelivery`` row commit together,
so a repeated task does nothing. An event is dispatched once every consumer has
delivered; the beat sweep re-relays whatever is left behind (broker down, worker lost).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from flask import Flask, current_app, has_app_context
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from workflow.models import OutboxDelivery, OutboxEvent, db, utcnow

log = logging.getLogger(__name__)

RELAY_TASK = "kjflow.relay_outbox"
CONSUME_TASK = "kjflow.consume_event"

Handler = Callable[[OutboxEvent], None]
_HANDLERS: dict[str, tuple[tuple[str, ...], Handler]] = {}


def consumer(name: str, topics: Iterable[str] = ("",)) -> Callable[[Handler], Handler]:
    """Register ``handler`` as consumer ``name`` of every topic starting with one of
    ``topics`` (``""`` matches all)."""

    def register(handler: Handler) -> Handler:
        _HANDLERS[name] = (tuple(topics), handler)
        return handler

    return register


def consumers_for(topic: str) -> list[str]:
    return sorted(
        name for name, (prefixes, _) in _HANDLERS.items()
        if any(topic.startswith(p) for p in prefixes)
    )


@consumer("journal")
def _journal(event: OutboxEvent) -> None:
    """The delivery row is the journal entry: proof the event left the outbox."""


def emit(topic: str, entity_type: str, entity_id: int, payload: dict[str, Any] | None = None,
         add: bool = True) -> OutboxEvent:
    """A new outbox event in the current transaction, sent after it commits (``add=False``:
    the caller writes the row itself and then calls ``pending``)."""
    event = OutboxEvent(topic=topic, entity_type=entity_type, entity_id=entity_id,
                        payload=payload or {}, created_at=utcnow(), attempts=0)
    if add:
        db.session.add(event)
    return event


def pending(session: Session, event_id: int) -> None:
    """An event written outside the unit of work, to be sent when the session commits."""
    session.info.setdefault("outbox_pending", set()).add(event_id)


# ---- after commit ---------------------------------------------------------------------

def _after_flush(session: Session, _ctx: Any) -> None:
    # In after_flush ``session.new`` still lists what was just inserted, ids assigned.
    for event in session.new:
        if isinstance(event, OutboxEvent):
            pending(session, event.id)


def _after_commit(session: Session) -> None:
    pending: set[int] = session.info.pop("outbox_pending", set())
    if pending and has_app_context():
        send_relay(sorted(pending))


def _after_soft_rollback(session: Session, previous: Any) -> None:
    # Only the outermost rollback discards what was pending: a rolled-back SAVEPOINT
    # leaves the enclosing transaction's events to commit and be sent.
    if previous.parent is None:
        session.info.pop("outbox_pending", None)


def send_relay(event_ids: list[int]) -> None:
    """Ask the worker to relay these committed events; on failure the sweep does it later."""
    sender = current_app.extensions.get("kjflow.outbox_sender")
    try:
        if sender is not None:
            sender(RELAY_TASK, {"event_ids": event_ids})
        else:
            current_app.extensions["celery"].send_task(RELAY_TASK, kwargs={"event_ids": event_ids})
    except Exception:  # the broker may be down; the events are safe in the database
        log.warning("outbox relay not sent for %s; the sweep will retry", event_ids,
                    exc_info=True)


def init_app(app: Flask) -> None:
    # The listeners attach to the session class that every app shares: install once.
    sess = db.session
    if not sa.event.contains(sess, "after_commit", _after_commit):
        sa.event.listen(sess, "after_flush", _after_flush)
        sa.event.listen(sess, "after_commit", _after_commit)
        sa.event.listen(sess, "after_soft_rollback", _after_soft_rollback)


# ---- worker side ----------------------------------------------------------------------

def relay(event_ids: list[int] | None = None) -> int:
    """Send one consume task per missing (event, consumer); return how many were sent."""
    query = sa.select(OutboxEvent).where(OutboxEvent.dispatched_at.is_(None))
    if event_ids is not None:
        query = query.where(OutboxEvent.id.in_(event_ids))
    events = list(db.session.scalars(query.order_by(OutboxEvent.id).limit(1000)))
    sent = 0
    celery = current_app.extensions["celery"]
    for event in events:
        done = set(db.session.scalars(
            sa.select(OutboxDelivery.consumer).where(OutboxDelivery.event_id == event.id)
        ))
        missing = [c for c in consumers_for(event.topic) if c not in done]
        if not missing:
            event.dispatched_at = utcnow()
            continue
        for name in missing:
            celery.send_task(CONSUME_TASK, kwargs={"event_id": event.id, "consumer": name})
            sent += 1
        event.attempts += 1
    db.session.commit()
    return sent


def consume(event_id: int, consumer_name: str, worker: str | None = None) -> bool:
    """Run one consumer for one event, once. Returns False when it had already run."""
    event = db.session.get(OutboxEvent, event_id)
    entry = _HANDLERS.get(consumer_name)
    if event is None or entry is None:
        log.warning("consume: no event %s or consumer %s", event_id, consumer_name)
        return False
    exists = db.session.scalar(sa.select(OutboxDelivery.id).where(
        OutboxDelivery.event_id == event_id, OutboxDelivery.consumer == consumer_name))
    if exists:
        return False
    try:
        entry[1](event)
        db.session.add(OutboxDelivery(event_id=event_id, consumer=consumer_name, worker=worker))
        db.session.flush()
    except IntegrityError:
        db.session.rollback()  # another worker delivered it first
        return False
    except Exception as err:
        db.session.rollback()
        event = db.session.get(OutboxEvent, event_id)
        if event is not None:
            event.last_error = f"{consumer_name}: {err!r}"[:2000]
            db.session.commit()
        raise
    done = set(db.session.scalars(
        sa.select(OutboxDelivery.consumer).where(OutboxDelivery.event_id == event_id)))
    if done.issuperset(consumers_for(event.topic)):
        event.dispatched_at = utcnow()
    db.session.commit()
    return True


def sweep(older_than_seconds: int = 30) -> int:
    """Relay events still undispatched after ``older_than_seconds`` (lost sends)."""
    cutoff = utcnow() - timedelta(seconds=older_than_seconds)
    ids = list(db.session.scalars(
        sa.select(OutboxEvent.id)
        .where(OutboxEvent.dispatched_at.is_(None), OutboxEvent.created_at < cutoff)
        .order_by(OutboxEvent.id).limit(1000)
    ))
    return relay(ids) if ids else 0
