"""绩效评价: a project that closes (completed, failed, terminated) gets one evaluation,
with facts and scores proposed by the rubric; the officer adjusts them with a reason and
confirms (a leader confirms 不合格); the grade is kept on the PI, the team members with
accounts and the organisation, shown as 历史绩效 to officers and leaders (and to the PI),
never to experts; 不合格 shows on the 科研失信 list page without barring anyone."""

from datetime import timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from states import AnnualReportState, ApplicationState, EvaluationState
from tests import acceptance_steps as steps
from tests.conftest import api_token, client_for
from tests.factories import (
    PASSWORD,
    AnnualReportFactory,
    ApplicationFactory,
    CallFactory,
    ChallengeFactory,
    MilestoneFactory,
    OrganizationFactory,
    ReviewFactory,
    UserFactory,
)
from workflow.acceptance import operations as acceptances
from workflow.core import audit, engine
from workflow.core.errors import Conflict, Forbidden, GuardFailed, Invalid
from workflow.core.models import OutboxEvent, db, utcnow
from workflow.documents.official import project_indicators
from workflow.evaluation import facts
from workflow.evaluation import operations as evaluations
from workflow.evaluation.models import Evaluation, Grade, PerformanceRecord
from workflow.evaluation.scoring import grade_of, propose

A, EV = ApplicationState, EvaluationState
MEMBER_ID = "362101198512124560"
REASON = "专家组复核认为成果转化效益突出，上调成果产出得分。"


@pytest.fixture
def people(app):
    univ = OrganizationFactory(name="赣南科技大学")
    return {
        "univ": univ,
        "pi": UserFactory(username="pi", name="李明", roles=("applicant",), organization=univ),
        "member": UserFactory(username="member", name="赵六", roles=("applicant",),
                              organization=univ, id_number=MEMBER_ID),
        "colleague": UserFactory(username="colleague", roles=("applicant",), organization=univ),
        "unitadmin": UserFactory(username="unitadmin", roles=("org_admin",), organization=univ),
        "outsider": UserFactory(username="outsider", roles=("applicant",)),
        "expert": UserFactory(username="expert", roles=("expert",)),
        "officer": UserFactory(username="officer", name="张科长", roles=("officer",),
                               organization=None),
        "leader": UserFactory(username="leader", name="孙局长", roles=("leader",),
                              organization=None),
    }


def closed(people, state=A.completed, **kw):
    """A project closed before this feature saw it (the sweep opens its evaluation)."""
    row = ApplicationFactory(applicant=people["pi"], state=state,
                             granted_amount=Decimal("1000000.00"),
                             disbursed=Decimal("1000000.00"),
                             approved_at=utcnow() - timedelta(days=400),
                             data={"summary": "稀土萃取", "team": [
                                 {"name": "赵六", "id_number": MEMBER_ID, "role": "成员"}]},
                             **kw)
    db.session.commit()
    return row


def running(people):
    """A project approved, contracted and started through the engine."""
    call = CallFactory(budget=Decimal(10**7), tranche_plan=[
        {"label": "合同签订后拨付", "percent": 70, "condition": "contract"},
        {"label": "验收通过后拨付", "percent": 30, "condition": "acceptance"}])
    row = ApplicationFactory(call=call, applicant=people["pi"], state=A.public_notice,
                             granted_amount=Decimal("2000000.00"),
                             notice_ends_at=utcnow() - timedelta(minutes=1),
                             data={"summary": "稀土萃取"}, task_book_signed_by=("team",))
    db.session.commit()
    engine.fire(row, "approve", None)
    engine.fire(row, "sign_contract", people["officer"])
    engine.fire(row, "start", None)
    db.session.commit()
    return row


def evaluation_of(app):
    return db.session.scalar(sa.select(Evaluation).where(Evaluation.application_id == app.id))


def fire(ev, trigger, actor, comment=""):
    result = engine.fire(engine.load("evaluation", ev.id, lock=True), trigger, actor,
                         comment=comment)
    db.session.commit()
    return result


# ---- opening at closure -------------------------------------------------------------------

def test_an_indicator_is_met_when_most_of_the_panel_found_it_met(people):
    row = running(people)
    acc = steps.prepare(row, spent_wan="0")
    steps.fire(acc, "submit", people["pi"])
    steps.fire(acc, "endorse", people["unitadmin"], "同意报送")
    panel = steps.experts()
    steps.fire(acc, "assign_panel", people["officer"], expert_ids=[str(e.id) for e in panel])
    names = project_indicators(row)
    first, second = names[0].name, names[1].name
    for n, expert in enumerate(panel):
        # The first indicator: two of three say not met; the second: one of three.
        scores = {i.name: True for i in names} | {first: n == 0, second: n != 0}
        acceptances.score(expert, acc, {"scores": scores, "grade": "concluded",
                                        "opinion": steps.OPINION})
        db.session.commit()
    assert facts.indicator_results(row) == (len(names) - 1, len(names))


def test_passing_acceptance_opens_one_evaluation_through_the_engine(people):
    row = running(people)
    # 结题验收 (tests/acceptance_steps.py): the package, the unit, the panel, finance, the
    # officer's pass, which completes the project.
    acc = steps.prepare(row, spent_wan="0")
    steps.fire(acc, "submit", people["pi"])
    steps.fire(acc, "endorse", people["unitadmin"], "同意报送")
    panel = steps.experts()
    steps.fire(acc, "assign_panel", people["officer"], expert_ids=[str(e.id) for e in panel])
    steps.score_all(acc, panel)
    steps.check_finance(acc)
    steps.fire(acc, "pass", people["officer"], "同意通过验收")
    db.session.expire_all()
    assert row.state is A.completed
    ev = evaluation_of(row)
    assert ev is not None and ev.state is EV.draft and ev.closure == "completed"
    # The panel found every indicator of the task book met.
    total = len(project_indicators(row))
    assert total >= 3 and ev.facts["indicators"] == [total, total]
    assert ev.facts["outputs"][0]["source"] == "结题验收"
    assert "10.1016/j.hydromet.2026.106001" in ev.facts["outputs"][0]["text"]
    assert ev.facts["spending"]["granted"] == "2000000.00"
    assert ev.grade is grade_of(ev.total) and ev.total == sum(ev.proposed.values())
    trail = audit.history("evaluation", ev.id)
    assert [e.trigger for e in trail] == ["open_evaluation"]
    # Idempotent: the sweep and a second call open nothing more.
    assert evaluations.open_missing() == 0
    assert evaluations.open_for(row) is None
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Evaluation)) == 1


def test_termination_opens_it_and_the_sweep_catches_projects_closed_before(people):
    row = running(people)
    engine.fire(row, "terminate", people["officer"], comment="项目负责人调离，无法继续执行")
    db.session.commit()
    ev = evaluation_of(row)
    assert ev.closure == "terminated" and ev.proposed["timeliness"] <= 5
    old = closed(people, A.failed)
    never = ApplicationFactory(applicant=people["pi"], state=A.not_funded)
    db.session.commit()
    assert evaluations.open_missing() == 1
    assert evaluations.open_missing() == 0
    assert evaluation_of(old).closure == "failed" and evaluation_of(never) is None
    assert evaluation_of(old).grade is Grade.unqualified  # failed acceptance: 不合格


# ---- the rubric ---------------------------------------------------------------------------

def _facts(indicators=(5, 5), outputs=3, disbursed="1000000", surplus="0", owed="0",
           days_late=0, overdue=0, late=0, closure="completed", acceptance="pass"):
    return {"closure": closure, "acceptance": acceptance,
            "indicators": list(indicators) if indicators else None,
            "outputs": [{"year": 2025, "text": f"成果{i}"} for i in range(outputs)],
            "spending": {"granted": "1000000", "disbursed": disbursed, "recovered": "0",
                         "surplus": surplus, "owed": owed},
            "timeliness": {"days_late": days_late, "overdue_reports": overdue,
                           "late_milestones": late}}


@pytest.mark.parametrize(("facts_kw", "total", "grade"), [
    ({}, 100, Grade.excellent),
    ({"indicators": (4, 5), "outputs": 2}, 20 + 20 + 25 + 25, Grade.excellent),
    ({"indicators": (4, 5), "outputs": 1, "days_late": 30}, 20 + 15 + 25 + 15, Grade.good),
    ({"indicators": (3, 5), "outputs": 1, "surplus": "400000", "overdue": 1},
     15 + 15 + 15 + 20, Grade.qualified),
    ({"indicators": (1, 5), "outputs": 0, "owed": "100", "days_late": 200},
     5 + 5 + 0 + 10, Grade.unqualified),
    ({"closure": "failed", "acceptance": "fail"}, 100, Grade.unqualified),
    ({"indicators": None, "closure": "terminated"}, 0 + 25 + 25 + 5, Grade.unqualified),
])
def test_the_rubric_proposes_scores_and_a_grade_for_each_band(facts_kw, total, grade):
    proposal = propose(_facts(**facts_kw))
    assert proposal.total == total and proposal.grade is grade
    assert all(0 <= v <= 25 for v in proposal.scores.values())


def test_the_bands_and_the_facts_read_from_main(people):
    assert [grade_of(n) for n in (100, 90, 89, 75, 74, 60, 59, 0)] == [
        Grade.excellent, Grade.excellent, Grade.good, Grade.good, Grade.qualified,
        Grade.qualified, Grade.unqualified, Grade.unqualified]
    row = closed(people)
    AnnualReportFactory(application=row, year=2025, state=AnnualReportState.accepted,
                        indicators=[{"indicator": "萃取率", "status": "已完成"},
                                    {"indicator": "中试线", "status": "部分完成"},
                                    {"indicator": "专利", "status": "达到目标"}],
                        outputs="发明专利1项\n论文2篇\n无", overdue_at=utcnow())
    db.session.commit()
    assert facts.indicator_results(row) == (2, 3)
    assert [o["text"] for o in facts.outputs(row)] == ["发明专利1项", "论文2篇"]
    assert facts.timeliness(row, utcnow().date())["overdue_reports"] == 1


def test_a_challenge_project_counts_its_milestones_and_the_late_ones(people):
    from states import MilestoneState

    challenge = ChallengeFactory()
    row = closed(people, A.completed, challenge=challenge, call=challenge.call)
    today = utcnow().date()
    MilestoneFactory(application=row, seq=1, state=MilestoneState.accepted,
                     due_on=today - timedelta(days=100),
                     reported_at=utcnow() - timedelta(days=110))
    MilestoneFactory(application=row, seq=2, state=MilestoneState.accepted,
                     due_on=today - timedelta(days=30), reported_at=utcnow() - timedelta(days=5))
    MilestoneFactory(application=row, seq=3, state=MilestoneState.rejected,
                     due_on=today - timedelta(days=10), reported_at=None)
    db.session.commit()
    assert facts.indicator_results(row) == (2, 3)
    assert facts.timeliness(row, today)["late_milestones"] == 2
    evaluations.open_missing()
    ev = evaluation_of(row)
    assert ev.facts["scheme"] == "jiebang" and ev.proposed["indicators"] == round(25 * 2 / 3)
    assert ev.proposed["timeliness"] == 15


# ---- adjusting and confirming -------------------------------------------------------------

@pytest.fixture
def ev(people):
    closed(people)
    evaluations.open_missing()
    return db.session.scalar(sa.select(Evaluation))


def test_the_officer_adjusts_with_a_reason_and_the_grade_follows(ev, people):
    scores = dict(ev.proposed)
    with pytest.raises(Invalid) as no_reason:
        evaluations.adjust(people["officer"], ev, {"outputs": 25, "indicators": 0})
    assert "理由" in no_reason.value.details["reason"]
    with pytest.raises(Invalid) as bad:
        evaluations.adjust(people["officer"], ev, {"outputs": 26, "spending": "x",
                                                   "colour": 1, "reason": REASON})
    assert set(bad.value.details) == {"outputs", "spending", "colour"}
    for digits in ("²", "①", "9" * 5000):  # digits int() refuses or cannot read
        with pytest.raises(Invalid) as odd:
            evaluations.adjust(people["officer"], ev, {"outputs": digits, "reason": REASON})
        assert set(odd.value.details) == {"outputs"}
    with pytest.raises(Forbidden):
        evaluations.adjust(people["leader"], ev, {"outputs": 25, "reason": REASON})
    db.session.rollback()
    assert ev.scores == scores and ev.adjusted is None  # refused: nothing changed
    evaluations.adjust(people["officer"], ev, {"indicators": 0, "outputs": 0, "spending": 0,
                                               "timeliness": 0, "reason": REASON})
    db.session.commit()
    assert ev.total == 0 and ev.grade is Grade.unqualified and ev.adjust_reason == REASON
    assert ev.proposed == scores  # the proposal stays beside it
    evaluations.adjust(people["officer"], ev, dict(scores))  # back to the proposal
    db.session.commit()
    assert ev.adjusted is None and ev.total == ev.proposed_total
    # Saving takes the facts as they stand: outputs filed since the closure count.
    AnnualReportFactory(application=ev.application, year=2025,
                        state=AnnualReportState.accepted, outputs="专利1项\n论文2篇\n标准1项")
    db.session.commit()
    evaluations.adjust(people["officer"], ev, {})
    db.session.commit()
    assert ev.proposed["outputs"] == 25 and ev.adjusted is None
    assert ev.total == ev.proposed_total == sum(ev.proposed.values())
    assert [e.trigger for e in audit.history("evaluation", ev.id)][-1] == "adjust_evaluation"


def test_confirmation_keeps_the_grade_on_the_people_and_tells_the_pi(ev, people):
    evaluations.adjust(people["officer"], ev, {"indicators": 25, "outputs": 25, "spending": 25,
                                               "timeliness": 25, "reason": REASON})
    db.session.commit()
    with pytest.raises(Forbidden):
        fire(ev, "confirm", people["pi"])
    db.session.rollback()
    fire(ev, "confirm", people["officer"], "同意")
    assert ev.state is EV.confirmed and ev.confirmed_by == "张科长"
    records = db.session.scalars(sa.select(PerformanceRecord).order_by(
        PerformanceRecord.id)).all()
    assert [(r.subject, r.name, r.grade) for r in records] == [
        ("pi", "李明", Grade.excellent), ("member", "赵六", Grade.excellent),
        ("org", "赣南科技大学", Grade.excellent)]
    told = db.session.scalar(sa.select(OutboxEvent).where(
        OutboxEvent.entity_type == "evaluation", OutboxEvent.topic.like("%confirm%")))
    assert told is not None
    from workflow.evaluation.rules import evaluation_confirmed

    (msg,) = evaluation_confirmed(told)
    assert msg.user_id == people["pi"].id and msg.link == f"/evaluations/{ev.id}"
    from workflow.notify.notifications import _render

    subject, _line, body = _render(msg.template, {**msg.context, "user": people["pi"],
                                                  "signature": "赣州市科学技术局"})
    assert "优秀" in subject and "100分" in body and "李明" in body
    with pytest.raises(Conflict):
        evaluations.adjust(people["officer"], ev, {"outputs": 1, "reason": REASON})


def test_unqualified_goes_to_the_leader_and_shows_on_the_integrity_page(ev, people, app):
    evaluations.adjust(people["officer"], ev, {
        "indicators": 0, "outputs": 5, "spending": 0, "timeliness": 5,
        "reason": "指标基本未完成，经费使用不规范。"})
    db.session.commit()
    with pytest.raises(Conflict):
        fire(ev, "confirm", people["officer"])  # 不合格: the leader confirms
    db.session.rollback()
    fire(ev, "propose", people["officer"])
    assert ev.state is EV.proposed
    with pytest.raises(GuardFailed):
        fire(ev, "send_back", people["leader"])  # a reason is needed
    db.session.rollback()
    fire(ev, "confirm", people["leader"], "同意")
    assert ev.state is EV.confirmed
    assert {r.subject for r in evaluations.failing_records()} == {"pi", "member", "org"}
    officer = client_for(app, "officer", PASSWORD)
    page = officer.get("/integrity").get_data(as_text=True)
    assert "绩效评价不合格" in page and "李明" in page
    # It bars nothing: the PI may still apply (no sanction is recorded).
    from workflow.accounts.models import Sanction

    assert db.session.scalar(sa.select(sa.func.count()).select_from(Sanction)) == 0


# ---- pages --------------------------------------------------------------------------------

def test_history_box_is_shown_to_officers_and_the_pi_never_to_experts(ev, people, app):
    evaluations.adjust(people["officer"], ev, {"indicators": 20, "outputs": 20, "spending": 20,
                                               "timeliness": 20, "reason": REASON})
    db.session.commit()
    fire(ev, "confirm", people["officer"])
    new = ApplicationFactory(applicant=people["pi"], state=A.expert_review, title="新申报项目")
    ReviewFactory(application=new, expert=people["expert"])
    db.session.commit()
    url = f"/applications/{new.id}"
    for who in ("officer", "leader", "pi"):
        page = client_for(app, who, PASSWORD).get(url).get_data(as_text=True)
        assert "历史绩效" in page and "良好" in page, who
    # The organisation's record of the projects is the bureau's to read, not the PI's.
    assert 'data-testid="history-org"' in client_for(app, "officer", PASSWORD).get(
        url).get_data(as_text=True)
    assert "承担单位" + new.organization.name not in client_for(app, "pi", PASSWORD).get(
        url).get_data(as_text=True)
    expert_page = client_for(app, "expert", PASSWORD).get(url)
    assert "历史绩效" not in expert_page.get_data(as_text=True)
    assert "历史绩效" not in client_for(app, "colleague", PASSWORD).get(url).get_data(
        as_text=True)


def test_list_page_detail_page_and_adjust_form(ev, people, app):
    officer = client_for(app, "officer", PASSWORD)
    listing = officer.get("/evaluations")
    assert listing.status_code == 200 and ev.application.title in listing.get_data(as_text=True)
    assert officer.get("/evaluations?export=xlsx").status_code == 200
    page = officer.get(f"/evaluations/{ev.id}").get_data(as_text=True)
    assert "评价依据" in page and 'data-testid="adjust-form"' in page and "data-confirm" in page
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    refused = officer.post(f"/evaluations/{ev.id}/adjust", data={
        "csrf_token": token, "indicators": "0", "outputs": "0", "spending": "0",
        "timeliness": "0", "reason": "太短"})
    assert refused.status_code == 422 and "不少于10字" in refused.get_data(as_text=True)
    done = officer.post(f"/evaluations/{ev.id}/adjust", data={
        "csrf_token": token, "indicators": "0", "outputs": "0", "spending": "0",
        "timeliness": "0", "reason": REASON})
    assert done.status_code == 302
    db.session.expire_all()
    assert db.session.get(Evaluation, ev.id).total == 0
    # The PI reads it, without the form; outsiders and experts do not see it at all.
    pi_page = client_for(app, "pi", PASSWORD).get(f"/evaluations/{ev.id}")
    assert pi_page.status_code == 200 and "adjust-form" not in pi_page.get_data(as_text=True)
    assert client_for(app, "expert", PASSWORD).get(f"/evaluations/{ev.id}").status_code == 404
    assert client_for(app, "outsider", PASSWORD).get(f"/evaluations/{ev.id}").status_code == 404
    assert client_for(app, "expert", PASSWORD).get("/evaluations").status_code == 403
    assert client_for(app, "pi", PASSWORD).post(f"/evaluations/{ev.id}/adjust", data={
        "csrf_token": token, "outputs": "1", "reason": REASON}).status_code in (400, 403)


def test_the_workbench_lists_the_evaluation_for_the_officer_then_the_leader(ev, people, app):
    home = client_for(app, "officer", PASSWORD).get("/").get_data(as_text=True)
    assert "绩效评价待确认" in home
    assert "绩效评价待确认" not in client_for(app, "leader", PASSWORD).get("/").get_data(
        as_text=True)
    evaluations.adjust(people["officer"], ev, {"indicators": 0, "outputs": 0, "spending": 0,
                                               "timeliness": 0, "reason": REASON})
    db.session.commit()
    fire(ev, "propose", people["officer"])
    leader = client_for(app, "leader", PASSWORD).get("/").get_data(as_text=True)
    assert "绩效评价待确认" in leader and ev.application.title in leader
    assert "绩效评价待确认" not in client_for(app, "pi", PASSWORD).get("/").get_data(
        as_text=True)


# ---- API ----------------------------------------------------------------------------------

def _h(client, who):
    return {"Authorization": f"Bearer {api_token(client, who, PASSWORD)}"}


def test_api_list_get_adjust_confirm_and_performance(ev, people, client):
    officer, pi, expert = _h(client, "officer"), _h(client, "pi"), _h(client, "expert")
    listed = client.get("/api/v1/evaluations", headers=officer).get_json()
    assert [e["id"] for e in listed["items"]] == [ev.id]
    assert client.get("/api/v1/evaluations", headers=expert).get_json()["items"] == []
    got = client.get(f"/api/v1/evaluations/{ev.id}", headers=pi).get_json()
    assert got["state"] == "draft" and set(got["scores"]) == {
        "indicators", "outputs", "spending", "timeliness"}
    assert client.get(f"/api/v1/evaluations/{ev.id}", headers=expert).status_code == 404
    url = f"/api/v1/evaluations/{ev.id}/adjust"
    assert client.post(url, headers=pi, json={"outputs": 25, "reason": REASON}).status_code == 403
    assert client.post(url, headers=officer, json={"outputs": 25}).status_code in (200, 422)
    bad = client.post(url, headers=officer, json={"outputs": "many", "reason": 3})
    assert bad.status_code == 422 and "error" in bad.get_json()
    assert client.post(url, headers=officer, json={"nope": 1}).status_code == 422
    stale = client.post(url, headers={**officer, "If-Match": "999"},
                        json={"indicators": 20, "outputs": 20, "spending": 20,
                              "timeliness": 20, "reason": REASON})
    assert stale.status_code == 409
    done = client.post(url, headers=officer, json={"indicators": 20, "outputs": 20,
                                                   "spending": 20, "timeliness": 20,
                                                   "reason": REASON})
    assert done.status_code == 200 and done.get_json()["grade"] == "good"
    confirm = f"/api/v1/evaluations/{ev.id}/confirm"
    assert client.post(confirm, headers=pi, json={}).status_code == 403
    ok = client.post(confirm, headers=officer, json={"comment": "同意"})
    assert ok.status_code == 200 and ok.get_json()["to"] == "confirmed"
    assert client.post(confirm, headers=officer, json={}).status_code == 409
    # A 不合格 draft: the officer is told to send it to the leader.
    other = closed(people, A.failed)
    evaluations.open_missing()
    failing = evaluation_of(other)
    refused = client.post(f"/api/v1/evaluations/{failing.id}/confirm", headers=officer, json={})
    assert refused.status_code == 409 and "分管领导" in refused.get_json()["error"]["message"]
    options = client.get(f"/api/v1/evaluations/{failing.id}/transitions",
                         headers=officer).get_json()["transitions"]
    assert [o["trigger"] for o in options if o["allowed"]] == ["propose"]
    perf = client.get(f"/api/v1/people/{people['pi'].id}/performance", headers=officer)
    assert [r["grade"] for r in perf.get_json()["items"]] == ["good"]  # confirmed ones only
    assert client.get(f"/api/v1/people/{people['pi'].id}/performance",
                      headers=pi).status_code == 200  # their own
    assert client.get(f"/api/v1/people/{people['member'].id}/performance",
                      headers=pi).status_code == 403
    org = client.get(f"/api/v1/organizations/{people['univ'].id}/performance", headers=officer)
    assert org.get_json()["items"][0]["subject"] == "org"
    assert client.get("/api/v1/organizations/99999/performance",
                      headers=officer).status_code == 404
    history = client.get(f"/api/v1/evaluations/{ev.id}/history", headers=officer).get_json()
    assert [e["trigger"] for e in history["history"]] == [
        "open_evaluation", "adjust_evaluation", "confirm"]


def test_the_demo_has_an_excellent_and_an_unqualified_evaluation(app):
    from workflow import demo

    assert demo.seed()
    grades = {ev.application.title: (ev.grade, ev.state) for ev in db.session.scalars(
        sa.select(Evaluation))}
    assert grades[demo.EXCELLENT_PROJECT] == (Grade.excellent, EV.confirmed)
    assert (Grade.unqualified, EV.confirmed) in grades.values()
    assert evaluations.failing_records()
    assert not demo.seed() or db.session.scalar(
        sa.select(sa.func.count()).select_from(Evaluation)) == len(grades)
