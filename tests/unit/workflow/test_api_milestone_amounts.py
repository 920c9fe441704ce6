"""A 揭榜挂帅 team's milestone plan is read in the unit it is written in: 万元 as
``amount_wan`` strings. What a client PATCHes is what it GETs, and GETting and sending
back changes nothing; inside, the plan stays in yuan for the tranches and the task book."""

import re
from decimal import Decimal

import pytest

from states import CallState
from tests.conftest import api_token, login
from tests.factories import PASSWORD, CallFactory, ChallengeFactory, UserFactory
from workflow.applying.models import Application
from workflow.calls.models import Scheme
from workflow.core.models import db


def bearer(client, username):
    return {"Authorization": "Bearer " + api_token(client, username, PASSWORD)}


@pytest.fixture
def draft(app, client):
    call = CallFactory(scheme=Scheme.jiebang, state=CallState.published)
    challenge = ChallengeFactory(call=call, ceiling=Decimal("3000000.00"), duration_months=24,
                                 indicators=[{"name": "磁能积", "target": "≥50 MGOe"}])
    UserFactory(username="li", roles=("applicant",))
    db.session.commit()
    resp = client.post("/api/v1/applications", headers=bearer(client, "li"), json={
        "call_id": call.id, "challenge_id": challenge.id, "title": "低重稀土永磁揭榜",
        "data": {"summary": "方案", "indicators": {"磁能积": "52 MGOe"},
                 "milestones": [{"label": "中试", "amount_wan": "120", "months": 12}]}})
    assert resp.status_code == 201, resp.get_json()
    assert resp.get_json()["data"]["milestones"] == [
        {"label": "中试", "amount_wan": "120.00", "months": 12}]
    return resp.get_json()["id"]


PLAN = [{"label": "中试线建成", "amount_wan": "60.50", "months": 6},
        {"label": "工业化验证", "amount_wan": "12.34", "months": 18}]


def test_what_is_patched_is_what_is_got(client, draft):
    mine = bearer(client, "li")
    url = f"/api/v1/applications/{draft}"
    resp = client.patch(url, headers=mine, json={"data": {"milestones": PLAN}})
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["data"]["milestones"] == PLAN
    got = client.get(url, headers=mine).get_json()
    assert got["data"]["milestones"] == PLAN
    # Sending back what was read is taken as it is, and changes nothing.
    resp = client.patch(url, headers=mine, json={"data": got["data"]})
    assert resp.status_code == 200, resp.get_json()
    assert client.get(url, headers=mine).get_json()["data"]["milestones"] == PLAN
    # Inside, yuan, exact to the fen: what the tranches and the task book are made from.
    stored = db.session.get(Application, draft).data["milestones"]
    assert [m["amount"] for m in stored] == ["605000.00", "123400.00"]


def test_a_whole_number_reads_with_two_decimals_and_means_the_same(client, draft):
    mine = bearer(client, "li")
    url = f"/api/v1/applications/{draft}"
    client.patch(url, headers=mine, json={"data": {"milestones": [
        {"label": "中试", "amount_wan": "60", "months": 6}]}})
    assert client.get(url, headers=mine).get_json()["data"]["milestones"] == [
        {"label": "中试", "amount_wan": "60.00", "months": 6}]
    # The edit page shows the same amount in the same unit.
    login(client, "li", PASSWORD)
    page = client.get(f"/applications/{draft}/edit").get_data(as_text=True)
    assert re.search(r'name="ms-0-amount"[^>]*value="60.00"', page)


def test_the_old_yuan_key_is_refused_by_name(client, draft):
    resp = client.patch(f"/api/v1/applications/{draft}", headers=bearer(client, "li"),
                        json={"data": {"milestones": [
                            {"label": "中试", "amount": "600000.00", "months": 6}]}})
    assert resp.status_code == 422
    assert "amount" in resp.get_json()["error"]["details"]["milestones"]
    assert db.session.get(Application, draft).data["milestones"][0]["amount"] == "1200000.00"


def test_a_submitted_round_reads_in_the_same_unit(client, draft):
    mine = bearer(client, "li")
    client.patch(f"/api/v1/applications/{draft}", headers=mine,
                 json={"data": {"milestones": PLAN}})
    assert client.post(f"/api/v1/applications/{draft}/sign", headers=mine).status_code == 200
    resp = client.post(f"/api/v1/applications/{draft}/submit", headers=mine)
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["data"]["milestones"] == PLAN
    (sent,) = client.get(f"/api/v1/applications/{draft}/rounds",
                         headers=mine).get_json()["items"]
    assert sent["data"]["milestones"] == PLAN
