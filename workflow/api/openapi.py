"""``/api/openapi.json`` built from the routes themselves, so it cannot drift from them.

Each route describes itself with ``@document(...)``; the description is checked when the
module is imported (``ContractError``): a property is a JSON type name or a JSON Schema in
the OpenAPI 3.0 dialect, never a free text standing where a type belongs. What every route
of a kind can answer is added here rather than repeated on each: 401 for a route that needs
a token, 404 for one with an id in its path, 400/413/415/422 for one that takes a body
(400/415/422 for a POST that takes none and refuses one), 422 for one that takes query
parameters. ``tests/unit/workflow/test_api_contract.py``
validates the whole document (openapi-spec-validator) and requires a success schema or a
media type on every operation; ``tests/contract/`` checks the live app against it."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from flask import Response, current_app, jsonify
from werkzeug.routing import IntegerConverter

from forms.uploads import MIME_TYPES
from workflow.api import api_bp

F = TypeVar("F", bound=Callable[..., Any])

ERROR_SCHEMA = {
    "type": "object",
    "properties": {"error": {"type": "object", "properties": {
        "code": {"type": "string", "description": "机器可读的错误代码"},
        "message": {"type": "string", "description": "给人看的说明（中文）"},
        "details": {"description": "逐项说明：字段到说明的对象，或未满足条件的列表；可为 null"},
    }, "required": ["code", "message"]}},
    "required": ["error"],
}

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# A stored upload answers with its own type, one of these.
UPLOAD_MEDIA = tuple(MIME_TYPES.values())
JSON_TYPES = {"string", "integer", "number", "boolean", "array", "object"}
# The ids a path can name: rows are numbered from 1, and ``workflow.BoundedInt`` maps
# anything above the highest to 0, which no row has (both answer 404).
MAX_ID = 2**31 - 1

# The keywords of an OpenAPI 3.0 Schema Object; any other (but ``x-...``) is a mistake.
SCHEMA_KEYWORDS = frozenset({
    "type", "format", "enum", "nullable", "description", "title", "default", "example",
    "properties", "required", "additionalProperties", "items", "oneOf", "anyOf", "allOf",
    "not", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf",
    "minLength", "maxLength", "pattern", "minItems", "maxItems", "uniqueItems",
    "minProperties", "maxProperties", "readOnly", "writeOnly", "deprecated", "$ref",
})

# A property is a JSON type name (``"string"``; ``"binary"`` for a file of a multipart
# form) or a JSON Schema (``{"type": "string", "enum": [...]}``). A query parameter may
# also be a plain description: it is then a string parameter.
Property = str | Mapping[str, Any]

# Pieces the features' schemas share.
DATE_TIME: dict[str, Any] = {"type": "string", "format": "date-time"}
DATE: dict[str, Any] = {"type": "string", "format": "date"}
WAN: dict[str, Any] = {"type": "string", "pattern": r"^-?\d+\.\d{2}$",
                       "description": "金额（万元），两位小数"}
REF: dict[str, Any] = {"type": "object", "properties": {
    "id": {"type": "integer"}, "name": {"type": "string"}}, "required": ["id", "name"]}


def nullable(schema: Property, **more: Any) -> dict[str, Any]:
    """``schema`` (or the type it names) that may also be null."""
    out = {**schema_of(schema), **more, "nullable": True}
    if "enum" in out and None not in out["enum"]:
        out["enum"] = [*out["enum"], None]
    return out


def enum(values: Iterable[Any], description: str = "") -> dict[str, Any]:
    """A string that is one of ``values`` (an Enum's members give their ``value``)."""
    out: dict[str, Any] = {"type": "string",
                           "enum": [getattr(v, "value", v) for v in values]}
    if description:
        out["description"] = description
    return out


def items_of(item: Mapping[str, Any], **more: Any) -> dict[str, Any]:
    """``{"items": [item, ...]}``, and ``more`` beside it."""
    return {"type": "object", "properties": {"items": {"type": "array", "items": dict(item)},
                                             **more},
            "required": ["items", *more]}


class ContractError(TypeError):
    """A route's description that is not valid OpenAPI: raised at import, naming it."""


def check_schema(schema: Any, where: str) -> None:
    """Refuse what is not an OpenAPI 3.0 Schema Object, naming ``where`` it is."""
    if not isinstance(schema, Mapping):
        raise ContractError(f"{where}: a schema is a mapping, not {schema!r}")
    unknown = sorted(k for k in schema if k not in SCHEMA_KEYWORDS and not k.startswith("x-"))
    if unknown:
        raise ContractError(f"{where}: not OpenAPI 3.0 schema keywords: {unknown}")
    kind = schema.get("type")
    if kind is not None and kind not in JSON_TYPES:
        raise ContractError(f"{where}: type {kind!r} is not one of {sorted(JSON_TYPES)} "
                            "(say in words what a value means in its description)")
    if kind == "array" and "items" not in schema:
        raise ContractError(f"{where}: an array says what its items are (items: {{}} for any)")
    if "enum" in schema:
        values = schema["enum"]
        if not isinstance(values, list) or not values:
            raise ContractError(f"{where}: enum is a non-empty list")
        if (None in values) != bool(schema.get("nullable")):
            raise ContractError(f"{where}: a nullable enum lists null, and only it does")
    if "pattern" in schema:
        re.compile(schema["pattern"])
    props = schema.get("properties", {})
    if not isinstance(props, Mapping):
        raise ContractError(f"{where}: properties is a mapping")
    for name, sub in props.items():
        check_schema(sub, f"{where}.{name}")
    required = schema.get("required", [])
    if not isinstance(required, list) or (props and not set(required) <= set(props)):
        raise ContractError(f"{where}: required {required!r} names properties it has")
    if isinstance(schema.get("items"), Mapping):
        check_schema(schema["items"], f"{where}[]")
    if isinstance(schema.get("additionalProperties"), Mapping):
        check_schema(schema["additionalProperties"], f"{where}{{*}}")
    if "not" in schema:
        check_schema(schema["not"], f"{where}(not)")
    for key in ("oneOf", "anyOf", "allOf"):
        for n, sub in enumerate(schema.get(key, ())):
            check_schema(sub, f"{where}({key}[{n}])")


def document(summary: str, body: Mapping[str, Property] | None = None,
             responses: dict[int, str] | None = None, auth: bool = True,
             params: Mapping[str, Property] | None = None, *,
             required: Iterable[str] = (), response: Mapping[str, Any] | None = None,
             multipart: Mapping[str, Property] | None = None,
             media: str | Sequence[str] | None = None,
             body_optional: bool = False) -> Callable[[F], F]:
    """Describe a route: ``body`` its JSON object's fields (nothing else is taken),
    ``required`` those it must have, ``response`` the schema of its successful answer,
    ``multipart`` the fields of a multipart form (a file field is ``"binary"``),
    ``params`` the query parameters (a schema with ``"required": True`` must be given),
    ``media`` the content type of a successful answer that is a file, or the types it may
    be (with ``response`` too: a list that answers JSON or, asked to export, a file);
    ``body_optional`` when the route may be called without a body at all.
    ``responses`` the statuses it answers besides those added for every route of its kind
    (401, 404, 400/413/415/422: see the module's docstring)."""
    def mark(view: F) -> F:
        where = getattr(view, "__qualname__", repr(view))
        meta = {
            "summary": summary, "body": body, "responses": responses or {200: "成功"},
            "auth": auth, "params": params or {}, "required": list(required),
            "response": response, "multipart": multipart,
            "media": (media,) if isinstance(media, str) else tuple(media or ()),
            "body_optional": body_optional,
        }
        _check(meta, where)
        view.openapi = meta  # type: ignore[attr-defined]
        return view

    return mark


def _check(meta: Mapping[str, Any], where: str) -> None:
    for status in meta["responses"]:
        if not isinstance(status, int) or not 100 <= status <= 599:
            raise ContractError(f"{where}: {status!r} is not an HTTP status")
    for part in ("body", "multipart"):
        fields = meta[part] or {}
        for name, value in fields.items():
            check_schema(schema_of(value, f"{where} {part}.{name}"), f"{where} {part}.{name}")
        if fields and not set(meta["required"]) <= set(fields):
            raise ContractError(f"{where}: required {meta['required']} are not all in {part}")
    for name, value in meta["params"].items():
        _param(name, value, where)
    if meta["response"] is not None:
        check_schema(meta["response"], f"{where} response")


def schema_of(value: Property, where: str = "property") -> dict[str, Any]:
    """The JSON Schema of a property: ``value`` itself, or the schema a type name stands for."""
    if isinstance(value, Mapping):
        return dict(value)
    if value == "binary":
        return {"type": "string", "format": "binary"}
    if value == "array":
        return {"type": "array", "items": {}}
    if value in JSON_TYPES:
        return {"type": value}
    raise ContractError(f"{where}: {value!r} is not a JSON type name; write a schema "
                        f"({{\"type\": ..., \"description\": {value!r}}})")


def obj(properties: Mapping[str, Property], required: Iterable[str] = (),
        closed: bool = False) -> dict[str, Any]:
    """An object schema; ``closed`` when the API refuses any other field."""
    out: dict[str, Any] = {"type": "object",
                           "properties": {k: schema_of(v, k) for k, v in properties.items()}}
    if required := list(required):
        out["required"] = required
    if closed:
        out["additionalProperties"] = False
    return out


def _param(name: str, value: Property, where: str = "param") -> dict[str, Any]:
    if isinstance(value, Mapping):
        schema = {k: v for k, v in value.items() if k not in ("description", "required")}
        schema = schema or {"type": "string"}
        check_schema(schema, f"{where} ?{name}")
        return {"name": name, "in": "query", "required": bool(value.get("required")),
                "schema": schema, "description": value.get("description", "")}
    return {"name": name, "in": "query", "required": False, "schema": {"type": "string"},
            "description": value}


def _path_param(name: str, integer: bool) -> dict[str, Any]:
    schema: dict[str, Any] = ({"type": "integer", "minimum": 1, "maximum": MAX_ID}
                              if integer else {"type": "string", "minLength": 1})
    return {"name": name, "in": "path", "required": True, "schema": schema}


def _responses_of_kind(meta: Mapping[str, Any], has_path: bool, method: str
                       ) -> dict[int, str]:
    """What every route of this kind can answer, whatever it does."""
    out: dict[int, str] = {}
    if meta["auth"]:
        out[401] = "缺少令牌，或令牌无效、已过期"
    if has_path:
        out[404] = "不存在或无权查看"
    if meta["body"]:
        out.update({400: "请求体不是合法的 JSON 对象", 413: "请求体过大",
                    415: "请求体应为 JSON（Content-Type: application/json）",
                    422: "字段有误或不接受的字段（逐项说明）"})
    elif meta.get("multipart"):
        out.update({413: "文件过大", 422: "字段有误或不接受的字段（逐项说明）"})
    elif method in ("POST", "PUT", "PATCH"):
        # It takes no body (``no_body()``): whatever is sent is refused, field by field.
        out.update({400: "请求体不是合法的 JSON", 415: "不接受请求体",
                    422: "不接受请求体中的字段（逐项说明）"})
    if meta["params"]:
        out[422] = "参数有误（逐项说明）"
    return out


def _operation(meta: dict[str, Any], path_params: Mapping[str, bool],
               operation_id: str, tag: str, method: str) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": meta["summary"], "operationId": operation_id,
                          "tags": [tag], "responses": {}}
    params = [_path_param(p, integer) for p, integer in sorted(path_params.items())]
    params += [_param(k, v) for k, v in meta["params"].items()]
    if params:
        op["parameters"] = params
    if meta["body"]:
        op["requestBody"] = {"required": not meta.get("body_optional"), "content": {
            "application/json": {
                "schema": obj(meta["body"], meta.get("required", ()), closed=True)}}}
    elif meta.get("multipart"):
        op["requestBody"] = {"required": True, "content": {"multipart/form-data": {
            "schema": obj(meta["multipart"], meta.get("required", ()), closed=True)}}}
    statuses = {**_responses_of_kind(meta, bool(path_params), method),
                **meta["responses"]}
    success = min((s for s in statuses if s < 400), default=None)
    for status, text in sorted(statuses.items()):
        entry: dict[str, Any] = {"description": text}
        if status >= 400:
            ref = {"$ref": "#/components/schemas/Error"}
            entry["content"] = {"application/json": {"schema": ref}}
        elif status == success and (meta.get("media") or meta.get("response")):
            # A list answers JSON, or (``export=xlsx``) its Excel file.
            entry["content"] = {}
            if meta.get("response"):
                entry["content"]["application/json"] = {"schema": dict(meta["response"])}
            for media in meta.get("media") or ():
                entry["content"][media] = {"schema": {"type": "string", "format": "binary"}}
        op["responses"][str(status)] = entry
    if meta["auth"]:
        op["security"] = [{"bearer": []}]
    return op


def spec() -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for rule in current_app.url_map.iter_rules():
        view = current_app.view_functions.get(rule.endpoint)
        meta = getattr(view, "openapi", None)
        if meta is None or not rule.rule.startswith("/api/"):
            continue
        path = rule.rule
        for arg in rule.arguments:
            path = path.replace(f"<int:{arg}>", f"{{{arg}}}").replace(f"<{arg}>", f"{{{arg}}}")
        # ``<int:id>`` is an integer; any other converter (``<code>``, ``<sha256>``) a string.
        integers = {arg: isinstance(conv, IntegerConverter)
                    for arg, conv in rule._converters.items()}
        methods = sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})
        # ``/api/v1/calls/...`` is tagged ``calls``.
        tag = path.removeprefix("/api/").removeprefix("v1/").split("/")[0].split(".")[0]
        for method in methods:
            operation_id = rule.endpoint.removeprefix("api.")
            if len(methods) > 1:
                operation_id += f"_{method.lower()}"
            paths.setdefault(path, {})[method.lower()] = _operation(
                meta, integers, operation_id, tag, method)
    return {
        "openapi": "3.0.3",
        "info": {"title": "kjflow API", "version": "1",
                 "description": "科技计划项目申报评审工作流引擎的接口。令牌由 "
                                "POST /api/v1/auth/token 取得，以 Authorization: Bearer "
                                "提交。出错时一律答 "
                                "{\"error\": {\"code\", \"message\", \"details\"}}。"},
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": {"Error": ERROR_SCHEMA},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


@api_bp.get("/openapi.json")
@document("本接口的 OpenAPI 3 描述", auth=False,
          response={"type": "object", "description": "OpenAPI 3.0 文档",
                    "properties": {"openapi": {"type": "string"}}, "required": ["openapi"]})
def openapi() -> Response:
    return jsonify(spec())
