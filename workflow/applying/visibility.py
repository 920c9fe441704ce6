"""Who sees which applications: the bureau all, the organisation its own, finance the
approved projects, the demand side those on its challenges. (Experts read an application
through their review: see ``workflow.review.visibility``.)"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from workflow.applying.models import Application
from workflow.calls.models import Challenge
from workflow.permissions import BUREAU_READERS, demand_side, has_role, same_organization


def can_view_application(user: Any, app: Application) -> bool:
    if user.has_role("recommender", *BUREAU_READERS):
        return True
    # Finance staff pay approved projects: they read those (and nothing before approval).
    if user.has_role("finance") and app.approved_at is not None:
        return True
    if has_role("applicant", "org_admin")(user, app) and same_organization(user, app):
        return True
    return demand_side(user, app)


def applications_query(user: Any) -> sa.Select[Application]:
    """The applications ``user`` may see, as a query to filter further."""
    query = sa.select(Application)
    if user.has_role("recommender", *BUREAU_READERS):
        return query
    conditions: list[sa.ColumnElement[bool]] = []
    if user.has_role("finance"):
        conditions.append(Application.approved_at.is_not(None))
    if user.has_role("applicant", "org_admin") and user.organization_id is not None:
        conditions.append(Application.organization_id == user.organization_id)
    if user.has_role("demand") and user.organization_id is not None:
        conditions.append(Application.challenge_id.in_(
            sa.select(Challenge.id).where(Challenge.demand_org_id == user.organization_id)))
    return query.where(sa.or_(*conditions)) if conditions else query.where(sa.false())
