"""答辩 for 揭榜挂帅: a panel with the demand side scores the teams; the best are chosen."""

from decimal import Decimal

import pytest
import sqlalchemy as sa

from states import ApplicationState, CallState
from tests.conftest import login
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
from workflow.core.errors import Forbidden, GuardFailed, Invalid
from workflow.core.models import db
from workflow.review import defence
from workflow.review.models import DefenceSession


@pytest.fixture
def hearing(app):
    enterprise = OrganizationFactory(name="稀土公司", kind=OrgKind.enterprise)
    call = CallFactory(scheme=Scheme.jiebang, state=CallState.reviewing, steps=["defence"])
    challenge = ChallengeFactory(call=call, demand_org=enterprise, max_teams=2)
    officer = UserFactory(username="officer", organization=None, roles=("officer",))
    demand = UserFactory(username="demand", organization=enterprise, roles=("demand",))
    panel = [ExpertProfileFactory(user__username=f"panel{i}").user for i in range(3)]
    teams = [ApplicationFactory(call=call, challenge=challenge, state=ApplicationState.defence,
                                title=f"团队{i}") for i in range(3)]
    db.session.commit()
    session = defence.schedule(officer, call, {
        "challenge_id": str(challenge.id), "starts_at": "2026-12-10 09:00",
        "place": "市科技局三楼会议室", "panel": [str(u.id) for u in panel]})
    db.session.commit()
    return {"call": call, "challenge": challenge, "officer": officer, "demand": demand,
            "panel": panel, "teams": teams, "session": session}


def test_scheduling_needs_a_place_and_three_experts(hearing):
    with pytest.raises(Invalid) as err:
        defence.schedule(hearing["officer"], hearing["call"], {
            "starts_at": "2026-12-10 09:00", "place": "", "panel": [hearing["panel"][0].id]})
    assert set(err.value.details) == {"place", "panel"}


def test_panel_and_demand_side_score_and_the_best_teams_are_chosen(hearing):
    s = hearing["session"]
    assert s.demand_present and defence.panel_role(hearing["demand"], s) == "demand"
    for team, base in zip(hearing["teams"], (70, 90, 80), strict=True):
        for i, expert in enumerate(hearing["panel"]):
            defence.record_score(expert, s, team, base + i, "答辩表现")
        defence.record_score(hearing["demand"], s, team, base, "发榜方意见")
        defence.finish(hearing["officer"], s, team)
    db.session.commit()
    states = {t.title: t.state for t in hearing["teams"]}
    assert set(states.values()) == {ApplicationState.reviewed}
    assert hearing["teams"][1].defence_score == Decimal("90.75")
    chosen = defence.select_teams(hearing["officer"], hearing["challenge"])
    db.session.commit()
    assert [a.title for a in chosen.chosen] == ["团队1", "团队2"]  # 赛马: two teams race
    assert hearing["teams"][1].state is ApplicationState.shortlisted
    assert hearing["teams"][0].state is ApplicationState.reviewed


def test_refusals(hearing):
    s, team = hearing["session"], hearing["teams"][0]
    outsider = UserFactory(roles=("expert",))
    with pytest.raises(Forbidden):
        defence.record_score(outsider, s, team, 80, "")
    with pytest.raises(Invalid):
        defence.record_score(hearing["panel"][0], s, team, 130, "")
    with pytest.raises(GuardFailed, match="评分不足"):
        defence.finish(hearing["officer"], s, team)
    with pytest.raises(Invalid):
        defence.select_teams(hearing["officer"], hearing["challenge"], k=3)


def test_defence_page_for_officer_and_panelist(client, hearing):
    login(client, "panel0", PASSWORD)
    page = client.get(f"/calls/{hearing['call'].id}/defence").get_data(as_text=True)
    assert "市科技局三楼会议室" in page and "团队0" in page
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    s, team = hearing["session"], hearing["teams"][0]
    client.post(f"/defence/{s.id}/{team.id}", data={"csrf_token": token, "score": "abc"})
    assert "应为0至100之间的数字" in client.get(
        f"/calls/{hearing['call'].id}/defence").get_data(as_text=True)
    client.post(f"/defence/{s.id}/{team.id}", data={"csrf_token": token, "score": "88",
                                                   "comment": "思路清晰"})
    assert "已评 1 人" in client.get(f"/calls/{hearing['call'].id}/defence").get_data(
        as_text=True)
    stranger = client.application.test_client()
    UserFactory(username="li", roles=("applicant",))
    db.session.commit()
    login(stranger, "li", PASSWORD)
    assert stranger.get(f"/calls/{hearing['call'].id}/defence").status_code == 403
    assert db.session.scalar(sa.select(sa.func.count()).select_from(DefenceSession)) == 1
    assert db.session.get(Application, team.id).state is ApplicationState.defence
