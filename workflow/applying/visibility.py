"""Who sees which applications: the bureau all, the organisation its own, finance the
approved projects, the demand side those on its challenges. (Experts read an application
through their review: see ``workflow.review.visibility``.)"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from workflow.applying.models import Application
from workflow.calls.models import Challenge
from workflow.permissions import (
    demand_side,
    finance_staff,
    has_role,
    organization_member,
)
from workflow.permissions import reads_all_applications as reads_all


def can_view_application(user: Any, app: Application) -> bool:
    if reads_all(user, app):
        return True
    # Finance staff pay approved projects: they read those (and nothing before approval).
    if finance_staff(user, app) and app.approved_at is not None:
        return True
    return organization_member(user, app) or demand_side(user, app)


def on_challenges_of(org_id: int) -> sa.ColumnElement[bool]:
    """Applications taking a challenge that ``org_id`` published: ``demand_side`` as a query."""
    return Application.challenge_id.in_(
        sa.select(Challenge.id).where(Challenge.demand_org_id == org_id))


def applications_query(user: Any) -> sa.Select[Application]:
    """The applications ``user`` may see, as a query to filter further (``can_view_application``
    as a query)."""
    query = sa.select(Application)
    if reads_all(user):
        return query
    conditions: list[sa.ColumnElement[bool]] = []
    if finance_staff(user):
        conditions.append(Application.approved_at.is_not(None))
    if has_role("applicant", "org_admin")(user) and user.organization_id is not None:
        conditions.append(Application.organization_id == user.organization_id)
    if has_role("demand")(user) and user.organization_id is not None:
        conditions.append(on_challenges_of(user.organization_id))
    return query.where(sa.or_(*conditions)) if conditions else query.where(sa.false())
