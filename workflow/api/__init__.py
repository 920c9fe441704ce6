"""The public JSON API, ``/api/v1`` (DESIGN.md: extend it, never break it)."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from flask import Blueprint, Response, g, request
from werkzeug.exceptions import HTTPException

from forms import parse_id
from workflow.accounts import operations as accounts
from workflow.accounts.models import User
from workflow.api.errors import error_json, http_exception_json
from workflow.core.errors import Invalid, ServiceError, Unauthenticated, UnsupportedMedia
from workflow.core.extensions import csrf

api_bp = Blueprint("api", __name__, url_prefix="/api")
# Bearer tokens, never cookies: a forged cross-site request carries no token.
csrf.exempt(api_bp)

F = TypeVar("F", bound=Callable[..., Any])


@api_bp.errorhandler(ServiceError)
def _service_error(err: ServiceError) -> tuple[Response, int]:
    return error_json(err.status, err.code, err.message, err.details)


@api_bp.errorhandler(HTTPException)
def _http_error(err: HTTPException) -> tuple[Response, int]:
    return http_exception_json(err)


def json_body() -> dict[str, Any]:
    """The request's JSON object, or a 400/415 in the API's error shape."""
    if not request.is_json:
        raise UnsupportedMedia("请求体应为 JSON（Content-Type: application/json）")
    try:
        data = request.get_json(silent=True)
    except RecursionError:  # nested deeper than the parser goes
        data = None
    if not isinstance(data, dict):
        raise ServiceError("请求体不是合法的 JSON 对象", code="malformed_json")
    try:  # lone UTF-16 surrogates parse as JSON but can be stored nowhere
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as err:
        raise ServiceError("请求体含有无效的字符（孤立的代理字符）",
                           code="malformed_json") from err
    return data


def if_match() -> int | None:
    """The version in ``If-Match`` (``"3"``, ``W/"3"`` or ``3``), or None when absent."""
    raw = request.headers.get("If-Match")
    if raw is None:
        return None
    version = parse_id(raw.strip().removeprefix("W/").strip('"'))
    if version is None:
        raise Invalid("If-Match 应为版本号（整数）", details={"If-Match": raw})
    return version


def current_api_user() -> User:
    user: User = g.api_user
    return user


def token_required(view: F) -> F:
    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("缺少令牌：请在 Authorization 头中提供 Bearer 令牌")
        g.api_user = accounts.user_for_token(token.strip())
        return view(*args, **kwargs)

    return cast(F, wrapped)
