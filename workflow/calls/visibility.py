"""Who sees which calls: drafts stay with the bureau."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from states import CallState
from workflow.calls.models import Call
from workflow.permissions import is_bureau_reader


def can_view_call(user: Any, call: Call) -> bool:
    return call.state is not CallState.draft or is_bureau_reader(user, call)


def calls_query(user: Any) -> sa.Select[Call]:
    query = sa.select(Call)
    if not is_bureau_reader(user, None):
        query = query.where(Call.state != CallState.draft)
    return query
