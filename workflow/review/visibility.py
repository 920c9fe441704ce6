"""What an expert reads: their own reviews while live, and an application only through a
live review of it, never anyone's 身份证号.

- invited: the summary the invitation is answered on (title, call, the organisation and
  principal investigator unless the call hides them, and the form's summary, keywords
  and discipline);
- accepted, or submitted: the whole application (its answers and attachments);
- declined, expired, withdrawn (撤销邀请) or recused: nothing. The review itself is no
  longer the expert's to open (404 on its pages and in the API); their queue keeps a
  line with the title and the state, as a record of what they answered.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from forms.schema import FIELD_ROLES, shown_values
from states import ReviewState
from workflow.applying.facts import data_with_facts
from workflow.applying.models import Application
from workflow.calls.operations import form_fields
from workflow.core.models import Attachment, db
from workflow.permissions import (
    LIVE_REVIEW_STATES,
    READING_REVIEW_STATES,
    any_of,
    bureau_reader,
    expert,
    live_review,
    reading_review,
)
from workflow.review.models import ReviewAssignment

# ``live_review`` and ``reading_review`` as queries.
EXPERT_LIVE = tuple(s for s in ReviewState if s.value in LIVE_REVIEW_STATES)
EXPERT_READS = tuple(s for s in ReviewState if s.value in READING_REVIEW_STATES)
# The form's fields an invited expert reads: what matching is done on.
SUMMARY_FIELDS = tuple(name for name in FIELD_ROLES if name != "amount")

can_view_review = any_of(bureau_reader, live_review)


def live_review_of(user: Any, app: Application) -> ReviewAssignment | None:
    """``user``'s live review of ``app``, the one that reads the most (None: none)."""
    if not expert(user):
        return None
    reviews = list(db.session.scalars(sa.select(ReviewAssignment).where(
        ReviewAssignment.application_id == app.id, ReviewAssignment.expert_id == user.id,
        ReviewAssignment.state.in_(EXPERT_LIVE))))
    return next((r for r in reviews if reading_review(user, r)), reviews[0] if reviews else None)


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


def _summary_data(app: Application) -> dict[str, Any]:
    data = app.data or {}
    return {name: data[name] for name in SUMMARY_FIELDS if name in data}


def expert_reading(user: Any, app: Application) -> dict[str, Any] | None:
    """The application as its assigned expert reads it through their live review: the
    summary while invited, all of it once accepted (None: no live review of theirs)."""
    review = live_review_of(user, app)
    if review is None:
        return None
    full = reading_review(user, review)
    body: dict[str, Any] = {
        "id": app.id, "call_id": app.call_id, "challenge_id": app.challenge_id,
        "title": app.title, "state": app.state.value, "state_label": app.state.label,
        "scheme": app.call.scheme.value, "reading": "full" if full else "summary",
        "data": expert_projection(app, data_with_facts(app)) if full else _summary_data(app),
    }
    if not app.call.hide_applicant:
        body["organization"] = {"id": app.organization.id, "name": app.organization.name}
        body["applicant"] = {"id": app.applicant.id, "name": app.applicant.name}
    return body


def expert_answers(user: Any, review: ReviewAssignment) -> list[tuple[str, str]]:
    """What the scoring page shows of the application's answers, each by its label: the
    summary fields while invited, every field once accepted; none for a review that is
    not live."""
    if not live_review(user, review):
        return []
    app = review.application
    fields = [f for f in form_fields(app.call, app.form_version) if f["type"] != "file"]
    if not reading_review(user, review):
        fields = [f for f in fields if f["name"] in SUMMARY_FIELDS]
    shown = shown_values(fields, app.data or {})
    return [(f["label"], shown[f["name"]]) for f in fields]


def expert_attachments(user: Any, review: ReviewAssignment) -> list[Attachment]:
    """The application's attachments, for the expert who accepted to review it."""
    if not reading_review(user, review):
        return []
    return list(db.session.scalars(sa.select(Attachment).where(
        Attachment.application_id == review.application_id).order_by(Attachment.id)))


def expert_attachment(user: Any, review: ReviewAssignment, sha256: str) -> Attachment | None:
    """One of them, by its hash (None: not theirs to read, or no such file)."""
    if not reading_review(user, review):
        return None
    return db.session.scalar(sa.select(Attachment).where(
        Attachment.application_id == review.application_id, Attachment.sha256 == sha256))
