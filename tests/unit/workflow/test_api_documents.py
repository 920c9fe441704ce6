"""``GET /api/v1/calls/{id}/documents``: a call's issued documents (立项文件) through the
API, read by whoever may read the call, as its page shows them; and what an approved
project's JSON says of its grant."""

from decimal import Decimal

import pytest

from states import ApplicationState, CallState
from tests.conftest import api_token
from tests.factories import PASSWORD, ApplicationFactory, CallFactory, UserFactory
from workflow.core.models import db, utcnow
from workflow.documents.models import Document


def bearer(client, username):
    return {"Authorization": "Bearer " + api_token(client, username, PASSWORD)}


@pytest.fixture
def world(app):
    UserFactory(username="li", roles=("applicant",))
    UserFactory(username="officer", roles=("officer",), organization=None)
    decided = CallFactory(state=CallState.decided, doc_number="赣市科字〔2026〕3号")
    draft = CallFactory(state=CallState.draft)
    for call in (decided, draft):
        db.session.add(Document(call_id=call.id, kind="approval_file", round=1,
                                sha256="a" * 64 if call is decided else "b" * 64, size=10,
                                pages=1, title=f"关于下达{call.title}立项项目的通知",
                                doc_number=call.doc_number))
    db.session.commit()
    return {"decided": decided, "draft": draft}


def test_a_call_lists_its_issued_documents(client, world):
    call = world["decided"]
    resp = client.get(f"/api/v1/calls/{call.id}/documents", headers=bearer(client, "li"))
    assert resp.status_code == 200
    (doc,) = resp.get_json()["items"]
    assert (doc["kind"], doc["doc_number"], doc["round"]) == (
        "approval_file", "赣市科字〔2026〕3号", 1)
    assert doc["url"] == f"/api/v1/documents/{doc['id']}"


def test_what_the_caller_may_not_read_is_not_found(client, world):
    draft = world["draft"]
    resp = client.get(f"/api/v1/calls/{draft.id}/documents", headers=bearer(client, "li"))
    assert resp.status_code == 404 and resp.get_json()["error"]["code"] == "not_found"
    officer = bearer(client, "officer")
    assert client.get(f"/api/v1/calls/{draft.id}/documents", headers=officer).status_code == 200
    assert client.get("/api/v1/calls/99999/documents", headers=officer).status_code == 404
    assert client.get(f"/api/v1/calls/{draft.id}/documents").status_code == 401


def test_the_spec_describes_the_documents_with_their_kinds(client, app):
    paths = client.get("/api/openapi.json").get_json()["paths"]
    for path in ("/api/v1/calls/{call_id}/documents", "/api/v1/applications/{app_id}/documents"):
        schema = paths[path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
        kind = schema["properties"]["items"]["items"]["properties"]["kind"]
        assert kind["enum"] == ["application", "notice", "approval_file", "task_book",
                                "payment_notice", "recovery_notice", "change_approval",
                                "acceptance_conclusion", "midterm_conclusion"]


def test_an_approved_project_shows_its_grant_and_what_was_paid(client, app):
    li = UserFactory(username="li", roles=("applicant",))
    row = ApplicationFactory(applicant=li, state=ApplicationState.in_progress,
                             granted_amount=Decimal("1000000.00"),
                             disbursed=Decimal("600000.00"), approved_at=utcnow(),
                             doc_number="赣市科字〔2026〕4号", project_number="GZKJ-2026-BG-0001")
    draft = ApplicationFactory(applicant=li)
    db.session.commit()
    h = bearer(client, "li")
    body = client.get(f"/api/v1/applications/{row.id}", headers=h).get_json()
    assert (body["granted_wan"], body["disbursed_wan"], body["doc_number"]) == (
        "100.00", "60.00", "赣市科字〔2026〕4号")
    assert body["approved_at"] is not None
    body = client.get(f"/api/v1/applications/{draft.id}", headers=h).get_json()
    assert (body["granted_wan"], body["disbursed_wan"], body["doc_number"],
            body["approved_at"]) == (None, "0.00", None, None)
