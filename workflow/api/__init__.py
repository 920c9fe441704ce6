"""The public JSON API, ``/api/v1`` (DESIGN.md: extend it, never break it)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from flask import Blueprint, Response, request
from werkzeug.exceptions import HTTPException

from forms import parse_id
from workflow.api.errors import error_json, http_exception_json
from workflow.core.errors import Invalid, ServiceError, UnsupportedMedia
from workflow.core.extensions import csrf

api_bp = Blueprint("api", __name__, url_prefix="/api")
# Bearer tokens, never cookies: a forged cross-site request carries no token.
csrf.exempt(api_bp)


@api_bp.errorhandler(ServiceError)
def _service_error(err: ServiceError) -> tuple[Response, int]:
    resp, status = error_json(err.status, err.code, err.message, err.details)
    resp.headers.update(err.headers)  # a throttle's Retry-After
    return resp, status


@api_bp.errorhandler(HTTPException)
def _http_error(err: HTTPException) -> tuple[Response, int]:
    return http_exception_json(err)


def refuse_unknown(body: Mapping[str, Any], allowed: Iterable[str], prefix: str = "") -> None:
    """A 422 naming every field of ``body`` the endpoint does not take: a client that
    misspells a field, or sends one the API ignores, learns it instead of losing it."""
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        names = [f"{prefix}{k}" for k in unknown]
        raise Invalid("不接受的字段：" + "、".join(names),
                      details={n: "不接受该字段" for n in names}, code="unknown_field")


def json_body(allowed: Iterable[str]) -> dict[str, Any]:
    """The request's JSON object, or a 400/415 in the API's error shape; a field not in
    ``allowed`` (the names the endpoint documents) is a 422 naming it."""
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
    refuse_unknown(data, allowed)
    return data


_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,), "integer": (int,), "number": (int, float), "boolean": (bool,),
    "array": (list,), "object": (dict,)}
_TYPE_NAMES = {"string": "字符串", "integer": "整数", "number": "数字", "boolean": "布尔值",
               "array": "数组", "object": "对象"}


def check_types(body: Mapping[str, Any], schema: Mapping[str, Any]) -> None:
    """A 422 naming every field whose value is not of its documented JSON type or not
    one of its documented values (``null`` stands for a field not given)."""
    from workflow.api.openapi import schema_of

    errors: dict[str, str] = {}
    for key, value in body.items():
        spec = schema_of(schema[key]) if key in schema else {}
        kind = spec.get("type")
        if value is None or kind not in _TYPES:
            continue
        if not isinstance(value, _TYPES[kind]) or (
                kind in ("integer", "number") and isinstance(value, bool)):
            errors[key] = f"应为{_TYPE_NAMES[kind]}"
        elif "enum" in spec and value not in spec["enum"]:
            errors[key] = "可选：" + "、".join(str(v) for v in spec["enum"] if v is not None)
    if errors:
        raise Invalid("字段类型有误", details=errors)


def multipart_fields(allowed: Iterable[str]) -> None:
    """For a multipart endpoint: a form field or file it does not take (``allowed``, the
    names it documents) is a 422 naming it, as ``json_body`` does for JSON."""
    refuse_unknown(dict.fromkeys([*request.form, *request.files]), allowed)


def no_body() -> None:
    """For an endpoint that takes no body: whatever is sent is refused, field by field."""
    if request.content_length:
        json_body(())


def typed_body(schema: Mapping[str, Any]) -> dict[str, Any]:
    """``json_body`` for the fields of ``schema``, each of its documented type."""
    body = json_body(schema)
    check_types(body, schema)
    return body


def paging() -> tuple[int, int]:
    """``page`` (from 1) and ``per_page`` (at most 100) as the list endpoints take them."""
    page = min(parse_id(request.args.get("page")) or 1, 100000)
    per_page = min(parse_id(request.args.get("per_page")) or 50, 100)
    return page, per_page


PAGING_PARAMS = {"page": {"type": "integer", "description": "页码，从1开始"},
                 "per_page": {"type": "integer", "description": "每页条数，最多100"}}


def page_schema(item: Mapping[str, Any]) -> dict[str, Any]:
    return {"type": "object", "properties": {
        "items": {"type": "array", "items": dict(item)},
        "total": {"type": "integer", "description":
                  "符合条件的记录数；按关键词搜索时最多数到 10,000（见 total_capped）"},
        "total_capped": {"type": "boolean", "description":
                         "为 true 时符合条件的记录多于 total，未逐条数完；以 next 翻页"},
        "page": {"type": "integer"}, "per_page": {"type": "integer"},
        "pages": {"type": "integer", "nullable": True,
                  "description": "总页数；total_capped 为 true 时为 null"},
        "sort": {"type": "string", "nullable": True},
        "dir": {"type": "string", "enum": ["asc", "desc"]},
        "next": {"type": "string", "nullable": True,
                 "description": "下一页的链接（以 cursor 翻页，适合深页）；最后一页为 null"}},
        "required": ["items", "total", "page", "per_page"]}


def if_match() -> int | None:
    """The version in ``If-Match`` (``"3"``, ``W/"3"`` or ``3``), or None when absent."""
    raw = request.headers.get("If-Match")
    if raw is None:
        return None
    version = parse_id(raw.strip().removeprefix("W/").strip('"'))
    if version is None:
        raise Invalid("If-Match 应为版本号（整数）", details={"If-Match": raw})
    return version
