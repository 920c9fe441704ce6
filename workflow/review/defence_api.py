"""``/api/v1``: the 答辩 of 揭榜挂帅 — sessions and their panel, the panel's scores, a
team's defence finished, and the team (or the top K racing, 赛马) put in charge."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request

from states import ApplicationState
from workflow.accounts.models import User
from workflow.accounts.tokens import current_api_user, token_required
from workflow.api import api_bp, no_body, typed_body
from workflow.api.openapi import DATE_TIME, document, enum, items_of
from workflow.applying.models import Application
from workflow.calls.models import Call, Challenge
from workflow.core.entities import can_view
from workflow.core.errors import Invalid, NotFound
from workflow.core.models import db
from workflow.permissions import organiser
from workflow.review import defence
from workflow.review.models import DefenceScore, DefenceSession
from workflow.timeutil import local_time

ROLE_ENUM = {"type": "string", "enum": ["expert", "demand", None], "nullable": True,
             "description": "调用者在本场答辩中的身份（评审专家或发榜方），不在评审组为 null"}
SCORE_SCHEMA: dict[str, Any] = {"type": "object", "properties": {
    "score": {"type": "string", "description": "0至100，两位小数"}, "comment": {"type": "string"},
    "role": {"type": "string", "enum": ["expert", "demand"]}},
    "required": ["score", "comment", "role"]}
TEAM_SCHEMA: dict[str, Any] = {"type": "object", "properties": {
    "application_id": {"type": "integer"}, "title": {"type": "string"},
    "organization": {"type": "string"}, "state": enum(ApplicationState),
    "scored_by": {"type": "integer", "description": "已评分人数（含发榜方）"},
    "experts_scored": {"type": "integer", "description": "已评分的评审组专家人数"},
    "my_score": {**SCORE_SCHEMA, "nullable": True, "description": "本人的评分（未评为 null）"}},
    "required": ["application_id", "title", "organization", "state", "scored_by",
                 "experts_scored", "my_score"]}
SESSION_SCHEMA: dict[str, Any] = {"type": "object", "properties": {
    "id": {"type": "integer"}, "call_id": {"type": "integer"},
    "challenge": {"type": "object", "nullable": True, "properties": {
        "id": {"type": "integer"}, "title": {"type": "string"}}, "required": ["id", "title"]},
    "starts_at": DATE_TIME,
    "starts_at_local": {"type": "string", "description": "北京时间"},
    "place": {"type": "string"}, "demand_present": {"type": "boolean"},
    "my_role": ROLE_ENUM,
    "panel": {"type": "array", "description": "评审组专家（仅项目主管、领导可见）",
              "items": {"type": "object", "properties": {
                  "id": {"type": "integer"}, "name": {"type": "string"}}}},
    "teams": {"type": "array", "description": "待答辩团队", "items": TEAM_SCHEMA}},
    "required": ["id", "call_id", "challenge", "starts_at", "starts_at_local", "place",
                 "demand_present", "my_role", "teams"]}
SESSION_BODY: dict[str, Any] = {
    "challenge_id": {"type": "integer", "nullable": True,
                     "description": "榜单；不填为整个批次"},
    "starts_at": {"type": "string", "description": "北京时间，如 2026-12-10 09:00"},
    "place": "string",
    "panel": {"type": "array", "items": {"type": "integer"},
              "description": "评审组专家的用户 id，至少3位"},
}
SCORE_BODY: dict[str, Any] = {
    "score": {"oneOf": [{"type": "number"}, {"type": "string"}],
              "description": "0至100，最多两位小数"},
    "comment": "string",
}
SELECTION_BODY: dict[str, Any] = {
    "k": {"type": "integer", "description": "入选团队数（1至榜单的赛马团队数，默认取后者）"}}
SELECTION_SCHEMA: dict[str, Any] = {"type": "object", "properties": {
    "challenge_id": {"type": "integer"},
    "chosen": {"type": "array", "items": {"type": "integer"},
               "description": "入选（已拟立项）的申报书 id，按名次"},
    "order": {"type": "array", "items": {"type": "object", "properties": {
        "application_id": {"type": "integer"}, "title": {"type": "string"},
        "defence_score": {"type": "string", "nullable": True},
        "review_score": {"type": "string", "nullable": True},
        "chosen": {"type": "boolean"}, "state": enum(ApplicationState)},
        "required": ["application_id", "title", "defence_score", "review_score", "chosen",
                     "state"]}}},
    "required": ["challenge_id", "chosen", "order"]}
FINISHED_SCHEMA: dict[str, Any] = {"type": "object", "properties": {
    "application_id": {"type": "integer"}, "state": enum(ApplicationState),
    "state_label": {"type": "string"},
    "defence_score": {"type": "string", "nullable": True, "description": "答辩得分"}},
    "required": ["application_id", "state", "state_label", "defence_score"]}


def _score_json(row: DefenceScore | None) -> dict[str, Any] | None:
    if row is None:
        return None
    return {"score": str(row.score), "comment": row.comment, "role": row.role}


def session_json(session: DefenceSession, viewer: User,
                 scores: dict[tuple[int, int], list[DefenceScore]]) -> dict[str, Any]:
    challenge = db.session.get(Challenge, session.challenge_id) \
        if session.challenge_id is not None else None
    body: dict[str, Any] = {
        "id": session.id, "call_id": session.call_id,
        "challenge": {"id": challenge.id, "title": challenge.title} if challenge else None,
        "starts_at": session.starts_at.isoformat(),
        "starts_at_local": local_time(session.starts_at), "place": session.place,
        "demand_present": session.demand_present,
        "my_role": defence.panel_role(viewer, session), "teams": [],
    }
    if organiser(viewer):
        body["panel"] = [{"id": u.id, "name": u.name} for u in (
            db.session.get(User, i) for i in session.panel) if u is not None]
    for app in defence.teams(session):
        rows = scores.get((session.id, app.id), [])
        body["teams"].append({
            "application_id": app.id, "title": app.title,
            "organization": app.organization.name, "state": app.state.value,
            "scored_by": len(rows), "experts_scored": sum(r.role == "expert" for r in rows),
            "my_score": _score_json(next((r for r in rows if r.panelist_id == viewer.id),
                                         None)),
        })
    return body


def _call(call_id: int) -> Call:
    call = db.session.get(Call, call_id)
    if call is None or not can_view(current_api_user(), call):
        raise NotFound("申报指南不存在")
    return call


@api_bp.get("/v1/calls/<int:call_id>/defence/sessions")
@document("答辩安排：项目主管、领导看全部场次，评审组成员（含发榜方）看本人参加的场次",
          responses={200: "场次及待答辩团队", 403: "不是答辩组织者或评审组成员",
                     404: "不存在或无权查看"},
          response=items_of(SESSION_SCHEMA))
@token_required
def list_sessions(call_id: int) -> Response:
    user = current_api_user()
    sessions = defence.sessions_for(user, _call(call_id))
    scores = defence.scores_of(sessions)
    return jsonify({"items": [session_json(s, user, scores) for s in sessions]})


@api_bp.post("/v1/calls/<int:call_id>/defence/sessions")
@document("安排答辩（项目主管）：时间、地点、评审组（至少3位专家）；选定榜单时发榜方参加",
          body=SESSION_BODY, required=("starts_at", "place", "panel"),
          responses={201: "已安排", 403: "不是项目主管", 404: "指南不存在",
                     422: "安排有误（逐项说明）"},
          response=SESSION_SCHEMA)
@token_required
def schedule_session(call_id: int) -> tuple[Response, int]:
    user = current_api_user()
    call = _call(call_id)
    session = defence.schedule(user, call, typed_body(SESSION_BODY))
    return jsonify(session_json(session, user, {})), 201


@api_bp.get("/v1/defence/sessions/<int:session_id>")
@document("一场答辩：评审组、待答辩团队及评分进度", response=SESSION_SCHEMA,
          responses={200: "场次", 404: "不存在或无权查看"})
@token_required
def get_session(session_id: int) -> Response:
    user = current_api_user()
    session = defence.visible_session(user, session_id)
    return jsonify(session_json(session, user, defence.scores_of([session])))


def _score(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise Invalid("答辩评分有误", details={"score": "应为0至100之间的数字"})
    return value


@api_bp.put("/v1/defence/sessions/<int:session_id>/teams/<int:app_id>/score")
@document("评审组成员（专家或发榜方）录入或修改本人对某团队的答辩评分",
          body=SCORE_BODY, required=("score",),
          responses={200: "已保存", 403: "不是本场评审组成员或需回避",
                     404: "场次或团队不存在", 409: "该团队不在待答辩状态",
                     422: "评分有误"},
          response=SCORE_SCHEMA)
@token_required
def put_score(session_id: int, app_id: int) -> Response:
    user = current_api_user()
    session = defence.visible_session(user, session_id)
    app = defence.team_of(session, app_id)
    body = typed_body(SCORE_BODY)
    row = defence.record_score(user, session, app, _score(body.get("score")),
                               body.get("comment") or "")
    return jsonify(_score_json(row))


@api_bp.post("/v1/defence/sessions/<int:session_id>/teams/<int:app_id>/finish")
@document("确认某团队答辩完成（项目主管）：评审组评分的平均分记为答辩得分，申报书进入“评审完成”",
          responses={200: "已完成", 403: "不是项目主管", 404: "场次或团队不存在",
                     409: "评审组专家评分不足或团队不在待答辩状态", 422: "不接受请求体字段"},
          response=FINISHED_SCHEMA)
@token_required
def finish_team(session_id: int, app_id: int) -> Response:
    user = current_api_user()
    session = defence.visible_session(user, session_id)
    app = defence.team_of(session, app_id)
    no_body()
    result = defence.finish(user, session, app, request.remote_addr)
    row: Application = result.row
    return jsonify({"application_id": row.id, "state": row.state.value,
                    "state_label": row.state.label,
                    "defence_score": None if row.defence_score is None
                    else str(row.defence_score)})


@api_bp.post("/v1/challenges/<int:challenge_id>/selection")
@document("确定揭榜团队（项目主管或领导）：按答辩得分、再按评审得分排序，前 k 名拟立项"
          "（k=1 为挂帅，大于1为赛马）",
          body=SELECTION_BODY,
          responses={200: "入选团队及完整排序", 403: "不是项目主管或领导",
                     404: "榜单不存在或没有评审完成的团队", 422: "入选团队数有误"},
          response=SELECTION_SCHEMA)
@token_required
def select_teams(challenge_id: int) -> Response:
    user = current_api_user()
    challenge = db.session.get(Challenge, challenge_id)
    if challenge is None or not can_view(user, challenge.call):
        raise NotFound("榜单不存在")
    body = typed_body(SELECTION_BODY) if request.content_length else {}
    result = defence.select_teams(user, challenge, body.get("k"), request.remote_addr)
    chosen = {a.id for a in result.chosen}
    return jsonify({
        "challenge_id": challenge.id, "chosen": [a.id for a in result.chosen],
        "order": [{"application_id": a.id, "title": a.title,
                   "defence_score": None if d is None else str(d),
                   "review_score": None if r is None else str(r),
                   "chosen": a.id in chosen, "state": a.state.value}
                  for a, d, r in result.order]})
