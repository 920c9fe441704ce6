"""The decision and public-notice API."""

from decimal import Decimal

import pytest

from states import ApplicationState, CallState
from tests.conftest import api_token, calendar_known_ahead
from tests.factories import PASSWORD, ApplicationFactory, CallFactory, UserFactory
from workflow.core.models import db


@pytest.fixture
def setup(app, client):
    officer = UserFactory(roles=("officer",), organization=None)
    leader = UserFactory(roles=("leader",), organization=None)
    researcher = UserFactory()
    call = CallFactory(state=CallState.reviewing, budget=Decimal("1000000.00"))
    apps = [ApplicationFactory(call=call, state=ApplicationState.reviewed,
                               data={"amount": "300000.00"}) for _ in range(2)]
    db.session.commit()
    auth = {name: {"Authorization": "Bearer " + api_token(client, u.username, PASSWORD)}
            for name, u in (("officer", officer), ("leader", leader),
                            ("researcher", researcher))}
    return call, apps, auth


def test_propose_approve_and_publish_through_the_api(client, setup):
    calendar_known_ahead()  # (published now: whatever the date, its days are known)
    call, (a, b), auth = setup
    resp = client.post(f"/api/v1/calls/{call.id}/decision", headers=auth["officer"], json={
        "items": [{"application_id": a.id, "amount_wan": "28.5"}], "comment": "按排名"})
    assert resp.status_code == 201, resp.get_json()
    body = resp.get_json()
    assert body["total_wan"] == "28.50" and body["state"] == "proposed"
    assert client.post(f"/api/v1/decisions/{body['id']}/approve", headers=auth["officer"],
                       json={}).status_code == 403
    resp = client.post(f"/api/v1/decisions/{body['id']}/approve", headers=auth["leader"],
                       json={"comment": "同意"})
    assert resp.status_code == 200 and resp.get_json()["state"] == "approved"
    assert resp.get_json()["items"][0]["state"] == "shortlisted"
    resp = client.post(f"/api/v1/calls/{call.id}/notices", headers=auth["officer"])
    assert resp.get_json() == {"done": 1, "refused": []}
    public = client.get("/api/v1/notices").get_json()["items"]  # no token needed
    assert [(n["title"], n["amount_wan"]) for n in public] == [(a.title, "28.50")]
    db.session.expire_all()
    assert b.state is ApplicationState.not_funded


@pytest.mark.parametrize("body,status,code", [
    ({"items": "all"}, 422, "invalid"),
    ({"items": [{"application_id": "x", "amount_wan": "1"}]}, 422, "invalid"),
    ({"items": [{"application_id": 10**12, "amount_wan": "1"}]}, 422, "invalid"),
    ({"items": [], "meeting": []}, 422, "invalid"),
    ({"items": [], "comment": 5}, 422, "invalid"),
])
def test_bad_bodies_are_refused_with_a_clear_error(client, setup, body, status, code):
    call, _, auth = setup
    resp = client.post(f"/api/v1/calls/{call.id}/decision", headers=auth["officer"], json=body)
    assert resp.status_code == status and resp.get_json()["error"]["code"] == code


def test_researchers_do_not_see_decisions(client, setup):
    call, _, auth = setup
    # The researcher sees the call: its decision is refused, not hidden.
    assert client.get(f"/api/v1/calls/{call.id}/decision",
                      headers=auth["researcher"]).status_code == 403
    assert client.get(f"/api/v1/calls/{call.id}/decision",
                      headers=auth["leader"]).get_json()["pending"] is None
