"""The objections raised in public notice (公示异议), as ``workflow.web.listing`` shows and
exports them: for those who read what is decided on a review, never the team."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import joinedload

from states import ObjectionState
from workflow.applying.models import Application
from workflow.calls.lists import visible_calls
from workflow.calls.models import Call
from workflow.core.listing import Column, Field, Filter, ListSpec, in_order, labelled
from workflow.decisions.models import Objection
from workflow.permissions import decision_reader

Obj = Objection


def visible_objections(user: Any) -> sa.Select[Any]:
    query = sa.select(Obj)
    return query if decision_reader(user) else query.where(sa.false())


OBJECTIONS = ListSpec(
    name="objections", title="公示异议", model=Obj, visible=visible_objections,
    joins={"app": lambda q: q.join(Application, Application.id == Obj.application_id),
           "call": lambda q: q.join(Call, Call.id == Application.call_id)},
    columns=(
        Column("received", "收到时间", (Obj.received_at,), desc_first=True),
        Column("project", "项目", (Application.title,), joins=("app",)),
        Column("name", "异议人", (Obj.name,)),
        Column("text", "异议内容"),
        Column("state", "状态", (in_order(Obj.state, list(ObjectionState)),)),
        Column("resolution", "处理意见"),
    ),
    search=(Application.title, Application.project_number, Application.receipt_no, Obj.name,
            Obj.organization, Obj.text),
    search_joins=("app",),
    search_hint="项目、异议人或异议内容",
    filters=(
        Filter("state", "状态", labelled(list(ObjectionState)),
               lambda v: Obj.state == v),
        Filter("call", "指南", visible_calls, lambda v: Application.call_id == int(v),
               joins=("app",)),
    ),
    default_sort="received",
    load=(joinedload(Obj.application),),
    export=(
        Field("收到时间", lambda o: o.received_at, "datetime", width=18),
        Field("项目编号", lambda o: o.application.project_number or o.application.receipt_no
              or "", width=22),
        Field("项目名称", lambda o: o.application.title, width=36),
        Field("指南", lambda o: o.application.call.title, width=36),
        Field("异议人", lambda o: o.name or "（匿名）", width=12),
        Field("异议人单位", lambda o: o.organization, width=24),
        Field("联系方式", lambda o: o.contact, width=18),
        Field("异议内容", lambda o: o.text, width=60),
        Field("状态", lambda o: o.state.label, width=16),
        Field("处理意见", lambda o: o.resolution, width=40),
        Field("处理时间", lambda o: o.resolved_at, "datetime", width=18),
    ),
)


# ---- the public notice (立项公示, no login) --------------------------------------------------

def on_notice(_user: Any) -> sa.Select[Any]:
    """Every project on public notice now (objections under investigation included):
    public, whoever asks."""
    from workflow.decisions.notices import IN_NOTICE

    return sa.select(Application).where(Application.state.in_(IN_NOTICE))


def _notice_period(app: Application) -> str:
    days = app.notice_days
    return f"{days[0].isoformat()} 至 {days[1].isoformat()}" if days else ""


PUBLIC_NOTICES = ListSpec(
    name="notices", title="立项公示", model=Application, visible=on_notice,
    columns=(
        # By call (the page groups the rows of each call), then in the order listed.
        Column("call", "指南", (Application.call_id,)),
        Column("title", "项目名称", (Application.title,)),
    ),
    search=(Application.title,), search_hint="项目名称",
    default_sort="call", default_desc=False, per_page=50,
    load=(joinedload(Application.organization), joinedload(Application.applicant),
          joinedload(Application.challenge)),
    export=(
        Field("指南", lambda a: a.call.title, width=36),
        Field("项目名称", lambda a: a.title, width=40),
        Field("承担单位", lambda a: a.organization.name, width=28),
        Field("项目负责人", lambda a: a.applicant.name, width=12),
        Field("资助金额（万元）", lambda a: a.granted_amount, "wan"),
        Field("公示期", _notice_period, width=26),
    ),
)
