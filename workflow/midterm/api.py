"""``/api/v1/midterms``: midterm checks (中期检查). Opening checks, the list, one check,
the team's report (save, evidence, submit), the panel, an expert's score and the officer's
outcome; the generic ``/api/v1/midterms/{id}/transitions`` and ``/history``
(``workflow.workbench.api``) fire and trace the lifecycle as for every other."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request

from forms import format_wan
from states import MidtermState
from workflow.accounts.tokens import current_api_user, token_required
from workflow.annual.models import SPENDING_CATEGORIES
from workflow.api import api_bp, if_match, json_body, multipart_fields, page_schema, typed_body
from workflow.api.openapi import DATE, DATE_TIME, WAN, XLSX, document, enum, items_of, nullable
from workflow.applying.api import ATTACHMENT_SCHEMA, _readable, attachment_json
from workflow.calls.models import Call
from workflow.core import engine
from workflow.core.entities import can_view
from workflow.core.errors import Invalid, NotFound
from workflow.core.models import db
from workflow.midterm import operations as midterm
from workflow.midterm.lists import MIDTERMS, SEATS
from workflow.midterm.models import OUTCOMES, OUTPUT_KINDS, MidtermReport, MidtermScore
from workflow.midterm.rules import on_panel
from workflow.permissions import allow, bureau_reader, expert_name_reader, officer
from workflow.review.conflicts import MAX_PANEL
from workflow.web.listing import api_page, api_params

AMOUNT: dict[str, Any] = {"type": "string", "pattern": r"^\d{1,8}(\.\d{1,2})?$",
                          "description": "金额（万元），不小于0，最多两位小数"}
OUTPUT: dict[str, Any] = {"type": "object", "properties": {
    "kind": enum(OUTPUT_KINDS, "类别：" + "、".join(f"{k}（{v}）"
                                                  for k, v in OUTPUT_KINDS.items())),
    "title": {"type": "string", "maxLength": 500, "description": "名称"},
    "note": {"type": "string", "maxLength": 2000, "description": "说明（可选）"}},
    "required": ["kind", "title"], "additionalProperties": False}
SPENDING: dict[str, Any] = {
    "type": "object", "additionalProperties": False,
    "description": "截至目前的经费支出（万元），按类别（与年度报告相同）；提交时各类别都须填写，"
                   "合计不得超过项目已拨付经费",
    "properties": {k: {**AMOUNT, "description": f"{label}（万元）"}
                   for k, label in SPENDING_CATEGORIES.items()}}
CONTENT_BODY: dict[str, Any] = {
    "answers": {"type": "object",
                "description": "中期检查表各项（字段名到内容，按指南定义的中期检查表；未定义时为 "
                               "progress 进展情况、results 阶段性成果、"
                               "problems 存在问题及下一步计划）"},
    "spending": SPENDING,
    "outputs": {"type": "array", "items": OUTPUT, "maxItems": midterm.MAX_OUTPUTS,
                "description": "成果清单：论文、专利、标准等"},
}
FORM_FIELD: dict[str, Any] = {"type": "object", "description": "字段定义（与申报书表单相同的格式）",
                              "properties": {"name": {"type": "string"},
                                             "label": {"type": "string"},
                                             "type": {"type": "string"}},
                              "required": ["name", "label", "type"]}
SCORE_SCHEMA: dict[str, Any] = {"type": "object", "properties": {
    "round": {"type": "integer", "description": "第几轮评议（整改后为2）"},
    "alias": {"type": "string", "description": "专家1、专家2……（项目组看不到姓名）"},
    "expert": nullable({"type": "object", "properties": {
        "id": {"type": "integer"}, "name": {"type": "string"}}},
        description="专家（仅项目主管、审计人员可见）"),
    "score": nullable("integer"), "opinion": {"type": "string"},
    "recommendation": nullable(enum(OUTCOMES)), "submitted_at": nullable(DATE_TIME),
    "mine": {"type": "boolean", "description": "是调用者本人的评议"}},
    "required": ["round", "alias", "expert", "score", "opinion", "recommendation",
                 "submitted_at", "mine"]}
MIDTERM_SCHEMA: dict[str, Any] = {"type": "object", "properties": {
    "id": {"type": "integer"}, "application_id": {"type": "integer"},
    "project_number": nullable("string"), "project": {"type": "string"},
    "scheme": enum(["baogan", "jiebang"], "资助方式"),
    "seq": {"type": "integer", "description": "本项目第几次中期检查"},
    "state": enum(MidtermState), "state_label": {"type": "string"},
    "version": {"type": "integer"}, "round": {"type": "integer"},
    "due_on": DATE,
    "current_due_on": {**DATE, "description": "本轮报告的提交期限（整改时为整改期限）"},
    "instructions": {"type": "string"},
    "form": {"type": "array", "items": FORM_FIELD},
    "answers": {"type": "object"},
    "spending": {"type": "object", "properties": {
        k: nullable(AMOUNT) for k in SPENDING_CATEGORIES}},
    "spent_total_wan": WAN, "released_wan": WAN,
    "outputs": {"type": "array", "items": OUTPUT},
    "evidence": {"type": "array", "items": {"type": "string"}},
    "earlier": {"type": "array", "items": {"type": "object"},
                "description": "整改前提交的报告"},
    "submitted_at": nullable(DATE_TIME),
    "rectify_due_on": nullable(DATE), "rectify_items": {"type": "array",
                                                         "items": {"type": "string"}},
    "rectify_opinion": {"type": "string"},
    "panel": {"type": "array", "items": SCORE_SCHEMA,
              "description": "专家评议（项目组在该轮结论作出后可见，以专家N称呼）"},
    "average": nullable("number"),
    "outcome": nullable(enum(OUTCOMES)), "opinion": {"type": "string"},
    "override_reason": {"type": "string"}, "recovery_wan": nullable("string"),
    "decided_by": nullable("string"), "decided_at": nullable(DATE_TIME),
    "missing": {"type": "object", "additionalProperties": {"type": "string"},
                "description": "提交前尚缺的内容（字段到说明）；不可修改时为空"},
    "created_at": DATE_TIME},
    "required": ["id", "application_id", "project_number", "project", "scheme", "seq",
                 "state", "state_label", "version", "round", "due_on", "current_due_on",
                 "instructions", "form", "answers", "spending", "spent_total_wan",
                 "released_wan", "outputs", "evidence", "earlier", "submitted_at",
                 "rectify_due_on", "rectify_items", "rectify_opinion", "panel", "average",
                 "outcome", "opinion", "override_reason", "recovery_wan", "decided_by",
                 "decided_at", "missing", "created_at"]}
OPEN_BODY: dict[str, Any] = {
    "call_id": {"type": "integer",
                "description": "为该指南全部执行中的项目开启（与 application_ids 二选一）"},
    "application_ids": {"type": "array", "items": {"type": "integer"}, "maxItems": 500,
                        "description": "为选定的执行中项目开启"},
    "due_on": {**DATE, "description": "中期报告提交期限（须晚于今天）"},
    "instructions": {"type": "string", "maxLength": 5000, "description": "检查要求"}}
PANEL_BODY: dict[str, Any] = {
    "expert_ids": {"type": "array", "items": {"type": "integer"}, "minItems": 3,
                   "maxItems": MAX_PANEL,
                   "description": "评议专家（专家库用户 id，至少3名，按评审回避规则检查）"}}
SCORE_BODY: dict[str, Any] = {
    "score": {"type": "integer", "minimum": 0, "maximum": 100, "description": "评分（0-100）"},
    "opinion": {"type": "string", "maxLength": 5000,
                "description": f"评议意见（不少于{midterm.MIN_OPINION}字）"},
    "recommendation": enum(OUTCOMES, "建议结论：pass 通过、rectify 整改、terminate 终止")}
OUTCOME_BODY: dict[str, Any] = {
    "outcome": enum(OUTCOMES, "结论：pass 通过、rectify 整改、terminate 终止"),
    "opinion": {"type": "string", "maxLength": 5000, "description": "结论意见（整改、终止必填）"},
    "override_reason": {"type": "string", "maxLength": 5000,
                        "description": "尚有专家未评议时作结论的理由"},
    "due_on": {**DATE, "description": "rectify：整改报告提交期限（须晚于今天）"},
    "items": {"type": "array", "items": {"type": "string", "maxLength": 1000},
              "maxItems": 30, "description": "rectify：整改要求"},
    "recovery_wan": {**AMOUNT, "description": "terminate：应追回金额（万元，可不填）"}}
FORM_BODY: dict[str, Any] = {
    "fields": {"type": "array", "items": {"type": "object"},
               "description": "中期检查表的字段定义（与申报书表单相同的格式；空列表恢复默认表）"}}
QUEUE_ITEM: dict[str, Any] = {"type": "object", "properties": {
    "midterm_id": {"type": "integer"}, "project": {"type": "string"},
    "project_number": nullable("string"), "state": enum(MidtermState),
    "state_label": {"type": "string"}, "round": {"type": "integer"},
    "scored": {"type": "boolean"}, "score": nullable("integer")},
    "required": ["midterm_id", "project", "project_number", "state", "state_label", "round",
                 "scored", "score"]}


def _panel_visible(m: MidtermReport, s: MidtermScore, user: Any) -> bool:
    """Bureau staff and the expert themself: always; another expert of the panel: never;
    the team and its unit: a round's scores once the officer concluded it."""
    if bureau_reader(user) or s.expert_id == user.id:
        return True
    if on_panel(user, m):
        return False
    return s.round < m.round or m.decided_at is not None


def score_json(s: MidtermScore, user: Any) -> dict[str, Any]:
    names = expert_name_reader(user)
    return {"round": s.round, "alias": s.alias,
            "expert": {"id": s.expert.id, "name": s.expert.name} if names else None,
            "score": s.score, "opinion": s.opinion, "recommendation": s.recommendation,
            "submitted_at": s.submitted_at.isoformat() if s.submitted_at else None,
            "mine": s.expert_id == user.id}


def midterm_json(m: MidtermReport, user: Any) -> dict[str, Any]:
    app = m.application
    average = midterm.average(m)
    return {
        "id": m.id, "application_id": app.id, "project_number": app.project_number,
        "project": app.title, "scheme": app.call.scheme.value, "seq": m.seq,
        "state": m.state.value, "state_label": m.state.label, "version": m.version,
        "round": m.round, "due_on": m.due_on.isoformat(), "current_due_on": m.due.isoformat(),
        "instructions": m.instructions, "form": list(m.form or []),
        "answers": dict(m.answers or {}),
        "spending": {k: (m.spending or {}).get(k) for k in SPENDING_CATEGORIES},
        "spent_total_wan": format_wan(m.spent_total),
        "released_wan": format_wan(app.disbursed),
        "outputs": list(m.outputs or []), "evidence": list(m.evidence or []),
        "earlier": list(m.earlier or []),
        "submitted_at": m.submitted_at.isoformat() if m.submitted_at else None,
        "rectify_due_on": m.rectify_due_on.isoformat() if m.rectify_due_on else None,
        "rectify_items": list(m.rectify_items or []), "rectify_opinion": m.rectify_opinion,
        "panel": [score_json(s, user) for s in m.scores if _panel_visible(m, s, user)],
        "average": float(average) if average is not None and (
            expert_name_reader(user) or m.decided_at is not None) else None,
        "outcome": m.outcome, "opinion": m.opinion, "override_reason": m.override_reason,
        "recovery_wan": m.recovery_wan, "decided_by": m.decided_by,
        "decided_at": m.decided_at.isoformat() if m.decided_at else None,
        "missing": midterm.missing(m) if m.state in midterm.EDITABLE else {},
        "created_at": m.created_at.isoformat(),
    }


def _midterm(midterm_id: int) -> MidtermReport:
    row = db.session.get(MidtermReport, midterm_id)
    if row is None or not can_view(current_api_user(), row):
        raise NotFound("中期检查不存在或无权查看")
    return row


@api_bp.get("/v1/midterms")
@document("中期检查列表（项目主管、领导、审计：全部；单位管理员：本单位项目的；项目负责人：本人项目的；"
          "评议专家：所评议的），与中期检查页相同的搜索、筛选、排序和 Excel 导出",
          params=api_params(MIDTERMS), media=XLSX, response=page_schema(MIDTERM_SCHEMA),
          responses={200: "列表；export=xlsx 时为 Excel 文件", 422: "参数有误"})
@token_required
def list_midterms() -> Response:
    user = current_api_user()
    return api_page(MIDTERMS, user, lambda rows: [midterm_json(m, user) for m in rows])


@api_bp.post("/v1/midterms")
@document("项目主管开启中期检查：为一个指南全部执行中的项目（call_id）或选定的项目"
          "（application_ids），给出提交期限和检查要求；项目随之进入“中期检查”，项目负责人收到通知。"
          "任一项目不能开启（指南未设中期检查环节、不在执行中）时一个也不开启",
          body=OPEN_BODY, required=("due_on",), response=items_of(MIDTERM_SCHEMA),
          responses={201: "已开启", 403: "不是项目主管", 404: "指南或项目不存在",
                     409: "有项目不能开启（逐项说明），或指南没有执行中的项目",
                     422: "提交期限或项目有误"})
@token_required
def open_midterm_checks() -> tuple[Response, int]:
    user = current_api_user()
    allow(officer(user), "只有项目主管可以开启中期检查")
    body = typed_body(OPEN_BODY)
    opened = midterm.open_checks(user, body.get("call_id"), body.get("application_ids"),
                                 body.get("due_on"), body.get("instructions", ""),
                                 request.remote_addr)
    return jsonify({"items": [midterm_json(m, user) for m in opened]}), 201


@api_bp.get("/v1/midterms/<int:midterm_id>")
@document("一次中期检查（评议专家的姓名仅项目主管、审计人员可见）", response=MIDTERM_SCHEMA,
          responses={200: "中期检查", 404: "不存在或无权查看"})
@token_required
def get_midterm(midterm_id: int) -> Response:
    return jsonify(midterm_json(_midterm(midterm_id), current_api_user()))


@api_bp.get("/v1/applications/<int:app_id>/midterms")
@document("项目的中期检查（有权查看项目内容的人）", response=items_of(MIDTERM_SCHEMA),
          responses={200: "按开启先后", 403: "看得到项目但无权阅读其内容", 404: "不存在或无权查看"})
@token_required
def project_midterms(app_id: int) -> Response:
    user = current_api_user()
    app = _readable(app_id)
    return jsonify({"items": [midterm_json(m, user) for m in midterm.midterms_of(app)
                              if can_view(user, m)]})


@api_bp.put("/v1/midterms/<int:midterm_id>/report")
@document("项目负责人保存中期报告（草稿）：中期检查表各项、经费支出、成果清单；格式每次都检查，"
          "是否填全在提交时检查；If-Match 给出版本号时，版本不符即 409",
          body=CONTENT_BODY, response=MIDTERM_SCHEMA, body_optional=True,
          responses={200: "已保存", 403: "不是项目负责人", 404: "不存在或无权查看",
                     409: "不在填报阶段或版本不符", 422: "内容有误（逐项说明）"})
@token_required
def put_midterm_report(midterm_id: int) -> tuple[Response, int, dict[str, str]]:
    _midterm(midterm_id)
    body = json_body(CONTENT_BODY)
    report = midterm.save_report(current_api_user(), midterm_id, body, if_match(),
                                 request.remote_addr)
    return (jsonify(midterm_json(report, current_api_user())), 200,
            {"ETag": f'"{report.version}"'})


@api_bp.post("/v1/midterms/<int:midterm_id>/attachments")
@document("项目负责人上传中期报告的佐证材料（multipart：file；填报阶段；PDF、Word、Excel、"
          "JPG、PNG，按内容核对类型，大小受限）",
          multipart={"file": "binary"}, required=("file",), response=ATTACHMENT_SCHEMA,
          responses={201: "已上传", 403: "不是项目负责人", 404: "不存在或无权查看",
                     409: "不在填报阶段", 413: "文件过大",
                     415: "类型不支持或内容与扩展名不符", 422: "未选择文件、文件为空或文件名有误"})
@token_required
def upload_midterm_evidence(midterm_id: int) -> tuple[Response, int]:
    _midterm(midterm_id)
    multipart_fields(("file",))
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise Invalid("请选择要上传的文件", details={"file": "必填"})
    attachment = midterm.attach_evidence(current_api_user(), midterm_id, upload.filename,
                                         upload.stream, request.remote_addr)
    return jsonify(attachment_json(attachment)), 201


@api_bp.post("/v1/midterms/<int:midterm_id>/submit")
@document("项目负责人提交中期报告（可同时给出要保存的内容）；已组织专家组的，随即送专家评议",
          body=CONTENT_BODY, response=MIDTERM_SCHEMA, body_optional=True,
          responses={200: "已提交", 403: "不是项目负责人", 404: "不存在或无权查看",
                     409: "不在填报阶段，或项目不在中期检查中",
                     422: "内容有误或尚未填写完整（逐项说明）"})
@token_required
def submit_midterm_report(midterm_id: int) -> Response:
    _midterm(midterm_id)
    user = current_api_user()
    body = json_body(CONTENT_BODY) if request.content_length else {}
    report = midterm.save_report(user, midterm_id, body, if_match(), request.remote_addr)
    engine.fire(report, "submit", user, ip=request.remote_addr)
    return jsonify(midterm_json(report, user))


@api_bp.put("/v1/midterms/<int:midterm_id>/panel")
@document("项目主管组织（或在评分前重新抽取）本轮评议专家组：至少3名专家，按评审的回避规则检查，"
          "须回避的专家逐一说明原因；报告已提交的随即送专家评议",
          body=PANEL_BODY, required=("expert_ids",), response=MIDTERM_SCHEMA,
          responses={200: "已组织", 403: "不是项目主管", 404: "不存在或无权查看",
                     409: "已在评议或已有结论", 422: "专家不足3名、不在专家库或须回避（逐一说明）"})
@token_required
def put_midterm_panel(midterm_id: int) -> Response:
    _midterm(midterm_id)
    user = current_api_user()
    allow(officer(user), "只有项目主管可以组织中期检查专家组")
    body = typed_body(PANEL_BODY)
    report = midterm.assign_panel(user, midterm_id, body.get("expert_ids"),
                                  request.remote_addr)
    return jsonify(midterm_json(report, user))


@api_bp.put("/v1/midterms/<int:midterm_id>/score")
@document("评议专家提交（或在结论前修改）本人的评议：评分0-100、意见、建议结论",
          body=SCORE_BODY, required=("score", "opinion", "recommendation"),
          response=SCORE_SCHEMA,
          responses={200: "已提交", 403: "不在本次专家组中", 404: "不存在或无权查看",
                     409: "不在专家评议阶段", 422: "评分、意见或建议结论有误"})
@token_required
def put_midterm_score(midterm_id: int) -> Response:
    _midterm(midterm_id)
    user = current_api_user()
    body = typed_body(SCORE_BODY)
    row = midterm.score(user, midterm_id, body, request.remote_addr)
    return jsonify(score_json(row, user))


@api_bp.post("/v1/midterms/<int:midterm_id>/outcome")
@document("项目主管作出中期检查结论：pass 通过（项目恢复执行）、rectify 整改（给出期限和要求，"
          "项目组再次提交，专家组再次评议，之后只能通过或终止）、terminate 终止（项目终止，"
          "可给出应追回金额）。须全部专家评议完毕，或给出理由（override_reason）；"
          "通过、终止时印发中期检查结论通知",
          body=OUTCOME_BODY, required=("outcome",), response=MIDTERM_SCHEMA,
          responses={200: "已作出结论", 403: "不是项目主管", 404: "不存在或无权查看",
                     409: "当前状态不能作此结论，或版本不符",
                     422: "意见、理由、整改期限或要求有误（逐项说明）"})
@token_required
def post_midterm_outcome(midterm_id: int) -> Response:
    report = _midterm(midterm_id)
    user = current_api_user()
    body = typed_body(OUTCOME_BODY)
    outcome = body.get("outcome")
    if outcome not in OUTCOMES:
        raise Invalid("请选择结论：pass、rectify 或 terminate",
                      details={"outcome": "应为 pass、rectify 或 terminate"})
    allowed = {"pass": {"override_reason"}, "rectify": {"override_reason", "due_on", "items"},
               "terminate": {"override_reason", "recovery_wan"}}[outcome]
    extra = sorted(k for k in body if k not in allowed | {"outcome", "opinion"}
                   and body[k] not in (None, "", []))
    if extra:
        raise Invalid(f"“{OUTCOMES[outcome]}”不接受：{'、'.join(extra)}",
                      details={k: "该结论不接受此项" for k in extra}, code="unknown_field")
    data = {k: body[k] for k in allowed if body.get(k) not in (None, "", [])}
    if isinstance(data.get("items"), list):  # the transition takes them a line each
        data["items"] = "\n".join(str(i) for i in data["items"])
    engine.fire(report, outcome, user, comment=body.get("opinion") or "", data=data,
                expected_version=if_match(), ip=request.remote_addr)
    return jsonify(midterm_json(report, user))


@api_bp.get("/v1/midterm-scores")
@document("评议专家本人的中期检查评议任务，分页（默认未评的在前，各按提交期限；"
          "scored=open 只看未评，done 只看已评），与评议页相同的搜索、筛选、排序和 Excel 导出",
          params=api_params(SEATS), media=XLSX, response=page_schema(QUEUE_ITEM),
          responses={200: "评议任务；export=xlsx 时为 Excel 文件", 403: "不是评审专家",
                     422: "参数有误"})
@token_required
def my_midterm_queue() -> Response:
    user = current_api_user()
    allow(user.has_role("expert"), "只有评审专家有中期检查评议任务")
    return api_page(SEATS, user, lambda rows: [{
        "midterm_id": s.midterm_id, "project": s.midterm.application.title,
        "project_number": s.midterm.application.project_number,
        "state": s.midterm.state.value, "state_label": s.midterm.state.label,
        "round": s.round, "scored": s.submitted_at is not None, "score": s.score}
        for s in rows])


@api_bp.put("/v1/calls/<int:call_id>/midterm-form")
@document("项目主管设置指南的中期检查表（与申报书表单相同的字段格式；空列表恢复默认：进展情况、"
          "阶段性成果、存在问题及下一步计划）；已开启的中期检查沿用开启时的表",
          body=FORM_BODY, required=("fields",),
          response={"type": "object", "properties": {
              "call_id": {"type": "integer"}, "fields": {"type": "array", "items": FORM_FIELD},
              "default": {"type": "boolean", "description": "使用默认表"}},
              "required": ["call_id", "fields", "default"]},
          responses={200: "已保存", 403: "不是项目主管", 404: "指南不存在",
                     422: "字段定义有误"})
@token_required
def put_midterm_form(call_id: int) -> Response:
    user = current_api_user()
    call = db.session.get(Call, call_id)
    if call is None:
        raise NotFound("申报指南不存在")
    allow(officer(user), "只有项目主管可以设置中期检查表")
    body = typed_body(FORM_BODY)
    call = midterm.set_form(user, call, body.get("fields"), request.remote_addr)
    return jsonify({"call_id": call.id, "fields": midterm.form_of(call),
                    "default": not midterm.custom_form(call)})
