"""An application's submission rounds (提交记录) through the API, as its page shows them:
each submission with its time, what was sent, and the formal review's verdict and
opinion; read by whoever may read the application."""

import pytest

from states import CallState
from tests.conftest import api_token, login
from tests.factories import (
    PASSWORD,
    ApplicationFactory,
    CallFactory,
    OrganizationFactory,
    UserFactory,
)
from workflow.core.models import db


def bearer(client, username):
    return {"Authorization": "Bearer " + api_token(client, username, PASSWORD)}


@pytest.fixture
def returned_once(app, client):
    """An application sent, returned with an opinion, revised and sent again."""
    univ = OrganizationFactory(name="赣南科技大学")
    li = UserFactory(username="li", roles=("applicant",), organization=univ)
    UserFactory(username="zhao", roles=("applicant",), organization=univ)
    UserFactory(username="unitadmin", roles=("org_admin",), organization=univ)
    UserFactory(username="wang", roles=("applicant",))  # another organisation
    UserFactory(username="expert", roles=("expert",))
    UserFactory(username="officer", roles=("officer",), organization=None)
    UserFactory(username="auditor", roles=("auditor",), organization=None)
    row = ApplicationFactory(call=CallFactory(state=CallState.published), applicant=li,
                             title="稀土永磁材料研究", data={"summary": "初稿摘要"}, signed=True)
    db.session.commit()
    mine, officer = bearer(client, "li"), bearer(client, "officer")
    assert client.post(f"/api/v1/applications/{row.id}/submit",
                       headers=mine).status_code == 200
    resp = client.post(f"/api/v1/applications/{row.id}/transitions", headers=officer,
                       json={"trigger": "return_for_revision", "comment": "请补充研究基础"})
    assert resp.get_json()["state"] == "returned", resp.get_json()
    assert client.patch(f"/api/v1/applications/{row.id}", headers=mine, json={
        "title": "稀土永磁材料低重稀土研究", "data": {"summary": "补充了研究基础的摘要"}},
    ).status_code == 200
    assert client.post(f"/api/v1/applications/{row.id}/submit",
                       headers=mine).status_code == 200
    return row


def test_the_rounds_say_what_was_sent_and_what_came_back(client, returned_once):
    row = returned_once
    resp = client.get(f"/api/v1/applications/{row.id}/rounds", headers=bearer(client, "li"))
    assert resp.status_code == 200, resp.get_json()
    first, second = resp.get_json()["items"]
    assert (first["round"], first["title"], first["data"]["summary"]) == (
        1, "稀土永磁材料研究", "初稿摘要")
    assert (first["outcome"], first["outcome_label"], first["outcome_comment"]) == (
        "return", "退回修改", "请补充研究基础")
    assert first["data"]["commitment"]["signed_by"] == row.applicant.name
    assert (second["round"], second["title"], second["data"]["summary"]) == (
        2, "稀土永磁材料低重稀土研究", "补充了研究基础的摘要")
    assert (second["outcome"], second["outcome_label"], second["outcome_comment"]) == (
        None, None, None)  # not reviewed yet
    assert first["submitted_at"] < second["submitted_at"]
    # The page shows the same rounds.
    login(client, "li", PASSWORD)
    page = client.get(f"/applications/{row.id}").get_data(as_text=True)
    assert "第1次" in page and "第2次" in page and "请补充研究基础" in page


@pytest.mark.parametrize("who,status", [
    ("li", 200), ("unitadmin", 200), ("officer", 200), ("auditor", 200),
    ("zhao", 403),  # a colleague: sees the application's heading, not what was submitted
    ("wang", 404),  # another organisation's application: not known to exist
    ("expert", 404),  # an expert reads an application through a review only
])
def test_the_rounds_are_read_by_those_who_read_the_application(client, returned_once, who,
                                                                 status):
    url = f"/api/v1/applications/{returned_once.id}"
    resp = client.get(f"{url}/rounds", headers=bearer(client, who))
    assert resp.status_code == status
    # The same people as the application itself (and its page); a colleague gets its
    # heading there, without the answers.
    detail = client.get(url, headers=bearer(client, who))
    assert detail.status_code == (200 if status == 403 else status)
    if status != 404:
        assert ("data" in detail.get_json()) is (status == 200)


def test_an_unknown_application_has_no_rounds(client, returned_once):
    resp = client.get("/api/v1/applications/999999/rounds", headers=bearer(client, "officer"))
    assert resp.status_code == 404 and resp.get_json()["error"]["code"] == "not_found"


def test_the_spec_describes_the_rounds(client, app):
    op = client.get("/api/openapi.json").get_json()["paths"][
        "/api/v1/applications/{app_id}/rounds"]["get"]
    item = op["responses"]["200"]["content"]["application/json"]["schema"]["properties"][
        "items"]["items"]
    assert item["properties"]["outcome"]["enum"] == ["pass", "return", "reject", None]
    assert {"round", "submitted_at", "data", "outcome_comment"} <= set(item["required"])
    assert "404" in op["responses"]
