"""``/api/v1``: evaluations (绩效评价) and the performance record of people and
organisations. Their steps (propose, confirm, send_back) are fired as every lifecycle's
are: ``POST /api/v1/evaluations/{id}/transitions`` (``workflow.workbench.api``), with
``GET .../transitions`` and ``GET .../history``; ``POST .../confirm`` is the shortcut."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request

from states import EvaluationState
from workflow.accounts.models import Organization, User
from workflow.accounts.tokens import current_api_user, token_required
from workflow.api import api_bp, if_match, page_schema, typed_body
from workflow.api.openapi import DATE, DATE_TIME, XLSX, document, enum, items_of, nullable
from workflow.core import engine
from workflow.core.entities import can_view
from workflow.core.errors import Conflict, NotFound
from workflow.core.models import db
from workflow.evaluation import facts as facts_mod
from workflow.evaluation import operations as evaluations
from workflow.evaluation.lists import EVALUATIONS
from workflow.evaluation.models import (
    CLOSURES,
    DIMENSIONS,
    Evaluation,
    Grade,
    PerformanceRecord,
)
from workflow.evaluation.scoring import MAX, propose
from workflow.permissions import allow
from workflow.web.listing import api_page, api_params

SCORE = {"type": "integer", "minimum": 0, "maximum": MAX}
SCORES = {"type": "object", "properties": {d: {**SCORE, "description": label}
                                           for d, label in DIMENSIONS.items()},
          "required": list(DIMENSIONS)}
GRADE_TEXT = ("excellent（优秀，≥90）、good（良好，≥75）、qualified（合格，≥60）、"
              "unqualified（不合格）")
FACTS = {"type": "object", "properties": {
    "indicators": nullable({"type": "array", "items": {"type": "integer"},
                            "description": "[完成数, 指标总数]；无记录为 null"}),
    "acceptance": nullable(enum(("pass", "fail"), "验收结论")),
    "outputs": {"type": "array", "items": {"type": "object", "properties": {
        "text": {"type": "string", "description": "成果（名称及编号）"},
        "year": {"type": "integer", "description": "来自年度报告时：其年度"},
        "kind": nullable("string", description="来自结题验收时：成果类型"),
        "source": {"type": "string", "description": "来源：结题验收或某年度报告"}},
        "required": ["text"]}},
    "spending_wan": {"type": "object", "properties": {
        k: {"type": "string", "description": label} for k, label in (
            ("granted", "资助"), ("disbursed", "已拨付"), ("recovered", "已追回"),
            ("surplus", "结余留用"), ("owed", "尚欠追回"))},
        "description": "经费（万元，两位小数）"},
    "timeliness": {"type": "object", "properties": {
        "planned_end": DATE, "finished_on": DATE, "days_late": {"type": "integer"},
        "overdue_reports": {"type": "integer"}, "late_milestones": {"type": "integer"}}}},
    "required": ["indicators", "acceptance", "outputs", "spending_wan", "timeliness"]}
EVALUATION_SCHEMA: dict[str, Any] = {"type": "object", "properties": {
    "id": {"type": "integer"}, "application_id": {"type": "integer"},
    "project_number": nullable("string"), "project": {"type": "string"},
    "organization": {"type": "string"}, "pi": {"type": "string"},
    "state": enum(EvaluationState), "state_label": {"type": "string"},
    "version": {"type": "integer"},
    "closure": enum(CLOSURES, "结束方式：completed 结题、failed 验收不通过、terminated 终止"),
    "closed_on": DATE, "facts": FACTS,
    "proposed": SCORES, "proposed_total": {"type": "integer"},
    "proposed_grade": enum(Grade, GRADE_TEXT),
    "notes": {"type": "object", "additionalProperties": {"type": "string"},
              "description": "各维度建议得分的依据"},
    "scores": SCORES, "total": {"type": "integer"}, "grade": enum(Grade, GRADE_TEXT),
    "grade_label": {"type": "string"}, "adjusted": {"type": "boolean"},
    "adjust_reason": {"type": "string"}, "adjusted_by": nullable("string"),
    "adjusted_at": nullable(DATE_TIME), "confirmed_at": nullable(DATE_TIME),
    "confirmed_by": nullable("string"), "comment": {"type": "string"},
    "leader_confirms": {"type": "boolean", "description": "不合格：须报分管领导确认"}},
    "required": ["id", "application_id", "project_number", "project", "organization", "pi",
                 "state", "state_label", "version", "closure", "closed_on", "facts",
                 "proposed", "proposed_total", "proposed_grade", "notes", "scores", "total",
                 "grade", "grade_label", "adjusted", "adjust_reason", "adjusted_by",
                 "adjusted_at", "confirmed_at", "confirmed_by", "comment",
                 "leader_confirms"]}
ADJUST_BODY: dict[str, Any] = {
    **{d: {**SCORE, "description": f"{label}（0–{MAX}，不给出则保持现值）"}
       for d, label in DIMENSIONS.items()},
    "reason": {"type": "string", "maxLength": 2000,
               "description": "调整理由（得分与系统建议不同时必填，不少于10字）"}}
CONFIRM_BODY: dict[str, Any] = {
    "comment": {"type": "string", "maxLength": 5000, "description": "确认意见（可选）"}}
RECORD_SCHEMA: dict[str, Any] = {"type": "object", "properties": {
    "evaluation_id": {"type": "integer"}, "application_id": {"type": "integer"},
    "project_number": nullable("string"), "project": {"type": "string"},
    "subject": enum(("pi", "member", "org"), "身份：pi 负责人、member 项目组成员、org 承担单位"),
    "name": {"type": "string"}, "grade": enum(Grade, GRADE_TEXT),
    "grade_label": {"type": "string"}, "total": {"type": "integer"}, "confirmed_on": DATE},
    "required": ["evaluation_id", "application_id", "project_number", "project", "subject",
                 "name", "grade", "grade_label", "total", "confirmed_on"]}
FIRED_SCHEMA: dict[str, Any] = {"type": "object", "properties": {
    "evaluation": EVALUATION_SCHEMA, "from": enum(EvaluationState),
    "to": enum(EvaluationState)}, "required": ["evaluation", "from", "to"]}


def evaluation_json(ev: Evaluation) -> dict[str, Any]:
    app = ev.application
    facts = ev.facts or {}
    indicators = facts.get("indicators")
    return {
        "id": ev.id, "application_id": app.id, "project_number": app.project_number,
        "project": app.title, "organization": app.organization.name, "pi": app.applicant.name,
        "state": ev.state.value, "state_label": ev.state.label, "version": ev.version,
        "closure": ev.closure, "closed_on": ev.closed_on.isoformat(),
        "facts": {"indicators": list(indicators) if indicators is not None else None,
                  "acceptance": facts.get("acceptance"),
                  "outputs": list(facts.get("outputs") or []),
                  "spending_wan": facts_mod.money_text(facts),
                  "timeliness": dict(facts.get("timeliness") or {})},
        "proposed": dict(ev.proposed), "proposed_total": ev.proposed_total,
        "proposed_grade": ev.proposed_grade.value, "notes": propose(facts).notes,
        "scores": ev.scores, "total": ev.total, "grade": ev.grade.value,
        "grade_label": ev.grade.label, "adjusted": ev.adjusted is not None,
        "adjust_reason": ev.adjust_reason, "adjusted_by": ev.adjusted_by,
        "adjusted_at": ev.adjusted_at.isoformat() if ev.adjusted_at else None,
        "confirmed_at": ev.confirmed_at.isoformat() if ev.confirmed_at else None,
        "confirmed_by": ev.confirmed_by, "comment": ev.comment,
        "leader_confirms": ev.grade is Grade.unqualified,
    }


def record_json(r: PerformanceRecord) -> dict[str, Any]:
    return {"evaluation_id": r.evaluation_id, "application_id": r.application_id,
            "project_number": r.application.project_number, "project": r.application.title,
            "subject": r.subject, "name": r.name, "grade": r.grade.value,
            "grade_label": r.grade.label, "total": r.total,
            "confirmed_on": r.confirmed_on.isoformat()}


def _evaluation(ev_id: int, lock: bool = False) -> Evaluation:
    try:
        row: Evaluation = engine.load("evaluation", ev_id, lock=lock)
    except NotFound:
        raise NotFound("绩效评价不存在或无权查看") from None
    if not can_view(current_api_user(), row):
        raise NotFound("绩效评价不存在或无权查看")
    return row


@api_bp.get("/v1/evaluations")
@document("绩效评价列表（项目主管、领导、审计：全部；单位管理员：本单位项目的；项目负责人：本人项目的），"
          "与绩效评价页相同的搜索、筛选、排序和 Excel 导出",
          params=api_params(EVALUATIONS), media=XLSX, response=page_schema(EVALUATION_SCHEMA),
          responses={200: "列表；export=xlsx 时为 Excel 文件", 422: "参数有误"})
@token_required
def list_evaluations() -> Response:
    return api_page(EVALUATIONS, current_api_user(),
                    lambda rows: [evaluation_json(e) for e in rows])


@api_bp.get("/v1/evaluations/<int:ev_id>")
@document("绩效评价：评价依据、系统建议得分、评定得分和等级", response=EVALUATION_SCHEMA,
          responses={200: "绩效评价", 404: "不存在或无权查看"})
@token_required
def get_evaluation(ev_id: int) -> Response:
    return jsonify(evaluation_json(_evaluation(ev_id)))


@api_bp.post("/v1/evaluations/<int:ev_id>/adjust")
@document("项目主管调整得分（待评价时；各项0–25分，与系统建议不同须说明理由；等级随总分："
          "优秀≥90、良好≥75、合格≥60）；If-Match 给出版本号时，版本不符即 409",
          body=ADJUST_BODY, response=EVALUATION_SCHEMA, body_optional=True,
          responses={200: "已保存", 403: "不是项目主管", 404: "不存在或无权查看",
                     409: "已报领导或已确认，或版本不符", 422: "得分或理由有误（逐项说明）"})
@token_required
def adjust_evaluation(ev_id: int) -> Response:
    ev = _evaluation(ev_id, lock=True)
    body = typed_body(ADJUST_BODY)
    ev = evaluations.adjust(current_api_user(), ev, body, if_match(), request.remote_addr)
    return jsonify(evaluation_json(ev))


@api_bp.post("/v1/evaluations/<int:ev_id>/confirm")
@document("确认评价结果（项目主管：非不合格的待评价；分管领导：已报领导确认的）；"
          "不合格须先以 transitions 的 propose 报分管领导。If-Match 给出版本号时，版本不符即 409",
          body=CONFIRM_BODY, response=FIRED_SCHEMA, body_optional=True,
          responses={200: "已确认", 403: "角色不符", 404: "不存在或无权查看",
                     409: "状态或版本不符（如不合格须报分管领导确认）",
                     422: "条件未满足（逐条说明）"})
@token_required
def confirm_evaluation(ev_id: int) -> Response:
    body = typed_body(CONFIRM_BODY)
    ev = _evaluation(ev_id, lock=True)
    if ev.state is EvaluationState.draft and ev.grade is Grade.unqualified:
        raise Conflict("等级为不合格的绩效评价须报分管领导确认：请先执行"
                       "“报分管领导确认”（propose），或调整得分", code="leader_confirms")
    result = engine.fire(ev, "confirm", current_api_user(), comment=body.get("comment") or "",
                         expected_version=if_match(), ip=request.remote_addr)
    return jsonify({"evaluation": evaluation_json(result.row), "from": result.from_state,
                    "to": result.to_state})


def _history_reader(subject_user_id: int | None = None) -> None:
    user = current_api_user()
    allow(evaluations.performance_reader(user) or (
        subject_user_id is not None and user.id == subject_user_id),
        "只有项目主管和领导可以查看他人的历史绩效", code="not_reader")


@api_bp.get("/v1/people/<int:user_id>/performance")
@document("个人的历史绩效（任项目负责人或项目组成员的项目经确认的绩效评价等级）：项目主管、领导；"
          "本人可查看自己的", response=items_of(RECORD_SCHEMA),
          responses={200: "按确认日期从近到远", 403: "无权查看他人的历史绩效", 404: "用户不存在"})
@token_required
def person_performance(user_id: int) -> Response:
    _history_reader(user_id)
    if db.session.get(User, user_id) is None:
        raise NotFound("用户不存在")
    return jsonify({"items": [record_json(r) for r in evaluations.records_of(user_id=user_id)]})


@api_bp.get("/v1/organizations/<int:org_id>/performance")
@document("单位的历史绩效（承担项目经确认的绩效评价等级）：项目主管、领导",
          response=items_of(RECORD_SCHEMA),
          responses={200: "按确认日期从近到远", 403: "无权查看", 404: "单位不存在"})
@token_required
def organization_performance(org_id: int) -> Response:
    _history_reader()
    if db.session.get(Organization, org_id) is None:
        raise NotFound("单位不存在")
    return jsonify({"items": [record_json(r) for r in evaluations.records_of(
        organization_id=org_id)]})
