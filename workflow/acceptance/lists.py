"""The list of acceptances (结题验收), as its page shows and exports it and the API pages
it: the bureau's staff, finance and auditors see every one, a unit's research office its
unit's, the demand side those of its challenges' projects, an expert those of the panels
they sit on, a principal investigator their own."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import joinedload, selectinload

from forms import format_wan
from states import AcceptanceState
from workflow.acceptance.models import Acceptance, AcceptanceMember
from workflow.acceptance.rules import visible_query
from workflow.accounts.models import Organization
from workflow.applying.models import Application
from workflow.core.listing import Column, Field, Filter, ListSpec, in_order, labelled

AC = Acceptance


def visible_acceptances(user: Any) -> sa.Select[Any]:
    return sa.select(AC).where(visible_query(user))


ACCEPTANCES = ListSpec(
    name="acceptances", title="结题验收", model=AC, visible=visible_acceptances,
    joins={"app": lambda q: q.join(Application, Application.id == AC.application_id),
           "org": lambda q: q.join(Organization, Organization.id == Application.organization_id)},
    columns=(
        Column("submitted", "提交时间", (AC.submitted_at,), desc_first=True),
        Column("project", "项目", (Application.project_number, AC.id), joins=("app",)),
        Column("organization", "承担单位", (Organization.name,), joins=("app", "org")),
        Column("state", "状态", (in_order(AC.state, list(AcceptanceState)),)),
        Column("concluded", "结论时间", (AC.concluded_at,), desc_first=True),
    ),
    search=(Application.project_number, Application.title, Organization.name),
    search_joins=("app", "org"),
    search_hint="项目编号或名称、承担单位",
    filters=(
        Filter("state", "状态", labelled(list(AcceptanceState)), lambda v: AC.state == v,
               tabs=True, group=AC.state),
    ),
    default_sort="submitted",
    # The panel too (the API lists it with each acceptance), and a 揭榜挂帅 project's
    # challenge (its indicators).
    load=(joinedload(AC.application).joinedload(Application.organization),
          joinedload(AC.application).joinedload(Application.challenge),
          selectinload(AC.members).joinedload(AcceptanceMember.user)),
    export=(
        Field("项目编号", lambda a: a.application.project_number or "", width=22),
        Field("项目名称", lambda a: a.application.title, width=36),
        Field("承担单位", lambda a: a.application.organization.name, width=28),
        Field("状态", lambda a: a.state.label, width=16),
        Field("提交时间", lambda a: a.submitted_at, "datetime", width=18),
        Field("单位意见", lambda a: a.unit_opinion or "", width=24),
        Field("财务验收", lambda a: {"pass": "通过", "fail": "不通过"}.get(
            a.finance_verdict or "", ""), width=10),
        Field("结题结余（万元）", lambda a: format_wan(a.surplus) if a.surplus else "", width=14),
        Field("结论意见", lambda a: a.conclusion or "", width=30),
        Field("勤勉尽责", lambda a: "是" if a.diligent is True else (
            "否" if a.diligent is False else ""), width=10),
        Field("结论时间", lambda a: a.concluded_at, "datetime", width=18),
    ),
)
