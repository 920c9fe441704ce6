"""``/api/openapi.json`` built from the routes themselves, so it cannot drift from them."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from flask import Response, current_app, jsonify
from werkzeug.routing import IntegerConverter

from workflow.api import api_bp

F = TypeVar("F", bound=Callable[..., Any])

ERROR_SCHEMA = {
    "type": "object",
    "properties": {"error": {"type": "object", "properties": {
        "code": {"type": "string"}, "message": {"type": "string"}, "details": {},
    }, "required": ["code", "message"]}},
}

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
JSON_TYPES = {"string", "integer", "number", "boolean", "array", "object"}

# A property is a JSON type name (``"string"``), a JSON Schema (``{"type": "string",
# "enum": [...]}``) or, in older entries, a free description of the value.
Property = str | Mapping[str, Any]


def document(summary: str, body: Mapping[str, Property] | None = None,
             responses: dict[int, str] | None = None, auth: bool = True,
             params: Mapping[str, Property] | None = None, *,
             required: Iterable[str] = (), response: Mapping[str, Any] | None = None,
             multipart: Mapping[str, Property] | None = None,
             media: str | None = None, body_optional: bool = False) -> Callable[[F], F]:
    """Describe a route: ``body`` its JSON object's fields (nothing else is taken),
    ``required`` those it must have, ``response`` the schema of its successful answer,
    ``multipart`` the fields of a multipart form (a file field is ``"binary"``),
    ``params`` the query parameters (a schema with ``"required": True`` must be given),
    ``media`` the content type of a successful answer that is a file (with ``response``
    too: a list that answers JSON or, asked to export, a file);
    ``body_optional`` when the route may be called without a body at all."""
    def mark(view: F) -> F:
        view.openapi = {  # type: ignore[attr-defined]
            "summary": summary, "body": body, "responses": responses or {200: "成功"},
            "auth": auth, "params": params or {}, "required": list(required),
            "response": response, "multipart": multipart, "media": media,
            "body_optional": body_optional,
        }
        return view

    return mark


def schema_of(value: Property) -> dict[str, Any]:
    if isinstance(value, Mapping):
        return dict(value)
    if value == "binary":
        return {"type": "string", "format": "binary"}
    if value in JSON_TYPES:
        return {"type": value}
    return {"description": value}


def obj(properties: Mapping[str, Property], required: Iterable[str] = (),
        closed: bool = False) -> dict[str, Any]:
    """An object schema; ``closed`` when the API refuses any other field."""
    out: dict[str, Any] = {"type": "object",
                           "properties": {k: schema_of(v) for k, v in properties.items()}}
    if required := list(required):
        out["required"] = required
    if closed:
        out["additionalProperties"] = False
    return out


def _param(name: str, value: Property) -> dict[str, Any]:
    if isinstance(value, Mapping):
        schema = {k: v for k, v in value.items() if k not in ("description", "required")}
        return {"name": name, "in": "query", "required": bool(value.get("required")),
                "schema": schema or {"type": "string"},
                "description": value.get("description", "")}
    return {"name": name, "in": "query", "required": False, "schema": {"type": "string"},
            "description": value}


def _operation(meta: dict[str, Any], path_params: Mapping[str, str]) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": meta["summary"], "responses": {}}
    params = [{"name": p, "in": "path", "required": True, "schema": {"type": kind}}
              for p, kind in sorted(path_params.items())]
    params += [_param(k, v) for k, v in meta["params"].items()]
    if params:
        op["parameters"] = params
    if meta["body"]:
        op["requestBody"] = {"required": not meta.get("body_optional"), "content": {
            "application/json": {
                "schema": obj(meta["body"], meta.get("required", ()), closed=True)}}}
    elif meta.get("multipart"):
        op["requestBody"] = {"required": True, "content": {"multipart/form-data": {
            "schema": obj(meta["multipart"], meta.get("required", ()))}}}
    success = min((s for s in meta["responses"] if s < 400), default=None)
    for status, text in sorted(meta["responses"].items()):
        entry: dict[str, Any] = {"description": text}
        if status >= 400:
            ref = {"$ref": "#/components/schemas/Error"}
            entry["content"] = {"application/json": {"schema": ref}}
        elif status == success and (meta.get("media") or meta.get("response")):
            # A list answers JSON, or (``export=xlsx``) its Excel file.
            entry["content"] = {}
            if meta.get("response"):
                entry["content"]["application/json"] = {"schema": dict(meta["response"])}
            if meta.get("media"):
                entry["content"][meta["media"]] = {"schema": {"type": "string",
                                                               "format": "binary"}}
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
        kinds = {arg: "integer" if isinstance(conv, IntegerConverter) else "string"
                 for arg, conv in rule._converters.items()}
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            paths.setdefault(path, {})[method.lower()] = _operation(meta, kinds)
    return {
        "openapi": "3.0.3",
        "info": {"title": "kjflow API", "version": "1"},
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": {"Error": ERROR_SCHEMA},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


@api_bp.get("/openapi.json")
def openapi() -> Response:
    return jsonify(spec())
