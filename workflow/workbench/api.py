"""``/{calls|applications|reviews|tranches|milestones|decisions|objections}/{id}/transitions``
and ``/history``."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request

from workflow.accounts.tokens import current_api_user, token_required
from workflow.api import api_bp, if_match, json_body
from workflow.api.openapi import document
from workflow.core import audit, engine
from workflow.core.entities import can_read, can_view
from workflow.core.errors import Invalid, NotFound
from workflow.core.models import AuditEvent
from workflow.permissions import allow

COLLECTIONS = {"calls": "call", "applications": "application", "reviews": "review",
               "tranches": "tranche", "milestones": "milestone", "decisions": "decision",
               "objections": "objection"}


FIRE_BODY = {"trigger": "string", "comment": "string", "data": "object"}


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

    @document(f"{kind}: 可执行的操作及不可执行的原因",
              responses={200: "操作列表", 401: "未登录", 404: "不存在"})
    @token_required
    def list_transitions(entity_id: int) -> Response:
        row = _visible(kind, entity_id)
        opts = engine.options(row, current_api_user())
        return jsonify({**state_json(row), "transitions": [o.as_dict() for o in opts]})

    @document(f"{kind}: 执行操作", body=FIRE_BODY, required=("trigger",),
              responses={200: "新状态", 400: "请求格式有误", 403: "角色或归属不符",
                         404: "不存在", 409: "状态或版本不符", 422: "条件未满足"})
    @token_required
    def fire_transition(entity_id: int) -> tuple[Response, int, dict[str, str]]:
        body = json_body(FIRE_BODY)
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

    @document(f"{kind}: 审计轨迹", responses={200: "按顺序的记录", 403: "无权查看其内容",
                                             404: "不存在"})
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
