"""``/api/openapi.json`` is a contract a machine can check: valid OpenAPI 3.0, every
operation with its request body, its success schema (or file type), its errors, and enums
where the values are fixed. The live app is checked against it in ``tests/contract/``."""

from __future__ import annotations

from typing import Any

import pytest
from openapi_spec_validator import OpenAPIV30SpecValidator, validate

from states import LIFECYCLES, ROLES, ApplicationState, CallState, ReviewState, TrancheState
from workflow.api.openapi import ContractError, document

METHODS = ("get", "put", "post", "patch", "delete")


@pytest.fixture
def spec(client) -> dict[str, Any]:
    resp = client.get("/api/openapi.json")
    assert resp.status_code == 200 and resp.mimetype == "application/json"
    return resp.get_json()


def operations(spec: dict[str, Any]):
    for path, item in spec["paths"].items():
        for method in METHODS:
            if method in item:
                yield f"{method.upper()} {path}", path, item[method]


def test_the_document_is_valid_openapi_3(spec):
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
              for e in OpenAPIV30SpecValidator(spec).iter_errors()]
    assert errors == []
    validate(spec)  # and raises nothing


def test_every_operation_declares_what_a_success_answers(spec):
    missing = []
    for label, _, op in operations(spec):
        successes = {int(s): r for s, r in op["responses"].items() if int(s) < 400}
        assert successes, f"{label} declares no success"
        first = min(successes)
        if first != 204 and not successes[first].get("content"):
            missing.append(label)
    assert missing == []


def test_every_json_success_has_a_schema_that_says_its_type(spec):
    loose = []
    for label, _, op in operations(spec):
        for status, answer in op["responses"].items():
            schema = answer.get("content", {}).get("application/json", {}).get("schema")
            if int(status) < 400 and schema is not None and not (
                    "type" in schema or "anyOf" in schema or "oneOf" in schema):
                loose.append(label)
    assert loose == []


def test_every_operation_that_needs_a_token_answers_401(spec):
    assert [label for label, _, op in operations(spec)
            if op.get("security") and "401" not in op["responses"]] == []
    # ...and the public ones need none.
    public = {label for label, _, op in operations(spec) if not op.get("security")}
    assert {"POST /api/v1/auth/token", "GET /api/v1/notices", "GET /api/v1/verify",
            "GET /api/openapi.json"} <= public


def test_every_error_answers_the_error_shape(spec):
    wrong = [f"{label} {status}" for label, _, op in operations(spec)
             for status, answer in op["responses"].items() if int(status) >= 400
             and answer["content"]["application/json"]["schema"]
             != {"$ref": "#/components/schemas/Error"}]
    assert wrong == []


def test_path_parameters_are_typed_and_ids_are_integers(spec):
    for label, path, op in operations(spec):
        declared = {p["name"]: p for p in op.get("parameters", []) if p["in"] == "path"}
        named = {part[1:-1] for part in path.split("/") if part.startswith("{")}
        assert set(declared) == named, label
        for name, param in declared.items():
            assert param["required"] is True and param["schema"]["type"], label
            if name.endswith("_id") or name == "entity_id":
                assert param["schema"]["type"] == "integer", label
                assert param["schema"]["minimum"] == 1, label
        if named:
            assert "404" in op["responses"], label


def test_bodies_are_declared_closed_and_answer_their_refusals(spec):
    for label, _, op in operations(spec):
        body = op.get("requestBody")
        if body is None:
            continue
        (media, content), = body["content"].items()
        assert media in ("application/json", "multipart/form-data"), label
        assert content["schema"]["additionalProperties"] is False, label
        assert "422" in op["responses"] and "413" in op["responses"], label
        if media == "application/json":
            assert {"400", "415"} <= set(op["responses"]), label


def test_the_uploads_and_the_call_edit_declare_their_bodies(spec):
    paths = spec["paths"]
    patch = paths["/api/v1/calls/{call_id}"]["patch"]["requestBody"]["content"]
    assert {"title", "budget", "scheme"} <= set(patch["application/json"]["schema"]["properties"])
    for path, fields in (("/api/v1/applications/{app_id}/attachments", {"file", "field"}),
                         ("/api/v1/calls/{call_id}/attachments", {"file"}),
                         ("/api/v1/experts/import", {"file"}),
                         ("/api/v1/decisions/{decision_id}/meeting",
                          {"minutes", "meeting_name", "meeting_date"})):
        form = paths[path]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
        assert fields <= set(form["properties"]), path
        files = [k for k, v in form["properties"].items() if v.get("format") == "binary"]
        assert files, path


def _states_in(schema: Any, found: list[tuple[str, Any]], key: str = "") -> None:
    if isinstance(schema, dict):
        for name, sub in schema.get("properties", {}).items():
            if name in ("state", "dest", "from", "to", "final_state", "scheme", "roles",
                        "mode"):
                found.append((name, sub))
        for value in schema.values():
            _states_in(value, found)
    elif isinstance(schema, list):
        for value in schema:
            _states_in(value, found)


def test_fixed_values_are_enums(spec):
    found: list[tuple[str, Any]] = []
    _states_in(spec["paths"], found)
    assert len(found) > 50
    for name, schema in found:
        values = schema.get("enum") or schema.get("items", {}).get("enum")
        assert values, f"{name} has no enum: {schema}"


def test_states_are_the_lifecycles_own(spec):
    paths = spec["paths"]

    def answer(path: str, method: str = "get") -> dict[str, Any]:
        schema = paths[path][method]["responses"]
        ok = min(schema, key=int)
        return schema[ok]["content"]["application/json"]["schema"]

    calls = answer("/api/v1/calls")["properties"]["items"]["items"]
    assert calls["properties"]["state"]["enum"] == [s.value for s in CallState]
    assert calls["properties"]["scheme"]["enum"] == ["baogan", "jiebang"]
    apps = answer("/api/v1/applications/{app_id}")["anyOf"][0]
    assert apps["properties"]["state"]["enum"] == [s.value for s in ApplicationState]
    reviews = answer("/api/v1/reviews")["properties"]["items"]["items"]
    assert reviews["properties"]["state"]["enum"] == [s.value for s in ReviewState]
    tranches = answer("/api/v1/tranches")["properties"]["items"]["items"]
    assert tranches["properties"]["state"]["enum"] == [s.value for s in TrancheState]
    me = answer("/api/v1/me")["properties"]["roles"]["items"]
    assert me["enum"] == list(ROLES)
    for collection, kind in (("calls", "call"), ("applications", "application"),
                             ("reviews", "review"), ("tranches", "tranche"),
                             ("milestones", "milestone"), ("decisions", "decision"),
                             ("objections", "objection")):
        lifecycle = LIFECYCLES[kind]
        base = f"/api/v1/{collection}/{{entity_id}}"
        options = answer(f"{base}/transitions")
        assert options["properties"]["state"]["enum"] == [s.value for s in lifecycle.states]
        fire = paths[f"{base}/transitions"]["post"]["requestBody"]["content"][
            "application/json"]["schema"]["properties"]["trigger"]
        assert set(fire["enum"]) == {t.trigger for t in lifecycle.transitions}


def test_document_refuses_a_free_text_type_when_the_route_is_declared():
    def view() -> None:
        pass

    with pytest.raises(ContractError, match=r"'pass \| fail' is not a JSON type name"):
        document("验收", body={"verdict": "pass | fail"})(view)
    with pytest.raises(ContractError, match=r"type 'pass \| fail' is not one of"):
        document("验收", body={"verdict": {"type": "pass | fail"}})(view)
    with pytest.raises(ContractError, match="an array says what its items are"):
        document("列表", response={"type": "object", "properties": {
            "items": {"type": "array"}}})(view)
    with pytest.raises(ContractError, match=r"not OpenAPI 3\.0 schema keywords"):
        document("详情", response={"type": "object", "propertys": {}})(view)
    with pytest.raises(ContractError, match="a nullable enum lists null"):
        document("详情", params={"state": {"type": "string", "enum": ["a"],
                                           "nullable": True}})(view)
    with pytest.raises(ContractError, match="required"):
        document("新建", body={"title": "string"}, required=("titel",))(view)
    # What is right passes, and a query parameter may be described in words.
    document("验收", body={"verdict": {"type": "string", "enum": ["pass", "fail"]}},
             params={"q": "关键词"}, response={"type": "object"})(view)


def test_the_unit_tier_catches_an_answer_the_document_does_not_describe(app):
    from tests.openapi_check import Contract

    contract = Contract(app)
    teapot = app.response_class('{"error": {"code": "x", "message": "x"}}', status=418,
                                mimetype="application/json")
    contract.check("GET", "/api/v1/me", teapot)
    wrong = app.response_class('{"id": "one", "roles": ["wizard"]}', status=200,
                               mimetype="application/json")
    contract.check("GET", "/api/v1/me", wrong)
    html = app.response_class("<p>hi</p>", status=200, mimetype="text/html")
    contract.check("GET", "/api/v1/me", html)
    assert len(contract.violations) == 5, contract.violations
    assert "GET /api/v1/me → 418: status not documented" in contract.violations[0]
    assert any("'one' is not of type 'integer'" in v for v in contract.violations)
    assert any("'wizard' is not one of" in v for v in contract.violations)
    assert "content type text/html not documented" in contract.violations[-1]
    # A route the document does not know (a page, a wrong method) is not its business.
    contract.violations.clear()
    contract.check("DELETE", "/api/v1/me", teapot)
    contract.check("GET", "/api/v1/nothing", teapot)
    assert contract.violations == []
