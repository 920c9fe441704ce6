"""Who hears of a change request's outcome: the team (the principal investigator who
asked, and the project's principal investigator now)."""

from __future__ import annotations

from workflow.changes.models import ChangeRequest
from workflow.core.models import OutboxEvent, db
from workflow.notify.notifications import Message


def _team(change: ChangeRequest) -> list[int]:
    people = [change.requested_by_id, change.application.applicant_id]
    return [uid for uid in dict.fromkeys(people) if uid is not None]


def change_decided(event: OutboxEvent) -> list[Message]:
    change = db.session.get(ChangeRequest, event.entity_id)
    if change is None:
        return []
    approved = event.payload.get("to") == "approved"
    return [Message(uid, "change_decided", "decision", {
        "app": change.application, "change": change, "approved": approved,
        "comment": event.payload.get("comment") or change.decision or ""},
        link=f"/changes/{change.id}") for uid in _team(change)]


def change_returned(event: OutboxEvent) -> list[Message]:
    change = db.session.get(ChangeRequest, event.entity_id)
    if change is None:
        return []
    return [Message(uid, "change_returned", context={
        "app": change.application, "change": change,
        "comment": event.payload.get("comment") or ""}, link=f"/changes/{change.id}")
        for uid in _team(change)]
