"""What the officer and the expert do on the review pages, done through the API: a
reviewer added by hand (``/applications/<id>/reviewers``), an invitation accepted
(``/reviews/<id>/respond``) and the officer's bulk formal review (``/applications/bulk``)."""

import pytest
import sqlalchemy as sa

from states import ApplicationState, CallState, ReviewState
from tests.conftest import api_token
from tests.factories import (
    PASSWORD,
    ApplicationFactory,
    CallFactory,
    ExpertProfileFactory,
    OrganizationFactory,
    UserFactory,
)
from workflow.applying.models import Application
from workflow.core import audit
from workflow.core.models import db
from workflow.review.models import ConflictRelation, ReviewAssignment


def h(client, who):
    return {"Authorization": f"Bearer {api_token(client, who, PASSWORD)}"}


@pytest.fixture
def panel(app):
    orgs = [OrganizationFactory(name=f"单位{i}") for i in range(3)]
    UserFactory(username="officer", organization=None, roles=("officer",))
    UserFactory(username="leader", organization=None, roles=("leader",))
    experts = [ExpertProfileFactory(user__username=f"expert{i}", user__name=f"专家姓名{i}",
                                    user__organization=orgs[i]).user for i in range(3)]
    call = CallFactory(state=CallState.reviewing)
    pis = [UserFactory(username=f"pi{i}", organization=orgs[i], roles=("applicant",))
           for i in range(2)]
    under_review = ApplicationFactory(call=call, applicant=pis[0],
                                      state=ApplicationState.expert_review)
    reviewed = ApplicationFactory(call=call, applicant=pis[1], state=ApplicationState.reviewed)
    db.session.commit()
    return {"experts": experts, "call": call, "app": under_review, "reviewed": reviewed,
            "pis": pis}


def reviews_of(app_row):
    return list(db.session.scalars(sa.select(ReviewAssignment).where(
        ReviewAssignment.application_id == app_row.id).order_by(ReviewAssignment.id)))


# ---- a reviewer added by hand -----------------------------------------------------------

def test_the_officer_adds_a_reviewer_and_the_expert_finds_the_invitation(client, panel):
    app_row, expert = panel["app"], panel["experts"][1]
    resp = client.post(f"/api/v1/applications/{app_row.id}/reviewers",
                       headers=h(client, "officer"), json={"expert_id": expert.id})
    assert resp.status_code == 201, resp.get_json()
    body = resp.get_json()
    assert body["state"] == "invited" and body["application"]["id"] == app_row.id
    assert body["expert"] == {"id": expert.id, "name": "专家姓名1"}
    (review,) = reviews_of(app_row)
    assert (review.id, review.expert_id, review.state) == (body["id"], expert.id,
                                                           ReviewState.invited)
    # Recorded on the call's trail, as the page's addition is.
    event = audit.history("call", panel["call"].id)[-1]
    assert (event.trigger, event.data) == ("add_reviewer", {"application_id": app_row.id,
                                                           "expert_id": expert.id})
    queue = client.get("/api/v1/reviews", headers=h(client, "expert1")).get_json()
    assert [r["id"] for r in queue["items"]] == [review.id]
    # The applicant never learns who reviews the application.
    own = client.get(f"/api/v1/applications/{app_row.id}", headers=h(client, "pi0"))
    assert own.status_code == 200 and "专家姓名" not in own.get_data(as_text=True)


def test_a_conflicted_or_repeated_reviewer_is_refused_with_the_reasons(client, panel):
    app_row, (same_org, free, declared) = panel["app"], panel["experts"]
    db.session.add(ConflictRelation(expert_id=declared.id, kind="near_relative",
                                    other_user_id=app_row.applicant_id))
    db.session.commit()
    url = f"/api/v1/applications/{app_row.id}/reviewers"
    officer = h(client, "officer")
    for expert, reason in ((same_org, "同单位"), (declared, "近亲属")):
        resp = client.post(url, headers=officer, json={"expert_id": expert.id})
        assert resp.status_code == 422, resp.get_json()
        error = resp.get_json()["error"]
        assert error["code"] == "guard_failed" and reason in error["message"]
        assert [d["message"] for d in error["details"]] == [reason]
    assert reviews_of(app_row) == []
    assert client.post(url, headers=officer, json={"expert_id": free.id}).status_code == 201
    again = client.post(url, headers=officer, json={"expert_id": free.id})
    assert again.status_code == 422 and "已分配过该专家" in again.get_json()["error"]["message"]
    assert len(reviews_of(app_row)) == 1


@pytest.mark.parametrize("body,field", [
    ({}, "expert_id"),
    ({"expert_id": "abc"}, "expert_id"),
    ({"expert_id": 10**12}, "expert_id"),
    ({"expert_id": None}, "expert_id"),
    ({"expert_id": 1, "reserve": True}, "reserve"),
])
def test_a_bad_body_is_refused_naming_the_field(client, panel, body, field):
    resp = client.post(f"/api/v1/applications/{panel['app'].id}/reviewers",
                       headers=h(client, "officer"), json=body)
    assert resp.status_code == 422 and field in resp.get_json()["error"]["details"]
    assert reviews_of(panel["app"]) == []


def test_someone_who_is_not_an_expert_cannot_be_added(client, panel):
    resp = client.post(f"/api/v1/applications/{panel['app'].id}/reviewers",
                       headers=h(client, "officer"), json={"expert_id": panel["pis"][1].id})
    assert resp.status_code == 422
    assert resp.get_json()["error"]["details"] == {"expert_id": "不是评审专家"}
    assert reviews_of(panel["app"]) == []


def test_only_an_application_under_expert_review_takes_reviewers(client, panel):
    reviewed = panel["reviewed"]
    resp = client.post(f"/api/v1/applications/{reviewed.id}/reviewers",
                       headers=h(client, "officer"),
                       json={"expert_id": panel["experts"][2].id})
    assert resp.status_code == 409 and resp.get_json()["error"]["code"] == "invalid_state"
    assert reviews_of(reviewed) == []


@pytest.mark.parametrize("who,status", [
    ("pi0", 403),      # the applicant sees the application, but assigns nobody
    ("leader", 403),   # the bureau reads it; only the officer assigns
    ("expert2", 404),  # an expert with no review of it does not see it
    ("pi1", 404),      # another organisation's researcher does not see it
])
def test_only_the_officer_adds_reviewers(client, panel, who, status):
    url = f"/api/v1/applications/{panel['app'].id}/reviewers"
    resp = client.post(url, headers=h(client, who),
                       json={"expert_id": panel["experts"][1].id})
    assert resp.status_code == status, resp.get_json()
    assert reviews_of(panel["app"]) == []


def test_an_unknown_application_is_not_found(client, panel):
    resp = client.post("/api/v1/applications/99999/reviewers", headers=h(client, "officer"),
                       json={"expert_id": panel["experts"][1].id})
    assert resp.status_code == 404


# ---- an invitation accepted (the page's "respond" with accept) --------------------------

def test_the_expert_accepts_an_invitation_through_transitions(client, panel):
    officer = h(client, "officer")
    review_id = client.post(f"/api/v1/applications/{panel['app'].id}/reviewers",
                            headers=officer,
                            json={"expert_id": panel["experts"][1].id}).get_json()["id"]
    url = f"/api/v1/reviews/{review_id}/transitions"
    expert = h(client, "expert1")
    listed = client.get(url, headers=expert).get_json()
    options = {t["trigger"]: t["allowed"] for t in listed["transitions"]}
    assert options["accept"] and options["decline"]
    # Neither another expert nor the officer answers the invitation for the expert.
    assert client.post(url, headers=h(client, "expert2"),
                       json={"trigger": "accept"}).status_code == 404
    refused = client.post(url, headers=officer, json={"trigger": "accept"})
    assert refused.status_code == 403
    assert db.session.get(ReviewAssignment, review_id).state is ReviewState.invited
    resp = client.post(url, headers=expert, json={"trigger": "accept"})
    assert resp.status_code == 200 and resp.get_json()["state"] == "accepted"
    assert client.post(url, headers=expert, json={"trigger": "accept"}).status_code == 409
    history = client.get(f"/api/v1/reviews/{review_id}/history", headers=expert).get_json()
    assert [(e["trigger"], e["actor"]) for e in history["history"]][-1] == (
        "accept", "专家姓名1")
    queue = client.get("/api/v1/reviews", headers=expert).get_json()
    assert queue["counts"] == {"waiting": 0, "in_progress": 1, "done": 0}


# ---- the officer's bulk formal review ---------------------------------------------------

def test_the_bulk_formal_review_is_one_transition_per_application(client, panel):
    """The list page's bulk action fires ``pass_formal_review``, ``return_for_revision``
    or ``reject`` on each ticked application, each on its own; a client does the same
    through each application's /transitions, and a refusal leaves the others done."""
    call = CallFactory(state=CallState.reviewing)
    rows = [ApplicationFactory(call=call, state=ApplicationState.formal_review,
                               title=f"形式审查项目{i}") for i in range(3)]
    db.session.commit()
    officer = h(client, "officer")
    listed = client.get(f"/api/v1/applications?state=formal_review&call={call.id}",
                        headers=officer).get_json()
    assert sorted(a["id"] for a in listed["items"]) == [r.id for r in rows]
    for row in rows:  # what the page offers to tick
        options = client.get(f"/api/v1/applications/{row.id}/transitions",
                             headers=officer).get_json()["transitions"]
        assert next(t for t in options if t["trigger"] == "pass_formal_review")["allowed"]
    answers = [client.post(f"/api/v1/applications/{row.id}/transitions", headers=officer,
                           json={"trigger": "return_for_revision", "comment": comment})
               for row, comment in zip(rows, ["", "请补充合作协议", "请补充预算说明"],
                                       strict=True)]
    assert [a.status_code for a in answers] == [422, 200, 200]
    assert "请填写意见或理由" in answers[0].get_json()["error"]["details"][0]["message"]
    db.session.expire_all()
    assert [db.session.get(Application, r.id).state for r in rows] == [
        ApplicationState.formal_review, ApplicationState.returned, ApplicationState.returned]
    resp = client.post(f"/api/v1/applications/{rows[0].id}/transitions", headers=officer,
                       json={"trigger": "pass_formal_review"})
    assert resp.status_code == 200 and resp.get_json()["state"] == "expert_review"
    # An applicant cannot do the officer's formal review.
    again = ApplicationFactory(call=call, state=ApplicationState.formal_review,
                               applicant=panel["pis"][0])
    db.session.commit()
    resp = client.post(f"/api/v1/applications/{again.id}/transitions", headers=h(client, "pi0"),
                       json={"trigger": "pass_formal_review"})
    assert resp.status_code == 403
    db.session.expire_all()
    assert again.state is ApplicationState.formal_review
