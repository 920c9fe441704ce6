"""Who may see what. A row a user may not see is reported as not found."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from states import CallState, ReviewState
from workflow.accounts.models import User
from workflow.applying.models import Application
from workflow.calls.models import Call
from workflow.core.models import db
from workflow.documents.models import Document
from workflow.finance.models import Tranche
from workflow.permissions import has_role, same_organization
from workflow.review.models import ReviewAssignment

BUREAU_READERS = ("officer", "leader", "auditor", "admin")


def can_view(user: User, row: Any) -> bool:
    if isinstance(row, Call):
        return row.state is not CallState.draft or user.has_role(*BUREAU_READERS)
    if isinstance(row, Application):
        return can_view_application(user, row)
    if isinstance(row, ReviewAssignment):
        return user.has_role(*BUREAU_READERS) or (
            user.has_role("expert") and row.expert_id == user.id)
    if isinstance(row, Document):
        # An issued 立项文件 is read by whoever may read its call; an application's
        # documents by whoever may read the application (never by its experts).
        if row.call_id is not None:
            call = db.session.get(Call, row.call_id)
            return call is not None and can_view(user, call)
        app = db.session.get(Application, row.application_id)
        return app is not None and can_view_application(user, app)
    if isinstance(row, Tranche):
        return user.has_role("finance", *BUREAU_READERS) or (
            has_role("applicant", "org_admin")(user, None)
            and same_organization(user, row.application))
    return False


def can_view_application(user: User, app: Application) -> bool:
    if user.has_role("recommender", *BUREAU_READERS):
        return True
    # Finance staff pay approved projects: they read those (and nothing before approval).
    if user.has_role("finance") and app.approved_at is not None:
        return True
    if user.has_role("applicant", "org_admin") and same_organization(user, app):
        return True
    return bool(user.has_role("demand") and app.challenge is not None
                and app.challenge.demand_org_id == user.organization_id)


def assigned_expert(user: User, app: Application) -> bool:
    """An expert reads an application through their review, while the review is theirs
    (an invitation declined or expired gives no more access)."""
    return user.has_role("expert") and bool(db.session.scalar(
        sa.select(ReviewAssignment.id).where(
            ReviewAssignment.application_id == app.id, ReviewAssignment.expert_id == user.id,
            ReviewAssignment.state.in_(EXPERT_READS))))


EXPERT_READS = (ReviewState.invited, ReviewState.accepted, ReviewState.submitted)


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


def applications_query(user: User) -> sa.Select[Application]:
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
        from workflow.calls.models import Challenge

        conditions.append(Application.challenge_id.in_(
            sa.select(Challenge.id).where(Challenge.demand_org_id == user.organization_id)))
    return query.where(sa.or_(*conditions)) if conditions else query.where(sa.false())


def calls_query(user: User) -> sa.Select[Call]:
    query = sa.select(Call)
    if not user.has_role(*BUREAU_READERS):
        query = query.where(Call.state != CallState.draft)
    return query
