"""Who sees which applications, and who reads what is in them: one rule for the pages,
the API and the exports.

Two levels:

- **sees** (``can_view_application``, as a query ``applications_query``): knows the
  application exists and reads its heading, as the list and the page's heading show it
  (title, call, organisation, principal investigator, state, receipt and project
  numbers, submission time, grant). Anything else answers 404.
- **reads** (``can_read_application``): also what is in it: the form's answers (the
  team's 身份证号 included), attachments, archival PDFs, submission rounds, the audit
  trail, milestones. Someone who sees it but may not read it is answered 403.

Who, and how far:

- the bureau (officer, leader, auditor, admin): reads every application;
- a recommending body (主管部门, role recommender): reads those of the organisations
  directly under it (``Organization.parent_id``), and no other;
- the unit's research office (单位管理员, org_admin): reads its unit's applications;
- the principal investigator reads their own; a colleague of the same organisation
  (applicant) sees the unit's applications and reads one only when on its team (their
  身份证号 in its team table);
- the demand side (发榜方) reads the applications that take its challenges;
- finance reads approved projects (and nothing before approval).

Experts read an application only through a live review of theirs (see
``workflow.review.visibility``)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from workflow.accounts.models import Organization
from workflow.applying.models import Application
from workflow.calls.models import Challenge
from workflow.permissions import (
    colleague,
    demand_side,
    finance_staff,
    has_role,
    jurisdiction,
    principal_investigator,
    recommender,
    team_member,
    unit_office,
)
from workflow.permissions import reads_all_applications as reads_all

# Said to whoever sees an application (a colleague of its organisation) but may not read
# what is in it.
READ_REFUSED = ("只有项目负责人、项目组成员、本单位管理员、主管部门和市科技局等可以查看"
                "申报书的内容、附件和归档文件")


def can_read_application(user: Any, app: Application) -> bool:
    """May ``user`` read what is in ``app`` (its answers, attachments, PDFs, rounds,
    trail)."""
    if reads_all(user, app) or jurisdiction(user, app):
        return True
    # Finance staff pay approved projects: they read those (and nothing before approval).
    if finance_staff(user, app) and app.approved_at is not None:
        return True
    return (principal_investigator(user, app) or unit_office(user, app)
            or demand_side(user, app) or (colleague(user, app) and team_member(user, app)))


def can_view_application(user: Any, app: Application) -> bool:
    """May ``user`` know that ``app`` exists and read its heading."""
    return can_read_application(user, app) or colleague(user, app)


def on_challenges_of(org_id: int) -> sa.ColumnElement[bool]:
    """Applications taking a challenge that ``org_id`` published: ``demand_side`` as a query."""
    return Application.challenge_id.in_(
        sa.select(Challenge.id).where(Challenge.demand_org_id == org_id))


def under(recommending_body_id: int) -> sa.ColumnElement[bool]:
    """Applications of the organisations under a recommending body: ``jurisdiction`` as a
    query."""
    return Application.organization_id.in_(
        sa.select(Organization.id).where(Organization.parent_id == recommending_body_id))


def applications_query(user: Any) -> sa.Select[Application]:
    """The applications ``user`` may see, as a query to filter further (``can_view_application``
    as a query)."""
    query = sa.select(Application)
    if reads_all(user):
        return query
    conditions: list[sa.ColumnElement[bool]] = []
    org_id = getattr(user, "organization_id", None)
    if finance_staff(user):
        conditions.append(Application.approved_at.is_not(None))
    if has_role("applicant", "org_admin")(user) and org_id is not None:
        conditions.append(Application.organization_id == org_id)
    if has_role("demand")(user) and org_id is not None:
        conditions.append(on_challenges_of(org_id))
    if recommender(user) and org_id is not None:
        conditions.append(under(org_id))
    return query.where(sa.or_(*conditions)) if conditions else query.where(sa.false())
