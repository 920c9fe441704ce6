"""``/api/v1/experts``: the expert pool (专家库), kept by the programme officers — list and
search, add, edit, and the Excel import with its row-by-row report."""

from __future__ import annotations

import io
from typing import Any

from flask import Response, jsonify, request, send_file

from workflow.accounts.models import ExpertProfile
from workflow.accounts.tokens import current_api_user, token_required
from workflow.api import api_bp, page_schema, typed_body
from workflow.api.openapi import XLSX, document
from workflow.core.errors import Invalid
from workflow.permissions import allow, pool_keeper
from workflow.review import experts
from workflow.review import operations as reviews
from workflow.review.lists import POOL, loads_of
from workflow.web.listing import api_page, api_params

LIST_OR_TEXT: dict[str, Any] = {"oneOf": [
    {"type": "array", "items": {"type": "string"}}, {"type": "string"}],
    "description": "列表，或以逗号、顿号分隔的文字"}
PROFILE_FIELDS: dict[str, Any] = {
    "title": {"type": "string", "description": "职称"},
    "disciplines": {**LIST_OR_TEXT, "description": "学科代码，如 [\"TF\", \"S1\"]"},
    "keywords": LIST_OR_TEXT,
    "load_cap": {"type": "integer", "description": "最大评审数，0至500"},
    "available": {"type": "boolean", "description": "是否可被抽取或分配"},
}
CREATE_BODY: dict[str, Any] = {
    "username": "string", "name": "string",
    "id_number": {"type": "string", "description": "身份证号（校验位）"},
    "org_uscc": {"type": "string", "description": "所在单位的统一社会信用代码（须已登记）"},
    "email": "string", "phone": "string", **PROFILE_FIELDS,
}
EXPERT_SCHEMA: dict[str, Any] = {"type": "object", "properties": {
    "id": {"type": "integer", "description": "专家的用户 id"},
    "username": {"type": "string"}, "name": {"type": "string"},
    "organization": {"type": "object", "nullable": True, "properties": {
        "id": {"type": "integer"}, "name": {"type": "string"}}},
    "email": {"type": "string", "nullable": True}, "phone": {"type": "string", "nullable": True},
    "title": {"type": "string", "nullable": True},
    "disciplines": {"type": "array", "items": {"type": "string"}},
    "keywords": {"type": "array", "items": {"type": "string"}},
    "load_cap": {"type": "integer"},
    "load": {"type": "integer", "description": "待接受及评审中的任务数"},
    "available": {"type": "boolean"},
    "status": {"type": "string", "enum": ["available", "paused", "sanctioned"],
               "description": "可用、暂停或科研失信处理期内"}},
    "required": ["id", "username", "name", "organization", "email", "phone", "title",
                 "disciplines", "keywords", "load_cap", "load", "available", "status"]}
REPORT_SCHEMA: dict[str, Any] = {"type": "object", "properties": {
    "imported": {"type": "integer"}, "refused": {"type": "integer"},
    "rows": {"type": "array", "items": {"type": "object", "properties": {
        "row": {"type": "integer", "description": "Excel 行号（表头为第1行）"},
        "ok": {"type": "boolean"}, "message": {"type": "string"}},
        "required": ["row", "ok", "message"]}}},
    "required": ["imported", "refused", "rows"]}


def expert_json(p: ExpertProfile, loads: dict[int, int], sanctioned: set[str]
                ) -> dict[str, Any]:
    user = p.user
    status = ("sanctioned" if user.id_number and user.id_number in sanctioned
              else "available" if p.available else "paused")
    return {"id": user.id, "username": user.username, "name": user.name,
            "organization": {"id": user.organization.id, "name": user.organization.name}
            if user.organization else None,
            "email": user.email, "phone": user.phone, "title": p.title,
            "disciplines": list(p.disciplines), "keywords": list(p.keywords),
            "load_cap": p.load_cap, "load": loads.get(user.id, 0), "available": p.available,
            "status": status}


def _one(p: ExpertProfile) -> dict[str, Any]:
    return expert_json(p, reviews.loads(), experts.sanctioned_ids())


@api_bp.get("/v1/experts")
@document("专家库（项目主管）：与专家库页相同的搜索（姓名、单位、学科或关键词）、筛选、排序和"
          "Excel 导出", params=api_params(POOL), media=XLSX,
          responses={200: "列表；export=xlsx 时为 Excel 文件", 403: "不是项目主管",
                     422: "参数有误"},
          response=page_schema(EXPERT_SCHEMA))
@token_required
def list_experts() -> Response:
    user = current_api_user()
    allow(pool_keeper(user), "只有项目主管可以查看专家库", code="role_not_allowed")
    sanctioned = experts.sanctioned_ids()

    def items(rows: list[ExpertProfile]) -> list[dict[str, Any]]:
        loads = loads_of(rows)  # the page's experts' only, not the whole pool's
        return [expert_json(p, loads, sanctioned) for p in rows]

    return api_page(POOL, user, items)


@api_bp.post("/v1/experts")
@document("加入专家库（项目主管）：建立专家账户（初始密码随机，由专家本人重置）",
          body=CREATE_BODY, required=("username", "disciplines"),
          responses={201: "已加入", 403: "不是项目主管", 422: "信息有误（逐项说明）"},
          response=EXPERT_SCHEMA)
@token_required
def create_expert() -> tuple[Response, int]:
    profile = experts.create_expert(current_api_user(), typed_body(CREATE_BODY))
    return jsonify(_one(profile)), 201


@api_bp.get("/v1/experts/<int:user_id>")
@document("专家详情（项目主管）", response=EXPERT_SCHEMA,
          responses={200: "详情", 403: "不是项目主管", 404: "不存在"})
@token_required
def get_expert(user_id: int) -> Response:
    return jsonify(_one(experts.profile_of(current_api_user(), user_id)))


@api_bp.patch("/v1/experts/<int:user_id>")
@document("修改专家信息（项目主管）：职称、学科代码、关键词、最大评审数、是否可用；未给出的不变",
          body=PROFILE_FIELDS, response=EXPERT_SCHEMA,
          responses={200: "已修改", 403: "不是项目主管", 404: "不存在", 422: "信息有误"})
@token_required
def update_expert(user_id: int) -> Response:
    user = current_api_user()
    profile = experts.profile_of(user, user_id)
    experts.update_expert(user, profile, typed_body(PROFILE_FIELDS))
    return jsonify(_one(profile))


@api_bp.post("/v1/experts/import")
@document("从 Excel 导入专家（项目主管，multipart：file 为 .xlsx，格式见导入模板）；"
          "逐行导入，在本次请求内同步完成并报告每行的结果（页面上发起的导入由后台处理，"
          "进度见 GET /api/v1/jobs/{id}）",
          multipart={"file": "binary"}, required=("file",),
          responses={200: "逐行报告", 403: "不是项目主管", 413: "文件过大",
                     415: "不是 .xlsx 文件", 422: "未选择文件、文件损坏或表头不符"},
          response=REPORT_SCHEMA)
@token_required
def import_experts() -> Response:
    unknown = sorted(set(request.form) | (set(request.files) - {"file"}))
    if unknown:
        raise Invalid("不接受的字段：" + "、".join(unknown),
                      details=dict.fromkeys(unknown, "不接受该字段"), code="unknown_field")
    upload = request.files.get("file")
    report = experts.import_upload(current_api_user(), (upload.filename or "") if upload else "",
                                   upload.stream if upload else None)
    done = sum(1 for r in report if r.ok)
    return jsonify({"imported": done, "refused": len(report) - done,
                    "rows": [{"row": r.row, "ok": r.ok, "message": r.message}
                             for r in report]})


@api_bp.get("/v1/experts/template.xlsx")
@document("专家导入模板（.xlsx）", media=XLSX,
          responses={200: "Excel 文件", 403: "不是项目主管"})
@token_required
def import_template() -> Response:
    return send_file(io.BytesIO(experts.template_xlsx(current_api_user())), as_attachment=True,
                     download_name="专家导入模板.xlsx",
                     mimetype=XLSX)
