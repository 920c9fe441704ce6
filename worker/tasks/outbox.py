"""Outbox relay, consumers and the beat sweep."""

from __future__ import annotations

import socket
import time

from celery import shared_task

from workflow.core import audit, outbox
from workflow.core.models import db


@shared_task(name=outbox.RELAY_TASK, acks_late=True, time_limit=120, soft_time_limit=100)
def task_relay_outbox(event_ids: list[int] | None = None) -> int:
    return outbox.relay(event_ids)


# Safe to repeat: the delivery rows make a second run a no-op, so a task whose worker
# died may be handed out again; a retry redoes only the events that failed.
@shared_task(name=outbox.CONSUME_TASK, acks_late=True, reject_on_worker_lost=True,
             time_limit=300, soft_time_limit=270, autoretry_for=(Exception,),
             retry_backoff=True, retry_backoff_max=600, max_retries=8)
def task_consume_events(event_ids: list[int], consumer: str) -> int:
    return outbox.consume_many(event_ids, consumer, worker=socket.gethostname())


@shared_task(name=outbox.SWEEP_TASK, time_limit=120, soft_time_limit=100)
def task_sweep_outbox() -> int:
    return outbox.sweep()


@shared_task(name=outbox.RECOVER_TASK, time_limit=120, soft_time_limit=100)
def task_recover_outbox() -> int:
    return outbox.recover()


# Digest after digest, each of a bounded number of events and committed on its own, until
# caught up or the time is nearly spent: the next run goes on from the last one written.
DIGEST_SECONDS = 240.0


@shared_task(name="kjflow.audit_digest", time_limit=300, soft_time_limit=270)
def task_audit_digest() -> bool:
    deadline = time.monotonic() + DIGEST_SECONDS
    written = False
    while time.monotonic() < deadline:
        digest = audit.write_digest()
        db.session.commit()
        if digest is None:
            break
        written = True
    return written
