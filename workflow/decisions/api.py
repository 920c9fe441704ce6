"""``/api/v1``: the funded list of a call (立项决策), public notice and its objections."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request

from forms import format_wan, parse_id
from states import ApplicationState, DecisionState
from workflow.accounts.tokens import current_api_user, token_required
from workflow.api import (
    api_bp,
    json_body,
    multipart_fields,
    no_body,
    page_schema,
    refuse_unknown,
    typed_body,
)
from workflow.api.openapi import (
    DATE,
    DATE_TIME,
    WAN,
    XLSX,
    document,
    enum,
    nullable,
    obj,
)
from workflow.applying.models import Application
from workflow.calls.models import Call
from workflow.core.entities import can_view
from workflow.core.errors import Invalid
from workflow.core.models import db
from workflow.decisions import notices
from workflow.decisions import operations as decisions
from workflow.decisions.lists import PUBLIC_NOTICES
from workflow.decisions.models import FundingDecision
from workflow.permissions import allow, decision_reader, found
from workflow.web.listing import api_page, api_params


def decision_json(d: FundingDecision) -> dict[str, Any]:
    return {
        "id": d.id, "call_id": d.call_id, "state": d.state.value, "state_label": d.state.label,
        "version": d.version,
        "total_wan": format_wan(d.total), "comment": d.comment,
        "proposed_by": d.proposed_by.name, "proposed_at": d.proposed_at.isoformat(),
        "decided_by": d.decided_by.name if d.decided_by else None,
        "decided_at": d.decided_at.isoformat() if d.decided_at else None,
        "decision_comment": d.decision_comment,
        "meeting": {"name": d.meeting_name, "date": d.meeting_date.isoformat()
                    if d.meeting_date else None, "attendees": d.meeting_attendees,
                    "minutes_ref": d.minutes_ref,
                    "minutes_attached": d.minutes_attachment_id is not None},
        "items": [{"position": i.position, "application_id": i.application_id,
                   "title": i.application.title, "amount_wan": format_wan(i.amount),
                   "state": i.application.state.value} for i in d.items],
    }


ITEM_FIELDS: dict[str, Any] = {"application_id": "integer",
                               "amount_wan": {"type": "string", "description": "万元"}}
PROPOSAL_BODY: dict[str, Any] = {
    "items": {"type": "array", "items": obj(ITEM_FIELDS, ITEM_FIELDS, closed=True)},
    "comment": "string",
    "meeting": obj(dict.fromkeys(decisions.MEETING_FIELDS, "string"), closed=True),
}
COMMENT_BODY = {"comment": "string"}
DECISION_SCHEMA: dict[str, Any] = {"type": "object", "properties": {
    "id": {"type": "integer"}, "call_id": {"type": "integer"}, "state": enum(DecisionState),
    "state_label": {"type": "string"}, "version": {"type": "integer"}, "total_wan": WAN,
    "comment": {"type": "string"}, "proposed_by": {"type": "string"},
    "proposed_at": DATE_TIME, "decided_by": nullable("string"),
    "decided_at": nullable(DATE_TIME), "decision_comment": {"type": "string"},
    "meeting": {"type": "object", "description": "“三重一大”集体决策会议", "properties": {
        "name": nullable("string"), "date": nullable(DATE),
        "attendees": nullable("string"), "minutes_ref": nullable("string"),
        "minutes_attached": {"type": "boolean"}},
        "required": ["name", "date", "attendees", "minutes_ref", "minutes_attached"]},
    "items": {"type": "array", "items": {"type": "object", "properties": {
        "position": {"type": "integer"}, "application_id": {"type": "integer"},
        "title": {"type": "string"}, "amount_wan": WAN, "state": enum(ApplicationState)},
        "required": ["position", "application_id", "title", "amount_wan", "state"]}}},
    "required": ["id", "call_id", "state", "state_label", "version", "total_wan", "comment",
                 "proposed_by", "proposed_at", "decided_by", "decided_at",
                 "decision_comment", "meeting", "items"]}
DECISIONS_SCHEMA: dict[str, Any] = {"type": "object", "properties": {
    "call_id": {"type": "integer"},
    "needs_meeting": {"type": "boolean", "description": "待审定名单须先登记集体决策会议"},
    "pending": nullable(DECISION_SCHEMA, description="待审定的名单"),
    "approved": nullable(DECISION_SCHEMA, description="已审定的名单"),
    "history": {"type": "array", "items": DECISION_SCHEMA, "description": "历次名单"}},
    "required": ["call_id", "needs_meeting", "pending", "approved", "history"]}
MEETING_FORM: dict[str, Any] = {
    **{k: {"type": "string", "description": v} for k, v in decisions.MEETING_FIELDS.items()},
    "minutes": {"type": "string", "format": "binary", "description": "会议纪要文件（选填）"}}


def _call(call_id: int) -> Call:
    """A call whose decision the caller reads: the call seen, its decision refused to
    all but the decision readers."""
    call = found(db.session.get(Call, call_id), current_api_user(), can_view,
                 what="申报指南")
    allow(decision_reader(current_api_user()), "只有项目主管、领导和审计人员可以查看立项决策")
    return call


def _decision(decision_id: int) -> FundingDecision:
    return found(db.session.get(FundingDecision, decision_id), current_api_user(),
                 decision_reader, what="立项名单")


@api_bp.get("/v1/calls/<int:call_id>/decision")
@document("立项名单：待审定、已审定及历次记录", response=DECISIONS_SCHEMA,
          responses={200: "名单", 403: "不是项目主管、领导或审计人员", 404: "不存在或无权查看"})
@token_required
def get_decision(call_id: int) -> Response:
    call = _call(call_id)
    pending, approved = decisions.pending(call.id), decisions.approved(call.id)
    return jsonify({
        "call_id": call.id, "needs_meeting": bool(pending and decisions.needs_meeting(
            call, pending.total)),
        "pending": decision_json(pending) if pending else None,
        "approved": decision_json(approved) if approved else None,
        "history": [decision_json(d) for d in decisions.history(call.id)],
    })


@api_bp.post("/v1/calls/<int:call_id>/decision")
@document("拟定立项建议名单（项目主管）",
          body=PROPOSAL_BODY, required=("items",), response=DECISION_SCHEMA,
          responses={201: "已提交领导审定", 403: "不是项目主管", 409: "状态不符或评审未完成",
                      422: "名单有误（逐项说明）"})
@token_required
def propose(call_id: int) -> tuple[Response, int]:
    call = _call(call_id)
    body = json_body(PROPOSAL_BODY)
    items, meeting = body.get("items"), body.get("meeting") or {}
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise Invalid("items 应为对象数组",
                      details={"items": "应为 [{application_id, amount_wan}]"})
    if not isinstance(meeting, dict):
        raise Invalid("meeting 应为对象", details={"meeting": "应为对象"})
    for n, item in enumerate(items):
        refuse_unknown(item, ITEM_FIELDS, prefix=f"items[{n}].")
    refuse_unknown(meeting, decisions.MEETING_FIELDS, prefix="meeting.")
    comment = body.get("comment") or ""
    if not isinstance(comment, str):
        raise Invalid("comment 应为字符串", details={"comment": "应为字符串"})
    clean = [{"application_id": parse_id(i.get("application_id")),
              "amount_wan": str(i.get("amount_wan", ""))} for i in items]
    d = decisions.propose(call, current_api_user(), clean, comment,
                          {k: str(v) for k, v in meeting.items()}, request.remote_addr)
    return jsonify(decision_json(d)), 201


@api_bp.post("/v1/decisions/<int:decision_id>/meeting")
@document("登记“三重一大”集体决策会议（multipart：字段及 minutes 文件）",
          multipart=MEETING_FORM, response=DECISION_SCHEMA,
          responses={200: "已登记", 409: "名单不在待审定状态", 403: "不是项目主管或领导",
                     404: "不存在或无权查看",
                     413: "文件过大", 415: "文件类型不支持", 422: "会议记录不完整"})
@token_required
def meeting(decision_id: int) -> Response:
    row = _decision(decision_id)
    multipart_fields(MEETING_FORM)
    upload = request.files.get("minutes")
    minutes = (upload.filename or "", upload.stream) if upload and upload.filename else None
    fields = {k: request.form.get(k, "")[:3000] for k in decisions.MEETING_FIELDS}
    decisions.record_meeting(row, current_api_user(), fields, minutes, request.remote_addr)
    return jsonify(decision_json(row))


def _comment() -> str:
    comment = json_body(COMMENT_BODY).get("comment") or ""
    if not isinstance(comment, str):
        raise Invalid("comment 应为字符串", details={"comment": "应为字符串"})
    return comment[:2000]


@api_bp.post("/v1/decisions/<int:decision_id>/approve")
@document("领导审定立项名单", body=COMMENT_BODY,
          response=DECISION_SCHEMA,
          responses={200: "已审定", 403: "不是领导", 409: "名单已审定或已退回",
                     422: "须先登记集体决策会议"})
@token_required
def approve(decision_id: int) -> Response:
    row = _decision(decision_id)
    decisions.approve(row, current_api_user(), _comment(), request.remote_addr)
    return jsonify(decision_json(row))


@api_bp.post("/v1/decisions/<int:decision_id>/return")
@document("领导退回立项名单", body=COMMENT_BODY, required=COMMENT_BODY,
          response=DECISION_SCHEMA,
          responses={200: "已退回", 403: "不是领导", 409: "名单不在待审定状态",
                     422: "缺少退回理由"})
@token_required
def send_back(decision_id: int) -> Response:
    row = _decision(decision_id)
    decisions.send_back(row, current_api_user(), _comment(), request.remote_addr)
    return jsonify(decision_json(row))


@api_bp.post("/v1/calls/<int:call_id>/notices")
@document("发布立项公示（该指南全部拟立项项目）",
          response={"type": "object", "properties": {
              "done": {"type": "integer", "description": "已公示的项目数"},
              "refused": {"type": "array", "description": "未能公示的项目及原因",
                          "items": {"type": "object", "properties": {
                              "application_id": {"type": "integer"},
                              "message": {"type": "string"}},
                              "required": ["application_id", "message"]}}},
              "required": ["done", "refused"]},
          responses={200: "已公示的数量及未能公示的原因", 403: "不是项目主管",
                     404: "没有拟立项项目"})
@token_required
def open_notices(call_id: int) -> Response:
    call = _call(call_id)
    no_body()
    report = decisions.open_notices(call, current_api_user(), request.remote_addr)
    return jsonify({"done": report.done, "refused": [
        {"application_id": i, "message": m} for i, m in report.refused]})


NOTICE_SCHEMA: dict[str, Any] = {"type": "object", "properties": {
    "application_id": {"type": "integer"}, "call": {"type": "string"},
    "title": {"type": "string"}, "organization": {"type": "string"},
    "leader": {"type": "string", "description": "项目负责人"}, "amount_wan": WAN,
    "notice_started_at": nullable(DATE_TIME), "notice_ends_at": nullable(DATE_TIME),
    "under_objection": {"type": "boolean", "description": "有待核查的异议"}},
    "required": ["application_id", "call", "title", "organization", "leader", "amount_wan",
                 "notice_started_at", "notice_ends_at", "under_objection"]}


def notice_json(app: Application) -> dict[str, Any]:
    days = app.notice_days
    return {"application_id": app.id, "call": app.call.title, "title": app.title,
            "organization": app.organization.name, "leader": app.applicant.name,
            "amount_wan": format_wan(app.granted_amount),
            "notice_started_at": app.notice_started_at.isoformat()
            if app.notice_started_at else None,
            "notice_ends_at": app.notice_ends_at.isoformat() if app.notice_ends_at else None,
            # The period as published: its first and its last day (both included).
            "notice_first_day": days[0].isoformat() if days else None,
            "notice_last_day": days[1].isoformat() if days else None,
            "under_objection": app.state.value == "objection"}


@api_bp.get("/v1/notices")
@document("正在公示的项目（公开，无需登录），分页（按指南，含总数）"
          "，与公示页相同的搜索和 Excel 导出",
          auth=False, params=api_params(PUBLIC_NOTICES), media=XLSX,
          responses={200: "列表；export=xlsx 时为 Excel 文件", 422: "参数有误"},
          response=page_schema(NOTICE_SCHEMA))
def list_notices() -> Response:
    return api_page(PUBLIC_NOTICES, None, lambda rows: [notice_json(a) for a in rows])


OBJECTION_BODY: dict[str, Any] = {
    "name": {"type": "string", "description": "异议人真实姓名（不超过50字）"},
    "contact": {"type": "string",
                "description": "联系方式：手机、座机或电子邮箱（核查结果据此告知）"},
    "organization": {"type": "string", "description": "工作单位（选填，不超过200字）"},
    "text": {"type": "string",
             "description": f"异议的事实和理由（{notices.MIN_OBJECTION}至"
                            f"{notices.MAX_OBJECTION}字）"},
}
RECEIPT_SCHEMA: dict[str, Any] = {"type": "object", "properties": {
    "objection_id": {"type": "integer", "description": "异议编号（回执）"},
    "application_id": {"type": "integer"},
    "accepted": {"type": "boolean",
                 "description": "是否受理：实名（姓名和联系方式齐全）为 true；匿名异议记录在案，"
                                "不予受理，为 false"},
    "state": {"type": "string", "enum": ["open", "not_accepted"]},
    "state_label": {"type": "string"}, "message": {"type": "string"}},
    "required": ["objection_id", "application_id", "accepted", "state", "message"]}


@api_bp.post("/v1/notices/<int:app_id>/objections")
@document("对公示项目提出书面异议（公开，无需登录，与公示页面相同）：须实名（姓名和联系方式），"
          "写明事实和理由；匿名异议记录在案但不予受理（accepted 为 false）。"
          f"同一地址、同一联系方式（或匿名）每小时最多提交{notices.PER_SENDER_PER_HOUR}次；"
          f"同一地址每小时超过{notices.PER_ADDRESS_PER_HOUR}次后，每次须等待逐次加长的时间",
          body=OBJECTION_BODY, required=("text",), response=RECEIPT_SCHEMA, auth=False,
          responses={201: "已收到（accepted 说明是否受理）", 404: "该项目不在公示期内",
                     422: "异议内容有误（逐项说明）",
                     429: "提交过于频繁：message 说明需等待多久，Retry-After 给出秒数"})
def file_objection(app_id: int) -> tuple[Response, int]:
    notices.notice_entry(app_id)
    body = typed_body(OBJECTION_BODY)
    receipt = notices.submit_objection(app_id, body, request.remote_addr)
    row = receipt.objection
    message = (f"异议已受理（编号 {row.id}），将进行核查并通过所留联系方式告知处理结果"
               if receipt.accepted else f"异议已记录（编号 {row.id}）：{notices.ANONYMOUS}")
    return jsonify({"objection_id": row.id, "application_id": app_id,
                    "accepted": receipt.accepted, "state": row.state.value,
                    "state_label": row.state.label, "message": message}), 201
