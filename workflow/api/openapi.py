"""``/api/openapi.json`` built from the routes themselves, so it cannot drift from them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import current_app

F = TypeVar("F", bound=Callable[..., Any])

ERROR_SCHEMA = {
    "type": "object",
    "properties": {"error": {"type": "object", "properties": {
        "code": {"type": "string"}, "message": {"type": "string"}, "details": {},
    }, "required": ["code", "message"]}},
}


def document(summary: str, body: dict[str, str] | None = None,
             responses: dict[int, str] | None = None, auth: bool = True,
             params: dict[str, str] | None = None) -> Callable[[F], F]:
    def mark(view: F) -> F:
        view.openapi = {  # type: ignore[attr-defined]
            "summary": summary, "body": body, "responses": responses or {200: "成功"},
            "auth": auth, "params": params or {},
        }
        return view

    return mark


def _operation(meta: dict[str, Any], path_params: list[str]) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": meta["summary"], "responses": {}}
    params = [{"name": p, "in": "path", "required": True, "schema": {"type": "integer"}}
              for p in path_params]
    params += [{"name": k, "in": "query", "required": False, "schema": {"type": "string"},
                "description": v} for k, v in meta["params"].items()]
    if params:
        op["parameters"] = params
    if meta["body"]:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": {
            "type": "object",
            "properties": {k: {"type": v} for k, v in meta["body"].items()},
        }}}}
    for status, text in sorted(meta["responses"].items()):
        entry: dict[str, Any] = {"description": text}
        if status >= 400:
            ref = {"$ref": "#/components/schemas/Error"}
            entry["content"] = {"application/json": {"schema": ref}}
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
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            paths.setdefault(path, {})[method.lower()] = _operation(meta, sorted(rule.arguments))
    return {
        "openapi": "3.0.3",
        "info": {"title": "kjflow API", "version": "1"},
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": {"Error": ERROR_SCHEMA},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
