"""``/api/v1/calls``: the calls and their challenges."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Response, jsonify, request
from sqlalchemy.orm import selectinload

from forms import format_wan
from states import STEPS, CallState
from workflow.accounts.tokens import current_api_user, token_required
from workflow.api import api_bp, if_match, json_body, multipart_fields, page_schema
from workflow.api.openapi import UPLOAD_MEDIA, WAN, XLSX, document, enum, obj
from workflow.calls import operations as calls
from workflow.calls.lists import CALLS
from workflow.calls.models import AggregationRule, Call, Challenge, Scheme
from workflow.core import files
from workflow.core.entities import can_view
from workflow.core.errors import Invalid, NotFound
from workflow.core.models import Attachment, db
from workflow.permissions import allow, call_keeper
from workflow.web.listing import api_page, api_params


def challenge_json(ch: Challenge) -> dict[str, Any]:
    return {
        "id": ch.id, "title": ch.title, "description": ch.description,
        "demand_org": {"id": ch.demand_org.id, "name": ch.demand_org.name},
        "indicators": ch.indicators, "ceiling_wan": format_wan(ch.ceiling),
        "duration_months": ch.duration_months, "milestone_template": ch.milestone_template,
        "max_teams": ch.max_teams,
    }


def guide_file_json(call_id: int, a: Attachment) -> dict[str, Any]:
    return {"id": a.id, "filename": a.filename, "size": a.size, "kind": a.kind,
            "sha256": a.sha256, "uploaded_at": a.uploaded_at.isoformat(),
            "url": f"/api/v1/calls/{call_id}/attachments/{a.id}"}


GUIDE_FILE_SCHEMA: dict[str, Any] = {"type": "object", "properties": {
    "id": {"type": "integer"}, "filename": {"type": "string"}, "size": {"type": "integer"},
    "kind": {"type": "string", "enum": ["pdf", "docx", "xlsx", "jpg", "png"]},
    "sha256": {"type": "string"}, "uploaded_at": {"type": "string", "format": "date-time"},
    "url": {"type": "string", "description": "下载地址"}},
    "required": ["id", "filename", "size", "kind", "sha256", "uploaded_at", "url"]}


def call_json(call: Call, guide_files: list[Attachment] | None = None) -> dict[str, Any]:
    """The call; ``guide_files`` its guide documents when already read (a list of calls
    reads them at once), else they are read here."""
    if guide_files is None:
        guide_files = calls.guide_attachments(call)
    return {
        "id": call.id, "scheme": call.scheme.value, "scheme_label": call.scheme.label,
        "year": call.year, "title": call.title, "guide": call.guide,
        "state": call.state.value, "state_label": call.state.label, "version": call.version,
        # (a draft may not have its dates yet)
        "opens_at": call.opens_at.isoformat() if call.opens_at else None,
        "closes_at": call.closes_at.isoformat() if call.closes_at else None,
        "budget_wan": format_wan(call.budget), "form_version": call.form_version,
        "form_schema": call.form_schema, "rubric": call.rubric,
        "reviewers_per_application": call.reviewers_per_application,
        "aggregation": call.aggregation.value, "steps": call.steps,
        "tranche_plan": call.tranche_plan, "notice_days": call.notice_days,
        "notice_working_days": call.notice_working_days,
        "collective_threshold_wan": format_wan(call.collective_threshold),
        "max_running_projects": call.max_running_projects, "checklist": call.checklist,
        "checklist_required": call.checklist_required or [],
        "challenges": [challenge_json(c) for c in call.challenges],
        "attachments": [guide_file_json(call.id, a) for a in guide_files],
    }


CALL_BODY: dict[str, Any] = {
    "title": "string", "guide": "string",
    "scheme": {"type": "string", "enum": ["baogan", "jiebang"]},
    "year": "integer", "opens_at": {"type": "string", "description": "北京时间"},
    "closes_at": {"type": "string", "description": "北京时间"},
    "budget": {"type": "string", "description": "万元"},
    "reviewers_per_application": "integer",
    "aggregation": {"type": "string", "enum": ["trimmed", "mean", "median"]},
    "steps": {"type": "array", "items": enum(STEPS, "、".join(
        f"{k}（{v}）" for k, v in STEPS.items()))},
    "notice_days": "integer", "notice_working_days": "boolean",
    "collective_threshold": {"type": "string", "nullable": True,
                             "description": "集体决策（三重一大）金额线（万元）；null 为不设"},
    "max_running_projects": "integer", "rubric": "array", "tranche_plan": "array",
    "checklist": {"type": "array", "description": "形式审查要点：文字，或 {label, required}；"
                  "required 为 true 的要点必须勾选才能通过形式审查（必须勾选）",
                  "items": {"oneOf": [
                      {"type": "string"},
                      {"type": "object", "properties": {"label": {"type": "string"},
                                                        "required": {"type": "boolean"}},
                       "required": ["label"], "additionalProperties": False}]}},
    "hide_applicant": "boolean", "form_schema": "array",
    "concluded_rule": {"type": "string", "enum": ["withhold", "pay"],
                       "description": "结题验收结论为“结题”时尾款：withhold 不再拨付（默认）、"
                                      "pay 照常拨付"},
    "tolerate_failure": {"type": "boolean",
                         "description": "宽容失败（默认是）：验收不通过但勤勉尽责的项目不追回经费、"
                                        "不记失信"},
}
COPY_BODY: dict[str, Any] = {
    "title": {"type": "string", "description": "默认为原指南名称，年份换为今年"},
    "year": {"type": "integer", "description": "默认为今年"},
    "opens_at": {"type": "string", "description": "北京时间；默认不设，发布前须填写"},
    "closes_at": {"type": "string", "description": "北京时间；默认不设，发布前须填写"},
}
# An exported call: what GET .../export gives and POST /calls/import takes.
EXPORT_SCHEMA: dict[str, Any] = obj({
    "format": {"type": "string", "enum": [calls.EXPORT_FORMAT]},
    "version": {"type": "integer", "enum": [calls.EXPORT_VERSION]},
    "exported_at": {"type": "string", "format": "date-time"},
    "exported_from": obj({"title": "string", "year": "integer"}),
    "call": obj({k: v for k, v in CALL_BODY.items() if k not in ("opens_at", "closes_at")},
                closed=True),
}, required=("format", "version", "call"))
CHALLENGE_BODY: dict[str, Any] = {
    "title": "string", "description": "string", "demand_org_uscc": "string",
    "ceiling": {"type": "string", "description": "榜额（万元）"},
    "duration_months": "integer", "max_teams": "integer",
    "indicators": {"type": "array", "items": {"type": "object", "properties": {
        "name": {"type": "string"}, "target": {"type": "string"}}}},
    "milestone_template": "array",
}


def _visible_call(call_id: int) -> Call:
    call = db.session.get(Call, call_id)
    if call is None or not can_view(current_api_user(), call):
        raise NotFound("申报指南不存在")
    return call


CHALLENGE_SCHEMA: dict[str, Any] = {"type": "object", "properties": {
    "id": {"type": "integer"}, "title": {"type": "string"}, "description": {"type": "string"},
    "demand_org": {"type": "object", "properties": {
        "id": {"type": "integer"}, "name": {"type": "string"}}},
    "indicators": {"type": "array", "items": {"type": "object"}}, "ceiling_wan": WAN,
    "duration_months": {"type": "integer", "nullable": True},
    "milestone_template": {"type": "array", "nullable": True, "items": {"type": "object"}},
    "max_teams": {"type": "integer", "nullable": True}},
    "required": ["id", "title", "description", "demand_org", "indicators", "ceiling_wan",
                 "duration_months", "milestone_template", "max_teams"]}
CALL_SCHEMA: dict[str, Any] = {"type": "object", "properties": {
    "id": {"type": "integer"}, "scheme": enum(Scheme, "baogan（包干制）或 jiebang（揭榜挂帅）"),
    "scheme_label": {"type": "string"}, "year": {"type": "integer"},
    "title": {"type": "string"}, "guide": {"type": "string"},
    "state": {"type": "string", "enum": [s.value for s in CallState]},
    "state_label": {"type": "string"}, "version": {"type": "integer"},
    "opens_at": {"type": "string", "format": "date-time", "nullable": True},
    "closes_at": {"type": "string", "format": "date-time", "nullable": True},
    "budget_wan": {**WAN, "description": "总预算（万元）"},
    "form_version": {"type": "integer"},
    "form_schema": {"type": "array", "items": {"type": "object"},
                    "description": "申报书表单定义（逐个字段）"},
    "rubric": {"type": "array", "items": {"type": "object"}, "description": "评分细则"},
    "reviewers_per_application": {"type": "integer"},
    "aggregation": enum(AggregationRule, "评分汇总规则"),
    "steps": {"type": "array", "items": enum(STEPS, "启用的可选环节")},
    "tranche_plan": {"type": "array", "items": {"type": "object"}},
    "notice_days": {"type": "integer"}, "notice_working_days": {"type": "boolean"},
    "collective_threshold_wan": {"type": "string", "pattern": r"^(-?\d+\.\d{2})?$",
                                 "description": "集体决策（三重一大）金额线（万元）；"
                                                "未设为空字符串"},
    "max_running_projects": {"type": "integer", "nullable": True},
    "checklist": {"type": "array", "items": {"type": "string"}},
    "checklist_required": {"type": "array", "items": {"type": "string"}},
    "challenges": {"type": "array", "items": CHALLENGE_SCHEMA},
    "attachments": {"type": "array", "items": GUIDE_FILE_SCHEMA}},
    "required": ["id", "scheme", "scheme_label", "year", "title", "guide", "state",
                 "state_label", "version", "opens_at", "closes_at", "budget_wan",
                 "form_version", "form_schema", "rubric", "reviewers_per_application",
                 "aggregation", "steps", "tranche_plan", "notice_days", "notice_working_days",
                 "collective_threshold_wan", "max_running_projects", "checklist",
                 "checklist_required", "challenges", "attachments"]}


@api_bp.get("/v1/calls")
@document("申报指南列表：与指南列表页相同的搜索、筛选、排序和 Excel 导出",
          params=api_params(CALLS), media=XLSX, response=page_schema(CALL_SCHEMA),
          responses={200: "列表；export=xlsx 时为 Excel 文件", 422: "参数有误"})
@token_required
def list_calls() -> Response:
    def items(rows: list[Call]) -> list[dict[str, Any]]:
        ids = [c.id for c in rows]
        if ids:  # the page's challenges (with their demand side) at once, not per call
            db.session.scalars(sa.select(Call).where(Call.id.in_(ids))
                               .options(selectinload(Call.challenges))).all()
        guide_files = calls.guide_attachments_of(ids)
        return [call_json(c, guide_files.get(c.id, [])) for c in rows]

    return api_page(CALLS, current_api_user(), items)


@api_bp.post("/v1/calls")
@document("新建申报指南（项目主管）", body=CALL_BODY, required=calls.REQUIRED,
          response=CALL_SCHEMA,
          responses={201: "已创建", 403: "不是项目主管", 422: "字段有误"})
@token_required
def create_call() -> tuple[Response, int]:
    call = calls.create_call(current_api_user(), json_body(CALL_BODY))
    return jsonify(call_json(call)), 201


@api_bp.get("/v1/calls/<int:call_id>")
@document("申报指南详情（含指南附件 attachments）", response=CALL_SCHEMA,
          responses={200: "详情", 404: "不存在或无权查看"})
@token_required
def get_call(call_id: int) -> Response:
    return jsonify(call_json(_visible_call(call_id)))


@api_bp.patch("/v1/calls/<int:call_id>")
@document("修改申报指南（项目主管）；未给出的字段不变；If-Match 给出版本号时，版本不符即 409",
          body=CALL_BODY, response=CALL_SCHEMA,
          responses={200: "已修改", 403: "不是项目主管", 409: "状态或版本不符", 422: "字段有误"})
@token_required
def update_call(call_id: int) -> Response:
    call = _visible_call(call_id)
    calls.update_call(current_api_user(), call, json_body(CALL_BODY), if_match())
    return jsonify(call_json(call))


@api_bp.post("/v1/calls/<int:call_id>/challenges")
@document("发布榜单（揭榜挂帅）", body=CHALLENGE_BODY,
          required=("title", "demand_org_uscc", "indicators", "ceiling"),
          response=CHALLENGE_SCHEMA,
          responses={201: "已创建", 403: "不是项目主管", 409: "不是揭榜挂帅批次或指南已发布",
                     422: "字段有误"})
@token_required
def add_challenge(call_id: int) -> tuple[Response, int]:
    call = _visible_call(call_id)
    challenge = calls.add_challenge(current_api_user(), call, json_body(CHALLENGE_BODY))
    return jsonify(challenge_json(challenge)), 201


@api_bp.post("/v1/calls/<int:call_id>/attachments")
@document("上传指南附件（项目主管；multipart：file，PDF、DOCX、XLSX、JPG、PNG，按内容检查）",
          multipart={"file": "binary"}, required=("file",), response=GUIDE_FILE_SCHEMA,
          responses={201: "已上传", 403: "不是项目主管", 404: "不存在或无权查看",
                     409: "指南已截止，不能再上传附件", 413: "文件过大",
                     415: "类型不支持或内容与扩展名不符",
                     422: "未选择文件、文件为空、文件名含路径或字段不接受"})
@token_required
def upload_guide_file(call_id: int) -> tuple[Response, int]:
    call = _visible_call(call_id)
    allow(call_keeper(current_api_user()), "只有项目主管可以上传指南附件")
    multipart_fields(("file",))
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise Invalid("请选择要上传的文件", details={"file": "必填"})
    row = calls.attach_guide(current_api_user(), call, upload.filename, upload.stream)
    return jsonify(guide_file_json(call.id, row)), 201


@api_bp.get("/v1/calls/<int:call_id>/attachments/<int:att_id>")
@document("下载指南附件（能查看该指南的人）", media=UPLOAD_MEDIA,
          responses={200: "文件", 404: "不存在或无权查看"})
@token_required
def download_guide_file(call_id: int, att_id: int) -> Response:
    row = calls.guide_attachment(_visible_call(call_id), att_id)
    if row is None:
        raise NotFound("指南附件不存在")
    return files.send_attachment(row)


@api_bp.post("/v1/calls/<int:call_id>/copy")
@document("复制指南为新草稿（复制上年指南；项目主管）：除申报时间、状态和文号外全部复制，"
          "年度默认为今年", body=COPY_BODY, body_optional=True, response=CALL_SCHEMA,
          responses={201: "已创建草稿", 403: "不是项目主管", 404: "不存在", 422: "字段有误"})
@token_required
def copy_call(call_id: int) -> tuple[Response, int]:
    call = _visible_call(call_id)
    body = json_body(COPY_BODY) if request.content_length else {}
    copy = calls.copy_call(current_api_user(), call, body)
    return jsonify(call_json(copy)), 201


@api_bp.get("/v1/calls/<int:call_id>/export")
@document("导出指南文件（项目主管）：可由 POST /api/v1/calls/import 导入为新草稿",
          responses={200: "指南文件", 403: "不是项目主管", 404: "不存在"},
          response=EXPORT_SCHEMA)
@token_required
def export_call(call_id: int) -> Response:
    call = _visible_call(call_id)
    allow(call_keeper(current_api_user()), "只有项目主管可以导出申报指南")
    return jsonify(calls.export_call(call))


@api_bp.post("/v1/calls/import")
@document("导入指南文件为新草稿（项目主管）", body=EXPORT_SCHEMA["properties"],
          required=("format", "version", "call"), response=CALL_SCHEMA,
          responses={201: "已创建草稿", 403: "不是项目主管", 422: "文件内容有误"})
@token_required
def import_call() -> tuple[Response, int]:
    document_ = json_body(EXPORT_SCHEMA["properties"])
    call = calls.import_call(current_api_user(), document_)
    return jsonify(call_json(call)), 201
