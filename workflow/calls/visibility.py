"""Who sees which calls: drafts stay with the bureau."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from states import CallState
from workflow.calls.models import Call, Challenge
from workflow.permissions import bureau_reader


def can_view_call(user: Any, call: Call) -> bool:
    return call.state is not CallState.draft or bureau_reader(user, call)


def challenge_visible(user: Any, challenge: Challenge) -> bool:
    """A challenge (榜单) is seen with its call."""
    return can_view_call(user, challenge.call)


def calls_query(user: Any) -> sa.Select[Call]:
    query = sa.select(Call)
    if not bureau_reader(user, None):
        query = query.where(Call.state != CallState.draft)
    return query
