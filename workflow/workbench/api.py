"""``/{calls|applications|reviews|tranches|milestones|decisions|objections|changes}/{id}/transitions``
and ``/history``."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request

from states import LIFECYCLES
from workflow.accounts.tokens import current_api_user, token_required
from workflow.api import api_bp, if_match, json_body
from workflow.api.openapi import DATE_TIME, document, enum, nullable
from workflow.core import audit, engine
from workflow.core.entities import can_read, can_view
from workflow.core.errors import Invalid, NotFound
from workflow.core.models import AuditEvent
from workflow.permissions import allow

COLLECTIONS = {"calls": "call", "applications": "application", "reviews": "review",
               "tranches": "tranche", "milestones": "milestone", "decisions": "decision",
               "objections": "objection", "recoveries": "recovery",
               "sanction-reviews": "sanction_review", "annual-reports": "annual_report",
               "changes": "change", "evaluations": "evaluation",
               "acceptances": "acceptance", "midterms": "midterm"}


REASON_SCHEMA: dict[str, Any] = {"type": "object", "properties": {
    "code": {"type": "string"}, "message": {"type": "string"},
    "fields": {"type": "object", "additionalProperties": {"type": "string"},
               "description": "相关的输入项及其说明"}},
    "required": ["code", "message"]}


def _schemas(kind: str) -> dict[str, dict[str, Any]]:
    """The request and answer schemas of one lifecycle's routes: its states and triggers
    are those of ``states/``."""
    lifecycle = LIFECYCLES[kind]
    state = enum(lifecycle.states)
    triggers = list(dict.fromkeys(t.trigger for t in lifecycle.transitions))
    head = {"id": {"type": "integer"}, "state": state, "state_label": {"type": "string"},
            "version": {"type": "integer"}}
    required = ["id", "state", "state_label", "version"]
    option = {"type": "object", "properties": {
        "trigger": enum(triggers), "label": {"type": "string"}, "dest": state,
        "dest_label": {"type": "string"}, "allowed": {"type": "boolean"},
        "needs_comment": {"type": "boolean", "description": "须写明理由"},
        "final": {"type": "boolean", "description": "目标状态为终态"},
        "reasons": {"type": "array", "items": REASON_SCHEMA,
                    "description": "不可执行的原因"}},
        "required": ["trigger", "label", "dest", "dest_label", "allowed", "needs_comment",
                     "final", "reasons"]}
    event = {"type": "object", "properties": {
        "seq": {"type": "integer"}, "at": DATE_TIME, "trigger": nullable("string"),
        "from": nullable(state), "to": nullable(state), "actor": nullable("string"),
        "role": nullable("string"), "comment": nullable("string"),
        "changes": {"type": "object", "description": "改动的字段"},
        "hash": {"type": "string", "description": "审计链的哈希"}},
        "required": ["seq", "at", "trigger", "from", "to", "actor", "role", "comment",
                     "changes", "hash"]}
    return {
        "body": {"trigger": enum(triggers, "操作"),
                 "comment": {"type": "string", "maxLength": 5000, "description": "意见或理由"},
                 "data": {"type": "object", "description": "操作所需的输入项"}},
        "options": {"type": "object", "properties": {
            **head, "transitions": {"type": "array", "items": option}},
            "required": [*required, "transitions"]},
        "fired": {"type": "object", "properties": {
            **head, "from": state, "to": state,
            "final_state": {**state, "description": "随后自动执行的操作之后的状态"}},
            "required": [*required, "from", "to", "final_state"]},
        "history": {"type": "object", "properties": {
            **head, "history": {"type": "array", "items": event}},
            "required": [*required, "history"]},
    }


def _visible(kind: str, entity_id: int, lock: bool = False) -> Any:
    row = engine.load(kind, entity_id, lock=lock)
    if not can_view(current_api_user(), row):
        raise NotFound("对象不存在或无权查看")
    return row


def event_json(ev: AuditEvent) -> dict[str, Any]:
    return {
        "seq": ev.seq, "at": ev.at.isoformat(), "trigger": ev.trigger,
        "from": ev.from_state, "to": ev.to_state, "actor": ev.actor_name,
        "role": ev.actor_role, "comment": ev.comment, "changes": ev.data.get("changes", {}),
        "hash": ev.hash,
    }


def state_json(row: Any) -> dict[str, Any]:
    return {"id": row.id, "state": row.state.value, "state_label": row.state.label,
            "version": row.version}


def _register(collection: str, kind: str) -> None:
    base = f"/v1/{collection}/<int:entity_id>"
    schemas = _schemas(kind)
    fire_body = schemas["body"]

    @document(f"{kind}: 可执行的操作及不可执行的原因", response=schemas["options"],
              responses={200: "操作列表", 404: "不存在或无权查看"})
    @token_required
    def list_transitions(entity_id: int) -> Response:
        row = _visible(kind, entity_id)
        opts = engine.options(row, current_api_user())
        return jsonify({**state_json(row), "transitions": [o.as_dict() for o in opts]})

    @document(f"{kind}: 执行操作；If-Match 给出版本号时，版本不符即 409", body=fire_body,
              required=("trigger",), response=schemas["fired"],
              responses={200: "新状态", 400: "请求格式有误", 403: "角色或归属不符",
                         404: "不存在或无权查看", 409: "状态或版本不符，或该操作不能从当前状态执行",
                         422: "条件未满足（逐条说明）或字段有误"})
    @token_required
    def fire_transition(entity_id: int) -> tuple[Response, int, dict[str, str]]:
        body = json_body(fire_body)
        trigger, comment, data = body.get("trigger"), body.get("comment", ""), body.get("data")
        errors = {}
        if not isinstance(trigger, str) or not trigger:
            errors["trigger"] = "必填，字符串"
        if not isinstance(comment, str) or len(comment) > 5000:
            errors["comment"] = "应为不超过5000字的字符串"
        if data is not None and not isinstance(data, dict):
            errors["data"] = "应为 JSON 对象"
        if errors:
            raise Invalid("请求字段有误", details=errors)
        row = _visible(kind, entity_id, lock=True)
        result = engine.fire(row, str(trigger), current_api_user(), comment=str(comment),
                             data=data or {}, expected_version=if_match(),
                             ip=request.remote_addr)
        body_out = {**state_json(result.row), "from": result.from_state, "to": result.to_state,
                    "final_state": result.final_state}
        return jsonify(body_out), 200, {"ETag": f'"{result.row.version}"'}

    @document(f"{kind}: 审计轨迹", response=schemas["history"],
              responses={200: "按顺序的记录", 403: "无权查看其内容", 404: "不存在或无权查看"})
    @token_required
    def history(entity_id: int) -> Response:
        # A review's trail names its expert: it stays with the bureau and that expert,
        # which is who may see the review at all.
        row = _visible(kind, entity_id)
        # Who sees a row but may not read it (a colleague's application) reads no trail.
        allow(can_read(current_api_user(), row), "您无权查看其办理记录", code="not_reader")
        events = audit.history(kind, entity_id)
        return jsonify({**state_json(row), "history": [event_json(e) for e in events]})

    api_bp.add_url_rule(f"{base}/transitions", f"{kind}_transitions", list_transitions,
                        methods=["GET"])
    api_bp.add_url_rule(f"{base}/transitions", f"{kind}_fire", fire_transition,
                        methods=["POST"])
    api_bp.add_url_rule(f"{base}/history", f"{kind}_history", history, methods=["GET"])


for _collection, _kind in COLLECTIONS.items():
    _register(_collection, _kind)
