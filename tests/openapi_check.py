"""Every answer the API gives in a test is checked against ``/api/openapi.json``: a
documented status, a documented content type, a JSON body that matches the documented
schema. The unit tier's API tests reach states (a decided call, a released tranche, a
defence) that the contract tier's generated requests seldom do; this keeps the document
honest there too (``tests/unit/conftest.py`` turns it on for every unit test)."""

from __future__ import annotations

from typing import Any

from flask import Flask
from openapi_schema_validator import OAS30Validator
from werkzeug.exceptions import HTTPException

from workflow.api.openapi import spec


class Contract:
    def __init__(self, app: Flask) -> None:
        with app.test_request_context():
            self.document = spec()
        self.app = app
        # ``operationId`` is the endpoint (``api.`` left out; ``_<method>`` when a route
        # has several methods), so Flask's own routing finds the operation of a request.
        self.operations: dict[tuple[str, str], tuple[str, dict[str, Any]]] = {}
        for path, item in self.document["paths"].items():
            for method, op in item.items():
                self.operations[(op["operationId"], method.upper())] = (path, op)
        self.violations: list[str] = []

    def operation(self, method: str, path: str) -> tuple[str, dict[str, Any]] | None:
        try:
            endpoint, _ = self.app.url_map.bind("localhost").match(path, method)
        except HTTPException:  # no such route or method: not the document's business
            return None
        name = str(endpoint).removeprefix("api.")
        return (self.operations.get((name, method))
                or self.operations.get((f"{name}_{method.lower()}", method)))

    def check(self, method: str, path: str, response: Any) -> None:
        found = self.operation(method, path)
        if found is None:
            return
        template, op = found
        label = f"{method} {template} → {response.status_code}"
        answer = op["responses"].get(str(response.status_code))
        if answer is None:
            self.violations.append(f"{label}: status not documented "
                                   f"({', '.join(op['responses'])}): "
                                   f"{response.get_data(as_text=True)[:200]}")
            return
        content = answer.get("content") or {}
        if not content:
            return
        if response.mimetype not in content:
            self.violations.append(f"{label}: content type {response.mimetype} not "
                                   f"documented ({', '.join(content)})")
            return
        schema = content[response.mimetype].get("schema")
        if response.mimetype != "application/json" or schema is None:
            return
        validator = OAS30Validator({**schema, "components": self.document["components"]})
        for error in list(validator.iter_errors(response.get_json()))[:3]:
            where = "/".join(str(p) for p in error.absolute_path) or "(body)"
            self.violations.append(f"{label}: {where}: {error.message[:200]}")
