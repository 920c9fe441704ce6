"""The integrity list (科研失信名单) and the organisations (单位, with their recommending
bodies), as ``workflow.web.listing`` shows and exports them."""

from __future__ import annotations

from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import aliased, selectinload

from workflow.accounts.models import Organization, OrgKind, Sanction
from workflow.accounts.visibility import recommending_bodies, visible_organizations
from workflow.core.listing import Column, Field, Filter, ListSpec, labelled
from workflow.core.models import utcnow
from workflow.permissions import integrity_reader
from workflow.timeutil import SHANGHAI

S = Sanction
SUBJECTS = {"person": "个人", "org": "单位"}
PERIODS = {"active": "处理期内", "ended": "已期满", "future": "尚未开始"}


def today() -> date:
    return utcnow().astimezone(SHANGHAI).date()


def visible_sanctions(user: Any) -> sa.Select[Any]:
    query = sa.select(S)
    return query if integrity_reader(user) else query.where(sa.false())


def in_period(value: str) -> Any:
    now = today()
    if value == "active":
        return sa.and_(S.starts_on <= now, S.ends_on >= now)
    return S.ends_on < now if value == "ended" else S.starts_on > now


def period_of(row: Sanction) -> str:
    now = today()
    key = "future" if row.starts_on > now else "ended" if row.ends_on < now else "active"
    return PERIODS[key]


SANCTIONS = ListSpec(
    name="sanctions", title="科研失信名单", model=S, visible=visible_sanctions,
    columns=(
        Column("subject", "对象", (S.subject,)),
        Column("name", "名称", (S.name,)),
        Column("identifier", "证件号码"),
        Column("reason", "事由"),
        Column("starts", "处理期", (S.starts_on, S.ends_on), desc_first=True),
        Column("ends", "状态", (S.ends_on,), desc_first=True),
    ),
    search=(S.name, S.id_number, S.uscc, S.reason), search_hint="姓名、单位、证件号码或事由",
    filters=(
        Filter("subject", "对象", list(SUBJECTS.items()), lambda v: S.subject == v),
        Filter("period", "处理期", list(PERIODS.items()), in_period),
    ),
    default_sort="starts",
    export=(
        Field("对象", lambda r: SUBJECTS.get(r.subject, r.subject), width=8),
        Field("姓名或单位名称", lambda r: r.name, width=28),
        Field("证件号码", lambda r: r.id_number or r.uscc or "", width=22),
        Field("处理事由", lambda r: r.reason, width=40),
        Field("开始日期", lambda r: r.starts_on, "date", width=12),
        Field("结束日期", lambda r: r.ends_on, "date", width=12),
        Field("状态", period_of, width=10),
        Field("登记时间", lambda r: r.created_at, "datetime", width=18),
    ),
)


# ---- the organisations (单位) and their recommending bodies ----------------------------------

Parent = aliased(Organization, name="parent_org")

ORGANIZATIONS = ListSpec(
    name="organizations", title="单位", model=Organization, visible=visible_organizations,
    joins={"parent": lambda q: q.outerjoin(Parent, Parent.id == Organization.parent_id)},
    columns=(
        Column("name", "单位名称", (Organization.name,)),
        Column("uscc", "统一社会信用代码", (Organization.uscc,)),
        Column("kind", "类型", (Organization.kind,)),
        Column("parent", "主管部门", (Parent.name,), joins=("parent",)),
    ),
    search=(Organization.name, Organization.uscc), search_hint="单位名称或统一社会信用代码",
    filters=(
        Filter("kind", "类型", labelled(list(OrgKind)), lambda v: Organization.kind == v),
        Filter("parent", "主管部门", recommending_bodies,
               lambda v: Organization.parent_id == int(v)),
    ),
    default_sort="name", default_desc=False,
    load=(selectinload(Organization.parent),),
    export=(
        Field("单位名称", lambda o: o.name, width=32),
        Field("统一社会信用代码", lambda o: o.uscc, width=22),
        Field("类型", lambda o: o.kind.label, width=10),
        Field("主管部门", lambda o: o.parent.name if o.parent else "", width=28),
    ),
)
