"""The list of midterm checks (中期检查), as its page shows and exports it and the API
pages it: the bureau's staff see every check, a unit's research office its unit's, a
principal investigator their own, an expert those they sit on."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import joinedload, selectinload

from states import MidtermState
from workflow.accounts.models import Organization
from workflow.applying.models import Application
from workflow.calls.models import Call
from workflow.core.listing import Column, Field, Filter, ListSpec, in_order, labelled
from workflow.core.models import db
from workflow.midterm.models import OUTCOMES, MidtermReport, MidtermScore
from workflow.midterm.rules import visible_midterms

M = MidtermReport


def _calls(_user: Any) -> list[tuple[str, str]]:
    rows = db.session.execute(sa.select(Call.id, Call.title).where(Call.id.in_(
        sa.select(Application.call_id).join(M, M.application_id == Application.id)))
        .order_by(Call.id.desc()))
    return [(str(i), title) for i, title in rows]


MIDTERMS = ListSpec(
    name="midterms", title="中期检查", model=M, visible=visible_midterms,
    joins={"app": lambda q: q.join(Application, Application.id == M.application_id),
           "org": lambda q: q.join(Organization, Organization.id == Application.organization_id)},
    columns=(
        Column("project", "项目", (Application.project_number, M.seq), joins=("app",)),
        Column("org", "承担单位", (Organization.name,), joins=("app", "org")),
        Column("due_on", "提交期限", (M.due_on,)),
        Column("submitted", "提交时间", (M.submitted_at,), desc_first=True),
        Column("state", "状态", (in_order(M.state, list(MidtermState)),)),
        Column("decided", "结论时间", (M.decided_at,), desc_first=True),
    ),
    search=(Application.project_number, Application.title, Organization.name),
    search_joins=("app", "org"),
    search_hint="项目编号或名称、承担单位",
    filters=(
        Filter("state", "状态", labelled(list(MidtermState)), lambda v: M.state == v,
               tabs=True, group=M.state),
        Filter("call", "指南", _calls, lambda v: Application.call_id == int(v),
               joins=("app",)),
    ),
    default_sort="due_on", default_desc=False,
    # The panel (its seats and experts) too: the API lists it with each check.
    load=(joinedload(M.application).joinedload(Application.organization),
          joinedload(M.application).joinedload(Application.call),
          selectinload(M.scores).joinedload(MidtermScore.expert)),
    export=(
        Field("项目编号", lambda m: m.application.project_number or "", width=22),
        Field("项目名称", lambda m: m.application.title, width=36),
        Field("承担单位", lambda m: m.application.organization.name, width=28),
        Field("指南", lambda m: m.application.call.title, width=30),
        Field("提交期限", lambda m: m.due_on, "date", width=12),
        Field("整改期限", lambda m: m.rectify_due_on, "date", width=12),
        Field("状态", lambda m: m.state.label, width=16),
        Field("提交时间", lambda m: m.submitted_at, "datetime", width=18),
        Field("支出合计（万元）", lambda m: m.spent_total, "wan"),
        Field("结论", lambda m: OUTCOMES.get(m.outcome or "", ""), width=10),
        Field("结论意见", lambda m: m.opinion, width=30),
        Field("结论时间", lambda m: m.decided_at, "datetime", width=18),
    ),
)


# ---- an expert's panel seats (中期检查评议) ------------------------------------------------

S = MidtermScore
SCORED = sa.case((S.submitted_at.is_(None), "open"), else_="done")


def own_seats(user: Any) -> sa.Select[Any]:
    """The expert's seats on the panels of the checks' current rounds."""
    return sa.select(S).join(M, M.id == S.midterm_id).where(
        S.expert_id == user.id, S.round == M.round)


SEATS = ListSpec(
    name="midterm-queue", title="中期检查评议", model=S, visible=own_seats,
    joins={"app": lambda q: q.join(Application, Application.id == M.application_id)},
    columns=(
        Column("project", "项目", (Application.title,), joins=("app",)),
        Column("round", "轮次", (S.round,), num=True),
        # Those still to score first, each by the check's due date.
        Column("state", "状态", (S.submitted_at.is_not(None), M.due_on)),
        Column("score", "我的评分", (S.score,), num=True, desc_first=True),
    ),
    search=(Application.title, Application.project_number), search_joins=("app",),
    search_hint="项目名称或编号",
    filters=(Filter("scored", "评议", (("open", "未评"), ("done", "已评")),
                    lambda v: S.submitted_at.is_(None) if v == "open"
                    else S.submitted_at.is_not(None),
                    tabs=True, group=SCORED),),
    default_sort="state", default_desc=False,
    load=(joinedload(S.midterm).joinedload(M.application),),
    export=(
        Field("项目编号", lambda s: s.midterm.application.project_number or "", width=22),
        Field("项目名称", lambda s: s.midterm.application.title, width=36),
        Field("轮次", lambda s: s.round, "int", width=6),
        Field("检查状态", lambda s: s.midterm.state.label, width=16),
        Field("我的评分", lambda s: s.score if s.submitted_at else None, "number", width=10),
        Field("评议时间", lambda s: s.submitted_at, "datetime", width=18),
    ),
)
