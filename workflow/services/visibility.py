"""Who may see what. A row a user may not see is reported as not found."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from states import CallState
from workflow.models import Application, Call, ReviewAssignment, Tranche, User, db
from workflow.permissions import has_role, same_organization

BUREAU_READERS = ("officer", "leader", "auditor", "admin")


def can_view(user: User, row: Any) -> bool:
    if isinstance(row, Call):
        return row.state is not CallState.draft or user.has_role(*BUREAU_READERS)
    if isinstance(row, Application):
        return can_view_application(user, row)
    if isinstance(row, ReviewAssignment):
        return user.has_role(*BUREAU_READERS) or (
            user.has_role("expert") and row.expert_id == user.id)
    if isinstance(row, Tranche):
        return user.has_role("finance", *BUREAU_READERS) or (
            has_role("applicant", "org_admin")(user, None)
            and same_organization(user, row.application))
    return False


def can_view_application(user: User, app: Application) -> bool:
    if user.has_role("recommender", *BUREAU_READERS):
        return True
    if user.has_role("applicant", "org_admin") and same_organization(user, app):
        return True
    if user.has_role("demand") and app.challenge is not None and \
            app.challenge.demand_org_id == user.organization_id:
        return True
    if user.has_role("expert"):
        return bool(db.session.scalar(sa.select(ReviewAssignment.id).where(
            ReviewAssignment.application_id == app.id, ReviewAssignment.expert_id == user.id)))
    return False


def can_view_history(user: User, row: Any) -> bool:
    # An application's trail names bureau staff, never experts; a review's trail names
    # its expert and so stays with the bureau and that expert.
    return can_view(user, row)
