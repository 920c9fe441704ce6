"""The list of evaluations (绩效评价): the bureau's staff see all, a unit's research office
its unit's projects', a principal investigator their own; as the page shows and exports it
and the API pages it."""

from __future__ import annotations

from sqlalchemy.orm import joinedload

from states import EvaluationState
from workflow.accounts.models import Organization, User
from workflow.applying.models import Application
from workflow.core.listing import Column, Field, Filter, ListSpec, in_order, labelled
from workflow.evaluation.models import CLOSURES, GRADE_LABELS, Evaluation, Grade
from workflow.evaluation.rules import visible_evaluations

E = Evaluation

EVALUATIONS = ListSpec(
    name="evaluations", title="绩效评价", model=E, visible=visible_evaluations,
    joins={"app": lambda q: q.join(Application, Application.id == E.application_id),
           "org": lambda q: q.join(Organization, Organization.id == Application.organization_id),
           "pi": lambda q: q.join(User, User.id == Application.applicant_id)},
    columns=(
        Column("closed", "结束日期", (E.closed_on,), desc_first=True),
        Column("project", "项目", (Application.project_number, Application.title),
               joins=("app",)),
        Column("organization", "承担单位", (Organization.name,), joins=("app", "org")),
        Column("total", "总分", (E.total,), desc_first=True),
        Column("grade", "等级", (in_order(E.grade, list(Grade)),)),
        Column("state", "状态", (in_order(E.state, list(EvaluationState)),)),
    ),
    search=(Application.project_number, Application.title, Organization.name, User.name),
    search_joins=("app", "org", "pi"),
    search_hint="项目编号或名称、承担单位、项目负责人",
    filters=(
        Filter("state", "状态", labelled(list(EvaluationState)), lambda v: E.state == v,
               tabs=True, group=E.state),
        Filter("grade", "等级", list(GRADE_LABELS.items()), lambda v: E.grade == Grade(v)),
        Filter("closure", "结束方式", list(CLOSURES.items()), lambda v: E.closure == v),
    ),
    default_sort="closed",
    load=(joinedload(E.application).joinedload(Application.organization),
          joinedload(E.application).joinedload(Application.applicant)),
    export=(
        Field("项目编号", lambda e: e.application.project_number or "", width=22),
        Field("项目名称", lambda e: e.application.title, width=36),
        Field("承担单位", lambda e: e.application.organization.name, width=28),
        Field("项目负责人", lambda e: e.application.applicant.name, width=12),
        Field("结束方式", lambda e: CLOSURES.get(e.closure, e.closure), width=12),
        Field("结束日期", lambda e: e.closed_on, "date", width=12),
        Field("目标完成", lambda e: e.scores.get("indicators"), "int", width=10),
        Field("成果产出", lambda e: e.scores.get("outputs"), "int", width=10),
        Field("经费使用", lambda e: e.scores.get("spending"), "int", width=10),
        Field("按期完成", lambda e: e.scores.get("timeliness"), "int", width=10),
        Field("总分", lambda e: e.total, "int", width=8),
        Field("等级", lambda e: e.grade.label, width=8),
        Field("系统建议", lambda e: f"{e.proposed_total}分 {e.proposed_grade.label}", width=14),
        Field("调整理由", lambda e: e.adjust_reason, width=30),
        Field("状态", lambda e: e.state.label, width=14),
        Field("确认人", lambda e: e.confirmed_by or "", width=12),
        Field("确认时间", lambda e: e.confirmed_at, "datetime", width=18),
    ),
)
