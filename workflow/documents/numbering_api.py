"""``/api/v1/doc-numbering`` and ``/api/v1/doc-numbers``: the office's 发文字号, as the
pages under 系统设置 › 发文字号 keep them (the keeper of the numbers only): each kind's
numbering, the register (待编号 and 已编号), and entering the number of a document that
waits for one."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request

from workflow.accounts.tokens import current_api_user, token_required
from workflow.api import api_bp, page_schema, typed_body
from workflow.api.openapi import XLSX, document
from workflow.core import numbering
from workflow.core.models import IssuedNumber, NumberingMode
from workflow.documents import issuing
from workflow.documents.lists import REGISTER
from workflow.permissions import allow, number_keeper
from workflow.web.listing import api_page, api_params

REFUSED = "只有项目主管可以管理发文字号"
KIND_ENUM: dict[str, Any] = {
    "type": "string", "enum": list(numbering.KINDS),
    "description": "、".join(f"{k}（{v}）" for k, v in numbering.KINDS.items())}
MODE_ENUM: dict[str, Any] = {
    "type": "string", "enum": [m.value for m in NumberingMode],
    "description": "；".join(f"{m.value}：{m.label}" for m in NumberingMode)}
NUMBERING_SCHEMA: dict[str, Any] = {"type": "object", "properties": {
    "kind": KIND_ENUM,
    "label": {"type": "string", "description": "文种名称"},
    "mode": MODE_ENUM,
    "prefix": {"type": "string", "description": "字头，{year} 代表发文年份，如 赣市科字〔{year}〕"},
    "head": {"type": "string", "description": "今年的字头，如 赣市科字〔2026〕"},
    "last_number": {"type": "integer", "minimum": 0,
                    "description": "今年该字头已发的最大序号（含办公室录入的文号；0 为尚未发文）"},
    "next_number": {"type": "integer", "minimum": 1,
                    "description": "按流水号编号时今年的下一个序号"},
    "next_doc_number": {"type": "string", "description": "下一个文号，如 赣市科字〔2026〕16号"},
    "awaiting": {"type": "integer", "minimum": 0, "description": "待编号的文件数"},
    "updated_at": {"type": "string", "format": "date-time", "nullable": True,
                   "description": "上次修改时间（从未修改为 null，按默认设置编号）"}},
    "required": ["kind", "label", "mode", "prefix", "head", "last_number", "next_number",
                 "next_doc_number", "awaiting", "updated_at"]}
NUMBERINGS_SCHEMA: dict[str, Any] = {"type": "object", "properties": {
    "items": {"type": "array", "items": NUMBERING_SCHEMA}}, "required": ["items"]}
NUMBERING_BODY: dict[str, Any] = {
    "mode": MODE_ENUM,
    "prefix": {"type": "string", "maxLength": numbering.MAX_PREFIX,
               "description": "字头，须以“〔{year}〕”结尾（{year} 代表发文年份），"
                              "如 赣市科字〔{year}〕；不给则不变"},
    "next_number": {"type": "integer", "minimum": 1, "maximum": numbering.MAX_SEQ,
                    "description": "今年的下一个序号（接续办公室的发文登记）；须大于该字头今年"
                                   "已发的最大序号；字头相同的文种共用流水号；不给则不变"},
}
ENTRY_SCHEMA: dict[str, Any] = {"type": "object", "properties": {
    "id": {"type": "integer"},
    "kind": KIND_ENUM,
    "subject": {"type": "string", "description": "文件标题"},
    "state": {"type": "string", "enum": list(numbering.STATES),
              "description": "；".join(f"{k}：{v}" for k, v in numbering.STATES.items())},
    "mode": MODE_ENUM,
    "number": {"type": "string", "nullable": True, "description": "发文字号（待编号为 null）"},
    "due_at": {"type": "string", "format": "date-time", "description": "应发时间"},
    "numbered_at": {"type": "string", "format": "date-time", "nullable": True,
                    "description": "编号时间（即成文日期所据）"}},
    "required": ["id", "kind", "subject", "state", "mode", "number", "due_at",
                 "numbered_at"]}
NUMBER_BODY: dict[str, Any] = {
    "number": {"type": "string", "maxLength": 60,
               "description": "发文字号，如 赣市科字〔2026〕15号：一行，不超过40字，"
                              "含用六角括号括起的年份；同一文号只能使用一次"}}


def entry_json(row: IssuedNumber) -> dict[str, Any]:
    return {"id": row.id, "kind": row.kind, "subject": row.subject,
            "state": numbering.NUMBERED if row.number else numbering.AWAITING,
            "mode": row.mode.value, "number": row.number, "due_at": row.due_at.isoformat(),
            "numbered_at": row.numbered_at.isoformat() if row.numbered_at else None}


@api_bp.get("/v1/doc-numbering")
@document("各文种的发文字号编号方式（项目主管）：按流水号自动编号或办公室逐件录入，"
          "今年的字头和下一个号，待编号的文件数",
          response=NUMBERINGS_SCHEMA, responses={200: "各文种的编号方式", 403: "不是项目主管"})
@token_required
def numberings() -> Response:
    return jsonify({"items": [k.as_json() for k in issuing.overview(current_api_user())]})


@api_bp.put("/v1/doc-numbering/<kind>")
@document("设置一种公文（kind：approval_file 立项文件、notice 立项通知书、payment_notice "
          "拨付通知、change_approval 变更批复、acceptance_conclusion 验收结论书）"
          "的编号方式（项目主管）：mode、字头、"
          "今年的下一个号（接续办公室的发文登记）；"
          "下一个号不大于已发的文号时拒绝并说明；留有审计记录",
          body=NUMBERING_BODY, response=NUMBERING_SCHEMA,
          responses={200: "已保存", 403: "不是项目主管", 404: "没有这种公文",
                     422: "字段有误，或下一个号不大于已发的文号（说明已发至几号）"})
@token_required
def set_numbering(kind: str) -> Response:
    user = current_api_user()
    allow(number_keeper(user), REFUSED)
    numbering.setting(kind)
    body = typed_body(NUMBERING_BODY)
    done = issuing.configure(user, kind, body.get("mode"), body.get("prefix"),
                             body.get("next_number"), request.remote_addr)
    return jsonify(done.as_json())


@api_bp.get("/v1/doc-numbers")
@document("发文登记（项目主管）：应印发的公文及其发文字号，state=awaiting 为待编号；与页面"
          "相同的搜索、筛选、排序和 Excel 导出",
          params=api_params(REGISTER), media=XLSX, response=page_schema(ENTRY_SCHEMA),
          responses={200: "列表；export=xlsx 时为 Excel 文件", 403: "不是项目主管",
                     422: "参数有误"})
@token_required
def register() -> Response:
    user = current_api_user()
    allow(number_keeper(user), REFUSED)
    return api_page(REGISTER, user, lambda rows: [entry_json(r) for r in rows])


@api_bp.get("/v1/doc-numbers/<int:row_id>")
@document("发文登记中的一件文件（项目主管）", response=ENTRY_SCHEMA,
          responses={200: "该文件", 403: "不是项目主管", 404: "不存在"})
@token_required
def register_entry(row_id: int) -> Response:
    return jsonify(entry_json(issuing.register_row(current_api_user(), row_id)))


@api_bp.post("/v1/doc-numbers/<int:row_id>")
@document("录入待编号文件的发文字号（项目主管）：文件随即按此文号生成；立项文件编号后，"
          "其项目的立项通知书随之印发并引用该文号；留有审计记录",
          body=NUMBER_BODY, required=("number",), response=ENTRY_SCHEMA,
          responses={200: "已编号", 403: "不是项目主管", 404: "不存在",
                     409: "该文号已经使用，或该文件已编号", 422: "文号格式有误"})
@token_required
def enter_number(row_id: int) -> Response:
    user = current_api_user()
    issuing.register_row(user, row_id)
    body = typed_body(NUMBER_BODY)
    return jsonify(entry_json(issuing.enter_number(user, row_id, body.get("number"),
                                                   request.remote_addr)))
