"""``/api/v1`` routes."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request

from workflow.accounts import operations as accounts
from workflow.api import api_bp, current_api_user, json_body, token_required
from workflow.api.openapi import document, spec
from workflow.core.errors import Invalid

TOKEN_BODY = {"username": "string", "password": "string"}


@api_bp.post("/v1/auth/token")
@document("获取访问令牌", body=TOKEN_BODY, required=TOKEN_BODY,
          responses={200: "{token, expires_in}", 401: "用户名或密码错误", 422: "字段有误",
                     429: "登录失败次数过多"},
          auth=False)
def issue_token() -> Response:
    data = json_body(TOKEN_BODY)
    username, password = data.get("username"), data.get("password")
    if not isinstance(username, str) or not isinstance(password, str) or not username:
        raise Invalid("请提供 username 和 password 两个字符串字段",
                      details={k: "必填，字符串" for k in ("username", "password")
                               if not isinstance(data.get(k), str) or not data.get(k)})
    user = accounts.authenticate(username, password, request.remote_addr, channel="api")
    from flask import current_app

    return jsonify({"token": accounts.issue_token(user),
                    "expires_in": current_app.config["API_TOKEN_HOURS"] * 3600})


def user_json(user: Any) -> dict[str, Any]:
    org = user.organization
    return {
        "id": user.id,
        "username": user.username,
        "name": user.name,
        "email": user.email,
        "roles": sorted(user.roles),
        "organization": None if org is None else {
            "id": org.id, "name": org.name, "uscc": org.uscc, "kind": org.kind.value,
        },
    }


@api_bp.get("/v1/me")
@token_required
@document("当前用户", responses={200: "用户信息", 401: "令牌缺失或无效"})
def me() -> Response:
    return jsonify(user_json(current_api_user()))


@api_bp.get("/openapi.json")
def openapi() -> Response:
    return jsonify(spec())
