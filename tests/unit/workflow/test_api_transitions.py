import pytest

from states import ApplicationState, CallState
from tests.conftest import api_token, login
from tests.factories import (
    PASSWORD,
    ApplicationFactory,
    CallFactory,
    OrganizationFactory,
    UserFactory,
)
from workflow.applying import operations as applications
from workflow.core.models import db
from workflow.review.models import ReviewAssignment


@pytest.fixture
def setup(app):
    org, other = OrganizationFactory(), OrganizationFactory()
    researcher = UserFactory(username="li", organization=org, roles=("applicant",))
    UserFactory(username="wang", organization=other, roles=("applicant",))
    UserFactory(username="officer", organization=None, roles=("officer",))
    UserFactory(username="expert", organization=other, roles=("expert",))
    row = ApplicationFactory(applicant=researcher, data={"summary": "摘要"}, signed=True,
                             call=CallFactory(state=CallState.published))
    db.session.commit()
    return row


def auth(client, username):
    return {"Authorization": f"Bearer {api_token(client, username, PASSWORD)}"}


def test_list_then_fire_then_history(client, setup):
    row = setup
    h = auth(client, "li")
    listed = client.get(f"/api/v1/applications/{row.id}/transitions", headers=h).get_json()
    assert listed["state"] == "draft" and listed["version"] == 1
    withdraw = next(t for t in listed["transitions"] if t["trigger"] == "withdraw")
    assert withdraw["allowed"] and withdraw["dest_label"] == "已撤回"
    # Submission through the generic endpoint does all that its own endpoint does: the
    # receipt, the round's snapshot, the routing on to formal review.
    submit = next(t for t in listed["transitions"] if t["trigger"] == "submit")
    assert submit["allowed"], submit
    resp = client.post(f"/api/v1/applications/{row.id}/transitions", headers=h,
                       json={"trigger": "submit"})
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["final_state"] == "formal_review"
    db.session.expire_all()
    assert row.receipt_no and row.round == 1
    assert [r.round for r in applications.rounds(row)] == [1]
    hist = client.get(f"/api/v1/applications/{row.id}/history", headers=h).get_json()
    assert [e["trigger"] for e in hist["history"]] == ["submit", "forward"]
    assert hist["history"][1]["actor"] == "系统"


def test_refusals_have_their_status_and_the_error_shape(client, setup):
    row = setup
    url = f"/api/v1/applications/{row.id}/transitions"
    officer = auth(client, "officer")
    resp = client.post(url, headers=officer, json={"trigger": "withdraw"})
    assert resp.status_code == 403 and resp.get_json()["error"]["code"] == "role_not_allowed"
    resp = client.post(url, headers=officer, json={"trigger": "reject", "comment": "x"})
    assert resp.status_code == 409 and resp.get_json()["error"]["code"] == "invalid_state"
    li = auth(client, "li")
    resp = client.post(url, headers={**li, "If-Match": '"7"'}, json={"trigger": "withdraw"})
    assert resp.status_code == 409 and resp.get_json()["error"]["code"] == "stale_version"
    resp = client.post(url, headers=li, json={"trigger": 5, "data": []})
    assert resp.status_code == 422
    assert set(resp.get_json()["error"]["details"]) == {"trigger", "data"}
    resp = client.post(url, headers={**li, "If-Match": "abc"}, json={"trigger": "withdraw"})
    assert resp.status_code == 422


def test_guard_failures_list_every_reason(client, setup):
    row = setup
    row.state = ApplicationState.formal_review
    ApplicationFactory(call=row.call, applicant=row.applicant, title=row.title,
                       state=ApplicationState.formal_review)
    db.session.commit()
    resp = client.post(f"/api/v1/applications/{row.id}/transitions",
                       headers=auth(client, "officer"), json={"trigger": "pass_formal_review"})
    assert resp.status_code == 422
    codes = [d["code"] for d in resp.get_json()["error"]["details"]]
    assert codes == ["limit_per_call", "duplicate_title"]


def test_matching_if_match_is_accepted(client, setup):
    row = setup
    h = {**auth(client, "li"), "If-Match": '"1"'}
    resp = client.post(f"/api/v1/applications/{row.id}/transitions", headers=h,
                       json={"trigger": "withdraw"})
    assert resp.status_code == 200 and resp.get_json()["state"] == "withdrawn"


@pytest.mark.parametrize("path", ["transitions", "history"])
def test_another_organisations_researcher_sees_nothing(client, setup, path):
    row = setup
    resp = client.get(f"/api/v1/applications/{row.id}/{path}", headers=auth(client, "wang"))
    assert resp.status_code == 404
    resp = client.post(f"/api/v1/applications/{row.id}/transitions",
                       headers=auth(client, "wang"), json={"trigger": "withdraw"})
    assert resp.status_code == 404


def test_an_expert_reads_only_through_their_review(client, setup):
    row = setup
    row.data = {**row.data, "team": [{"name": "张三", "id_number": "362101198001010019",
                                      "org": "某大学"}]}
    db.session.commit()
    h = auth(client, "expert")
    assert client.get(f"/api/v1/applications/{row.id}", headers=h).status_code == 404
    from workflow.accounts.models import User

    expert = db.session.scalar(db.select(User).where(User.username == "expert"))
    review = ReviewAssignment(application=row, expert=expert)
    db.session.add(review)
    db.session.commit()
    # Invited: the summary the invitation is answered on, not the team.
    body = client.get(f"/api/v1/applications/{row.id}", headers=h).get_json()
    assert body["title"] == row.title and body["reading"] == "summary"
    assert "team" not in body["data"]
    from states import ReviewState

    review.state = ReviewState.accepted
    db.session.commit()
    body = client.get(f"/api/v1/applications/{row.id}", headers=h).get_json()
    assert body["reading"] == "full" and body["data"]["team"][0]["name"] == "张三"
    assert "362101198001010019" not in str(body)  # no one's 身份证号 for experts
    assert client.get(f"/api/v1/applications/{row.id}/history", headers=h).status_code == 404
    assert client.get(f"/api/v1/reviews/{review.id}/transitions", headers=h).status_code == 200
    li = auth(client, "li")
    assert client.get(f"/api/v1/reviews/{review.id}/history", headers=li).status_code == 404
    review.state = ReviewState.declined
    db.session.commit()
    assert client.get(f"/api/v1/applications/{row.id}", headers=h).status_code == 404


def test_draft_calls_are_hidden_from_researchers(client, setup):
    draft = CallFactory(state=CallState.draft)
    db.session.commit()
    li = auth(client, "li")
    assert client.get(f"/api/v1/calls/{draft.id}/transitions", headers=li).status_code == 404
    officer = auth(client, "officer")
    body = client.get(f"/api/v1/calls/{draft.id}/transitions", headers=officer).get_json()
    assert [t["trigger"] for t in body["transitions"]] == ["publish"]


def test_unknown_entity_is_404(client, setup):
    resp = client.get("/api/v1/tranches/999/history", headers=auth(client, "officer"))
    assert resp.status_code == 404 and resp.get_json()["error"]["code"] == "not_found"


def test_openapi_describes_the_lifecycle_routes(client, setup):
    paths = client.get("/api/openapi.json").get_json()["paths"]
    for coll in ("calls", "applications", "reviews", "tranches"):
        assert {"get", "post"} <= set(paths[f"/api/v1/{coll}/{{entity_id}}/transitions"])
        assert "get" in paths[f"/api/v1/{coll}/{{entity_id}}/history"]


def test_entity_page_shows_diagram_current_state_and_history(client, setup):
    row = setup
    login(client, "officer", PASSWORD)
    row.state, row.receipt_no = ApplicationState.formal_review, "SB2026T000001"
    db.session.commit()
    page = client.get(f"/applications/{row.id}").get_data(as_text=True)
    assert 'data-testid="lifecycle-diagram"' in page and "形式审查" in page
    # The current state is marked in the diagram (in the bureau's blue).
    assert 'id="state_formal_review" class="node current"' in page and "#1d4f91" in page
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    resp = client.post(f"/applications/{row.id}/fire", data={
        "csrf_token": token, "trigger": "return_for_revision", "comment": "请补充附件",
        "version": str(row.version)})
    assert resp.status_code == 302
    page = client.get(f"/applications/{row.id}").get_data(as_text=True)
    # The message names the application that moved: its receipt number and title.
    assert f"退回修改：{row.receipt_no} {row.title}" in page and "请补充附件" in page


def test_entity_page_shows_guard_reasons_in_chinese(client, setup):
    row = setup
    login(client, "officer", PASSWORD)
    row.state = ApplicationState.formal_review
    db.session.commit()
    page = client.get(f"/applications/{row.id}").get_data(as_text=True)
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    client.post(f"/applications/{row.id}/fire", data={
        "csrf_token": token, "trigger": "reject", "comment": ""})
    page = client.get(f"/applications/{row.id}").get_data(as_text=True)
    assert "请填写意见或理由" in page
    db.session.expire_all()
    assert row.state is ApplicationState.formal_review


def test_entity_page_of_another_organisation_is_404(client, setup):
    login(client, "wang", PASSWORD)
    assert client.get(f"/applications/{setup.id}").status_code == 404


def test_formal_review_through_the_api_keeps_the_verdict_and_the_checklist(client, setup):
    row = setup
    row.call.checklist = ["申报单位资质符合要求", "承诺书已签署"]
    db.session.commit()
    li, officer = auth(client, "li"), auth(client, "officer")
    url = f"/api/v1/applications/{row.id}/transitions"
    assert client.post(url, headers=li, json={"trigger": "submit"}).status_code == 200
    listed = client.get(url, headers=officer).get_json()["transitions"]
    returning = next(t for t in listed if t["trigger"] == "return_for_revision")
    assert returning["allowed"] and returning["needs_comment"]
    # An item the call does not list, or a checklist that is not {item: bool}: refused.
    resp = client.post(url, headers=officer, json={
        "trigger": "return_for_revision", "comment": "请补充资质证明",
        "data": {"checklist": {"与本批次无关的要点": True}}})
    assert resp.status_code == 422 and "与本批次无关的要点" in resp.get_json()["error"]["message"]
    resp = client.post(url, headers=officer, json={
        "trigger": "return_for_revision", "comment": "请补充资质证明",
        "data": {"checklist": ["承诺书已签署"]}})
    assert resp.status_code == 422
    assert resp.get_json()["error"]["details"] == {"checklist": "应为 {要点: true 或 false}"}
    resp = client.post(url, headers=officer, json={
        "trigger": "return_for_revision", "comment": "请补充资质证明",
        "data": {"checklist": {"申报单位资质符合要求": False, "承诺书已签署": True}}})
    assert resp.status_code == 200 and resp.get_json()["state"] == "returned"
    db.session.expire_all()
    (first,) = applications.rounds(row)
    assert (first.outcome, first.outcome_comment) == ("return", "请补充资质证明")
    assert first.checklist == {"申报单位资质符合要求": False, "承诺书已签署": True}
