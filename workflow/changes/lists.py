"""The list of change requests (变更), as its page shows and exports it and the API pages
it: the bureau's staff see every request, a unit's research office its unit's, the
demand side those of its challenges' projects, a principal investigator their own."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import joinedload

from states import ChangeState
from workflow.accounts.models import Organization
from workflow.applying.models import Application
from workflow.applying.visibility import on_challenges_of
from workflow.changes.models import ChangeKind, ChangeRequest
from workflow.core.listing import Column, Field, Filter, ListSpec, in_order, labelled
from workflow.permissions import bureau_reader, has_role

C = ChangeRequest


def visible_changes(user: Any) -> sa.Select[Any]:
    query = sa.select(C)
    if bureau_reader(user):
        return query
    org_id = getattr(user, "organization_id", None)
    conditions: list[Any] = []
    if has_role("org_admin")(user) and org_id is not None:
        conditions.append(Application.organization_id == org_id)
    if has_role("demand")(user) and org_id is not None:
        conditions.append(on_challenges_of(org_id))
    if has_role("applicant")(user):
        conditions.append(Application.applicant_id == user.id)
    if not conditions:
        return query.where(sa.false())
    return query.where(C.application_id.in_(sa.select(Application.id).where(
        sa.or_(*conditions))))


CHANGES = ListSpec(
    name="changes", title="项目变更", model=C, visible=visible_changes,
    joins={"app": lambda q: q.join(Application, Application.id == C.application_id),
           "org": lambda q: q.join(Organization, Organization.id == Application.organization_id)},
    columns=(
        Column("submitted", "提交时间", (C.submitted_at,), desc_first=True),
        Column("project", "项目", (Application.project_number, C.seq), joins=("app",)),
        Column("kind", "变更类型", (C.kind,)),
        Column("organization", "承担单位", (Organization.name,), joins=("app", "org")),
        Column("state", "状态", (in_order(C.state, list(ChangeState)),)),
        Column("decided", "审批时间", (C.decided_at,), desc_first=True),
    ),
    search=(Application.project_number, Application.title, Organization.name, C.reason),
    search_joins=("app", "org"),
    search_hint="项目编号或名称、承担单位、变更理由",
    filters=(
        Filter("state", "状态", labelled(list(ChangeState)), lambda v: C.state == v,
               tabs=True, group=C.state),
        Filter("kind", "变更类型", labelled(list(ChangeKind)), lambda v: C.kind == ChangeKind(v)),
    ),
    default_sort="submitted",
    # What a row shows (the API's too: the new PI or organisation, the challenge the
    # planned end is counted from), in the page's one statement.
    load=(joinedload(C.application).joinedload(Application.organization),
          joinedload(C.application).joinedload(Application.challenge),
          joinedload(C.new_pi), joinedload(C.new_organization)),
    export=(
        Field("项目编号", lambda c: c.application.project_number or "", width=22),
        Field("项目名称", lambda c: c.application.title, width=36),
        Field("承担单位", lambda c: c.application.organization.name, width=28),
        Field("变更类型", lambda c: c.kind.label, width=16),
        Field("变更理由", lambda c: c.reason, width=40),
        Field("状态", lambda c: c.state.label, width=16),
        Field("提交时间", lambda c: c.submitted_at, "datetime", width=18),
        Field("单位意见", lambda c: c.unit_opinion or "", width=24),
        Field("审批意见", lambda c: c.decision or "", width=30),
        Field("审批人", lambda c: c.decided_by or "", width=12),
        Field("审批时间", lambda c: c.decided_at, "datetime", width=18),
    ),
)
