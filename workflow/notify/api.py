"""``/api/v1``: each person's inbox (站内消息) and notification preferences, and, for the
officers and the administrator, what went out by e-mail or SMS and the resending of a
dead letter — what the inbox, preferences and delivery-log pages do."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request

from forms import parse_id
from workflow.accounts.tokens import current_api_user, token_required
from workflow.api import api_bp, no_body, page_schema, typed_body
from workflow.api.openapi import XLSX, document
from workflow.core.errors import Invalid
from workflow.core.models import db
from workflow.notify import inbox, notifications
from workflow.notify.lists import INBOX, LOG
from workflow.notify.models import DeliveryState, Notification
from workflow.permissions import allow, found, message_keeper
from workflow.web.listing import api_page, api_params

PREFERENCES_BODY: dict[str, Any] = {
    "email_reminders": {"type": "boolean",
                        "description": "是否通过邮件接收提醒（截止、到期、逾期提醒）；立项决定、"
                                       "异议结论等正式通知始终发送，不能关闭"}}
PREFERENCES_SCHEMA: dict[str, Any] = {"type": "object", "properties": {
    "email_reminders": {"type": "boolean"},
    "email": {"type": "string", "nullable": True, "description": "登记的邮箱（未登记为 null）"}},
    "required": ["email_reminders", "email"]}
MESSAGE_SCHEMA: dict[str, Any] = {"type": "object", "properties": {
    "id": {"type": "integer"}, "title": {"type": "string"}, "body": {"type": "string"},
    "link": {"type": "string", "nullable": True, "description": "相关页面（站内相对地址）"},
    "topic": {"type": "string"},
    "category": {"type": "string", "description": "notice（通知）、reminder（提醒）、"
                                                  "decision（决定）"},
    "created_at": {"type": "string", "format": "date-time"},
    "read_at": {"type": "string", "format": "date-time", "nullable": True},
    "read": {"type": "boolean"}},
    "required": ["id", "title", "body", "link", "topic", "category", "created_at", "read_at",
                 "read"]}
INBOX_SCHEMA: dict[str, Any] = page_schema(MESSAGE_SCHEMA)
INBOX_SCHEMA["properties"]["unread"] = {"type": "integer", "description": "未读消息数"}
READ_BODY: dict[str, Any] = {
    "id": {"type": "integer", "nullable": True,
           "description": "标为已读的消息 id；不给出（或为 null）时全部标为已读"}}
READ_SCHEMA: dict[str, Any] = {"type": "object", "properties": {
    "marked": {"type": "integer", "description": "本次标为已读的条数"},
    "unread": {"type": "integer", "description": "剩余未读消息数"}},
    "required": ["marked", "unread"]}
STATES = [s.value for s in DeliveryState]
CHANNELS = ["email", "sms"]
NOTIFICATION_SCHEMA: dict[str, Any] = {"type": "object", "properties": {
    "id": {"type": "integer"}, "user_id": {"type": "integer", "description": "收件人"},
    "channel": {"type": "string", "enum": ["inapp", *CHANNELS]},
    "category": {"type": "string"}, "topic": {"type": "string"}, "title": {"type": "string"},
    "address": {"type": "string", "nullable": True, "description": "邮箱或手机号"},
    "state": {"type": "string", "enum": STATES}, "state_label": {"type": "string"},
    "attempts": {"type": "integer"}, "last_error": {"type": "string", "nullable": True},
    "created_at": {"type": "string", "format": "date-time"},
    "sent_at": {"type": "string", "format": "date-time", "nullable": True},
    "resendable": {"type": "boolean", "description": "发送失败，可重新发送"}},
    "required": ["id", "user_id", "channel", "category", "topic", "title", "address", "state",
                 "state_label", "attempts", "last_error", "created_at", "sent_at",
                 "resendable"]}
NOTIFICATION_LOG_SCHEMA: dict[str, Any] = {"type": "object", "properties": {
    **NOTIFICATION_SCHEMA["properties"], "body": {"type": "string"},
    "log": {"type": "array", "description": "投递记录", "items": {
        "type": "object", "properties": {
            "at": {"type": "string", "format": "date-time"}, "ok": {"type": "boolean"},
            "detail": {"type": "string"},
            "worker": {"type": "string", "nullable": True}},
        "required": ["at", "ok", "detail", "worker"]}}},
    "required": [*NOTIFICATION_SCHEMA["required"], "body", "log"]}


def preferences_json(user: Any) -> dict[str, Any]:
    return {"email_reminders": user.email_reminders, "email": user.email}


def message_json(n: Notification) -> dict[str, Any]:
    return {"id": n.id, "title": n.title, "body": n.body, "link": n.link, "topic": n.topic,
            "category": n.category, "created_at": n.created_at.isoformat(),
            "read_at": n.read_at.isoformat() if n.read_at else None,
            "read": n.read_at is not None}


def notification_json(n: Notification) -> dict[str, Any]:
    return {"id": n.id, "user_id": n.user_id, "channel": n.channel, "category": n.category,
            "topic": n.topic, "title": n.title, "address": n.address, "state": n.state.value,
            "state_label": n.state.label, "attempts": n.attempts, "last_error": n.last_error,
            "created_at": n.created_at.isoformat(),
            "sent_at": n.sent_at.isoformat() if n.sent_at else None,
            "resendable": notifications.resendable(n)}


# ---- the person's own ------------------------------------------------------------------

@api_bp.get("/v1/me/preferences")
@document("本人的通知设置", response=PREFERENCES_SCHEMA,
          responses={200: "通知设置", 401: "令牌缺失或无效"})
@token_required
def get_preferences() -> Response:
    return jsonify(preferences_json(current_api_user()))


@api_bp.put("/v1/me/preferences")
@document("修改本人的通知设置", body=PREFERENCES_BODY, required=("email_reminders",),
          response=PREFERENCES_SCHEMA,
          responses={200: "已保存", 401: "令牌缺失或无效", 422: "字段有误"})
@token_required
def put_preferences() -> Response:
    user = current_api_user()
    body = typed_body(PREFERENCES_BODY)
    if not isinstance(body.get("email_reminders"), bool):
        raise Invalid("email_reminders 必填，应为布尔值",
                      details={"email_reminders": "必填，true 或 false"})
    notifications.set_preferences(user, email_reminders=body["email_reminders"])
    return jsonify(preferences_json(user))


def _unread_only() -> bool:
    raw = request.args.get("unread", "")
    if raw not in ("", "true", "false"):
        raise Invalid("unread 应为 true 或 false", details={"unread": "true 或 false"})
    return raw == "true"


@api_bp.get("/v1/me/inbox")
@document("本人的站内消息（与消息页相同的搜索、筛选、排序和 Excel 导出；默认最新在前）；"
          "含未读数", params=api_params(INBOX), media=XLSX, response=INBOX_SCHEMA,
          responses={200: "消息列表；export=xlsx 时为 Excel 文件", 401: "令牌缺失或无效",
                     422: "参数有误"})
@token_required
def my_inbox() -> Response:
    user = current_api_user()
    return api_page(INBOX, user, lambda rows: [message_json(n) for n in rows],
                    unread=inbox.unread(user))


@api_bp.post("/v1/me/inbox/read")
@document("把一条站内消息（给出 id）或全部消息（不给出 id）标为已读",
          body=READ_BODY, response=READ_SCHEMA,
          responses={200: "已标为已读", 401: "令牌缺失或无效", 404: "不是本人的消息",
                     422: "字段有误"})
@token_required
def read_inbox() -> Response:
    user = current_api_user()
    body = typed_body(READ_BODY) if request.content_length else {}
    raw = body.get("id")
    note_id = parse_id(raw)
    if raw is not None and note_id is None:
        raise Invalid("id 应为正整数", details={"id": "应为消息 id（正整数）"})
    marked = inbox.mark_read(user, note_id)
    return jsonify({"marked": marked, "unread": inbox.unread(user)})


# ---- what went out, for those who keep it (项目主管、系统管理员) --------------------------

@api_bp.get("/v1/notifications")
@document("邮件和短信的发送记录（项目主管、系统管理员）：与发送记录页相同的搜索、筛选、排序和"
          "Excel 导出，最新在前；state=dead 为发送失败",
          params=api_params(LOG), media=XLSX, response=page_schema(NOTIFICATION_SCHEMA),
          responses={200: "列表；export=xlsx 时为 Excel 文件", 403: "不是项目主管或系统管理员",
                     422: "参数有误"})
@token_required
def list_notifications() -> Response:
    user = current_api_user()
    allow(message_keeper(user), "只有项目主管和系统管理员可以查看通知记录")
    return api_page(LOG, user, lambda rows: [notification_json(n) for n in rows])


def _kept(note_id: int) -> Notification:
    return found(db.session.get(Notification, note_id), current_api_user(), message_keeper,
                 what="通知")


@api_bp.get("/v1/notifications/<int:note_id>")
@document("一条通知及其投递记录（项目主管、系统管理员）", response=NOTIFICATION_LOG_SCHEMA,
          responses={200: "通知及投递记录", 404: "不存在或无权查看"})
@token_required
def get_notification(note_id: int) -> Response:
    n = _kept(note_id)
    return jsonify({**notification_json(n), "body": notifications.shown_body(n), "log": [
        {"at": a.at.isoformat(), "ok": a.ok, "detail": a.detail, "worker": a.worker}
        for a in n.log]})


@api_bp.post("/v1/notifications/<int:note_id>/resend")
@document("重新发送一条发送失败的邮件或短信（项目主管、系统管理员）",
          response=NOTIFICATION_SCHEMA,
          responses={200: "已重新排队发送", 404: "不存在或无权查看（站内消息无需重发）",
                     409: "该通知未发送失败，无需重发", 422: "不接受请求体字段"})
@token_required
def resend(note_id: int) -> Response:
    _kept(note_id)
    no_body()
    return jsonify(notification_json(notifications.resend(current_api_user(), note_id)))
