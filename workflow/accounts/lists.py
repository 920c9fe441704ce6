"""The integrity list (科研失信名单), as ``workflow.web.listing`` shows and exports it."""

from __future__ import annotations

from datetime import date
from typing import Any

import sqlalchemy as sa

from workflow.accounts.models import Sanction
from workflow.core.listing import Column, Field, Filter, ListSpec
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
