"""A call's guide documents (指南附件) through the API, as on the call's page: the officer
uploads them while the call is open (checked by content), whoever sees the call reads
them in ``GET /api/v1/calls/{id}`` and downloads them."""

import io

import pytest
import sqlalchemy as sa

from states import CallState
from tests.conftest import api_token
from tests.factories import PASSWORD, CallFactory, UserFactory
from workflow.core.models import Attachment, AuditEvent, db

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def bearer(client, username):
    return {"Authorization": "Bearer " + api_token(client, username, PASSWORD)}


@pytest.fixture
def calls(app):
    UserFactory(username="officer", roles=("officer",), organization=None)
    UserFactory(username="leader", roles=("leader",), organization=None)
    UserFactory(username="li", roles=("applicant",))
    calls = {"published": CallFactory(state=CallState.published),
             "draft": CallFactory(state=CallState.draft),
             "closed": CallFactory(state=CallState.closed)}
    db.session.commit()
    return calls


def upload(client, call_id, who, content=PDF, name="申报指南.pdf"):
    return client.post(f"/api/v1/calls/{call_id}/attachments", headers=bearer(client, who),
                       data={"file": (io.BytesIO(content), name)},
                       content_type="multipart/form-data")


def stored():
    return db.session.scalar(sa.select(sa.func.count()).select_from(Attachment))


def test_the_officer_uploads_a_guide_document_that_researchers_read_and_download(
        client, calls):
    call = calls["published"]
    resp = upload(client, call.id, "officer")
    assert resp.status_code == 201, resp.get_json()
    sent = resp.get_json()
    assert (sent["filename"], sent["kind"], sent["size"]) == ("申报指南.pdf", "pdf", len(PDF))
    assert sent["url"] == f"/api/v1/calls/{call.id}/attachments/{sent['id']}"

    # The researcher sees it on the call, as the page lists it, and downloads it.
    body = client.get(f"/api/v1/calls/{call.id}", headers=bearer(client, "li")).get_json()
    assert [(a["id"], a["filename"]) for a in body["attachments"]] == [
        (sent["id"], "申报指南.pdf")]
    listed = client.get("/api/v1/calls", headers=bearer(client, "li")).get_json()["items"]
    assert {c["id"]: [a["filename"] for a in c["attachments"]] for c in listed} == {
        call.id: ["申报指南.pdf"], calls["closed"].id: []}
    got = client.get(sent["url"], headers=bearer(client, "li"))
    assert got.status_code == 200 and got.data == PDF
    # Kept in the call's history, as an upload on the page is.
    assert "attach_guide" in db.session.scalars(sa.select(AuditEvent.trigger).where(
        AuditEvent.entity_type == "call", AuditEvent.entity_id == call.id)).all()


def test_a_draft_calls_documents_are_for_the_officer_first(client, calls):
    call = calls["draft"]
    assert upload(client, call.id, "officer").status_code == 201
    att = db.session.scalars(sa.select(Attachment)).one()
    url = f"/api/v1/calls/{call.id}/attachments/{att.id}"
    assert client.get(url, headers=bearer(client, "leader")).status_code == 200
    # A researcher does not know a draft call exists, nor its files.
    assert client.get(url, headers=bearer(client, "li")).status_code == 404
    # A file of another call is not found under this one.
    other = calls["published"]
    assert client.get(f"/api/v1/calls/{other.id}/attachments/{att.id}",
                      headers=bearer(client, "officer")).status_code == 404


@pytest.mark.parametrize("who,call,status", [
    ("li", "published", 403),  # sees the call, may not manage it
    ("leader", "published", 403),
    ("li", "draft", 404),  # may not know it exists
    ("officer", "closed", 409),  # no longer editable
])
def test_only_the_officer_uploads_and_only_while_the_call_is_open(client, calls, who, call,
                                                                    status):
    resp = upload(client, calls[call].id, who)
    assert resp.status_code == status, resp.get_json()
    assert stored() == 0


@pytest.mark.parametrize("data,field,status", [
    ({"file": (io.BytesIO(b"hello"), "x.pdf")}, None, 415),  # not a PDF inside
    ({"file": (io.BytesIO(PDF), "../x.pdf")}, None, 422),
    ({}, "file", 422),
    ({"file": (io.BytesIO(PDF), "a.pdf"), "field": "guide"}, "field", 422),  # not taken
])
def test_a_bad_upload_is_refused_and_nothing_is_stored(client, calls, data, field, status):
    resp = client.post(f"/api/v1/calls/{calls['published'].id}/attachments",
                       headers=bearer(client, "officer"), data=data,
                       content_type="multipart/form-data")
    assert resp.status_code == status, resp.get_json()
    if field:
        assert field in resp.get_json()["error"]["details"]
    assert stored() == 0


def test_the_spec_describes_the_upload(client, app):
    paths = client.get("/api/openapi.json").get_json()["paths"]
    op = paths["/api/v1/calls/{call_id}/attachments"]["post"]
    form = op["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert form["properties"]["file"]["format"] == "binary" and form["required"] == ["file"]
    assert {"201", "403", "404", "409", "413", "415", "422"} <= set(op["responses"])
    assert "url" in op["responses"]["201"]["content"]["application/json"]["schema"][
        "properties"]
    assert "get" in paths["/api/v1/calls/{call_id}/attachments/{att_id}"]
