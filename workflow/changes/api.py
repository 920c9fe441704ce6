"""``/api/v1``: change requests (项目变更). Their steps (submit, endorse, approve, …) are
fired as every lifecycle's are: ``POST /api/v1/changes/{id}/transitions``
(``workflow.workbench.api``), with ``GET .../transitions`` and ``GET .../history``."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import Response, jsonify, request

from forms import format_wan
from states import ChangeState
from workflow.accounts.tokens import current_api_user, token_required
from workflow.api import api_bp, if_match, multipart_fields, page_schema, typed_body
from workflow.api.openapi import DATE, DATE_TIME, XLSX, document, enum, items_of, nullable
from workflow.applying.api import ATTACHMENT_SCHEMA, _readable, _visible, attachment_json
from workflow.changes import operations as changes
from workflow.changes.lists import CHANGES
from workflow.changes.models import KIND_LABELS, ChangeKind, ChangeRequest
from workflow.core import engine
from workflow.core.entities import can_view
from workflow.core.errors import Invalid, NotFound
from workflow.web.listing import api_page, api_params

PERSON = {"type": "object", "properties": {
    "name": {"type": "string"}, "id_number": {"type": "string", "description": "身份证号码"},
    "org": {"type": "string", "description": "工作单位"},
    "role": {"type": "string", "description": "项目分工"},
    "title": {"type": "string", "description": "职称"}}}
KIND_TEXT = "、".join(f"{k}（{v}）" for k, v in KIND_LABELS.items())
FIELDS_BODY: dict[str, Any] = {
    "reason": {"type": "string", "maxLength": 5000,
               "description": "变更理由（提交时不少于10字）"},
    "new_pi_id": {"type": "integer",
                  "description": "pi：新负责人（承担单位在册科研人员的用户 id）"},
    "new_team": {"type": "array", "items": PERSON,
                 "description": "member：变更后的团队成员（完整名单，按申报书团队表的格式）"},
    "new_organization_id": {"type": "integer", "description": "organization：新承担单位的 id"},
    "new_end_date": {**DATE, "description": "extension：延期后的结束日期（至多延长"
                     "KJFLOW_EXTENSION_MAX_MONTHS 个月，默认12；每个项目至多延期 "
                     "KJFLOW_EXTENSIONS_PER_PROJECT 次，默认1）"},
    "new_indicators": {"type": "object", "additionalProperties": {"type": "string"},
                       "description": "content（揭榜挂帅）：调整后的攻关指标，指标名到目标值"},
    "new_content": {"type": "string", "maxLength": 5000,
                    "description": "content（包干制）：调整后的研究内容和考核指标"},
}
CREATE_BODY: dict[str, Any] = {
    "kind": enum(ChangeKind, f"变更类型：{KIND_TEXT}"), **FIELDS_BODY}
CHANGE_SCHEMA: dict[str, Any] = {"type": "object", "properties": {
    "id": {"type": "integer"}, "application_id": {"type": "integer"},
    "project_number": nullable("string"), "project": {"type": "string"},
    "seq": {"type": "integer", "description": "本项目第几项变更申请"},
    "kind": enum(ChangeKind), "kind_label": {"type": "string"},
    "state": enum(ChangeState), "state_label": {"type": "string"},
    "version": {"type": "integer"}, "reason": {"type": "string"},
    "evidence": {"type": "array", "items": {"type": "string"},
                 "description": "佐证材料的 sha256"
                                "（以 POST /api/v1/changes/{id}/attachments 上传）"},
    "new_pi": nullable({"type": "object", "properties": {
        "id": {"type": "integer"}, "name": {"type": "string"}}}),
    "new_organization": nullable({"type": "object", "properties": {
        "id": {"type": "integer"}, "name": {"type": "string"}}}),
    "new_end_date": nullable(DATE), "new_team": nullable({"type": "array", "items": PERSON}),
    "new_indicators": nullable({"type": "object",
                                "additionalProperties": {"type": "string"}}),
    "new_content": nullable("string"),
    "current_end_date": {**DATE, "description": "项目现结束日期"},
    "before": {"type": "object", "description": "批准前项目的原值（批准后给出）"},
    "unit_opinion": nullable("string"), "demand_opinion": nullable("string"),
    "officer_opinion": nullable("string"), "decision": nullable("string"),
    "decided_by": nullable("string"), "decided_at": nullable(DATE_TIME),
    "submitted_at": nullable(DATE_TIME), "created_at": DATE_TIME,
    "needs_demand_side": {"type": "boolean",
                          "description": "须发榜方同意（揭榜挂帅指标调整）"},
    "leader_decides": {"type": "boolean", "description": "由分管领导审批（承担单位变更、终止）"},
    "granted_wan": nullable({"type": "string"})},
    "required": ["id", "application_id", "project_number", "project", "seq", "kind",
                 "kind_label", "state", "state_label", "version", "reason", "evidence",
                 "new_pi", "new_organization", "new_end_date", "new_team", "new_indicators",
                 "new_content", "current_end_date", "before", "unit_opinion",
                 "demand_opinion", "officer_opinion", "decision", "decided_by", "decided_at",
                 "submitted_at", "created_at", "needs_demand_side", "leader_decides"]}


def change_json(c: ChangeRequest, ends: dict[int, date] | None = None) -> dict[str, Any]:
    """The change as the API gives it (``ends``: the projects' planned ends, when a list
    has read them for its page)."""
    from workflow.changes.rules import change_steps, planned_end

    app = c.application
    end = ends[app.id] if ends is not None else planned_end(app)
    steps = change_steps(c)
    return {
        "id": c.id, "application_id": app.id, "project_number": app.project_number,
        "project": app.title, "seq": c.seq, "kind": c.kind.value, "kind_label": c.kind.label,
        "state": c.state.value, "state_label": c.state.label, "version": c.version,
        "reason": c.reason, "evidence": list(c.evidence or []),
        "new_pi": {"id": c.new_pi.id, "name": c.new_pi.name} if c.new_pi else None,
        "new_organization": ({"id": c.new_organization.id, "name": c.new_organization.name}
                             if c.new_organization else None),
        "new_end_date": c.new_end_date.isoformat() if c.new_end_date else None,
        "new_team": c.new_team, "new_indicators": c.new_indicators,
        "new_content": c.new_content, "current_end_date": end.isoformat(),
        "before": c.before or {}, "unit_opinion": c.unit_opinion,
        "demand_opinion": c.demand_opinion, "officer_opinion": c.officer_opinion,
        "decision": c.decision, "decided_by": c.decided_by,
        "decided_at": c.decided_at.isoformat() if c.decided_at else None,
        "submitted_at": c.submitted_at.isoformat() if c.submitted_at else None,
        "created_at": c.created_at.isoformat(),
        "needs_demand_side": "demand_side" in steps, "leader_decides": "leader_decides" in steps,
        "granted_wan": format_wan(app.granted_amount) if app.granted_amount else None,
    }


def _change(change_id: int, lock: bool = False) -> ChangeRequest:
    try:
        row: ChangeRequest = engine.load("change", change_id, lock=lock)
    except NotFound:
        raise NotFound("变更申请不存在或无权查看") from None
    if not can_view(current_api_user(), row):
        raise NotFound("变更申请不存在或无权查看")
    return row


@api_bp.get("/v1/changes")
@document("项目变更申请列表（项目主管、领导、审计：全部；单位管理员：本单位项目的；发榜方：其榜单项目的；"
          "项目负责人：本人项目的），与变更页相同的搜索、筛选、排序和 Excel 导出",
          params=api_params(CHANGES), media=XLSX, response=page_schema(CHANGE_SCHEMA),
          responses={200: "列表；export=xlsx 时为 Excel 文件", 422: "参数有误"})
@token_required
def list_changes() -> Response:
    return api_page(CHANGES, current_api_user(), _page)


def _page(rows: list[ChangeRequest]) -> list[dict[str, Any]]:
    from workflow.changes.rules import planned_ends

    ends = planned_ends([c.application for c in rows])
    return [change_json(c, ends) for c in rows]


@api_bp.get("/v1/applications/<int:app_id>/changes")
@document("项目的变更申请（有权查看项目内容的人）", response=items_of(CHANGE_SCHEMA),
          responses={200: "按提出先后", 403: "看得到项目但无权阅读其内容", 404: "不存在或无权查看"})
@token_required
def project_changes(app_id: int) -> Response:
    app = _readable(app_id)
    return jsonify({"items": [change_json(c) for c in changes.changes_of(app)]})


@api_bp.post("/v1/applications/<int:app_id>/changes")
@document("项目负责人提出变更申请（草稿）：变更类型及其所需内容、理由；随后上传佐证材料并以 "
          "POST /api/v1/changes/{id}/transitions（submit）提交",
          body=CREATE_BODY, required=("kind",), response=CHANGE_SCHEMA,
          responses={201: "已创建草稿", 403: "不是项目负责人", 404: "不存在或无权查看",
                     409: "项目不在执行期，或同类变更申请尚在办理，或已用完延期次数",
                     422: "内容有误（逐项说明）"})
@token_required
def create_change(app_id: int) -> tuple[Response, int]:
    app = _visible(app_id)
    body = typed_body(CREATE_BODY)
    change = changes.create(current_api_user(), app, body, request.remote_addr)
    return jsonify(change_json(change)), 201


@api_bp.get("/v1/changes/<int:change_id>")
@document("变更申请", response=CHANGE_SCHEMA, responses={200: "变更申请", 404: "不存在或无权查看"})
@token_required
def get_change(change_id: int) -> Response:
    return jsonify(change_json(_change(change_id)))


@api_bp.patch("/v1/changes/<int:change_id>")
@document("项目负责人修改草稿或退回的变更申请（给出的字段替换原值；变更类型不能修改）；"
          "If-Match 给出版本号时，版本不符即 409",
          body=FIELDS_BODY, response=CHANGE_SCHEMA, body_optional=True,
          responses={200: "已保存", 403: "不是项目负责人", 404: "不存在或无权查看",
                     409: "已提交，或版本不符", 422: "内容有误（逐项说明）"})
@token_required
def update_change(change_id: int) -> Response:
    change = _change(change_id)
    body = typed_body(FIELDS_BODY)
    change = changes.update(current_api_user(), change, body, if_match(), request.remote_addr)
    return jsonify(change_json(change))


@api_bp.post("/v1/changes/<int:change_id>/attachments")
@document("项目负责人上传变更佐证材料（multipart：file；草稿或退回修改时；PDF、Word、Excel、"
          "JPG、PNG，按内容核对类型，大小受限）",
          multipart={"file": "binary"}, required=("file",), response=ATTACHMENT_SCHEMA,
          responses={201: "已上传", 403: "不是项目负责人", 404: "不存在或无权查看",
                     409: "已提交，不能再上传", 413: "文件过大",
                     415: "类型不支持或内容与扩展名不符", 422: "未选择文件、文件为空或文件名有误"})
@token_required
def upload_change_evidence(change_id: int) -> tuple[Response, int]:
    change = _change(change_id)
    multipart_fields(("file",))
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise Invalid("请选择要上传的文件", details={"file": "必填"})
    attachment = changes.attach_evidence(current_api_user(), change, upload.filename,
                                         upload.stream, request.remote_addr)
    return jsonify(attachment_json(attachment)), 201
