"""Milestones, funding decisions and objections through the generic lifecycle API and
pages: ``/api/v1/{milestones|decisions|objections}/{id}/transitions`` and ``/history``,
``/{collection}/{id}``. Whoever may not see a row gets 404; whoever sees it but may not
act, 403."""

from datetime import timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from states import ApplicationState, CallState
from tests.conftest import api_token, client_for, csrf_of
from tests.factories import (
    PASSWORD,
    ApplicationFactory,
    CallFactory,
    ChallengeFactory,
    OrganizationFactory,
    UserFactory,
)
from workflow.applying.models import Application
from workflow.core.models import db, utcnow
from workflow.decisions import notices
from workflow.decisions import operations as decisions
from workflow.decisions.models import Objection
from workflow.finance.models import Milestone, Tranche

A = ApplicationState
REPORT = "样机已完成并通过第三方测试，各项指标达标"
TEXT = "该项目申报材料中的合作单位并未实际参与，申报内容与事实不符。"


@pytest.fixture
def people(app):
    org = OrganizationFactory()
    users = {
        "li": UserFactory(username="li", organization=org, roles=("applicant",)),
        "colleague": UserFactory(username="colleague", organization=org, roles=("applicant",)),
        "wang": UserFactory(username="wang", roles=("applicant",)),
        "officer": UserFactory(username="officer", organization=None, roles=("officer",),
                               name="张科长"),
        "leader": UserFactory(username="leader", organization=None, roles=("leader",)),
        "auditor": UserFactory(username="auditor", organization=None, roles=("auditor",)),
        "other_demand": UserFactory(username="other_demand", roles=("demand",)),
    }
    challenge = ChallengeFactory(call__budget=Decimal(10**7))
    users["demand"] = UserFactory(username="demand", organization=challenge.demand_org,
                                  roles=("demand",))
    users["challenge"] = challenge
    db.session.commit()
    return users


def auth(client, username):
    return {"Authorization": f"Bearer {api_token(client, username, PASSWORD)}"}


def milestone_of(people, state=A.in_progress):
    project = ApplicationFactory(call=people["challenge"].call, challenge=people["challenge"],
                                 applicant=people["li"], state=state,
                                 granted_amount=Decimal("800000.00"))
    db.session.flush()
    m = Milestone(application_id=project.id, seq=1, label="样机", amount=Decimal("800000.00"),
                  due_on=utcnow().date())
    db.session.add(m)
    db.session.flush()
    db.session.add(Tranche(application=project, seq=1, label="里程碑1：样机", amount=m.amount,
                           condition="milestone", milestone_id=m.id))
    db.session.commit()
    return m


# ---- milestones --------------------------------------------------------------------------

def test_a_milestone_through_the_lifecycle_api(client, people):
    m = milestone_of(people)
    url = f"/api/v1/milestones/{m.id}"
    li = auth(client, "li")
    listed = client.get(f"{url}/transitions", headers=li).get_json()
    assert (listed["state"], listed["version"]) == ("planned", 1)
    opts = {t["trigger"]: t for t in listed["transitions"]}
    assert set(opts) == {"report", "cancel"} and opts["report"]["dest"] == "reported"
    # Refused until the report is written; the system alone cancels a milestone.
    assert [r["code"] for r in opts["report"]["reasons"]] == ["report_too_short"]
    assert [r["code"] for r in opts["cancel"]["reasons"]] == ["role_not_allowed"]
    resp = client.post(f"{url}/transitions", headers=li,
                       json={"trigger": "report", "data": {"report": "完成"}})
    assert resp.status_code == 422
    assert resp.get_json()["error"]["details"][0]["code"] == "report_too_short"
    resp = client.post(f"{url}/transitions", headers={**li, "If-Match": '"1"'},
                       json={"trigger": "report", "data": {"report": REPORT}})
    assert resp.status_code == 200, resp.get_json()
    assert (resp.get_json()["state"], resp.headers["ETag"]) == ("reported", '"2"')

    demand = auth(client, "demand")
    opts = {t["trigger"]: t for t in client.get(f"{url}/transitions", headers=demand)
            .get_json()["transitions"]}
    assert opts["demand_accept"]["allowed"] and opts["reject"]["allowed"]
    assert not opts["officer_accept"]["allowed"]
    assert opts["officer_accept"]["reasons"][0]["code"] == "role_not_allowed"
    resp = client.post(f"{url}/transitions", headers=demand,
                       json={"trigger": "demand_accept", "comment": "样机满足要求"})
    assert resp.status_code == 200 and resp.get_json()["state"] == "demand_accepted"
    # The dedicated verdict endpoint takes the same path: the officer's pass completes it.
    resp = client.post(f"{url}/verdict", headers=auth(client, "officer"),
                       json={"verdict": "pass", "opinion": "同意"})
    assert resp.status_code == 200 and resp.get_json()["state"] == "accepted"

    history = client.get(f"{url}/history", headers=li).get_json()["history"]
    assert [(e["trigger"], e["from"], e["to"], e["role"]) for e in history] == [
        ("report", "planned", "reported", "applicant"),
        ("demand_accept", "reported", "demand_accepted", "demand"),
        ("officer_accept", "demand_accepted", "accepted", "officer")]
    db.session.expire_all()
    assert db.session.scalars(sa.select(Tranche)).one().state.value == "due"


def test_milestone_refusals_404_for_whoever_does_not_see_the_project_403_for_the_rest(
        client, people):
    m = milestone_of(people)
    url = f"/api/v1/milestones/{m.id}"
    # Another organisation; another challenge's side; a colleague of the team, who sees the
    # project's heading, not its milestones.
    for who in ("wang", "other_demand", "colleague"):
        h = auth(client, who)
        assert client.get(f"{url}/transitions", headers=h).status_code == 404
        assert client.get(f"{url}/history", headers=h).status_code == 404
        resp = client.post(f"{url}/transitions", headers=h,
                           json={"trigger": "report", "data": {"report": REPORT}})
        assert resp.status_code == 404
    # Seen, not theirs to act on: the auditor, the officer.
    for who, trigger in (("auditor", "report"), ("officer", "report")):
        resp = client.post(f"{url}/transitions", headers=auth(client, who),
                           json={"trigger": trigger, "data": {"report": REPORT}})
        assert resp.status_code == 403, who
    assert client.get(f"{url}/history", headers=auth(client, "auditor")).status_code == 200
    resp = client.post(f"{url}/transitions", headers=auth(client, "li"),
                       json={"trigger": "report", "data": {"report": REPORT, "amount": "9"}})
    assert resp.status_code == 422
    assert resp.get_json()["error"]["details"] == {"amount": "不接受该字段"}
    resp = client.post(f"{url}/transitions", headers=auth(client, "officer"),
                       json={"trigger": "cancel", "comment": "不需要了"})
    assert resp.status_code == 403  # the system cancels milestones, with their project


# ---- funding decisions -------------------------------------------------------------------

def proposed_list(people, n=2):
    call = CallFactory(state=CallState.reviewing, budget=Decimal("1000000.00"))
    apps = [ApplicationFactory(call=call, state=A.reviewed, data={"amount": "300000.00"})
            for _ in range(n)]
    db.session.commit()
    d = decisions.propose(call, people["officer"],
                          [{"application_id": apps[0].id, "amount_wan": "30"}], "按排名")
    db.session.commit()
    return call, apps, d


def test_a_decision_through_the_lifecycle_api(client, people):
    call, (a, b), d = proposed_list(people)
    url = f"/api/v1/decisions/{d.id}"
    leader = auth(client, "leader")
    opts = {t["trigger"]: t for t in client.get(f"{url}/transitions", headers=leader)
            .get_json()["transitions"]}
    assert opts["approve"]["allowed"] and opts["send_back"]["needs_comment"]
    assert not opts["withdraw"]["allowed"]
    assert client.post(f"{url}/transitions", headers=leader,
                       json={"trigger": "send_back"}).status_code == 422
    resp = client.post(f"{url}/transitions", headers=leader,
                       json={"trigger": "approve", "comment": "同意"})
    assert resp.status_code == 200 and resp.get_json()["state"] == "approved"
    db.session.expire_all()
    assert call.state is CallState.decided
    assert (a.state, b.state) == (A.shortlisted, A.not_funded)
    history = client.get(f"{url}/history", headers=auth(client, "auditor")).get_json()
    assert [(e["trigger"], e["from"], e["to"]) for e in history["history"]] == [
        ("propose", None, "proposed"), ("approve", "proposed", "approved")]
    assert history["history"][1]["changes"]["decision_comment"] == ["", "同意"]


def test_decision_refusals(client, people):
    _, _, d = proposed_list(people)
    url = f"/api/v1/decisions/{d.id}"
    for who in ("li", "demand"):  # not bureau staff: not found
        h = auth(client, who)
        assert client.get(f"{url}/transitions", headers=h).status_code == 404
        assert client.get(f"{url}/history", headers=h).status_code == 404
        assert client.post(f"{url}/transitions", headers=h,
                           json={"trigger": "approve"}).status_code == 404
    for who in ("officer", "auditor"):
        resp = client.post(f"{url}/transitions", headers=auth(client, who),
                           json={"trigger": "approve"})
        assert resp.status_code == 403 and resp.get_json()["error"]["code"] == \
            "role_not_allowed"
    officer = auth(client, "officer")
    resp = client.post(f"{url}/transitions", headers=officer,
                       json={"trigger": "withdraw", "comment": "重新拟定"})
    assert resp.status_code == 200 and resp.get_json()["state"] == "returned"
    resp = client.post(f"/api/v1/decisions/{d.id}/approve", headers=auth(client, "leader"),
                       json={})
    assert resp.status_code == 409 and resp.get_json()["error"]["code"] == "invalid_state"


# ---- objections --------------------------------------------------------------------------

def objected(people):
    call = CallFactory(state=CallState.decided)
    project = ApplicationFactory(call=call, applicant=people["li"], state=A.public_notice,
                                 granted_amount=Decimal("300000.00"),
                                 notice_started_at=utcnow() - timedelta(days=1),
                                 notice_ends_at=utcnow() + timedelta(days=3))
    db.session.commit()
    notices.submit_objection(project.id, {"name": "赵敏", "contact": "13912345678",
                                          "text": TEXT}, "10.0.0.7")
    db.session.commit()
    return project, db.session.scalars(sa.select(Objection)).one()


def test_an_objection_through_the_lifecycle_api(client, people):
    project, objection = objected(people)
    url = f"/api/v1/objections/{objection.id}"
    officer = auth(client, "officer")
    listed = client.get(f"{url}/transitions", headers=officer).get_json()
    assert listed["state"] == "open"
    # Closed by the finding on the project; only the system refuses an anonymous one.
    assert [(t["trigger"], t["allowed"], [r["code"] for r in t["reasons"]])
            for t in listed["transitions"]] == [
        ("uphold", False, ["carried_out_via"]), ("dismiss", False, ["carried_out_via"]),
        ("refuse_anonymous", False, ["role_not_allowed"])]
    resp = client.post(f"{url}/transitions", headers=officer,
                       json={"trigger": "uphold", "comment": "属实"})
    assert resp.status_code == 409
    refused = resp.get_json()["error"]
    assert refused["code"] == "carried_out_via"
    assert refused["details"]["api"] == [
        "POST /api/v1/applications/{id}/transitions（uphold_objection）"]
    resp = client.post(f"{url}/transitions", headers=officer,
                       json={"trigger": "refuse_anonymous", "comment": "匿名"})
    assert resp.status_code == 403
    resp = client.post(f"/api/v1/applications/{project.id}/transitions", headers=officer,
                       json={"trigger": "dismiss_objection", "comment": "经核查不属实"})
    assert resp.status_code == 200 and resp.get_json()["state"] == "public_notice"
    history = client.get(f"{url}/history", headers=auth(client, "leader")).get_json()
    assert history["state"] == "dismissed"
    assert [(e["trigger"], e["from"], e["to"], e["actor"]) for e in history["history"]] == [
        ("receive", None, "open", "系统"), ("dismiss", "open", "dismissed", "张科长")]


def test_the_team_never_reaches_an_objection(client, people):
    _, objection = objected(people)
    url = f"/api/v1/objections/{objection.id}"
    for who in ("li", "colleague", "demand"):
        h = auth(client, who)
        for path in ("transitions", "history"):
            resp = client.get(f"{url}/{path}", headers=h)
            assert resp.status_code == 404 and "赵敏" not in resp.get_data(as_text=True)
        assert client.post(f"{url}/transitions", headers=h,
                           json={"trigger": "uphold"}).status_code == 404
    for path in ("transitions", "history"):
        assert client.get(f"{url}/{path}", headers=auth(client, "auditor")).status_code == 200


# ---- the description and the pages -------------------------------------------------------

def test_openapi_describes_the_new_collections(client, people):
    paths = client.get("/api/openapi.json").get_json()["paths"]
    for coll in ("milestones", "decisions", "objections"):
        transitions = paths[f"/api/v1/{coll}/{{entity_id}}/transitions"]
        assert {"get", "post"} <= set(transitions)
        assert {"403", "404", "409", "422"} <= set(transitions["post"]["responses"])
        assert "get" in paths[f"/api/v1/{coll}/{{entity_id}}/history"]


def test_entity_pages_show_the_diagram_the_state_and_the_history(app, people):
    m = milestone_of(people)
    li = client_for(app, "li", PASSWORD)
    page = li.get(f"/milestones/{m.id}").get_data(as_text=True)
    # The researcher follows the milestone's main path (the whole diagram is the bureau's).
    assert 'data-testid="step-bar"' in page and "提交完成情况" in page
    assert 'data-testid="lifecycle-diagram"' not in page
    assert "里程碑完成情况" in page  # the report is typed on the page
    resp = li.post(f"/milestones/{m.id}/fire", data={
        "csrf_token": csrf_of(page), "trigger": "report", "report": REPORT,
        "version": str(m.version)})
    assert resp.status_code == 302
    page = li.get(f"/milestones/{m.id}").get_data(as_text=True)
    # The message names what moved: the project (no number before approval) and milestone.
    project = db.session.get(Application, m.application_id)
    assert f"待验收：“{project.title}” 里程碑1：样机" in page
    assert "提交完成情况" in page and REPORT in page
    db.session.expire_all()
    assert m.state.value == "reported"
    assert client_for(app, "wang", PASSWORD).get(f"/milestones/{m.id}").status_code == 404
    # The project page links its milestones and offers the verdict to whoever may give it.
    demand_page = client_for(app, "demand", PASSWORD).get(
        f"/applications/{m.application_id}").get_data(as_text=True)
    assert f"/milestones/{m.id}" in demand_page and 'data-testid="milestone-verdict"' in \
        demand_page

    _, _, d = proposed_list(people)
    leader = client_for(app, "leader", PASSWORD)
    page = leader.get(f"/decisions/{d.id}").get_data(as_text=True)
    assert "待领导审定" in page and 'data-testid="history"' in page and "拟定立项建议名单" in page
    assert li.get(f"/decisions/{d.id}").status_code == 404

    _, objection = objected(people)
    page = leader.get(f"/objections/{objection.id}").get_data(as_text=True)
    assert "调查中" in page and "赵敏" in page and "收到异议" in page
    assert li.get(f"/objections/{objection.id}").status_code == 404
