"""The list of annual reports (officers, leaders, auditors: all; a unit's research office:
its unit's), as ``workflow.web.listing`` shows and exports it, and as the API pages it."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import joinedload

from states import AnnualReportState
from workflow.accounts.models import Organization
from workflow.annual.models import SPENDING_CATEGORIES, AnnualReport
from workflow.annual.operations import calls_with_reports, years_with_reports
from workflow.annual.rules import visible_reports
from workflow.applying.models import Application
from workflow.core.listing import Column, Field, Filter, ListSpec, labelled

AR = AnnualReportState
TABS = (AR.due, AR.submitted, AR.endorsed, AR.returned, AR.overdue, AR.accepted)

JOINS = {
    "app": lambda q: q.join(Application, Application.id == AnnualReport.application_id),
    "org": lambda q: q.join(Organization, Organization.id == Application.organization_id),
}


def _spent(category: str) -> Any:
    def value(r: AnnualReport) -> Any:
        raw = (r.spending or {}).get(category)
        return float(raw) if raw is not None else None

    return value


ANNUAL_REPORTS = ListSpec(
    name="annual-reports", title="年度报告", model=AnnualReport, visible=visible_reports,
    joins=JOINS,
    columns=(
        Column("project", "项目", (Application.project_number, AnnualReport.id), joins=("app",)),
        Column("org", "承担单位", (Organization.name,), joins=("app", "org")),
        Column("year", "年度", (AnnualReport.year,), num=True, desc_first=True),
        Column("due_on", "截止日期", (AnnualReport.due_on,)),
        Column("spent", "支出合计（万元）", (AnnualReport.spent_total,), num=True,
               desc_first=True),
        Column("state", "状态"),
    ),
    search=(Application.project_number, Application.title, Organization.name),
    search_joins=("app", "org"),
    search_hint="项目编号或名称、承担单位",
    filters=(
        Filter("state", "状态", labelled(TABS), lambda v: AnnualReport.state == v,
               tabs=True, group=AnnualReport.state),
        Filter("year", "年度", years_with_reports, lambda v: AnnualReport.year == int(v)),
        Filter("call", "指南", calls_with_reports, lambda v: Application.call_id == int(v),
               joins=("app",)),
    ),
    default_sort="due_on", default_desc=False,
    load=(joinedload(AnnualReport.application).joinedload(Application.organization),
          joinedload(AnnualReport.application).joinedload(Application.call)),
    export=(
        Field("项目编号", lambda r: r.application.project_number or "", width=22),
        Field("项目名称", lambda r: r.application.title, width=40),
        Field("承担单位", lambda r: r.application.organization.name, width=28),
        Field("指南", lambda r: r.application.call.title, width=36),
        Field("年度", lambda r: r.year, "int", width=8),
        Field("截止日期", lambda r: r.due_on, "date", width=12),
        Field("状态", lambda r: r.state.label, width=14),
        *(Field(f"{label}（万元）", _spent(key), "number", width=12)
          for key, label in SPENDING_CATEGORIES.items()),
        Field("支出合计（万元）", lambda r: r.spent_total, "wan"),
        Field("内部公开日期", lambda r: r.published_on, "date", width=12),
        Field("内部公开地点或方式", lambda r: r.published_where, width=24),
        Field("提交时间", lambda r: r.submitted_at, "datetime", width=18),
        Field("退回理由", lambda r: r.return_reason, width=30),
    ),
)
