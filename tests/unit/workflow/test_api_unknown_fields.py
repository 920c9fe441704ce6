"""A field the API does not take is refused with 422 naming it, never dropped in silence;
what the application page takes (a 揭榜挂帅 team's indicators and milestone plan) the API
takes at creation too."""

from datetime import timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from states import ApplicationState, CallState, ReviewState
from tests.conftest import api_token
from tests.factories import (
    PASSWORD,
    ApplicationFactory,
    CallFactory,
    ChallengeFactory,
    UserFactory,
)
from workflow.accounts.models import User
from workflow.applying.models import Application
from workflow.calls.models import Scheme
from workflow.core.models import db, utcnow
from workflow.review.models import ReviewAssignment


def bearer(client, username):
    return {"Authorization": "Bearer " + api_token(client, username, PASSWORD)}


@pytest.fixture
def world(app):
    li = UserFactory(username="li", roles=("applicant",))
    UserFactory(username="officer", roles=("officer",), organization=None)
    UserFactory(username="leader", roles=("leader",), organization=None)
    expert = UserFactory(username="expert", roles=("expert",))
    published = CallFactory(state=CallState.published)
    draft_call = CallFactory(state=CallState.draft)
    jiebang_draft = CallFactory(state=CallState.draft, scheme=Scheme.jiebang)
    reviewing = CallFactory(state=CallState.reviewing)
    mine = ApplicationFactory(call=published, applicant=li)
    reviewed = ApplicationFactory(call=reviewing, state=ApplicationState.reviewed,
                                  data={"amount": "300000.00"})
    under_review = ApplicationFactory(call=reviewing, state=ApplicationState.expert_review)
    review = ReviewAssignment(application=under_review, expert=expert,
                              state=ReviewState.accepted)
    invited = ReviewAssignment(application=ApplicationFactory(
                                   call=reviewing, state=ApplicationState.expert_review),
                               expert=expert,
                               state=ReviewState.invited,
                               respond_by=utcnow() + timedelta(days=3))
    db.session.add_all([review, invited])
    db.session.commit()
    return {"published": published, "draft_call": draft_call, "jiebang": jiebang_draft,
            "reviewing": reviewing, "mine": mine, "reviewed": reviewed, "review": review,
            "invited": invited, "enterprise_uscc": ChallengeFactory().demand_org.uscc}


def _cases(w):
    now = utcnow()
    call = {"title": "t", "scheme": "baogan", "year": 2026, "budget": "10",
            "opens_at": now.isoformat(), "closes_at": (now + timedelta(days=9)).isoformat()}
    decision = f"/api/v1/calls/{w['reviewing'].id}/decision"
    item = {"application_id": w["reviewed"].id, "amount_wan": "10"}
    return [
        (None, "post", "/api/v1/auth/token",
         {"username": "li", "password": PASSWORD, "remember": True}, "remember"),
        ("officer", "post", "/api/v1/calls", {**call, "budjet": "1"}, "budjet"),
        ("officer", "patch", f"/api/v1/calls/{w['draft_call'].id}", {"titel": "x"}, "titel"),
        ("officer", "post", f"/api/v1/calls/{w['jiebang'].id}/challenges",
         {"title": "榜", "demand_org_uscc": w["enterprise_uscc"], "ceiling": "10",
          "indicators": [{"name": "a", "target": "b"}], "reward": "1"}, "reward"),
        ("li", "post", "/api/v1/applications",
         {"call_id": w["published"].id, "title": "t", "summary": "放错了层级"}, "summary"),
        ("li", "post", "/api/v1/applications",
         {"call_id": w["published"].id, "title": "t", "data": {"sumary": "拼错了"}},
         "data.sumary"),
        ("li", "patch", f"/api/v1/applications/{w['mine'].id}", {"state": "approved"},
         "state"),
        ("li", "patch", f"/api/v1/applications/{w['mine'].id}",
         {"data": {"commitment": {"signed_by": "li"}}}, "data.commitment"),
        ("li", "post", f"/api/v1/applications/{w['mine'].id}/transitions",
         {"trigger": "withdraw", "reason": "x"}, "reason"),
        ("li", "post", f"/api/v1/applications/{w['mine'].id}/submit", {"force": True},
         "force"),
        ("li", "post", f"/api/v1/applications/{w['mine'].id}/sign", {"name": "李"}, "name"),
        ("officer", "post", decision, {"items": [item], "budget": "1"}, "budget"),
        ("officer", "post", decision, {"items": [{**item, "note": "x"}]}, "items[0].note"),
        ("officer", "post", decision, {"items": [item], "meeting": {"place": "x"}},
         "meeting.place"),
        ("officer", "post", f"/api/v1/calls/{w['reviewing'].id}/notices", {"all": True},
         "all"),
        ("expert", "put", f"/api/v1/reviews/{w['review'].id}/scores",
         {"scores": {}, "grade": "A"}, "grade"),
        ("expert", "put", f"/api/v1/reviews/{w['review'].id}/scores",
         {"scores": {"originality": 90}}, "scores.originality"),
        ("expert", "post", f"/api/v1/reviews/{w['invited'].id}/decline",
         {"reason": "出差", "why": "x"}, "why"),
        ("officer", "post", f"/api/v1/calls/{w['reviewing'].id}/assign",
         {"mode": "random", "reviewers": 3}, "reviewers"),
        ("officer", "post", f"/api/v1/applications/{w['review'].application_id}/reviewers",
         {"expert_id": w["review"].expert_id, "reserve": True}, "reserve"),
        ("li", "put", "/api/v1/me/preferences", {"email_reminders": False, "sms": True},
         "sms"),
        ("li", "post", "/api/v1/me/inbox/read", {"all": True}, "all"),
        ("li", "post", "/api/v1/me/password",
         {"current_password": PASSWORD, "new_password": "a-fresh-long-passphrase",
          "confirm": "a-fresh-long-passphrase"}, "confirm"),
    ]


def test_every_json_endpoint_refuses_a_field_it_does_not_take(client, world):
    for who, method, url, body, field in _cases(world):
        headers = bearer(client, who) if who else {}
        resp = getattr(client, method)(url, headers=headers, json=body)
        assert resp.status_code == 422, (url, body, resp.get_json())
        error = resp.get_json()["error"]
        assert field in error["details"], (url, error)
    db.session.expire_all()
    assert world["mine"].state is ApplicationState.draft
    assert world["reviewed"].state is ApplicationState.reviewed
    assert world["review"].scores == {}
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ReviewAssignment)) == 2
    assert db.session.scalar(sa.select(User.email_reminders).where(User.username == "li"))


def test_the_decision_endpoints_refuse_unknown_fields(client, world):
    officer, leader = bearer(client, "officer"), bearer(client, "leader")
    call = CallFactory(state=CallState.reviewing)
    row = ApplicationFactory(call=call, state=ApplicationState.reviewed,
                             data={"amount": "300000.00"})
    db.session.commit()
    resp = client.post(f"/api/v1/calls/{call.id}/decision", headers=officer,
                       json={"items": [{"application_id": row.id, "amount_wan": "10"}]})
    assert resp.status_code == 201, resp.get_json()
    decision = resp.get_json()["id"]
    for action in ("approve", "return"):
        resp = client.post(f"/api/v1/decisions/{decision}/{action}", headers=leader,
                           json={"comment": "同意", "amount": "20"})
        assert resp.status_code == 422 and "amount" in resp.get_json()["error"]["details"]


@pytest.fixture
def open_jiebang(app):
    call = CallFactory(scheme=Scheme.jiebang, state=CallState.published)
    challenge = ChallengeFactory(call=call, ceiling=Decimal("3000000.00"), duration_months=24,
                                 indicators=[{"name": "磁能积", "target": "≥50 MGOe"}])
    UserFactory(username="li", roles=("applicant",))
    db.session.commit()
    return call, challenge


def test_a_jiebang_application_keeps_the_indicators_and_milestones_it_is_created_with(
        client, open_jiebang):
    call, challenge = open_jiebang
    resp = client.post("/api/v1/applications", headers=bearer(client, "li"), json={
        "call_id": call.id, "challenge_id": challenge.id, "title": "低重稀土永磁揭榜",
        "data": {"summary": "方案", "indicators": {"磁能积": "52 MGOe"},
                 "milestones": [{"label": "中试", "amount_wan": "120", "months": 12},
                                {"label": "量产", "amount_wan": "180", "months": 24}]}})
    assert resp.status_code == 201, resp.get_json()
    data = resp.get_json()["data"]
    assert data["indicators"] == {"磁能积": "52 MGOe"}
    assert data["milestones"] == [
        {"label": "中试", "amount_wan": "120.00", "months": 12},
        {"label": "量产", "amount_wan": "180.00", "months": 24}]
    stored = db.session.scalars(sa.select(Application)).one()
    assert stored.data["milestones"][1] == {"label": "量产", "amount": "1800000.00",
                                            "months": 24}  # yuan inside, for the tranches


@pytest.mark.parametrize("data,field", [
    ({"milestones": [{"label": "中试", "amount_wan": "400", "months": 12}]}, "milestones"),
    ({"milestones": [{"label": "中试", "amount_wan": "1", "months": 12, "note": "x"}]},
     "milestones"),
    ({"indicators": {"矫顽力": "20 kOe"}}, "indicators"),
    ({"indicators": ["52 MGOe"]}, "indicators"),
])
def test_a_bad_plan_at_creation_is_refused_and_nothing_is_created(client, open_jiebang,
                                                                   data, field):
    call, challenge = open_jiebang
    resp = client.post("/api/v1/applications", headers=bearer(client, "li"), json={
        "call_id": call.id, "challenge_id": challenge.id, "title": "t", "data": data})
    assert resp.status_code == 422 and field in resp.get_json()["error"]["details"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Application)) == 0


def test_a_baogan_application_has_no_indicators_to_answer(client, app):
    call = CallFactory(state=CallState.published)
    UserFactory(username="li", roles=("applicant",))
    db.session.commit()
    resp = client.post("/api/v1/applications", headers=bearer(client, "li"), json={
        "call_id": call.id, "title": "t",
        "data": {"indicators": {"a": "b"}, "milestones": []}})
    assert resp.status_code == 422
    assert set(resp.get_json()["error"]["details"]) == {"indicators", "milestones"}


def test_the_spec_says_what_each_body_takes(client, app):
    spec = client.get("/api/openapi.json").get_json()
    bodies = [(path, method, op["requestBody"]["content"]["application/json"]["schema"])
              for path, ops in spec["paths"].items() for method, op in ops.items()
              if "application/json" in op.get("requestBody", {}).get("content", {})]
    assert len(bodies) > 20
    for path, method, schema in bodies:
        assert schema["additionalProperties"] is False, (path, method)
        for name, prop in schema["properties"].items():
            assert "type" in prop or "oneOf" in prop or "description" in prop, (path, name)
    paths = spec["paths"]
    for path, method in (
            ("/api/v1/calls/{call_id}/defence/sessions", "get"),
            ("/api/v1/calls/{call_id}/defence/sessions", "post"),
            ("/api/v1/defence/sessions/{session_id}", "get"),
            ("/api/v1/defence/sessions/{session_id}/teams/{app_id}/score", "put"),
            ("/api/v1/defence/sessions/{session_id}/teams/{app_id}/finish", "post"),
            ("/api/v1/challenges/{challenge_id}/selection", "post"),
            ("/api/v1/experts", "get"), ("/api/v1/experts", "post"),
            ("/api/v1/experts/{user_id}", "patch"), ("/api/v1/experts/import", "post"),
            ("/api/v1/organizations", "get"), ("/api/v1/organizations", "post"),
            ("/api/v1/organizations/{org_id}", "patch"),
            ("/api/v1/organizations/{org_id}/bank-account", "put"),
            ("/api/v1/applications/{app_id}/reviewers", "post"),
            ("/api/v1/challenges/{challenge_id}/stage-gate", "post"),
            ("/api/v1/notices/{app_id}/objections", "post"),
            ("/api/v1/me/preferences", "get"), ("/api/v1/me/preferences", "put"),
            ("/api/v1/me/inbox", "get"), ("/api/v1/me/inbox/read", "post"),
            ("/api/v1/notifications", "get"), ("/api/v1/notifications/{note_id}", "get"),
            ("/api/v1/notifications/{note_id}/resend", "post"),
            ("/api/v1/verify/{code}", "get"), ("/api/v1/verify", "get"),
            ("/api/v1/auth/token", "post"), ("/api/v1/auth/tokens", "get"),
            ("/api/v1/me/password", "post"), ("/api/v1/users", "get"),
            ("/api/v1/users/{user_id}/sign-out", "post"),
            ("/api/v1/users/{user_id}/password-reset", "post"),
            ("/api/v1/users/{user_id}/second-factor-reset", "post")):
        op = paths[path][method]
        success = next(s for s in op["responses"] if s.startswith("2"))
        assert "schema" in op["responses"][success]["content"]["application/json"], path
    assert "post" in paths["/api/v1/reviews/{review_id}/decline"]
    org_body = paths["/api/v1/organizations"]["post"]["requestBody"]["content"][
        "application/json"]["schema"]
    assert org_body["properties"]["kind"]["enum"] == [
        "university", "enterprise", "institute", "government"]
    assert org_body["required"] == ["name", "uscc"]
    imported = paths["/api/v1/experts/import"]["post"]["requestBody"]["content"]
    assert imported["multipart/form-data"]["schema"]["properties"]["file"]["format"] == "binary"
    expert = paths["/api/v1/experts"]["get"]["responses"]["200"]["content"][
        "application/json"]["schema"]["properties"]["items"]["items"]
    assert expert["properties"]["status"]["enum"] == ["available", "paused", "sanctioned"]


def test_an_expert_declines_an_invitation_through_the_api(client, world):
    expert = bearer(client, "expert")
    url = f"/api/v1/reviews/{world['invited'].id}/decline"
    resp = client.post(url, headers=expert, json={"reason": "亲属关系", "conflict_kind": "cousin"})
    assert resp.status_code == 422 and "conflict_kind" in resp.get_json()["error"]["details"]
    resp = client.post(url, headers=expert,
                       json={"reason": "亲属关系", "conflict_kind": "near_relative"})
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["state"] == "declined"
    assert client.post(url, headers=bearer(client, "li"),
                       json={"reason": "x"}).status_code == 404
