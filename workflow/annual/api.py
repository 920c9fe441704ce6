"""``/api/v1/annual-reports``: the list (the same search, filters, sort, pages and Excel
export as the page), one report, its draft content, and opening a year's reports.
Transitions and the trail are the generic ``/api/v1/annual-reports/{id}/transitions`` and
``/history`` (``workflow.workbench.api``)."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request

from states import AnnualReportState
from workflow.accounts.tokens import current_api_user, token_required
from workflow.annual import operations as annual
from workflow.annual.lists import ANNUAL_REPORTS
from workflow.annual.models import SPENDING_CATEGORIES, AnnualReport
from workflow.annual.rules import can_view_report
from workflow.api import api_bp, if_match, json_body, page_schema
from workflow.api.openapi import DATE, DATE_TIME, WAN, XLSX, document, enum, items_of, nullable
from workflow.core.models import db
from workflow.permissions import allow, annual_report_opener, found
from workflow.web.listing import api_page, api_params

AMOUNT: dict[str, Any] = {"type": "string", "pattern": r"^\d{1,8}(\.\d{1,2})?$",
                          "description": "金额（万元），不小于0，最多两位小数"}
INDICATOR: dict[str, Any] = {"type": "object", "properties": {
    "indicator": {"type": "string", "maxLength": 500,
                  "description": "任务书考核指标或里程碑"},
    "status": {"type": "string", "maxLength": 2000, "description": "完成情况"}},
    "required": ["indicator", "status"]}
SPENDING: dict[str, Any] = {
    "type": "object",
    "description": "截至填报时的经费支出（万元），按类别；"
                   "合计不得超过项目已拨付经费（财务已拨付批次之和）",
    "properties": {k: {**AMOUNT, "description": f"{label}（万元）"}
                   for k, label in SPENDING_CATEGORIES.items()},
    "additionalProperties": False}
CONTENT_BODY: dict[str, Any] = {
    "progress": {"type": "string", "maxLength": annual.MAX_TEXT,
                 "description": f"年度进展（提交时不少于{annual.MIN_PROGRESS}字）"},
    "indicators": {"type": "array", "items": INDICATOR, "maxItems": annual.MAX_INDICATORS,
                   "description": "对照任务书考核指标、里程碑的完成情况（提交时至少一行）"},
    "outputs": {"type": "string", "maxLength": annual.MAX_TEXT,
                "description": "阶段性成果：论文、专利、标准、产品等"},
    "spending": SPENDING,
    "published_on": {**DATE, "nullable": True,
                     "description": "包干制：单位内部公开经费使用情况的日期（不晚于今天）"},
    "published_where": {"type": "string", "maxLength": 200,
                        "description": "包干制：单位内部公开的地点或方式"},
}
REPORT_SCHEMA: dict[str, Any] = {"type": "object", "properties": {
    "id": {"type": "integer"}, "application_id": {"type": "integer"},
    "project_number": nullable("string"), "project": {"type": "string"},
    "scheme": enum(["baogan", "jiebang"], "资助方式"), "year": {"type": "integer"},
    "state": enum(AnnualReportState), "state_label": {"type": "string"},
    "version": {"type": "integer"}, "due_on": DATE,
    "progress": {"type": "string"}, "indicators": {"type": "array", "items": INDICATOR},
    "outputs": {"type": "string"},
    "spending": {"type": "object", "description": "各类别支出（万元），未填为 null",
                 "properties": {k: nullable(AMOUNT) for k in SPENDING_CATEGORIES}},
    "spent_total_wan": WAN, "released_wan": {**WAN, "description": "项目已拨付经费（万元）"},
    "published_on": nullable(DATE), "published_where": {"type": "string"},
    "submitted_at": nullable(DATE_TIME), "endorsed_at": nullable(DATE_TIME),
    "accepted_at": nullable(DATE_TIME), "return_reason": {"type": "string"},
    "missing": {"type": "object", "additionalProperties": {"type": "string"},
                "description": "提交前尚缺的内容（字段到说明）；不可修改时为空"}},
    "required": ["id", "application_id", "project_number", "project", "scheme", "year",
                 "state", "state_label", "version", "due_on", "progress", "indicators",
                 "outputs", "spending", "spent_total_wan", "released_wan", "published_on",
                 "published_where", "submitted_at", "endorsed_at", "accepted_at",
                 "return_reason", "missing"]}
OPEN_BODY: dict[str, Any] = {
    "year": {"type": "integer", "minimum": 2000, "maximum": 2100, "description": "年度"},
    "due_on": {**DATE, "description": "截止日期（不给出：按设置的截止日，遇节假日顺延）"}}


@api_bp.get("/v1/annual-reports")
@document("年度报告（项目主管、领导、审计：全部；单位管理员：本单位项目的；项目负责人：自己项目的），"
          "与年度报告页相同的搜索、筛选（年度、状态、指南）、排序和导出",
          params=api_params(ANNUAL_REPORTS), media=XLSX, response=page_schema(REPORT_SCHEMA),
          responses={200: "列表；export=xlsx 时为 Excel 文件", 422: "参数有误"})
@token_required
def list_reports() -> Response:
    user = current_api_user()
    return api_page(ANNUAL_REPORTS, user, lambda rows: [annual.report_json(r) for r in rows])


def _report(report_id: int) -> AnnualReport:
    return found(db.session.get(AnnualReport, report_id), current_api_user(), can_view_report,
                 what="年度报告")


@api_bp.get("/v1/annual-reports/<int:report_id>")
@document("一份年度报告", response=REPORT_SCHEMA,
          responses={200: "年度报告", 404: "不存在或无权查看"})
@token_required
def get_report(report_id: int) -> Response:
    return jsonify(annual.report_json(_report(report_id)))


@api_bp.put("/v1/annual-reports/<int:report_id>")
@document("项目负责人保存年度报告的内容（草稿；提交用 transitions 的 submit）。格式每次都检查，"
          "是否填全在提交时检查；If-Match 给出版本号时，版本不符即 409",
          body=CONTENT_BODY, response=REPORT_SCHEMA,
          responses={200: "已保存", 403: "不是项目负责人", 404: "不存在或无权查看",
                     409: "已提交（不在待填报、退回或逾期状态）或版本不符",
                     422: "内容有误（逐项说明）"})
@token_required
def put_report(report_id: int) -> tuple[Response, int, dict[str, str]]:
    _report(report_id)
    # Every field's problem at once, types included (``parse_content``).
    body = json_body(CONTENT_BODY)
    report = annual.save_draft(current_api_user(), report_id, body, if_match(),
                               request.remote_addr)
    return jsonify(annual.report_json(report)), 200, {"ETag": f'"{report.version}"'}


@api_bp.post("/v1/annual-reports/open")
@document("项目主管开启某年度的年度报告：为每个在研项目（已签任务书、执行中、中期检查）"
          "各开一份，已有的不重复", body=OPEN_BODY, required=("year",),
          response=items_of(REPORT_SCHEMA),
          responses={200: "新开启的年度报告", 403: "不是项目主管", 422: "年度或截止日期有误"})
@token_required
def open_reports() -> Response:
    user = current_api_user()
    allow(annual_report_opener(user), "只有项目主管可以开启年度报告")
    body = json_body(OPEN_BODY)
    opened = annual.open_by_officer(user, body.get("year"), body.get("due_on"),
                                    request.remote_addr)
    return jsonify({"items": [annual.report_json(r) for r in opened]})
