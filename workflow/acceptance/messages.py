"""Who hears of an acceptance: the unit's research office of a package to endorse, the
team of a return and of the conclusion, the panel (and finance, who check the 决算) when
the panel is drawn. Experts are named to nobody but the bureau."""

from __future__ import annotations

import sqlalchemy as sa

from workflow.acceptance.models import Acceptance
from workflow.accounts.models import User, UserRole
from workflow.core.models import OutboxEvent, db
from workflow.notify.notifications import Message


def _acceptance(event: OutboxEvent) -> Acceptance | None:
    return db.session.get(Acceptance, event.entity_id)


def _with_role(role: str, organization_id: int | None = None) -> list[int]:
    query = sa.select(User.id).join(UserRole).where(UserRole.role == role,
                                                     User.active.is_(True))
    if organization_id is not None:
        query = query.where(User.organization_id == organization_id)
    return list(db.session.scalars(query.order_by(User.id)))


def _team(acc: Acceptance) -> list[int]:
    people = [acc.submitted_by_id, acc.application.applicant_id]
    return [uid for uid in dict.fromkeys(people) if uid is not None]


def _link(acc: Acceptance) -> str:
    return f"/acceptances/{acc.id}"


def acceptance_submitted(event: OutboxEvent) -> list[Message]:
    acc = _acceptance(event)
    if acc is None:
        return []
    return [Message(uid, "acceptance_submitted", context={"app": acc.application},
                    link=_link(acc))
            for uid in _with_role("org_admin", acc.application.organization_id)]


def acceptance_returned(event: OutboxEvent) -> list[Message]:
    acc = _acceptance(event)
    if acc is None:
        return []
    return [Message(uid, "acceptance_returned", context={
        "app": acc.application, "comment": event.payload.get("comment") or ""},
        link=_link(acc)) for uid in _team(acc)]


def panel_invited(event: OutboxEvent) -> list[Message]:
    """The experts drawn, the demand side (揭榜挂帅) and finance, who check the 决算."""
    acc = _acceptance(event)
    if acc is None:
        return []
    app = acc.application
    out = [Message(m.user_id, "acceptance_panel", context={"app": app, "seat": m.alias},
                   link=_link(acc)) for m in acc.members if m.user_id is not None]
    if app.challenge is not None and app.challenge.demand_org_id is not None:
        out += [Message(uid, "acceptance_panel", context={"app": app, "seat": "发榜方"},
                        link=_link(acc))
                for uid in _with_role("demand", app.challenge.demand_org_id)]
    out += [Message(uid, "acceptance_finance", context={"app": app}, link=_link(acc))
            for uid in _with_role("finance")]
    return out


def acceptance_concluded(event: OutboxEvent) -> list[Message]:
    acc = _acceptance(event)
    if acc is None:
        return []
    return [Message(uid, "acceptance_concluded", "decision", {
        "app": acc.application, "acc": acc}, link=_link(acc)) for uid in _team(acc)]
