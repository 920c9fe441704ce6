"""``/api/v1/applications``: drafts, autosave, attachments, submission."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Response, jsonify, request
from sqlalchemy.orm import selectinload, undefer

from forms import format_wan
from states import ApplicationState
from workflow.accounts.models import User
from workflow.accounts.tokens import current_api_user, token_required
from workflow.api import api_bp, if_match, json_body, multipart_fields, no_body, page_schema
from workflow.api.openapi import REF, UPLOAD_MEDIA, WAN, XLSX, document, nullable
from workflow.applying import operations as svc
from workflow.applying.facts import api_data, data_with_facts
from workflow.applying.lists import APPLICATIONS
from workflow.applying.models import Application, ApplicationRound
from workflow.applying.visibility import (
    READ_REFUSED,
    can_read_application,
    can_view_application,
)
from workflow.calls.models import Scheme
from workflow.calls.operations import form_fields, forms_of
from workflow.core import entities, files
from workflow.core.errors import Invalid, NotFound
from workflow.core.models import Attachment, db
from workflow.permissions import allow
from workflow.web.listing import api_page, api_params


def attachment_json(a: Attachment) -> dict[str, Any]:
    return {"sha256": a.sha256, "field": a.field, "filename": a.filename, "size": a.size,
            "kind": a.kind, "uploaded_at": a.uploaded_at.isoformat()}


def application_json(app: Application, viewer: User, *,
                     read: tuple[list[Any], list[Attachment]] | None = None) -> dict[str, Any]:
    """The application as ``viewer`` reads it: its heading for whoever sees it; its answers
    and attachments only for whoever may read it (``can_read_application``); ``read``:
    its form's fields and its attachments when already read (``applications_json``)."""
    body: dict[str, Any] = {
        "id": app.id, "call_id": app.call_id, "challenge_id": app.challenge_id,
        "title": app.title, "state": app.state.value, "state_label": app.state.label,
        "version": app.version, "scheme": app.call.scheme.value,
        "organization": {"id": app.organization.id, "name": app.organization.name},
        "applicant": {"id": app.applicant.id, "name": app.applicant.name},
        "receipt_no": app.receipt_no, "project_number": app.project_number,
        "submitted_at": app.submitted_at.isoformat() if app.submitted_at else None,
        "form_version": app.form_version, "round": app.round,
        # Once approved: the 立项通知书's number, the grant and what has been paid of it.
        "doc_number": app.doc_number,
        "approved_at": app.approved_at.isoformat() if app.approved_at else None,
        "granted_wan": format_wan(app.granted_amount) if app.granted_amount else None,
        "disbursed_wan": format_wan(app.disbursed or 0),
    }
    if can_read_application(viewer, app):
        fields, attached = read if read is not None else (None, list(db.session.scalars(
            sa.select(Attachment).where(Attachment.application_id == app.id))))
        body["data"] = data_with_facts(app, fields)
        body["attachments"] = [attachment_json(a) for a in attached]
    return body


def applications_json(apps: list[Application], viewer: User) -> list[dict[str, Any]]:
    """A page of applications as ``application_json`` writes each, in a fixed number of
    statements: the answers, signatures and final reports of the page's rows, their
    forms and their attachments are read at once, never once per row."""
    if not apps:
        return []
    ids = [a.id for a in apps]
    # The rows again: what they have not loaded yet (the list defers ``data``) is filled
    # in from this one statement and its two eager loads.
    db.session.scalars(sa.select(Application).where(Application.id.in_(ids)).options(
        undefer(Application.data), selectinload(Application.signatures),
        selectinload(Application.final_report))).all()
    readable = [a for a in apps if can_read_application(viewer, a)]
    forms = forms_of({(a.call, a.form_version) for a in readable})
    attached: dict[int, list[Attachment]] = {a.id: [] for a in readable}
    if readable:
        for att in db.session.scalars(sa.select(Attachment).where(
                Attachment.application_id.in_(list(attached))).order_by(Attachment.id)):
            attached[att.application_id or 0].append(att)
    return [application_json(a, viewer, read=(forms.get((a.call_id, a.form_version), []),
                                              attached.get(a.id, [])))
            for a in apps]


ATTACHMENT_SCHEMA: dict[str, Any] = {"type": "object", "properties": {
    "sha256": {"type": "string"}, "field": {"type": "string"},
    "filename": {"type": "string"}, "size": {"type": "integer"},
    "kind": {"type": "string", "enum": ["pdf", "docx", "xlsx", "jpg", "png"]},
    "uploaded_at": {"type": "string", "format": "date-time"}},
    "required": ["sha256", "field", "filename", "size", "kind", "uploaded_at"]}


APPLICATION_SCHEMA: dict[str, Any] = {"type": "object", "properties": {
    "id": {"type": "integer"}, "call_id": {"type": "integer"},
    "challenge_id": nullable("integer"), "title": {"type": "string"},
    "state": {"type": "string", "enum": [s.value for s in ApplicationState]},
    "state_label": {"type": "string"}, "version": {"type": "integer"},
    "scheme": {"type": "string", "enum": [s.value for s in Scheme]},
    "organization": REF, "applicant": REF,
    "receipt_no": nullable("string"), "project_number": nullable("string"),
    "submitted_at": nullable("string", format="date-time"),
    "form_version": {"type": "integer"}, "round": {"type": "integer"},
    "data": {"type": "object", "description": "申报书表单字段及立项后的记录（合同、验收等）；"
                                            "仅有权查看申报内容的人可见"},
    "doc_number": nullable("string", description="立项通知书文号"),
    "approved_at": nullable("string", format="date-time"),
    "granted_wan": {**WAN, "nullable": True}, "disbursed_wan": WAN,
    "attachments": {"type": "array", "items": ATTACHMENT_SCHEMA,
                    "description": "附件（仅有权查看附件的人可见）"}},
    "required": ["id", "call_id", "challenge_id", "title", "state", "state_label", "version",
                 "scheme", "organization", "applicant", "receipt_no", "project_number",
                 "submitted_at", "form_version", "round", "doc_number",
                 "approved_at", "granted_wan", "disbursed_wan"]}
# What an assigned expert reads of an application (through the review): no receipt, no
# money, no attachments; the applicant's organisation and name unless the call hides them.
EXPERT_READING_SCHEMA: dict[str, Any] = {"type": "object", "properties": {
    key: APPLICATION_SCHEMA["properties"][key]
    for key in ("id", "call_id", "challenge_id", "title", "state", "state_label", "scheme",
                "data", "organization", "applicant")},
    "required": ["id", "call_id", "challenge_id", "title", "state", "state_label", "scheme",
                 "data"]}


def _visible(app_id: int) -> Application:
    app = db.session.get(Application, app_id)
    if app is None or not can_view_application(current_api_user(), app):
        raise NotFound("申报书不存在或无权查看")
    return app


def _readable(app_id: int) -> Application:
    """The application whose content the caller reads: 404 when they may not see it, 403
    when they see it (a colleague) but may not read what is in it."""
    app = _visible(app_id)
    allow(can_read_application(current_api_user(), app), READ_REFUSED, code="not_reader")
    return app


@api_bp.get("/v1/applications")
@document("申报书列表（仅限有权查看的）：与申报书列表页相同的搜索、筛选、排序和 Excel 导出",
          params=api_params(APPLICATIONS), media=XLSX, response=page_schema(APPLICATION_SCHEMA),
          responses={200: "列表；export=xlsx 时为 Excel 文件", 422: "参数有误"})
@token_required
def list_applications() -> Response:
    user = current_api_user()
    return api_page(APPLICATIONS, user, lambda rows: applications_json(rows, user))


DATA_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "申报书表单字段（按指南的表单定义）；揭榜挂帅另有 indicators（逐项回应攻关指标，"
                   "{指标名称: 回应}）和 milestones（里程碑计划）。表单未定义的字段不予接受",
    "properties": {
        "indicators": {"type": "object", "additionalProperties": {"type": "string"}},
        "milestones": {"type": "array", "items": {"type": "object", "properties": {
            "label": {"type": "string"}, "amount_wan": {"type": "string"},
            "months": {"type": "integer"}}, "required": ["label", "amount_wan", "months"]}},
    },
}
CREATE_BODY: dict[str, Any] = {"call_id": "integer", "title": "string",
                               "challenge_id": "integer", "data": DATA_SCHEMA}
PATCH_BODY: dict[str, Any] = {"title": "string", "data": DATA_SCHEMA}

OUTCOMES = {"pass": "通过", "return": "退回修改", "reject": "不予受理"}
ROUND_SCHEMA: dict[str, Any] = {"type": "object", "properties": {
    "round": {"type": "integer", "description": "第几次提交"},
    "title": {"type": "string", "description": "该次提交时的项目名称"},
    "submitted_at": {"type": "string", "format": "date-time"},
    "outcome": {"type": "string", "enum": [*OUTCOMES, None], "nullable": True,
                "description": "形式审查结论；尚未审查时为 null"},
    "outcome_label": {"type": "string", "nullable": True},
    "outcome_comment": {"type": "string", "nullable": True, "description": "审查意见"},
    "data": {**DATA_SCHEMA, "description": "该次提交的内容（金额单位同申报书详情）"}},
    "required": ["round", "title", "submitted_at", "outcome", "outcome_label",
                 "outcome_comment", "data"]}


def round_json(r: ApplicationRound, fields: list[dict[str, Any]]) -> dict[str, Any]:
    return {"round": r.round, "title": r.title, "submitted_at": r.submitted_at.isoformat(),
            "outcome": r.outcome, "outcome_label": OUTCOMES.get(r.outcome or ""),
            "outcome_comment": r.outcome_comment,
            "data": api_data(r.data, fields)}


@api_bp.post("/v1/applications")
@document("新建申报书草稿", body=CREATE_BODY, required=("call_id", "title"),
          response=APPLICATION_SCHEMA,
          responses={201: "已创建", 403: "不是申报人", 404: "指南或榜单不存在或无权查看",
                     409: "不在受理期", 422: "字段有误"})
@token_required
def create_application() -> tuple[Response, int, dict[str, str]]:
    body = json_body(CREATE_BODY)
    app = svc.create_draft(current_api_user(), body.get("call_id"), body.get("title"),
                           body.get("challenge_id"), body.get("data"))
    return (jsonify(application_json(app, current_api_user())), 201,
            {"ETag": f'"{app.version}"'})


@api_bp.get("/v1/applications/<int:app_id>")
@document("申报书详情；受邀评审专家经评审任务看到其中评审所需的部分",
          responses={200: "详情", 404: "不存在或无权查看"},
          response={"anyOf": [APPLICATION_SCHEMA, EXPERT_READING_SCHEMA]})
@token_required
def get_application(app_id: int) -> tuple[Response, int, dict[str, str]]:
    app = db.session.get(Application, app_id)
    if app is not None and not can_view_application(current_api_user(), app):
        partial = entities.partial_reading(current_api_user(), app)
        if partial is not None:  # an assigned expert, through the review
            return jsonify(partial), 200, {"ETag": f'"{app.version}"'}
    app = _visible(app_id)
    return jsonify(application_json(app, current_api_user())), 200, {"ETag": f'"{app.version}"'}


@api_bp.patch("/v1/applications/<int:app_id>")
@document("保存草稿（自动保存）；If-Match 给出版本号时，版本不符即 409", body=PATCH_BODY,
          response=APPLICATION_SCHEMA,
          responses={200: "已保存", 403: "不是项目负责人本人", 409: "已提交或版本不符",
                     422: "字段有误，未保存"})
@token_required
def patch_application(app_id: int) -> tuple[Response, int, dict[str, str]]:
    app = _visible(app_id)
    body = json_body(PATCH_BODY)
    app = svc.save_draft(current_api_user(), app, body.get("title"), body.get("data"),
                         if_match())
    return jsonify(application_json(app, current_api_user())), 200, {"ETag": f'"{app.version}"'}


@api_bp.get("/v1/applications/<int:app_id>/rounds")
@document("申报书的各次提交（提交记录）：时间、当时的内容、形式审查结论与意见；"
          "能阅读申报内容的人可查看",
          responses={200: "按提交顺序", 403: "看得到但无权阅读其内容（同单位同事）",
                     404: "不存在或无权查看"},
          response={"type": "object", "properties": {
              "items": {"type": "array", "items": ROUND_SCHEMA}}, "required": ["items"]})
@token_required
def list_rounds(app_id: int) -> Response:
    app = _readable(app_id)
    fields = form_fields(app.call, app.form_version)
    return jsonify({"items": [round_json(r, fields) for r in svc.rounds(app)]})


@api_bp.post("/v1/applications/<int:app_id>/sign")
@document("签署承诺书（包干制）或军令状（揭榜挂帅）", response=APPLICATION_SCHEMA,
          responses={200: "已签署", 403: "不是申报人本人", 409: "申报书已提交"})
@token_required
def sign_application(app_id: int) -> Response:
    app = _visible(app_id)
    no_body()
    app = svc.sign(current_api_user(), app)
    return jsonify(application_json(app, current_api_user()))


@api_bp.post("/v1/applications/<int:app_id>/submit")
@document("提交申报书", response=APPLICATION_SCHEMA,
          responses={200: "已提交，含回执号", 403: "不是申报人本人",
                     409: "不在受理期或已提交", 422: "内容未完成或不符合条件"})
@token_required
def submit_application(app_id: int) -> Response:
    app = _visible(app_id)
    no_body()
    result = svc.submit(current_api_user(), app, if_match(), request.remote_addr)
    return jsonify(application_json(result.row, current_api_user()))


@api_bp.post("/v1/applications/<int:app_id>/attachments")
@document("上传附件（项目负责人；multipart：file、field）。field 为表单中的附件栏目时，"
          "仅在草稿或退回修改时可传；为 milestone_evidence（里程碑佐证材料）或 final_evidence"
          "（结题佐证材料）时，在项目执行期间可传，随后在提交里程碑或结题材料时以 sha256 列出",
          multipart={"file": "binary", "field": {
              "type": "string", "description": "表单中的附件栏目名，或 "
              + "、".join(svc.EVIDENCE_FIELDS)}},
          required=("file", "field"), response=ATTACHMENT_SCHEMA,
          responses={201: "已上传", 403: "不是项目负责人", 404: "不存在或无权查看",
                     409: "申报书已提交（表单附件）或项目不在执行期（佐证材料）",
                     413: "文件过大", 415: "类型不支持或内容与扩展名不符",
                     422: "未选择文件、栏目不存在、文件为空、文件名含路径或压缩异常"})
@token_required
def upload_attachment(app_id: int) -> tuple[Response, int]:
    app = _visible(app_id)
    multipart_fields(("file", "field"))
    upload = request.files.get("file")
    field = request.form.get("field", "")
    if upload is None or not upload.filename:
        raise Invalid("请选择要上传的文件", details={"file": "必填"})
    attachment = svc.attach(current_api_user(), app, field, upload.filename, upload.stream)
    return jsonify(attachment_json(attachment)), 201


@api_bp.get("/v1/applications/<int:app_id>/attachments/<sha256>")
@document("下载附件", media=UPLOAD_MEDIA,
          responses={200: "文件", 403: "看得到但无权阅读其内容（同单位同事）",
                     404: "不存在或无权查看"})
@token_required
def download_attachment(app_id: int, sha256: str) -> Response:
    app = _readable(app_id)
    row = svc.attachment_for(current_api_user(), app, sha256)
    return files.send_attachment(row)


@api_bp.post("/v1/applications/<int:app_id>/task-book/sign")
@document("项目负责人或发榜方签署任务书", response=APPLICATION_SCHEMA,
          responses={200: "已签署", 403: "不是签署方", 409: "项目未立项"})
@token_required
def sign_task_book(app_id: int) -> Response:
    app = _visible(app_id)
    no_body()
    app = svc.sign_task_book(current_api_user(), app)
    return jsonify(application_json(app, current_api_user()))
