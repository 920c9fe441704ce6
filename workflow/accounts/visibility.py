"""Who sees which organisations (单位): the bureau's readers every one; a recommender its
recommending body (主管部门) and the organisations under it; anyone else their own."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from workflow.accounts.models import Organization, OrgKind
from workflow.core.models import db
from workflow.permissions import RECOMMENDING_KIND, org_reader, recommender


def visible_organizations(user: Any) -> sa.Select[Any]:
    """``organization_reader`` as a query."""
    query = sa.select(Organization)
    if org_reader(user):
        return query
    own = Organization.id == user.organization_id
    if recommender(user):
        return query.where(sa.or_(own, Organization.parent_id == user.organization_id))
    return query.where(own)


def recommending_bodies(_user: Any = None) -> list[tuple[str, str]]:
    """The organisations others may be placed under (主管部门), as choices."""
    rows = db.session.execute(sa.select(Organization.id, Organization.name).where(
        Organization.kind == OrgKind(RECOMMENDING_KIND)).order_by(Organization.name))
    return [(str(i), name) for i, name in rows]
