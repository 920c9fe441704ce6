"""The in-app inbox: the ``inapp`` notifications, with an unread count on every page."""

from __future__ import annotations

import sqlalchemy as sa
from flask import has_request_context, request
from flask_login import current_user

from workflow.accounts.models import User
from workflow.core.errors import NotFound
from workflow.core.models import db, utcnow
from workflow.notify.models import Notification


def unread(user: User) -> int:
    return db.session.scalar(sa.select(sa.func.count(Notification.id)).where(
        Notification.user_id == user.id, Notification.channel == "inapp",
        Notification.read_at.is_(None))) or 0


def mark_read(user: User, note_id: int | None = None) -> int:
    """Mark one message (or all) read; the number marked. A message that is not in the
    person's inbox (someone else's, or an e-mail) is not found."""
    query = sa.update(Notification).where(Notification.user_id == user.id,
                                          Notification.channel == "inapp",
                                          Notification.read_at.is_(None))
    if note_id is not None:
        if db.session.scalar(sa.select(Notification.user_id).where(
                Notification.id == note_id, Notification.channel == "inapp")) != user.id:
            raise NotFound("消息不存在")
        query = query.where(Notification.id == note_id)
    return db.session.execute(query.values(read_at=utcnow())).rowcount  # type: ignore[attr-defined]


def unread_context() -> dict[str, int]:
    """The header's count of unread messages, for every signed-in page."""
    if not has_request_context() or request.blueprint == "api" or \
            not current_user.is_authenticated:
        return {"unread": 0}
    return {"unread": unread(current_user)}
