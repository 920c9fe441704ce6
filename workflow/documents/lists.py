"""The office's register of 发文字号 (发文登记): the documents waiting for a number (待编号)
and those numbered, as ``workflow.web.listing`` shows and exports them, for the keeper
of the numbers only."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from workflow.core.listing import Column, Field, Filter, ListSpec
from workflow.core.models import IssuedNumber
from workflow.core.numbering import AWAITING, KINDS, NUMBERED, STATES
from workflow.permissions import number_keeper

N = IssuedNumber
STATE = sa.case((N.number.is_(None), AWAITING), else_=NUMBERED)


def visible_register(user: Any) -> sa.Select[Any]:
    query = sa.select(N)
    return query if number_keeper(user) else query.where(sa.false())


def state_of(row: IssuedNumber) -> str:
    return STATES[AWAITING if row.number is None else NUMBERED]


REGISTER = ListSpec(
    name="doc-numbers", title="发文登记", model=N, visible=visible_register,
    columns=(
        Column("due", "应发时间", (N.due_at,), desc_first=True),
        Column("kind", "文种", (N.kind,)),
        Column("subject", "文件", (N.subject,)),
        Column("number", "发文字号", (N.prefix, N.seq, N.number)),
        Column("numbered", "编号时间", (N.numbered_at,), desc_first=True),
    ),
    search=(N.subject, N.number),
    search_hint="文件标题或发文字号",
    filters=(
        Filter("state", "状态", list(STATES.items()),
               lambda v: N.number.is_(None) if v == AWAITING else N.number.is_not(None),
               tabs=True, group=STATE, default=AWAITING),
        Filter("kind", "文种", list(KINDS.items()), lambda v: N.kind == v),
    ),
    default_sort="due", default_desc=False,
    export=(
        Field("应发时间", lambda r: r.due_at, "datetime", width=18),
        Field("文种", lambda r: KINDS.get(r.kind, r.kind), width=12),
        Field("文件", lambda r: r.subject, width=50),
        Field("发文字号", lambda r: r.number or "", width=24),
        Field("编号方式", lambda r: r.mode.label, width=16),
        Field("编号时间", lambda r: r.numbered_at, "datetime", width=18),
        Field("状态", state_of, width=10),
    ),
)
