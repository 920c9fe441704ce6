"""The recovery list (追回台账): finance, officers, leaders and auditors see every
recovery; a project's organisation (its researchers and research office) its own. The list
of sanction reviews (失信复核): finance, officers, leaders and auditors."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import joinedload

from states import RecoveryState, SanctionReviewState
from workflow.accounts.models import Organization, Sanction
from workflow.applying.models import Application
from workflow.core.listing import Column, Field, Filter, ListSpec, labelled
from workflow.finance.models import Recovery, SanctionReview
from workflow.finance.recovery import recoveries_visible
from workflow.permissions import money_reader

RC = RecoveryState
TABS = (RC.opened, RC.notified, RC.partly_repaid, RC.overdue, RC.repaid, RC.written_off)


def _due(r: Recovery) -> Any:
    return r.due_on


RECOVERIES = ListSpec(
    name="recoveries", title="经费追回", model=Recovery, visible=recoveries_visible,
    joins={"app": lambda q: q.join(Application, Application.id == Recovery.application_id),
           "org": lambda q: q.join(Organization,
                                   Organization.id == Application.organization_id)},
    columns=(
        Column("project", "项目", (Application.project_number, Recovery.id), joins=("app",)),
        Column("organization", "承担单位", (Organization.name,), joins=("app", "org")),
        Column("amount", "应追回（万元）", (Recovery.amount,), num=True, desc_first=True),
        Column("repaid", "已追回（万元）", (Recovery.repaid,), num=True, desc_first=True),
        Column("outstanding", "尚欠（万元）", (Recovery.amount - Recovery.repaid,), num=True,
               desc_first=True),
        Column("due_on", "还款期限", (Recovery.due_on,)),
        Column("reason", "事由"),
        Column("state", "状态"),
    ),
    search=(Application.project_number, Application.title, Organization.name,
            Recovery.reason),
    search_joins=("app", "org"),
    search_hint="项目编号或名称、承担单位、事由",
    filters=(
        Filter("state", "状态", labelled(TABS), lambda v: Recovery.state == v,
               tabs=True, group=Recovery.state),
        Filter("overdue", "逾期", [("yes", "逾期未还")],
               lambda v: Recovery.state == RC.overdue),
    ),
    default_sort="due_on", default_desc=False,
    load=(joinedload(Recovery.application).joinedload(Application.organization),),
    export=(
        Field("项目编号", lambda r: r.application.project_number or "", width=22),
        Field("项目名称", lambda r: r.application.title, width=40),
        Field("承担单位", lambda r: r.application.organization.name, width=28),
        Field("事由", lambda r: r.reason, width=24),
        Field("应追回（万元）", lambda r: r.amount, "wan"),
        Field("已追回（万元）", lambda r: r.repaid, "wan"),
        Field("尚欠（万元）", lambda r: r.outstanding, "wan"),
        Field("还款期限", _due, "date", width=12),
        Field("状态", lambda r: r.state.label, width=12),
    ),
)


def _reviews_visible(user: Any) -> sa.Select[Any]:
    query = sa.select(SanctionReview)
    return query if money_reader(user) else query.where(sa.false())


SR = SanctionReviewState
SANCTION_REVIEWS = ListSpec(
    name="sanction_reviews", title="失信复核", model=SanctionReview, visible=_reviews_visible,
    joins={"app": lambda q: q.join(Application,
                                   Application.id == SanctionReview.application_id),
           "org": lambda q: q.join(Organization,
                                   Organization.id == Application.organization_id),
           "sanction": lambda q: q.join(Sanction, Sanction.id == SanctionReview.sanction_id)},
    columns=(
        Column("project", "项目", (Application.project_number, SanctionReview.id),
               joins=("app",)),
        Column("organization", "承担单位", (Organization.name,), joins=("app", "org")),
        Column("subject", "失信对象", (SanctionReview.subject,)),
        Column("ends_on", "处理期", (Sanction.ends_on,), joins=("sanction",), desc_first=True),
        Column("created_at", "列入时间", (SanctionReview.created_at,), desc_first=True),
        Column("state", "状态"),
    ),
    search=(Application.project_number, Application.title, Organization.name,
            SanctionReview.subject, Sanction.reason),
    search_joins=("app", "org", "sanction"),
    search_hint="项目编号或名称、承担单位、失信对象、失信行为",
    filters=(
        Filter("state", "状态", labelled(tuple(SR)), lambda v: SanctionReview.state == v,
               tabs=True, group=SanctionReview.state),
    ),
    default_sort="created_at",
    load=(joinedload(SanctionReview.application).joinedload(Application.organization),
          joinedload(SanctionReview.sanction)),
    export=(
        Field("项目编号", lambda r: r.application.project_number or "", width=22),
        Field("项目名称", lambda r: r.application.title, width=40),
        Field("承担单位", lambda r: r.application.organization.name, width=28),
        Field("失信对象", lambda r: r.subject, width=24),
        Field("失信行为", lambda r: r.sanction.reason, width=30),
        Field("处理期起", lambda r: r.sanction.starts_on, "date", width=12),
        Field("处理期止", lambda r: r.sanction.ends_on, "date", width=12),
        Field("状态", lambda r: r.state.label, width=14),
    ),
)
