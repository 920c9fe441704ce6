"""The list of calls (申报指南), as ``workflow.web.listing`` shows and exports it."""

from __future__ import annotations

from typing import Any

from states import CallState
from workflow.calls.models import Call, Scheme
from workflow.calls.visibility import calls_query
from workflow.core.listing import Column, Field, Filter, ListSpec, in_order, labelled
from workflow.core.models import db


def call_years(user: Any) -> list[tuple[str, str]]:
    """The years of the calls ``user`` sees, newest first."""
    years = db.session.scalars(calls_query(user).with_only_columns(Call.year).distinct()
                               .order_by(Call.year.desc()))
    return [(str(y), f"{y}年度") for y in years]


def year_filter(column: Any = Call.year, joins: tuple[str, ...] = ()) -> Filter:
    return Filter("year", "年度", call_years, lambda v: column == int(v), joins=joins)


def scheme_filter(column: Any = Call.scheme, joins: tuple[str, ...] = ()) -> Filter:
    return Filter("scheme", "资助方式", labelled(list(Scheme)),
                  lambda v: column == Scheme(v), joins=joins)


def visible_calls(user: Any) -> list[tuple[str, str]]:
    """The calls ``user`` sees, as a filter's choices (newest first)."""
    rows = db.session.execute(calls_query(user).with_only_columns(Call.id, Call.title)
                              .order_by(Call.closes_at.desc(), Call.id.desc()))
    return [(str(i), title) for i, title in rows]


CALLS = ListSpec(
    name="calls", title="申报指南", model=Call, visible=calls_query,
    columns=(
        Column("title", "名称", (Call.title,)),
        Column("scheme", "资助方式", (Call.scheme,)),
        Column("year", "年度", (Call.year,), desc_first=True),
        Column("closes", "申报时间", (Call.closes_at,), desc_first=True),
        Column("budget", "总预算（万元）", (Call.budget,), num=True, desc_first=True),
        Column("state", "状态", (in_order(Call.state, list(CallState)),)),
    ),
    search=(Call.title, Call.guide), search_hint="指南名称或正文",
    filters=(
        Filter("state", "状态", labelled(list(CallState)),
               lambda v: Call.state == v),
        scheme_filter(),
        year_filter(),
    ),
    default_sort="closes",
    export=(
        Field("指南名称", lambda c: c.title, width=40),
        Field("资助方式", lambda c: c.scheme.label, width=10),
        Field("年度", lambda c: c.year, "int", width=8),
        Field("开始时间", lambda c: c.opens_at, "datetime", width=18),
        Field("截止时间", lambda c: c.closes_at, "datetime", width=18),
        Field("总预算（万元）", lambda c: c.budget, "wan"),
        Field("状态", lambda c: c.state.label, width=10),
        Field("立项文件文号", lambda c: c.doc_number or "", width=22),
    ),
)
