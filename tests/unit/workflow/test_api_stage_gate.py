"""赛马: the stage gate of a challenge with several teams at work, through the API as on
the call's page (``/challenges/<id>/stage-gate``)."""

from datetime import timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from states import ApplicationState, CallState, TrancheState
from tests.conftest import api_token, client_for, csrf_of
from tests.factories import (
    PASSWORD,
    ApplicationFactory,
    ChallengeFactory,
    OrganizationFactory,
    UserFactory,
)
from workflow.accounts.models import User
from workflow.core import audit, engine
from workflow.core.models import db, utcnow
from workflow.finance import operations as finance

A = ApplicationState
COMMENT = "甲、丙团队样机指标领先，乙团队进度滞后"


def h(client, who):
    return {"Authorization": f"Bearer {api_token(client, who, PASSWORD)}"}


def racing(officer, teams=3, call_state=CallState.decided):
    """A challenge with ``teams`` projects at work (赛马), each approved, contracted and
    started through the engine, its tranches planned."""
    demand = OrganizationFactory(name="赣州稀土集团")
    challenge = ChallengeFactory(demand_org=demand, max_teams=teams,
                                 call__budget=Decimal(10**7), call__state=call_state,
                                 call__tranche_plan=[{"condition": "milestone"}])
    rows = []
    for i in range(teams):
        row = ApplicationFactory(
            call=challenge.call, challenge=challenge,
            applicant=UserFactory(username=f"team{i}", roles=("applicant",)),
            state=A.public_notice, granted_amount=Decimal("2000000.00"),
            notice_ends_at=utcnow() - timedelta(minutes=1),
            data={"milestones": [{"label": "样机", "amount": "800000.00", "months": 12},
                                 {"label": "中试", "amount": "1200000.00", "months": 24}]},
            task_book_signed_by=("team", "demand"))
        db.session.commit()
        engine.fire(row, "approve", None)
        engine.fire(row, "sign_contract", officer)
        engine.fire(row, "start", None)
        db.session.commit()
        rows.append(row)
    return challenge, rows


@pytest.fixture
def race(app):
    officer = UserFactory(username="officer", roles=("officer",), organization=None)
    UserFactory(username="leader", roles=("leader",), organization=None)
    return racing(officer)


def states_of(rows):
    db.session.expire_all()
    return [r.state for r in rows]


def test_the_officer_keeps_the_chosen_teams_and_the_others_stop(client, race):
    challenge, (a, b, c) = race
    resp = client.post(f"/api/v1/challenges/{challenge.id}/stage-gate",
                       headers=h(client, "officer"),
                       json={"continuing": [c.id, a.id], "comment": COMMENT})
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json() == {"challenge_id": challenge.id, "continuing": [c.id, a.id],
                               "stopped": [b.id]}
    assert states_of((a, b, c)) == [A.in_progress, A.terminated, A.in_progress]
    assert {t.state for t in finance.tranches_of(b)} == {TrancheState.cancelled}
    assert TrancheState.cancelled not in {t.state for t in finance.tranches_of(a)}
    last = audit.history("application", b.id)[-1]
    assert (last.trigger, last.comment) == ("terminate", f"赛马阶段评估未入选：{COMMENT}")
    # The stopped team reads it on its own project.
    own = client.get(f"/api/v1/applications/{b.id}", headers=h(client, "team1")).get_json()
    assert own["state"] == "terminated"


@pytest.mark.parametrize("body,fields", [
    ({"continuing": [], "comment": COMMENT}, {"continuing"}),
    ({"continuing": ["first"], "comment": COMMENT}, {"continuing"}),
    ({"continuing": [True], "comment": COMMENT}, {"continuing"}),
    ({"continuing": "all", "comment": COMMENT}, {"continuing"}),
    ({"comment": COMMENT}, {"continuing"}),
    ({"continuing": [0], "comment": " "}, {"continuing"}),
    ({}, {"continuing", "comment"}),
    ({"continuing": [1], "comment": 5}, {"comment"}),
    ({"continuing": [1], "comment": COMMENT, "stopped": [2]}, {"stopped"}),
])
def test_a_bad_body_is_refused_naming_each_field_and_nothing_stops(client, race, body,
                                                                   fields):
    challenge, rows = race
    resp = client.post(f"/api/v1/challenges/{challenge.id}/stage-gate",
                       headers=h(client, "officer"), json=body)
    assert resp.status_code == 422, resp.get_json()
    assert fields <= set(resp.get_json()["error"]["details"])
    assert states_of(rows) == [A.in_progress] * 3


def test_a_team_that_is_not_at_work_on_the_challenge_is_named_not_dropped(client, race):
    challenge, (a, b, c) = race
    other = ApplicationFactory(state=A.in_progress)
    db.session.commit()
    resp = client.post(f"/api/v1/challenges/{challenge.id}/stage-gate",
                       headers=h(client, "officer"),
                       json={"continuing": [a.id, other.id], "comment": COMMENT})
    assert resp.status_code == 422
    assert f"#{other.id}" in resp.get_json()["error"]["details"]["continuing"]
    assert states_of((a, b, c, other)) == [A.in_progress] * 4


@pytest.mark.parametrize("who", ["leader", "team0"])
def test_only_the_officer_holds_the_stage_gate(client, race, who):
    challenge, (a, *rows) = race
    resp = client.post(f"/api/v1/challenges/{challenge.id}/stage-gate", headers=h(client, who),
                       json={"continuing": [a.id], "comment": COMMENT})
    assert resp.status_code == 403
    assert states_of((a, *rows)) == [A.in_progress] * 3


def test_a_challenge_one_may_not_see_is_not_found(client, race):
    _challenge, (a, *_) = race
    hidden = ChallengeFactory(call__state=CallState.draft)
    db.session.commit()
    assert client.post(f"/api/v1/challenges/{hidden.id}/stage-gate", headers=h(client, "team0"),
                       json={"continuing": [a.id], "comment": COMMENT}).status_code == 404
    assert client.post("/api/v1/challenges/99999/stage-gate", headers=h(client, "officer"),
                       json={"continuing": [a.id], "comment": COMMENT}).status_code == 404


def test_the_page_refuses_a_team_that_stopped_since_it_was_shown(app, race):
    challenge, (a, b, c) = race
    officer = client_for(app, "officer", PASSWORD)
    page = officer.get(f"/calls/{challenge.call_id}").get_data(as_text=True)
    assert 'data-testid="stage-gate"' in page
    engine.fire(engine.load("application", c.id, lock=True), "terminate",
                db.session.scalar(sa.select(User).where(User.username == "officer")),
                comment="另行终止")
    db.session.commit()
    resp = officer.post(f"/challenges/{challenge.id}/stage-gate", data={
        "csrf_token": csrf_of(page), "continuing": [str(a.id), str(c.id)],
        "comment": COMMENT}, follow_redirects=True)
    assert "不是本榜单在研的团队" in resp.get_data(as_text=True)
    assert states_of((a, b)) == [A.in_progress, A.in_progress]


def test_the_spec_describes_the_stage_gate(client, app):
    op = client.get("/api/openapi.json").get_json()["paths"][
        "/api/v1/challenges/{challenge_id}/stage-gate"]["post"]
    schema = op["requestBody"]["content"]["application/json"]["schema"]
    assert schema["required"] == ["continuing", "comment"]
    assert schema["properties"]["continuing"]["items"] == {"type": "integer"}
    assert {"200", "403", "404", "409", "422"} <= set(op["responses"])
