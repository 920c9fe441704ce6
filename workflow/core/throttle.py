"""A limit per address on requests that leave no record of their own (the public
verification of documents): each is counted in ``throttle_hit``, and the count is kept
even when the request then fails (an unknown code is a 404, and must count too).

Logins and objections are limited on their own records (``login_attempt``,
``objection``): see ``accounts.operations.authenticate`` and
``decisions.notices.submit_objection``.
"""

from __future__ import annotations

import math
from datetime import timedelta

import sqlalchemy as sa

from workflow.core import uow
from workflow.core.errors import Throttled, wait_text
from workflow.core.models import ThrottleHit, db, utcnow


def spend(bucket: str, address: str | None, limit: int, window: timedelta,
          what: str) -> None:
    """Count one request of ``bucket`` from ``address``, or refuse it with 429 and
    ``Retry-After`` when the address made ``limit`` of them within ``window``. A refused
    request is not counted: waiting out the window is always enough."""
    now = utcnow()
    start = now - window
    key = (address or "")[:45]
    db.session.execute(sa.delete(ThrottleHit).where(ThrottleHit.bucket == bucket,
                                                    ThrottleHit.at < start))
    # The limit-th latest request: once it leaves the window, there is room again.
    nth = db.session.scalar(
        sa.select(ThrottleHit.at).where(ThrottleHit.bucket == bucket,
                                        ThrottleHit.address == key, ThrottleHit.at >= start)
        .order_by(ThrottleHit.at.desc()).offset(max(limit, 1) - 1).limit(1))
    if nth is not None:
        wait = max(1, math.ceil((nth + window - now).total_seconds()))
        raise Throttled(f"{what}过于频繁，请{wait_text(wait)}后再试", retry_after=wait)
    db.session.add(ThrottleHit(bucket=bucket, address=key, at=now))
    db.session.flush()
    uow.keep()
