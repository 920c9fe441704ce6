"""答辩 through the API alone: an officer schedules a session, the panel and the demand
side score, the officer finishes each team and the best teams are put in charge."""

from decimal import Decimal

import pytest

from states import ApplicationState, CallState
from tests.conftest import api_token
from tests.factories import (
    PASSWORD,
    ApplicationFactory,
    CallFactory,
    ChallengeFactory,
    ExpertProfileFactory,
    OrganizationFactory,
    UserFactory,
)
from workflow.accounts.models import OrgKind
from workflow.applying.models import Application
from workflow.calls.models import Scheme
from workflow.core.models import db


def bearer(client, user):
    return {"Authorization": "Bearer " + api_token(client, user.username, PASSWORD)}


@pytest.fixture
def hearing(app, client):
    enterprise = OrganizationFactory(name="稀土公司", kind=OrgKind.enterprise)
    call = CallFactory(scheme=Scheme.jiebang, state=CallState.reviewing, steps=["defence"])
    challenge = ChallengeFactory(call=call, demand_org=enterprise, max_teams=2)
    people = {"officer": UserFactory(roles=("officer",), organization=None),
              "leader": UserFactory(roles=("leader",), organization=None),
              "demand": UserFactory(roles=("demand",), organization=enterprise),
              "outsider": ExpertProfileFactory().user,
              "researcher": UserFactory(roles=("applicant",))}
    panel = [ExpertProfileFactory(user__name=f"专家{i}").user for i in range(3)]
    teams = [ApplicationFactory(call=call, challenge=challenge, state=ApplicationState.defence,
                                title=f"团队{i}") for i in range(3)]
    db.session.commit()
    auth = {k: bearer(client, u) for k, u in people.items()}
    auth["panel"] = [bearer(client, u) for u in panel]
    return {"call": call, "challenge": challenge, "panel": panel, "teams": teams,
            "auth": auth, "people": people}


def schedule(client, h, **extra):
    body = {"challenge_id": h["challenge"].id, "starts_at": "2026-12-10 09:00",
            "place": "市科技局三楼会议室", "panel": [u.id for u in h["panel"]], **extra}
    return client.post(f"/api/v1/calls/{h['call'].id}/defence/sessions",
                       headers=h["auth"]["officer"], json=body)


def test_the_whole_defence_through_the_api(client, hearing):
    h = hearing
    resp = schedule(client, h)
    assert resp.status_code == 201, resp.get_json()
    session = resp.get_json()
    assert session["demand_present"] and session["place"] == "市科技局三楼会议室"
    assert session["starts_at_local"].startswith("2026-12-10 09:00")
    assert [t["title"] for t in session["teams"]] == ["团队0", "团队1", "团队2"]
    assert [p["name"] for p in session["panel"]] == ["专家0", "专家1", "专家2"]
    base = f"/api/v1/defence/sessions/{session['id']}/teams"

    listing = client.get(f"/api/v1/calls/{h['call'].id}/defence/sessions",
                         headers=h["auth"]["panel"][0]).get_json()["items"]
    assert [s["my_role"] for s in listing] == ["expert"] and "panel" not in listing[0]

    for team, score in zip(h["teams"], (70, 90, 80), strict=True):
        for i, auth in enumerate(h["auth"]["panel"]):
            resp = client.put(f"{base}/{team.id}/score", headers=auth,
                              json={"score": score + i, "comment": "答辩表现"})
            assert resp.status_code == 200, resp.get_json()
        resp = client.put(f"{base}/{team.id}/score", headers=h["auth"]["demand"],
                          json={"score": str(score), "comment": "发榜方意见"})
        assert resp.get_json() == {"score": f"{score}.00", "comment": "发榜方意见",
                                   "role": "demand"}
    mine = client.get(f"/api/v1/defence/sessions/{session['id']}",
                      headers=h["auth"]["panel"][1]).get_json()["teams"][1]
    assert mine["scored_by"] == 4 and mine["experts_scored"] == 3
    assert mine["my_score"]["score"] == "91.00"

    for team in h["teams"]:
        resp = client.post(f"{base}/{team.id}/finish", headers=h["auth"]["officer"])
        assert resp.status_code == 200, resp.get_json()
        assert resp.get_json()["state"] == "reviewed"
    assert resp.get_json()["defence_score"] == "80.75"

    resp = client.post(f"/api/v1/challenges/{h['challenge'].id}/selection",
                       headers=h["auth"]["leader"], json={})
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert body["chosen"] == [h["teams"][1].id, h["teams"][2].id]  # 赛马: two race
    assert [(o["defence_score"], o["chosen"], o["state"]) for o in body["order"]] == [
        ("90.75", True, "shortlisted"), ("80.75", True, "shortlisted"),
        ("70.75", False, "reviewed")]
    db.session.expire_all()
    states = [db.session.get(Application, t.id).state for t in h["teams"]]
    assert states == [ApplicationState.reviewed, ApplicationState.shortlisted,
                      ApplicationState.shortlisted]


def test_one_team_put_in_charge_when_k_is_one(client, hearing):
    h = hearing
    sid = schedule(client, h).get_json()["id"]
    team = h["teams"][0]
    for auth in h["auth"]["panel"]:
        client.put(f"/api/v1/defence/sessions/{sid}/teams/{team.id}/score", headers=auth,
                   json={"score": 85})
    client.post(f"/api/v1/defence/sessions/{sid}/teams/{team.id}/finish",
                headers=h["auth"]["officer"])
    resp = client.post(f"/api/v1/challenges/{h['challenge'].id}/selection",
                       headers=h["auth"]["officer"], json={"k": 1})
    assert resp.get_json()["chosen"] == [team.id]


def test_bad_schedules_are_explained_field_by_field(client, hearing):
    h = hearing
    resp = schedule(client, h, place="", panel=[h["panel"][0].id, 99999])
    assert resp.status_code == 422
    details = resp.get_json()["error"]["details"]
    assert set(details) == {"place", "panel"} and "99999" in details["panel"]
    resp = schedule(client, h, panel=[h["panel"][0].id, h["panel"][1].id,
                                      h["people"]["researcher"].id])
    assert resp.status_code == 422 and "panel" in resp.get_json()["error"]["details"]
    resp = schedule(client, h, starts_at=20261210)
    assert resp.get_json()["error"]["details"] == {"starts_at": "应为字符串"}
    resp = schedule(client, h, room="301")
    assert resp.status_code == 422
    assert resp.get_json()["error"]["details"] == {"room": "不接受该字段"}
    resp = schedule(client, h, challenge_id=ChallengeFactory().id)
    assert "challenge_id" in resp.get_json()["error"]["details"]


def test_who_may_see_and_do_what(client, hearing):
    h = hearing
    call_sessions = f"/api/v1/calls/{h['call'].id}/defence/sessions"
    # The researcher sees the call but may not schedule, nor read its sessions: 403; a
    # session they are not on is hidden: 404.
    resp = client.post(call_sessions, headers=h["auth"]["researcher"], json={
        "starts_at": "2026-12-10 09:00", "place": "x", "panel": []})
    assert resp.status_code == 403
    sid = schedule(client, h).get_json()["id"]
    team = h["teams"][0]
    score_url = f"/api/v1/defence/sessions/{sid}/teams/{team.id}/score"
    assert client.get(call_sessions, headers=h["auth"]["researcher"]).status_code == 403
    assert client.get(f"/api/v1/defence/sessions/{sid}",
                      headers=h["auth"]["outsider"]).status_code == 404
    assert client.put(score_url, headers=h["auth"]["outsider"],
                      json={"score": 80}).status_code == 404
    # The officer sees the session but is not on its panel.
    resp = client.put(score_url, headers=h["auth"]["officer"], json={"score": 80})
    assert resp.status_code == 403 and resp.get_json()["error"]["code"] == "not_panelist"
    for bad in (130, "abc", True, None):
        resp = client.put(score_url, headers=h["auth"]["panel"][0], json={"score": bad})
        assert resp.status_code == 422, bad
    other = ApplicationFactory()
    db.session.commit()
    assert client.put(f"/api/v1/defence/sessions/{sid}/teams/{other.id}/score",
                      headers=h["auth"]["panel"][0], json={"score": 80}).status_code == 404
    finish = f"/api/v1/defence/sessions/{sid}/teams/{team.id}/finish"
    assert client.post(finish, headers=h["auth"]["panel"][0]).status_code == 403
    resp = client.post(finish, headers=h["auth"]["officer"])
    assert resp.status_code == 422  # the finish_defence guard: the panel has not scored
    assert [d["code"] for d in resp.get_json()["error"]["details"]] == ["panel_incomplete"]
    resp = client.post(finish, headers=h["auth"]["officer"], json={"force": True})
    assert resp.status_code == 422 and "force" in resp.get_json()["error"]["details"]
    selection = f"/api/v1/challenges/{h['challenge'].id}/selection"
    assert client.post(selection, headers=h["auth"]["researcher"],
                       json={}).status_code == 403
    resp = client.post(selection, headers=h["auth"]["officer"], json={"k": 3})
    assert resp.status_code == 422 and "k" in resp.get_json()["error"]["details"]
    assert client.post("/api/v1/challenges/99999/selection", headers=h["auth"]["officer"],
                       json={}).status_code == 404
    db.session.expire_all()
    assert db.session.get(Application, team.id).state is ApplicationState.defence


def test_the_generic_transition_finishes_a_team_from_its_panels_scores(client, hearing):
    h = hearing
    url = f"/api/v1/applications/{h['teams'][0].id}/transitions"
    officer = h["auth"]["officer"]
    resp = client.post(url, headers=officer, json={"trigger": "finish_defence"})
    assert resp.status_code == 422 and resp.get_json()["error"]["message"] == "尚未安排答辩"
    session = schedule(client, h).get_json()
    base = f"/api/v1/defence/sessions/{session['id']}/teams/{h['teams'][0].id}/score"
    for i, auth in enumerate(h["auth"]["panel"][:2]):
        client.put(base, headers=auth, json={"score": 80 + i, "comment": "答辩表现"})
    resp = client.post(url, headers=officer, json={"trigger": "finish_defence"})
    assert resp.status_code == 422
    assert resp.get_json()["error"]["message"] == "评审组专家评分不足（已评2人）"
    # The score is the panel's, never the caller's.
    resp = client.post(url, headers=officer, json={"trigger": "finish_defence",
                                                   "data": {"defence_score": 100}})
    assert resp.status_code == 422 and "defence_score" in resp.get_json()["error"]["details"]
    client.put(base, headers=h["auth"]["panel"][2], json={"score": 85, "comment": "答辩表现"})
    resp = client.post(url, headers=officer, json={"trigger": "finish_defence"})
    assert resp.status_code == 200 and resp.get_json()["state"] == "reviewed"
    db.session.expire_all()
    assert db.session.get(Application, h["teams"][0].id).defence_score == Decimal("82.00")
