"""``/api/v1/reviews`` (the caller's queue, scores) and ``/api/v1/calls/{id}/assign``."""

from __future__ import annotations

import io
from decimal import Decimal
from typing import Any

from flask import Response, jsonify, request, send_file

from forms import FieldError, parse_id, parse_wan
from states import ReviewState
from workflow.accounts.models import User
from workflow.accounts.tokens import current_api_user, token_required
from workflow.api import PAGING_PARAMS, api_bp, json_body, page_schema, paging, typed_body
from workflow.api.openapi import DATE_TIME, REF, WAN, XLSX, document, enum, nullable
from workflow.calls.models import Call
from workflow.core import engine
from workflow.core.entities import can_view
from workflow.core.errors import Invalid, NotFound
from workflow.core.models import db
from workflow.permissions import (
    allow,
    decision_reader,
    expert_name_reader,
    found,
    live_review,
    own_review,
    review_assigner,
    sees_hidden_applicant,
)
from workflow.review import operations as reviews
from workflow.review import results
from workflow.review.lists import QUEUE
from workflow.review.models import ReviewAssignment
from workflow.review.ranking import STATUS_LABELS
from workflow.web.listing import api_page, api_params


def review_json(review: ReviewAssignment, viewer: User) -> dict[str, Any]:
    app = review.application
    body: dict[str, Any] = {
        "id": review.id, "state": review.state.value, "state_label": review.state.label,
        "version": review.version,
        "respond_by": review.respond_by.isoformat() if review.respond_by else None,
        "due_at": review.due_at.isoformat() if review.due_at else None,
        "scores": review.scores, "comment": review.comment,
        "total": str(review.total) if review.total is not None else None,
        "application": {"id": app.id, "title": app.title, "call_id": app.call_id,
                        "rubric": app.call.rubric},
    }
    # An expert whose review is over (declined, expired, withdrawn) keeps the title only.
    shown = not app.call.hide_applicant or sees_hidden_applicant(viewer)
    if shown and (not own_review(viewer, review) or live_review(viewer, review)):
        body["application"]["organization"] = app.organization.name
        body["application"]["applicant"] = app.applicant.name
    if expert_name_reader(viewer):
        body["expert"] = {"id": review.expert_id, "name": review.expert.name}
    return body


REVIEW_SCHEMA: dict[str, Any] = {"type": "object", "properties": {
    "id": {"type": "integer"}, "state": enum(ReviewState), "state_label": {"type": "string"},
    "version": {"type": "integer"},
    "respond_by": nullable(DATE_TIME, description="接受邀请的截止时间"),
    "due_at": nullable(DATE_TIME, description="评审截止时间"),
    "scores": {"type": "object", "description": "{评分标准名称: 分数}"},
    "comment": {"type": "string"},
    "total": nullable("string", description="总分（0至100，两位小数）"),
    "application": {"type": "object", "properties": {
        "id": {"type": "integer"}, "title": {"type": "string"},
        "call_id": {"type": "integer"},
        "rubric": {"type": "array", "items": {"type": "object"}, "description": "评分细则"},
        "organization": {"type": "string", "description": "申报单位（匿名评审时不给出）"},
        "applicant": {"type": "string", "description": "项目负责人（匿名评审时不给出）"}},
        "required": ["id", "title", "call_id", "rubric"]},
    "expert": {**REF, "description": "评审专家（仅项目主管、领导、审计人员可见）"}},
    "required": ["id", "state", "state_label", "version", "respond_by", "due_at", "scores",
                 "comment", "total", "application"]}
QUEUE_SCHEMA: dict[str, Any] = page_schema(REVIEW_SCHEMA)
QUEUE_SCHEMA["properties"]["counts"] = {"type": "object", "properties": {
    "waiting": {"type": "integer", "description": "待接受"},
    "in_progress": {"type": "integer", "description": "评审中"},
    "done": {"type": "integer", "description": "已完成"}},
    "required": ["waiting", "in_progress", "done"]}
QUEUE_SCHEMA["required"] = [*QUEUE_SCHEMA["required"], "counts"]
SCORES_BODY: dict[str, Any] = {
    "scores": {"type": "object", "description": "{评分标准名称: 分数}",
               "additionalProperties": {"oneOf": [{"type": "string"},
                                                  {"type": "number"}]}},
    "comment": "string", "submit": "boolean"}
ASSIGN_BODY: dict[str, Any] = {"mode": {"type": "string", "enum": ["optimal", "random"]},
                               "per_application": "integer", "seed": "integer"}
ASSIGNMENT_SCHEMA: dict[str, Any] = {"type": "object", "properties": {
    "draw_id": {"type": "integer", "description": "本次分配的记录编号"},
    "mode": {"type": "string", "enum": ["optimal", "random"]},
    "seed": nullable("integer", description="随机抽取的种子（可复现）"),
    "params": {"type": "object", "description": "分配参数"},
    "result": {"type": "object", "description": "{申报书 id: [专家 id, ...]}"},
    "reserves": {"type": "object", "description": "{申报书 id: [备选专家 id, ...]}"},
    "assignments": {"type": "array", "items": {"type": "object", "properties": {
        "review_id": {"type": "integer"}, "application_id": {"type": "integer"},
        "expert_id": {"type": "integer"}},
        "required": ["review_id", "application_id", "expert_id"]}}},
    "required": ["draw_id", "mode", "seed", "params", "result", "reserves", "assignments"]}


def own_review_of(user: User, review_id: int) -> ReviewAssignment:
    """The caller's own review: not found when they may not see it, refused when they see
    it (the bureau) but are not its expert."""
    review = found(db.session.get(ReviewAssignment, review_id), user, can_view,
                   what="评审任务")
    allow(own_review(user, review), "只有受邀专家本人可以评分或谢绝", code="not_owner")
    return review


@api_bp.get("/v1/reviews")
@document("我的评审任务，分页（默认待处理的在前，各按截止时间；含待处理、进行中、已完成数量和总数），"
          "与评审任务页相同的搜索、筛选、排序和 Excel 导出",
          params=api_params(QUEUE), media=XLSX, response=QUEUE_SCHEMA,
          responses={200: "列表；export=xlsx 时为 Excel 文件", 422: "参数有误"})
@token_required
def my_reviews() -> Response:
    user = current_api_user()
    waiting, in_progress, done = reviews.queue_counts(user)
    return api_page(QUEUE, user, lambda rows: [review_json(r, user) for r in rows],
                    counts={"waiting": waiting, "in_progress": in_progress, "done": done})


@api_bp.put("/v1/reviews/<int:review_id>/scores")
@document("保存评分草稿；submit 为 true 时提交并锁定", body=SCORES_BODY, response=REVIEW_SCHEMA,
    responses={200: "已保存", 403: "不是受邀专家本人", 404: "不存在", 409: "未接受或已提交",
               422: "评分有误"})
@token_required
def put_scores(review_id: int) -> Response:
    user = current_api_user()
    review = own_review_of(user, review_id)
    body = json_body(SCORES_BODY)
    submit = body.get("submit", False)
    if not isinstance(submit, bool):
        raise Invalid("submit 应为布尔值", details={"submit": "true 或 false"})
    review = reviews.save_scores(user, review, body.get("scores", {}), body.get("comment"),
                                 submit=submit, ip=request.remote_addr)
    return jsonify(review_json(review, user))


DECLINE_BODY: dict[str, Any] = {
    "reason": "string",
    "conflict_kind": {"type": "string", "nullable": True,
                      "enum": ["declared", "near_relative", "teacher_student", "joint_work",
                               None],
                      "description": "同时声明的回避关系（记录在案，以后也回避）"}}


@api_bp.post("/v1/reviews/<int:review_id>/decline")
@document("谢绝评审邀请，可同时声明回避关系；备选专家随即补上", body=DECLINE_BODY,
          response=REVIEW_SCHEMA,
          responses={200: "已谢绝", 403: "不是受邀专家本人", 404: "不存在",
                     409: "不在可谢绝的状态", 422: "内容有误"})
@token_required
def decline_review(review_id: int) -> Response:
    user = current_api_user()
    review = own_review_of(user, review_id)
    body = typed_body(DECLINE_BODY)
    reviews.decline(user, engine.load("review", review.id, lock=True),
                    body.get("reason") or "", body.get("conflict_kind"), request.remote_addr)
    return jsonify(review_json(review, user))


@api_bp.post("/v1/calls/<int:call_id>/assign")
@document("分配评审专家：最优匹配（最小费用流）或随机抽取（可复现的种子，含备选）。"
          "在本次请求内同步完成并返回结果（页面上发起的分配由后台处理，进度见 "
          "GET /api/v1/jobs/{id}）",
          body=ASSIGN_BODY, required=("mode",), response=ASSIGNMENT_SCHEMA,
          responses={200: "分配结果", 403: "不是项目主管", 409: "批次状态不符", 422: "参数有误"})
@token_required
def assign(call_id: int) -> Response:
    user = current_api_user()
    call = db.session.get(Call, call_id)
    if call is None or not can_view(user, call):
        raise NotFound("申报指南不存在")
    body = json_body(ASSIGN_BODY)
    report = reviews.assign(user, call, body.get("mode"), body.get("per_application"),
                            body.get("seed"))
    draw = report.draw
    return jsonify({
        "draw_id": draw.id, "mode": draw.mode, "seed": draw.seed, "params": draw.params,
        "result": draw.result, "reserves": draw.reserves,
        "assignments": [{"review_id": r.id, "application_id": r.application_id,
                         "expert_id": r.expert_id} for r in report.created],
    })


REVIEWER_BODY: dict[str, Any] = {
    "expert_id": {"type": "integer", "description": "专家库中评审专家的用户 id"}}


@api_bp.post("/v1/applications/<int:app_id>/reviewers")
@document("增加评审专家（项目主管）：与自动分配相同的回避检查（同单位、声明回避、近亲属、师生、"
          "近三年合作、申报同一批次、科研失信），已分配过的专家不再邀请；受邀专家收到评审邀请",
          body=REVIEWER_BODY, required=("expert_id",), response=REVIEW_SCHEMA,
          responses={201: "已邀请", 403: "不是项目主管", 404: "申报书不存在或无权查看",
                     409: "申报书不在专家评审阶段",
                     422: "不是评审专家，或该专家需回避（逐条说明原因）"})
@token_required
def add_reviewer(app_id: int) -> tuple[Response, int]:
    from workflow.applying.models import Application

    user = current_api_user()
    app = found(db.session.get(Application, app_id), user, can_view, what="申报书")
    allow(review_assigner(user), "只有项目主管可以增加评审专家")
    body = typed_body(REVIEWER_BODY)
    review = reviews.add_reviewer(user, app, parse_id(body.get("expert_id")))
    return jsonify(review_json(review, user)), 201


RANKING_PARAMS: dict[str, Any] = {
    "budget": {"type": "string", "description": "试算的预算（万元），默认本批次总预算"},
    "skip_unaffordable": {"type": "boolean",
                          "description": "true 时跳过放不下的项目继续往下资助"}}
RANKING_SCHEMA: dict[str, Any] = {"type": "object", "properties": {
    "total": {"type": "integer", "description": "排名项目总数"},
    "page": {"type": "integer"}, "per_page": {"type": "integer"},
    "pages": {"type": "integer"},
    "call_id": {"type": "integer"}, "budget_wan": WAN, "funded_wan": WAN,
    "remaining_wan": WAN,
    "tie_at_line": {"type": "boolean", "description": "资助线处有同分项目（由先提交者得）"},
    "items": {"type": "array", "items": {"type": "object", "properties": {
        "application_id": {"type": "integer"}, "title": {"type": "string"},
        "organization": {"type": "string"}, "challenge_id": nullable("integer"),
        "rank": nullable("integer"), "score": nullable("string", description="汇总得分"),
        "reviews": {"type": "integer", "description": "有效评分数"},
        "spread_flagged": {"type": "boolean", "description": "评分分歧过大，需讨论"},
        "spread_reasons": {"type": "array", "items": {"type": "string"}},
        "requested_wan": WAN, "funded": {"type": "boolean"},
        "status": {"type": "string", "enum": [*STATUS_LABELS, ""],
                   "description": "、".join(f"{k}（{v}）"
                                           for k, v in STATUS_LABELS.items())}},
        "required": ["application_id", "title", "organization", "challenge_id", "rank",
                     "score", "reviews", "spread_flagged", "spread_reasons",
                     "requested_wan", "funded", "status"]}}},
    "required": ["total", "page", "per_page", "pages", "call_id", "budget_wan",
                 "funded_wan", "remaining_wan", "tie_at_line", "items"]}
EXPLAIN_SCHEMA: dict[str, Any] = {"type": "object", "properties": {
    "expert_id": {"type": "integer"}, "proposal_id": {"type": "integer"},
    "may_pair": {"type": "boolean", "description": "可以评审"},
    "available": {"type": "boolean"}, "load_left": {"type": "integer"},
    "conflicts": {"type": "array", "items": {"type": "object", "properties": {
        "code": {"type": "string"}, "label": {"type": "string"}},
        "required": ["code", "label"]}},
    "conflict_labels": {"type": "array", "items": {"type": "string"}},
    "similarity": {"type": "number"}, "discipline_score": {"type": "number"},
    "keyword_score": {"type": "number"},
    "shared_disciplines": {"type": "array", "items": {"type": "string"}},
    "shared_discipline_prefixes": {"type": "array", "items": {"type": "string"}},
    "shared_keywords": {"type": "array", "items": {"type": "string"}},
    "cost": {"type": "number"}, "summary": {"type": "string"}},
    "required": ["expert_id", "proposal_id", "may_pair", "available", "load_left",
                 "conflicts", "summary"]}


def _ranking(call_id: int, criteria: bool = False) -> results.Results:
    """The call's results as ``/ranking`` and ``/ranking.xlsx`` read them: the same
    people, the same budget to try."""
    user = current_api_user()
    call = found(db.session.get(Call, call_id), user, can_view, what="申报指南")
    allow(decision_reader(user), "只有项目主管、领导和审计人员可以查看评审排名")
    return results.call_results(call, _budget(request.args.get("budget")),
                                request.args.get("skip_unaffordable") == "true",
                                criteria=criteria)


@api_bp.get("/v1/calls/<int:call_id>/ranking")
@document("评审排名与资助线（可用 budget 万元 试算）；排名分页（page、per_page），"
          "资助线按全部项目计算", params={**RANKING_PARAMS, **PAGING_PARAMS},
          response=RANKING_SCHEMA,
          responses={200: "排名", 403: "无权查看", 404: "不存在", 422: "预算有误"})
@token_required
def ranking(call_id: int) -> Response:
    page, per_page = paging()
    return jsonify(results.results_json(_ranking(call_id), page, per_page))


@api_bp.get("/v1/calls/<int:call_id>/ranking.xlsx")
@document("评审结果导出为 Excel（评审汇总、评分明细、评分标准；专家只以“专家1”等编号出现）；"
          "参数与查看权限同 /ranking", params=RANKING_PARAMS, media=XLSX,
          responses={200: "Excel 文件", 403: "无权查看", 404: "不存在", 422: "预算有误"})
@token_required
def ranking_xlsx(call_id: int) -> Response:
    return send_file(io.BytesIO(results.score_sheet(_ranking(call_id, criteria=True))),
                     as_attachment=True,
                     download_name=f"评审结果-{call_id}.xlsx", mimetype=XLSX)


def _budget(raw: str | None) -> Decimal | None:
    if raw in (None, ""):
        return None
    try:
        return parse_wan(raw)
    except FieldError as err:
        raise Invalid(str(err), details={"budget": str(err)}) from err


@api_bp.get("/v1/applications/<int:app_id>/experts/<int:expert_id>/explain")
@document("某位专家能否评审某份申报书：回避原因与匹配度（项目主管、审计人员）",
          response=EXPLAIN_SCHEMA, responses={
    200: "说明", 403: "无权查看", 404: "不存在"})
@token_required
def explain(app_id: int, expert_id: int) -> Response:
    from workflow.applying.models import Application

    app = db.session.get(Application, app_id)
    expert = db.session.get(User, expert_id)
    if app is None or expert is None:
        raise NotFound("申报书或专家不存在")
    return jsonify(reviews.explain_pair(current_api_user(), app, expert))
