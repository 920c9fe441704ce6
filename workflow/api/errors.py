"""The API's one error shape: ``{"error": {"code", "message", "details"}}``."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify
from werkzeug.exceptions import HTTPException

CODES = {
    400: ("bad_request", "请求格式有误"),
    401: ("unauthenticated", "需要登录或令牌无效"),
    403: ("forbidden", "没有权限"),
    404: ("not_found", "资源不存在"),
    405: ("method_not_allowed", "不支持该请求方法"),
    409: ("conflict", "状态已变化，请刷新后重试"),
    413: ("too_large", "请求或文件过大"),
    415: ("unsupported_media_type", "不支持的内容类型"),
    422: ("invalid", "内容校验未通过"),
    429: ("throttled", "请求过于频繁"),
}


def error_json(status: int, code: str, message: str, details: Any = None) -> tuple[Response, int]:
    body = {"error": {"code": code, "message": message, "details": details}}
    return jsonify(body), status


def http_exception_json(err: HTTPException) -> tuple[Response, int]:
    status = err.code or 500
    code, message = CODES.get(status, ("error", err.description or "出错了"))
    return error_json(status, code, message)
