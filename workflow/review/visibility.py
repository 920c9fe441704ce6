"""What an expert reads: their own reviews, and an application only through a live
review of it (an invitation declined or expired gives no more access), without anyone's
身份证号."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from states import ReviewState
from workflow.applying.facts import data_with_facts
from workflow.applying.models import Application
from workflow.core.models import db
from workflow.permissions import LIVE_REVIEW_STATES, any_of, bureau_reader, expert, own_review
from workflow.review.models import ReviewAssignment

# ``live_review`` as a query.
EXPERT_READS = tuple(s for s in ReviewState if s.value in LIVE_REVIEW_STATES)

can_view_review = any_of(bureau_reader, own_review)


def assigned_expert(user: Any, app: Application) -> bool:
    """``user`` reads ``app`` through a live review of theirs."""
    return expert(user) and bool(db.session.scalar(
        sa.select(ReviewAssignment.id).where(
            ReviewAssignment.application_id == app.id, ReviewAssignment.expert_id == user.id,
            ReviewAssignment.state.in_(EXPERT_READS))))


def expert_projection(app: Application, data: dict[str, Any]) -> dict[str, Any]:
    """What an expert may read of the answers: no 身份证号 of anyone."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key in ("commitment", "pledge", "contract"):
            continue
        if isinstance(value, list):
            value = [{k: v for k, v in row.items() if k != "id_number"}
                     if isinstance(row, dict) else row for row in value]
        out[key] = value
    return out


def expert_reading(user: Any, app: Application) -> dict[str, Any] | None:
    """The application as its assigned expert reads it (None: not an assigned expert)."""
    if not assigned_expert(user, app):
        return None
    body: dict[str, Any] = {
        "id": app.id, "call_id": app.call_id, "challenge_id": app.challenge_id,
        "title": app.title, "state": app.state.value, "state_label": app.state.label,
        "scheme": app.call.scheme.value, "data": expert_projection(app, data_with_facts(app)),
    }
    if not app.call.hide_applicant:
        body["organization"] = {"id": app.organization.id, "name": app.organization.name}
        body["applicant"] = {"id": app.applicant.id, "name": app.applicant.name}
    return body
