"""The transactional outbox.

A service appends ``OutboxEvent`` rows in the transaction that makes the change. Only
after that transaction commits is the relay task sent the new ids; a rolled-back
change sends nothing. The relay hands each event to its consumers, one task per
(event, consumer); a consumer's effect and its ``OutboxDelivery`` row commit together,
so a repeated task does nothing. An event is dispatched once every consumer has
delivered; the sweep re-relays whatever is left behind (broker down, worker lost).

Every worker sweeps, not the beat alone (``worker/steps.py``): when it starts it relays
again everything not yet dispatched (``recover``), and every 30 s after it what has waited
too long (``sweep``). A worker killed in mid-task leaves its task unacknowledged on the
broker, invisible for the visibility timeout (an hour); the next worker to start relays
those events at once, beat or no beat.
"""

from __future__ import annotations

import logging
import socket
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from flask import Flask, current_app, has_app_context
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from workflow.core.models import OutboxDelivery, OutboxEvent, db, utcnow
from workflow.core.models.base import SQLITE_WRITER, sqlite_busy

log = logging.getLogger(__name__)

RELAY_TASK = "kjflow.relay_outbox"
CONSUME_TASK = "kjflow.consume_events"
SWEEP_TASK = "kjflow.sweep_outbox"
RECOVER_TASK = "kjflow.recover_outbox"

Handler = Callable[[OutboxEvent], None]
_HANDLERS: dict[str, tuple[tuple[str, ...], Handler]] = {}
# A consumer that also handles a whole batch at once: it gets the batch's events (those
# not handled yet) and returns the ids of those that failed, with the first error.
BatchHandler = Callable[[list[OutboxEvent]], tuple[set[int], Exception | None]]
_BATCH: dict[str, BatchHandler] = {}
# Consumers that read and work a long while (render a PDF) before they write: on SQLite
# they first run as readers (see ``consume``).
_READ_FIRST: set[str] = set()


def install_consumer(name: str, topics: Iterable[str], handler: Handler,
                     batch: BatchHandler | None = None, read_first: bool = False) -> None:
    """Consumer ``name`` takes every topic starting with one of ``topics`` ("" takes all);
    ``batch``, if given, handles a whole batch at once (see ``consume_many``);
    ``read_first``: its work is long and writes only at its end, and may be done twice
    (nothing but the database changes)."""
    _HANDLERS[name] = (tuple(topics), handler)
    if batch is not None:
        _BATCH[name] = batch
    if read_first:
        _READ_FIRST.add(name)


def consumers_for(topic: str) -> list[str]:
    return sorted(
        name for name, (prefixes, _) in _HANDLERS.items()
        if any(topic.startswith(p) for p in prefixes)
    )


JOURNAL = "journal"


def _journal(event: OutboxEvent) -> None:
    """The delivery row is the journal entry: proof the event left the outbox. The relay
    writes it itself (no task); this handler serves a direct ``consume``."""


install_consumer(JOURNAL, ("",), _journal)


def emit(topic: str, entity_type: str, entity_id: int, payload: dict[str, Any] | None = None
         ) -> OutboxEvent:
    """A new outbox event in the current transaction, sent after it commits."""
    event = OutboxEvent(topic=topic, entity_type=entity_type, entity_id=entity_id,
                        payload=payload or {})
    db.session.add(event)
    return event


def pending(session: Session, event_id: int) -> None:
    """An event written in this transaction, to be sent when it commits."""
    # Each id with the (innermost) transaction that wrote it: a rolled-back SAVEPOINT
    # takes its own events with it.
    writer = session.get_nested_transaction() or session.get_transaction()
    session.info.setdefault("outbox_pending", {})[event_id] = writer


# ---- after commit ---------------------------------------------------------------------

def _after_flush(session: Session, _ctx: Any) -> None:
    # In after_flush ``session.new`` still lists what was just inserted, ids assigned.
    for event in session.new:
        if isinstance(event, OutboxEvent):
            pending(session, event.id)


def _after_commit(session: Session) -> None:
    # Also called when a SAVEPOINT is released: the events wait for the outermost commit.
    if session.in_nested_transaction():
        return
    pending: dict[int, Any] = session.info.pop("outbox_pending", {})
    if pending and has_app_context():
        send_relay(sorted(pending))


def _after_soft_rollback(session: Session, previous: Any) -> None:
    # The outermost rollback discards every pending event; a rolled-back SAVEPOINT those
    # written inside it, leaving the enclosing transaction's to commit and be sent.
    if previous.parent is None:
        session.info.pop("outbox_pending", None)
    elif previous.nested and session.info.get("outbox_pending"):
        kept = session.info["outbox_pending"]
        for event_id, writer in list(kept.items()):
            while writer is not None and writer is not previous:
                writer = writer.parent
            if writer is previous:
                del kept[event_id]


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

BATCH = 50  # events per consume task: a burst costs one task per consumer and batch


def relay(event_ids: list[int] | None = None, worker: str | None = None) -> int:
    """Hand the missing (event, consumer) pairs to the workers, one task per consumer and
    batch of events; the journal entry is written here. Returns how many tasks were sent."""
    query = sa.select(OutboxEvent).where(OutboxEvent.dispatched_at.is_(None))
    if event_ids is not None:
        query = query.where(OutboxEvent.id.in_(event_ids))
    events = list(db.session.scalars(query.order_by(OutboxEvent.id).limit(1000)))
    done: dict[int, set[str]] = defaultdict(set)
    for event_id, name in db.session.execute(sa.select(
            OutboxDelivery.event_id, OutboxDelivery.consumer).where(
            OutboxDelivery.event_id.in_([e.id for e in events]))):
        done[event_id].add(name)
    todo: dict[str, list[int]] = defaultdict(list)
    now, worker = utcnow(), worker or socket.gethostname()
    journal: list[dict[str, Any]] = []
    for event in events:
        missing = [c for c in consumers_for(event.topic) if c not in done[event.id]]
        if JOURNAL in missing:
            journal.append({"event_id": event.id, "consumer": JOURNAL, "worker": worker,
                            "delivered_at": now})
            missing.remove(JOURNAL)
        if not missing:
            event.dispatched_at = now
            continue
        for name in missing:
            todo[name].append(event.id)
        event.attempts += 1
        event.relayed_at = now
    if journal:
        # Two relays of one event (a sweep and a late task) may meet here: the first
        # journal entry stands, the second is skipped.
        dialect = postgresql if db.session.get_bind().dialect.name == "postgresql" else sqlite
        db.session.execute(dialect.insert(OutboxDelivery).values(journal)
                           .on_conflict_do_nothing())
    db.session.commit()
    celery = current_app.extensions["celery"]
    sent = 0
    for name, ids in todo.items():
        for start in range(0, len(ids), BATCH):
            celery.send_task(CONSUME_TASK, kwargs={"event_ids": ids[start:start + BATCH],
                                                   "consumer": name})
            sent += 1
    return sent


def consume_many(event_ids: list[int], consumer_name: str, worker: str | None = None) -> int:
    """Run a consumer for a batch of events; returns how many it handled now.

    A consumer with a batch form handles the whole batch in one go, and the delivery rows
    of what it handled commit together. Otherwise, or when the batch form raises, each
    event is handled in a transaction of its own. Either way the first failure is raised
    after the others ran, so that a retry redoes only what failed."""
    batch = _BATCH.get(consumer_name)
    if batch is not None and len(event_ids) > 1:
        try:
            return _consume_batch(batch, event_ids, consumer_name, worker)
        except _Partial as partial:
            raise partial.error from None
        except Exception:  # one event spoilt the batch: each on its own, as below
            db.session.rollback()
            log.warning("batch %s of %s events failed; one by one", consumer_name,
                        len(event_ids), exc_info=True)
    done, failure = 0, None
    for event_id in event_ids:
        try:
            done += consume(event_id, consumer_name, worker)
        except Exception as err:  # retried by the task; the others stand
            failure = failure or err
    if failure is not None:
        raise failure
    return done


class _Partial(Exception):
    def __init__(self, error: Exception) -> None:
        self.error = error


def _consume_batch(handler: BatchHandler, event_ids: list[int], consumer_name: str,
                   worker: str | None) -> int:
    events = list(db.session.scalars(sa.select(OutboxEvent).where(
        OutboxEvent.id.in_(event_ids)).order_by(OutboxEvent.id)))
    done = set(db.session.scalars(sa.select(OutboxDelivery.event_id).where(
        OutboxDelivery.event_id.in_(event_ids), OutboxDelivery.consumer == consumer_name)))
    todo = [e for e in events if e.id not in done]
    if not todo:
        db.session.rollback()
        return 0
    ids = [e.id for e in todo]  # the handler may commit, expiring the events
    failed, error = handler(todo)
    handled = [i for i in ids if i not in failed]
    if handled:
        now = utcnow()
        dialect = postgresql if db.session.get_bind().dialect.name == "postgresql" else sqlite
        db.session.execute(dialect.insert(OutboxDelivery).values([
            {"event_id": i, "consumer": consumer_name, "worker": worker, "delivered_at": now}
            for i in handled]).on_conflict_do_nothing())
        _mark_dispatched(handled, now)
    db.session.commit()
    if error is not None:
        raise _Partial(error)
    return len(handled)


def _mark_dispatched(event_ids: list[int], now: Any) -> None:
    """Set ``dispatched_at`` on those of the events that every consumer has handled."""
    delivered: dict[int, set[str]] = defaultdict(set)
    for event_id, name in db.session.execute(sa.select(
            OutboxDelivery.event_id, OutboxDelivery.consumer).where(
            OutboxDelivery.event_id.in_(event_ids))):
        delivered[event_id].add(name)
    topics = dict(db.session.execute(sa.select(OutboxEvent.id, OutboxEvent.topic).where(
        OutboxEvent.id.in_(event_ids))).all())
    finished = [i for i, topic in topics.items()
                if delivered[i].issuperset(consumers_for(topic))]
    if finished:
        db.session.execute(sa.update(OutboxEvent).where(OutboxEvent.id.in_(finished))
                           .values(dispatched_at=now))


class _Outdated(Exception):
    """A reading transaction's write refused by SQLite: another wrote since it began."""


def consume(event_id: int, consumer_name: str, worker: str | None = None) -> bool:
    """Run one consumer for one event, once. Returns False when it had already run.

    A task holds SQLite's write lock from its first statement (``BEGIN IMMEDIATE``). A
    ``read_first`` consumer (a PDF rendered in 1 to 3 s) is run first as a reader, so
    that the pages' writes (a login) go on meanwhile; if one of them wrote before its own
    write, SQLite refuses that write and the consumer runs again, as a writer."""
    if consumer_name in _READ_FIRST and SQLITE_WRITER.get() \
            and db.session.get_bind().dialect.name == "sqlite":
        token = SQLITE_WRITER.set(False)
        try:
            return _consume(event_id, consumer_name, worker, reading=True)
        except _Outdated:
            log.info("consume: %s of event %s again, as a writer", consumer_name, event_id)
        finally:
            SQLITE_WRITER.reset(token)
    return _consume(event_id, consumer_name, worker)


def _consume(event_id: int, consumer_name: str, worker: str | None,
             reading: bool = False) -> bool:
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
        if reading and sqlite_busy(err):
            raise _Outdated from err
        event = db.session.get(OutboxEvent, event_id)
        if event is not None:
            event.last_error = f"{consumer_name}: {err!r}"[:2000]
            db.session.commit()
        raise
    try:
        _mark_dispatched([event_id], utcnow())
        db.session.commit()
    except sa.exc.OperationalError as err:
        db.session.rollback()
        if reading and sqlite_busy(err):
            raise _Outdated from err
        raise
    return True


def sweep(older_than_seconds: int = 30) -> int:
    """Relay again the events still undispatched ``older_than_seconds`` after they were
    last handed out (lost sends, a worker lost), waiting twice as long after each try, so
    that a backlog still in the queue is not handed out again and again."""
    now = utcnow()
    cutoff = now - timedelta(seconds=older_than_seconds)
    last = sa.func.coalesce(OutboxEvent.relayed_at, OutboxEvent.created_at)
    rows = db.session.execute(
        sa.select(OutboxEvent.id, last, OutboxEvent.attempts)
        .where(OutboxEvent.dispatched_at.is_(None), last < cutoff)
        .order_by(OutboxEvent.id).limit(1000)).all()
    ids = [i for i, at, attempts in rows
           if at + timedelta(seconds=older_than_seconds * 2 ** min(attempts, 5)) <= now]
    if not ids:
        return 0
    # Every worker sweeps: what another sweep is relaying is left to it. PostgreSQL skips
    # the rows it holds, and reads again those it relayed meanwhile, which are no longer
    # due; the locks last until the relay commits. (SQLite: one writer at a time.)
    ids = list(db.session.scalars(
        sa.select(OutboxEvent.id)
        .where(OutboxEvent.id.in_(ids), OutboxEvent.dispatched_at.is_(None), last < cutoff)
        .order_by(OutboxEvent.id).with_for_update(skip_locked=True)))
    return relay(ids) if ids else 0


def recover() -> int:
    """Relay again every event not yet dispatched, however recently it was handed out: at
    a worker's start, what a killed worker held waits on the broker for the visibility
    timeout; here it is sent again now. An event still queued is sent twice, and its second
    task finds it delivered and does nothing."""
    return sweep(older_than_seconds=0)
