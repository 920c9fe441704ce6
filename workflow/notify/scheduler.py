"""Time-driven triggers, fired by the beat through the same path as every change."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from states import ApplicationState, CallState
from workflow.applying.models import Application
from workflow.calls.models import Call
from workflow.core import engine
from workflow.core.errors import ServiceError
from workflow.core.models import db, utcnow

log = logging.getLogger(__name__)


def _fire_each(rows: Iterable[Any], trigger: str, now: datetime) -> int:
    """Fire ``trigger`` as the system on each row, one transaction each; count successes.

    A row another process moved first, or whose guard refuses, is left as it is.
    """
    done = 0
    for row_id, kind in [(r.id, type(r)) for r in rows]:
        row = db.session.get(kind, row_id)
        try:
            engine.fire(row, trigger, None, now=now)
            db.session.commit()
            done += 1
        except ServiceError as err:
            db.session.rollback()
            log.info("scheduler: %s on %s %s refused: %s", trigger, kind.__name__, row_id,
                     err.message)
    return done


def close_due_calls(now: datetime | None = None) -> int:
    now = now or utcnow()
    due = db.session.scalars(sa.select(Call).where(
        Call.state == CallState.published, Call.closes_at <= now))
    return _fire_each(list(due), "close", now)


def approve_ended_notices(now: datetime | None = None) -> int:
    now = now or utcnow()
    ended = db.session.scalars(sa.select(Application).where(
        Application.state == ApplicationState.public_notice, Application.notice_ends_at <= now))
    return _fire_each(list(ended), "approve", now)
