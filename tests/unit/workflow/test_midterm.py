"""中期检查: the officer opens a midterm check for a call's running projects (or chosen
ones); the team reports progress, spending and outputs; a conflict-checked panel of at
least three scores it; the officer concludes 通过 (the project runs on), 整改 (a second
round) or 终止 (the project's termination), each through the engine."""

import io
from datetime import timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from states import ApplicationState, MidtermState
from tests.conftest import api_token, client_for, csrf_of
from tests.factories import (
    PASSWORD,
    ApplicationFactory,
    CallFactory,
    ChallengeFactory,
    OrganizationFactory,
    UserFactory,
)
from workflow.core import audit, engine, outbox
from workflow.core.errors import Conflict, Forbidden, GuardFailed, Invalid, NotFound
from workflow.core.models import IssuedNumber, db, utcnow
from workflow.documents.models import Document
from workflow.midterm import operations as midterm
from workflow.midterm.documents import render_midterm_conclusion
from workflow.midterm.models import MidtermReport
from workflow.notify.models import Notification
from workflow.timeutil import SHANGHAI

A, MT = ApplicationState, MidtermState
REPORT = {"answers": {"progress": "已完成稀土萃取分离新工艺的小试，正在开展中试放大。",
                      "results": "发表论文2篇，申请发明专利1项。",
                      "problems": "中试设备到货延迟，下一步加快中试进度。"},
          "spending": {"equipment": "0", "business": "0", "labour": "0", "indirect": "0"},
          "outputs": [{"kind": "paper", "title": "稀土萃取分离新方法", "note": "中国稀土学报"}]}
OPINION = "进展符合任务书要求，建议继续执行。"


def pdf(n=0):
    return b"%PDF-1.4\n%" + str(n).encode() + b"\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def today():
    return utcnow().astimezone(SHANGHAI).date()


def later(days=30):
    return (today() + timedelta(days=days)).isoformat()


@pytest.fixture
def people(app):
    univ = OrganizationFactory(name="赣南科技大学")
    other = OrganizationFactory(name="江西理工学院")
    made = {
        "univ": univ,
        "pi": UserFactory(username="pi", name="李明", roles=("applicant",), organization=univ),
        "pi2": UserFactory(username="pi2", name="周华", roles=("applicant",), organization=univ),
        "colleague": UserFactory(username="colleague", roles=("applicant",), organization=univ),
        "unitadmin": UserFactory(username="unitadmin", roles=("org_admin",), organization=univ),
        "officer": UserFactory(username="officer", name="张科长", roles=("officer",),
                               organization=None),
        "near": UserFactory(username="near", name="同校专家", roles=("expert",),
                            organization=univ),
        "outsider": UserFactory(username="outsider", name="局外专家", roles=("expert",),
                                organization=other),
    }
    for n in range(1, 5):
        made[f"e{n}"] = UserFactory(username=f"e{n}", name=f"专家甲{n}", roles=("expert",),
                                    organization=other)
    return made


def running(people, call, pi="pi", challenge=None):
    """A project approved, contracted and started through the engine."""
    row = ApplicationFactory(call=call, challenge=challenge, applicant=people[pi],
                             state=A.public_notice, granted_amount=Decimal("2000000.00"),
                             notice_ends_at=utcnow() - timedelta(minutes=1),
                             data={"summary": "稀土萃取分离新工艺"},
                             task_book_signed_by=("team", "demand"))
    db.session.commit()
    engine.fire(row, "approve", None)
    engine.fire(row, "sign_contract", people["officer"])
    engine.fire(row, "start", None)
    db.session.commit()
    return row


@pytest.fixture
def call(people):
    return CallFactory(budget=Decimal(10**7), steps=["midterm"],
                       tranche_plan=[{"label": "合同签订后拨付", "percent": 100,
                                      "condition": "contract"}])


@pytest.fixture
def project(people, call):
    return running(people, call)


def opened(people, project):
    [report] = midterm.open_checks(people["officer"], application_ids=[project.id],
                                   due=later(), instructions="请如实填报")
    db.session.commit()
    return report


def submitted(people, project):
    report = opened(people, project)
    midterm.save_report(people["pi"], report.id, REPORT)
    engine.fire(report, "submit", people["pi"])
    db.session.commit()
    return report


def reviewing(people, project, experts=("e1", "e2", "e3")):
    report = submitted(people, project)
    midterm.assign_panel(people["officer"], report.id, [people[e].id for e in experts])
    db.session.commit()
    return report


def score_all(people, report, recommendation="pass", experts=("e1", "e2", "e3")):
    for n, e in enumerate(experts):
        midterm.score(people[e], report.id, {"score": 80 + n, "opinion": OPINION,
                                             "recommendation": recommendation})
    db.session.commit()


def fire(report, trigger, actor, comment="", **data):
    result = engine.fire(engine.load("midterm", report.id, lock=True), trigger, actor,
                         comment=comment, data=data)
    db.session.commit()
    return result


# ---- opening ----

def test_opening_for_a_call_moves_its_running_projects_to_midterm_and_tells_each_team(
        people, call):
    first, second = running(people, call), running(people, call, "pi2")
    idle = ApplicationFactory(call=call, applicant=people["colleague"], state=A.contracted)
    db.session.commit()
    made = midterm.open_checks(people["officer"], call_id=call.id, due=later(),
                               instructions="请按中期检查表填报")
    db.session.commit()
    assert sorted(r.application_id for r in made) == sorted([first.id, second.id])
    for app in (first, second):
        db.session.refresh(app)
        assert app.state is A.midterm
        trail = audit.history("application", app.id)
        assert trail[-1].trigger == "start_midterm" and trail[-1].actor_name == "张科长"
    assert db.session.get(type(idle), idle.id).state is A.contracted
    report = made[0]
    assert report.state is MT.open and [f["label"] for f in report.form] == [
        "进展情况", "阶段性成果", "存在问题及下一步计划"]
    told = db.session.scalars(sa.select(Notification).where(
        Notification.user_id == people["pi"].id)).all()
    assert {n.channel for n in told if "中期检查" in n.title} == {"inapp", "email"}


def test_opening_is_refused_with_a_reason_and_opens_nothing(people, call, project):
    with pytest.raises(Forbidden):
        midterm.open_checks(people["pi"], application_ids=[project.id], due=later())
    with pytest.raises(Invalid) as err:
        midterm.open_checks(people["officer"], application_ids=[project.id],
                            due=today().isoformat())
    assert "提交期限应晚于今天" in err.value.details["due_on"]
    with pytest.raises(Invalid):
        midterm.open_checks(people["officer"], application_ids=[project.id], due="明天")
    no_step = running(people, CallFactory(budget=Decimal(10**7), steps=[]), "pi2")
    with pytest.raises(Conflict) as err:
        midterm.open_checks(people["officer"], application_ids=[project.id, no_step.id],
                            due=later())
    assert "未设置中期检查环节" in err.value.message
    with pytest.raises(NotFound):
        midterm.open_checks(people["officer"], application_ids=[999999], due=later())
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(MidtermReport)) == 0
    assert db.session.get(type(project), project.id).state is A.in_progress
    opened(people, project)
    with pytest.raises(Conflict) as err:  # already in its midterm
        midterm.open_checks(people["officer"], application_ids=[project.id], due=later())
    assert "只有执行中的项目" in err.value.message


def test_the_call_defines_the_form_and_a_bad_definition_is_refused(people, call, project):
    fields = [{"name": "f1", "label": "关键技术突破", "type": "longtext", "required": True}]
    with pytest.raises(Forbidden):
        midterm.set_form(people["pi"], call, fields)
    with pytest.raises(Invalid):
        midterm.set_form(people["officer"], call, [{"name": "1bad", "type": "moon"}])
    midterm.set_form(people["officer"], call, fields)
    db.session.commit()
    report = opened(people, project)
    assert [f["label"] for f in report.form] == ["关键技术突破"]
    with pytest.raises(Invalid) as err:
        midterm.save_report(people["pi"], report.id, {"answers": {"progress": "x"}})
    assert "answers.progress" in err.value.details


# ---- the team's report ----

def test_the_report_is_checked_on_save_and_complete_on_submit(people, project):
    report = opened(people, project)
    with pytest.raises(Invalid) as err:
        midterm.save_report(people["pi"], report.id, {
            "spending": {"equipment": "-1", "moon": "1"},
            "outputs": [{"kind": "poem", "title": ""}], "extra": 1})
    details = err.value.details
    assert {"spending.equipment", "spending.moon", "outputs.0.kind", "outputs.0.title",
            "extra"} <= set(details)
    with pytest.raises(GuardFailed) as err:
        fire(report, "submit", people["pi"])
    fields = {k for r in err.value.details for k in r.get("fields", {})}
    assert {"answers.progress", "spending.equipment"} <= fields
    assert db.session.get(MidtermReport, report.id).state is MT.open
    with pytest.raises(Forbidden):  # a colleague is not the team's lead
        midterm.save_report(people["colleague"], report.id, REPORT)
    midterm.save_report(people["pi"], report.id, {**REPORT, "spending": {
        **REPORT["spending"], "equipment": "999"}})
    with pytest.raises(GuardFailed) as err:  # more than was released
        fire(report, "submit", people["pi"])
    assert "超过项目已拨付经费" in err.value.message
    midterm.save_report(people["pi"], report.id, REPORT)
    midterm.attach_evidence(people["pi"], report.id, "论文.pdf", io.BytesIO(pdf(1)))
    db.session.commit()
    with pytest.raises(Forbidden):
        fire(report, "submit", people["colleague"])
    with pytest.raises(Forbidden):
        fire(report, "submit", people["officer"])
    fire(report, "submit", people["pi"])
    assert report.state is MT.submitted and report.submitted_at is not None
    with pytest.raises(Conflict):
        midterm.save_report(people["pi"], report.id, REPORT)


# ---- the panel and its scores ----

def test_the_panel_has_three_experts_none_of_them_conflicted(people, project):
    report = submitted(people, project)
    with pytest.raises(Forbidden):
        midterm.assign_panel(people["pi"], report.id, [people[e].id for e in ("e1", "e2", "e3")])
    with pytest.raises(Invalid):
        midterm.assign_panel(people["officer"], report.id, [people["e1"].id, 2**40, True])
    with pytest.raises(Invalid) as err:
        midterm.assign_panel(people["officer"], report.id, [people["e1"].id, people["e2"].id])
    assert "3" in err.value.message
    with pytest.raises(Invalid) as err:
        midterm.assign_panel(people["officer"], report.id,
                             [people["e1"].id, people["e2"].id, people["pi2"].id])
    assert "不是在库的评审专家" in err.value.message
    with pytest.raises(Invalid) as err:
        midterm.assign_panel(people["officer"], report.id,
                             [people["e1"].id, people["e2"].id, people["near"].id])
    assert err.value.code == "expert_conflicted"
    assert "同校专家（同单位）" in err.value.message
    assert err.value.details[str(people["near"].id)] == "同单位"
    db.session.rollback()
    assert db.session.get(MidtermReport, report.id).state is MT.submitted
    midterm.assign_panel(people["officer"], report.id,
                         [people[e].id for e in ("e1", "e2", "e3")])
    db.session.commit()
    assert report.state is MT.reviewing
    assert [s.alias for s in report.panel()] == ["专家1", "专家2", "专家3"]
    with pytest.raises(Conflict):  # the panel is fixed once it scores
        midterm.assign_panel(people["officer"], report.id,
                             [people[e].id for e in ("e1", "e2", "e4")])


def test_a_panel_drawn_before_the_report_takes_it_when_sent(people, project):
    report = opened(people, project)
    midterm.assign_panel(people["officer"], report.id, [people[e].id for e in ("e1", "e2", "e3")])
    midterm.assign_panel(people["officer"], report.id, [people[e].id for e in ("e2", "e3", "e4")])
    midterm.save_report(people["pi"], report.id, REPORT)
    fire(report, "submit", people["pi"])
    assert report.state is MT.reviewing
    assert {s.expert_id for s in report.panel()} == {people[e].id for e in ("e2", "e3", "e4")}


def test_only_the_panel_scores_and_the_outcome_waits_for_every_score(people, project):
    report = reviewing(people, project)
    with pytest.raises(Forbidden):
        midterm.score(people["e4"], report.id, {"score": 80, "opinion": OPINION,
                                                "recommendation": "pass"})
    with pytest.raises(Invalid) as err:
        midterm.score(people["e1"], report.id, {"score": 101, "opinion": "好",
                                                "recommendation": "maybe"})
    assert set(err.value.details) == {"score", "opinion", "recommendation"}
    for digits in ("²", "①", "9" * 5000):  # digits int() refuses or cannot read
        with pytest.raises(Invalid) as err:
            midterm.score(people["e1"], report.id, {"score": digits, "opinion": OPINION,
                                                    "recommendation": "pass"})
        assert set(err.value.details) == {"score"}
    midterm.score(people["e1"], report.id, {"score": 85, "opinion": OPINION,
                                            "recommendation": "pass"})
    db.session.commit()
    with pytest.raises(GuardFailed) as err:
        fire(report, "pass", people["officer"], "同意通过")
    assert "尚有2名专家未提交评议" in err.value.message
    with pytest.raises(Forbidden):
        fire(report, "pass", people["pi"], "同意通过")
    assert report.state is MT.reviewing
    fire(report, "pass", people["officer"], "同意通过", override_reason="两位专家因病缺席")
    assert report.state is MT.passed and report.override_reason == "两位专家因病缺席"


def test_pass_returns_the_project_to_work_and_issues_the_conclusion(people, project):
    report = reviewing(people, project)
    score_all(people, report)
    with pytest.raises(GuardFailed) as err:  # not around the check
        engine.fire(engine.load("application", project.id, lock=True), "pass_midterm",
                    people["officer"])
    assert err.value.status == 409 and "中期检查尚未作出结论" in err.value.message
    db.session.rollback()
    fire(report, "pass", people["officer"], "进展良好，同意通过")
    db.session.refresh(project)
    assert project.state is A.in_progress
    assert [e.trigger for e in audit.history("application", project.id)][-2:] == [
        "start_midterm", "pass_midterm"]
    assert report.decided_by == "张科长" and report.outcome == "pass"
    issued = db.session.scalar(sa.select(IssuedNumber).where(
        IssuedNumber.kind == "midterm_conclusion", IssuedNumber.entity_id == report.id))
    assert issued is not None and issued.number
    event = db.session.scalars(sa.select(outbox.OutboxEvent).where(
        outbox.OutboxEvent.topic == "midterm.conclusion")).one()
    assert "render_midterm_conclusion" in outbox.consumers_for(event.topic)
    outbox.consume(event.id, "render_midterm_conclusion")
    doc = db.session.scalar(sa.select(Document).where(Document.kind == "midterm_conclusion"))
    assert doc is not None and doc.doc_number == issued.number
    assert render_midterm_conclusion(report.id).id == doc.id  # rendered once


def test_rectification_asks_for_a_second_round_which_ends_in_pass_or_termination(
        people, project):
    report = reviewing(people, project)
    score_all(people, report, "rectify")
    with pytest.raises(GuardFailed) as err:
        fire(report, "rectify", people["officer"], "需整改", due_on=today().isoformat())
    fields = {k for r in err.value.details for k in r.get("fields", {})}
    assert fields == {"due_on", "items"}
    fire(report, "rectify", people["officer"], "中试进度滞后，限期整改", due_on=later(20),
         items="补充中试数据\n说明经费使用计划")
    assert report.state is MT.rectify and report.round == 2
    assert report.rectify_items == ["补充中试数据", "说明经费使用计划"]
    assert report.earlier[0]["answers"] == REPORT["answers"]
    assert db.session.get(type(project), project.id).state is A.midterm
    midterm.save_report(people["pi"], report.id, {"answers": {
        **REPORT["answers"], "progress": "已补充中试数据，中试进度已追上计划安排。"}})
    fire(report, "submit", people["pi"])
    assert report.state is MT.submitted  # the second round's panel is drawn again
    midterm.assign_panel(people["officer"], report.id, [people[e].id for e in ("e2", "e3", "e4")])
    db.session.commit()
    assert report.state is MT.reviewing
    score_all(people, report, "pass", ("e2", "e3", "e4"))
    with pytest.raises(GuardFailed) as err:
        fire(report, "rectify", people["officer"], "再整改", due_on=later(), items="再改")
    assert "只能作出“通过”或“终止”" in err.value.message
    fire(report, "pass", people["officer"], "整改到位，同意通过")
    assert report.state is MT.passed
    assert db.session.get(type(project), project.id).state is A.in_progress


def released(project, yuan="500000.00"):
    project.disbursed = Decimal(yuan)
    db.session.commit()


def test_termination_ends_the_project_through_its_own_lifecycle(people, project):
    released(project)
    report = reviewing(people, project)
    score_all(people, report, "terminate")
    with pytest.raises(GuardFailed):
        fire(report, "terminate", people["officer"], "")
    with pytest.raises(Invalid):
        fire(report, "terminate", people["officer"], "无法完成", recovery_wan="很多")
    fire(report, "terminate", people["officer"], "关键技术路线不可行，终止项目",
         recovery_wan="20.00")
    db.session.refresh(project)
    assert project.state is A.terminated
    last = audit.history("application", project.id)[-1]
    assert last.trigger == "terminate" and "关键技术路线不可行" in last.comment
    assert report.recovery_wan == "20.00"


def test_a_jiebang_project_takes_the_same_check(people):
    demand = OrganizationFactory(name="赣州稀土集团")
    challenge = ChallengeFactory(demand_org=demand, call__budget=Decimal(10**7),
                                 call__steps=["midterm"],
                                 call__tranche_plan=[{"condition": "milestone"}])
    row = ApplicationFactory(call=challenge.call, challenge=challenge, applicant=people["pi"],
                             state=A.public_notice, granted_amount=Decimal("2000000.00"),
                             notice_ends_at=utcnow() - timedelta(minutes=1),
                             data={"milestones": [{"label": "样机", "amount": "2000000.00",
                                                   "months": 12}],
                                   "indicators": {"指标": "≥ 1.2"}},
                             task_book_signed_by=("team", "demand"))
    db.session.commit()
    engine.fire(row, "approve", None)
    engine.fire(row, "sign_contract", people["officer"])
    engine.fire(row, "start", None)
    db.session.commit()
    report = reviewing(people, row)
    score_all(people, report)
    fire(report, "pass", people["officer"], "同意通过")
    assert db.session.get(type(row), row.id).state is A.in_progress


# ---- overdue ----

def test_the_beat_marks_late_reports_overdue_once_and_reminds_the_team(people, project):
    report = opened(people, project)
    assert midterm.mark_overdue() == 0  # not yet due
    report.due_on = today() + timedelta(days=2)
    db.session.commit()
    assert midterm.send_reminders() >= 1 and midterm.send_reminders() == 0  # due soon
    report.due_on = today() - timedelta(days=1)
    db.session.commit()
    with pytest.raises(Forbidden):  # the system only
        fire(report, "mark_overdue", people["officer"])
    # What the beat (kjflow.midterm_reports) does: overdue (the transition tells the team).
    assert midterm.mark_overdue() == 1
    assert midterm.mark_overdue() == 0
    report = db.session.get(MidtermReport, report.id)
    assert report.state is MT.overdue and report.overdue_at is not None
    event = db.session.scalars(sa.select(outbox.OutboxEvent).where(
        outbox.OutboxEvent.topic == "midterm.mark_overdue")).one()
    for name in outbox.consumers_for(event.topic):
        outbox.consume(event.id, name)
    report.due_on = today() - timedelta(days=8)
    db.session.commit()
    assert midterm.send_reminders() >= 1  # a week overdue: reminded once
    assert midterm.send_reminders() == 0
    told = db.session.scalars(sa.select(Notification).where(
        Notification.user_id == people["pi"].id, Notification.channel == "inapp")).all()
    assert sum("中期报告已逾期" in n.title for n in told) == 2
    # A late report is still wanted; or the officer ends the project.
    midterm.save_report(people["pi"], report.id, REPORT)
    fire(report, "submit", people["pi"])
    assert report.state is MT.submitted


# ---- who sees what ----

def bearer(client, username):
    return {"Authorization": "Bearer " + api_token(client, username, PASSWORD)}


def test_the_team_never_sees_an_experts_name(people, project, app):
    report = reviewing(people, project)
    score_all(people, report)
    fire(report, "pass", people["officer"], "同意通过")
    pi = client_for(app, "pi", PASSWORD)
    page = pi.get(f"/midterms/{report.id}").get_data(as_text=True)
    assert "专家1" in page and OPINION in page
    assert "专家甲" not in page
    officer = client_for(app, "officer", PASSWORD)
    assert "专家甲1" in officer.get(f"/midterms/{report.id}").get_data(as_text=True)
    client = app.test_client()
    body = client.get(f"/api/v1/midterms/{report.id}", headers=bearer(client, "pi")).get_json()
    assert [s["alias"] for s in body["panel"]] == ["专家1", "专家2", "专家3"]
    assert all(s["expert"] is None for s in body["panel"])
    history = client.get(f"/api/v1/midterms/{report.id}/history",
                         headers=bearer(client, "pi")).get_data(as_text=True)
    assert "专家甲" not in history


def test_each_expert_sees_only_the_checks_they_sit_on(people, call, project, app):
    report = reviewing(people, project)
    client = app.test_client()
    e4 = bearer(client, "e4")
    assert client.get(f"/api/v1/midterms/{report.id}", headers=e4).status_code == 404
    assert client.get("/api/v1/midterms", headers=e4).get_json()["items"] == []
    e1 = bearer(client, "e1")
    mine = client.get(f"/api/v1/midterms/{report.id}", headers=e1).get_json()
    assert [s["mine"] for s in mine["panel"]] == [True]  # not the other experts' scores
    queue = client.get("/api/v1/midterm-scores", headers=e1).get_json()["items"]
    assert [q["midterm_id"] for q in queue] == [report.id]
    other = client_for(app, "colleague", PASSWORD)
    assert other.get(f"/midterms/{report.id}").status_code == 404
    assert client_for(app, "e1", PASSWORD).get("/midterm-scores").status_code == 200


# ---- the API walk ----

def test_the_api_opens_reports_reviews_rectifies_and_passes(people, call, project, app):
    client = app.test_client()
    officer, pi = bearer(client, "officer"), bearer(client, "pi")
    made = client.post("/api/v1/midterms", headers=officer,
                       json={"call_id": call.id, "due_on": later(), "instructions": "按期填报"})
    assert made.status_code == 201, made.get_json()
    [item] = made.get_json()["items"]
    mid = item["id"]
    assert client.post("/api/v1/midterms", headers=pi,
                       json={"call_id": call.id, "due_on": later()}).status_code == 403
    assert client.post("/api/v1/midterms", headers=officer,
                       json={"application_ids": [project.id], "due_on": "2001-01-01"}
                       ).status_code == 422
    early = client.post(f"/api/v1/midterms/{mid}/submit", headers=pi)
    assert early.status_code == 422
    assert "中期报告尚未填写完整" in early.get_json()["error"]["message"]
    bad = client.put(f"/api/v1/midterms/{mid}/report", headers=pi,
                     json={"spending": {"equipment": "abc"}})
    assert bad.status_code == 422
    up = client.post(f"/api/v1/midterms/{mid}/attachments", headers=pi,
                     data={"file": (io.BytesIO(pdf()), "佐证.pdf")},
                     content_type="multipart/form-data")
    assert up.status_code == 201, up.get_json()
    sent = client.post(f"/api/v1/midterms/{mid}/submit", headers=pi, json=REPORT)
    assert sent.status_code == 200, sent.get_json()
    assert sent.get_json()["state"] == "submitted" and len(sent.get_json()["evidence"]) == 1
    ids = [people[e].id for e in ("e1", "e2", "e3")]
    conflicted = client.put(f"/api/v1/midterms/{mid}/panel", headers=officer,
                            json={"expert_ids": [*ids[:2], people["near"].id]})
    assert conflicted.status_code == 422
    assert "须回避" in conflicted.get_json()["error"]["message"]
    panel = client.put(f"/api/v1/midterms/{mid}/panel", headers=officer,
                       json={"expert_ids": ids})
    assert panel.status_code == 200 and panel.get_json()["state"] == "reviewing"
    too_soon = client.post(f"/api/v1/midterms/{mid}/outcome", headers=officer,
                           json={"outcome": "pass", "opinion": "通过"})
    assert too_soon.status_code == 422
    for n, e in enumerate(("e1", "e2", "e3")):
        resp = client.put(f"/api/v1/midterms/{mid}/score", headers=bearer(client, e),
                          json={"score": 70 + n, "opinion": OPINION,
                                "recommendation": "rectify"})
        assert resp.status_code == 200, resp.get_json()
    assert client.put(f"/api/v1/midterms/{mid}/score", headers=bearer(client, "e4"),
                      json={"score": 70, "opinion": OPINION, "recommendation": "pass"}
                      ).status_code == 404
    wrong = client.post(f"/api/v1/midterms/{mid}/outcome", headers=officer,
                        json={"outcome": "pass", "items": ["x"]})
    assert wrong.status_code == 422
    rect = client.post(f"/api/v1/midterms/{mid}/outcome", headers=officer,
                       json={"outcome": "rectify", "opinion": "限期整改", "due_on": later(15),
                             "items": ["补充中试数据"]})
    assert rect.status_code == 200, rect.get_json()
    body = rect.get_json()
    assert (body["state"], body["round"], body["current_due_on"]) == ("rectify", 2, later(15))
    team_view = client.get(f"/api/v1/midterms/{mid}", headers=pi).get_json()
    assert [s["alias"] for s in team_view["panel"]] == ["专家1", "专家2", "专家3"]
    again = client.post(f"/api/v1/midterms/{mid}/submit", headers=pi, json={"answers": {
        **REPORT["answers"], "progress": "已补充中试数据，中试进度已追上任务书的计划安排。"}})
    assert again.status_code == 200 and again.get_json()["state"] == "submitted"
    client.put(f"/api/v1/midterms/{mid}/panel", headers=officer, json={"expert_ids": ids})
    for e in ("e1", "e2", "e3"):
        client.put(f"/api/v1/midterms/{mid}/score", headers=bearer(client, e),
                   json={"score": 88, "opinion": OPINION, "recommendation": "pass"})
    done = client.post(f"/api/v1/midterms/{mid}/outcome", headers=officer,
                       json={"outcome": "pass", "opinion": "整改到位，同意通过"})
    assert done.status_code == 200, done.get_json()
    assert done.get_json()["state"] == "passed"
    project_now = client.get(f"/api/v1/applications/{project.id}", headers=officer).get_json()
    assert project_now["state"] == "in_progress"
    listed = client.get("/api/v1/midterms?state=passed", headers=officer).get_json()
    assert [m["id"] for m in listed["items"]] == [mid]
    history = client.get(f"/api/v1/midterms/{mid}/history", headers=officer).get_json()
    assert [e["trigger"] for e in history["history"]][:4] == [
        "open_midterm", "attach_midterm_evidence", "save_midterm_report", "submit"]
    xlsx = client.get("/api/v1/midterms?export=xlsx", headers=officer)
    assert xlsx.status_code == 200 and xlsx.data[:2] == b"PK"


def test_the_api_terminates_a_project_from_its_midterm(people, project, app):
    released(project)
    report = reviewing(people, project)
    client = app.test_client()
    officer = bearer(client, "officer")
    refused = client.post(f"/api/v1/midterms/{report.id}/outcome", headers=officer,
                          json={"outcome": "terminate", "opinion": "终止"})
    assert refused.status_code == 422  # no score yet, no reason
    ended = client.post(f"/api/v1/midterms/{report.id}/outcome", headers=officer,
                        json={"outcome": "terminate", "opinion": "项目组无法继续研究，终止",
                              "override_reason": "项目负责人已调离", "recovery_wan": "12.50"})
    assert ended.status_code == 200, ended.get_json()
    assert ended.get_json()["state"] == "terminated"
    got = client.get(f"/api/v1/applications/{project.id}", headers=officer).get_json()
    assert got["state"] == "terminated"
    again = client.post(f"/api/v1/midterms/{report.id}/outcome", headers=officer,
                        json={"outcome": "pass", "opinion": "通过"})
    assert again.status_code == 409


def post(client, url, data):
    """A form sent as a browser sends it, with the session's CSRF token."""
    token = csrf_of(client.get("/").get_data(as_text=True))
    return client.post(url, data={**data, "csrf_token": token})


# ---- the pages ----

def test_the_pages_open_report_score_and_decide(people, call, project, app):
    officer = client_for(app, "officer", PASSWORD)
    listing = officer.get("/midterms")
    assert listing.status_code == 200 and "开启中期检查" in listing.get_data(as_text=True)
    resp = post(officer, "/midterms/open", data={"scope": "projects",
                                                "application_ids": [str(project.id)],
                                                "due_on": later(), "instructions": "按期填报"})
    assert resp.status_code == 302, resp.get_data(as_text=True)
    report = db.session.scalars(sa.select(MidtermReport)).one()
    pi = client_for(app, "pi", PASSWORD)
    page = pi.get(f"/midterms/{report.id}").get_data(as_text=True)
    assert "进展情况" in page and "data-testid=\"midterm-form\"" in page
    bad = post(pi, f"/midterms/{report.id}/report", data={"action": "submit",
                                                           "spending-equipment": "abc"})
    assert bad.status_code == 422 and "应为不小于0的金额" in bad.get_data(as_text=True)
    form = {"action": "submit", **{f"answer-{k}": v for k, v in REPORT["answers"].items()},
            **{f"spending-{k}": "0" for k in REPORT["spending"]},
            "output-0-kind": "patent", "output-0-title": "一种稀土萃取方法"}
    assert post(pi, f"/midterms/{report.id}/report", data=form).status_code == 302
    assert db.session.get(MidtermReport, report.id).state is MT.submitted
    project_page = pi.get(f"/applications/{project.id}").get_data(as_text=True)
    assert "project-midterms" in project_page
    page = officer.get(f"/midterms/{report.id}").get_data(as_text=True)
    assert "须回避：同校专家（同单位）" in page
    post(officer, f"/midterms/{report.id}/panel", data={
        "expert_ids": [str(people[e].id) for e in ("e1", "e2", "e3")]})
    assert db.session.get(MidtermReport, report.id).state is MT.reviewing
    expert = client_for(app, "e1", PASSWORD)
    assert "score-form" in expert.get(f"/midterms/{report.id}").get_data(as_text=True)
    assert post(expert, f"/midterms/{report.id}/score", data={
        "score": "x", "opinion": "", "recommendation": ""}).status_code == 422
    assert post(expert, f"/midterms/{report.id}/score", data={
        "score": "90", "opinion": OPINION, "recommendation": "pass"}).status_code == 302
    page = officer.get(f"/midterms/{report.id}").get_data(as_text=True)
    assert "data-confirm" in page and "确定终止该项目吗" in page
    refused = post(officer, f"/midterms/{report.id}/outcome", data={"outcome": "pass",
                                                                   "opinion": "同意"})
    assert refused.status_code == 422 and "未提交评议" in refused.get_data(as_text=True)
    done = post(officer, f"/midterms/{report.id}/outcome", data={
        "outcome": "pass", "opinion": "同意通过", "override_reason": "其余专家书面同意"})
    assert done.status_code == 302
    assert db.session.get(MidtermReport, report.id).state is MT.passed
    assert officer.get(f"/calls/{call.id}/midterm-form").status_code == 200
    builder = officer.get(f"/calls/{call.id}/edit").get_data(as_text=True)
    assert f'href="/calls/{call.id}/midterm-form"' in builder
    saved = post(officer, f"/calls/{call.id}/midterm-form", data={
        "label-0": "关键技术突破", "type-0": "longtext", "required-0": "1"})
    assert saved.status_code == 302
    assert midterm.custom_form(call)[0]["label"] == "关键技术突破"
    assert post(pi, f"/calls/{call.id}/midterm-form", data={}).status_code == 403


# ---- the 工作台 ----

def board(app, user):
    """role -> phrase -> [text], as the 工作台 lists them."""
    from workflow.workbench import todo

    with app.test_request_context():
        db.session.refresh(user)
        return {s.role: {g.phrase: [i.text for i in g.items] for g in s.groups}
                for s in todo.sections_for(user)}


def test_the_workbench_asks_the_team_to_report_the_experts_to_score_the_officer_to_decide(
        people, project, app):
    report = opened(people, project)
    title = project.title
    assert board(app, people["pi"])["applicant"]["待提交中期报告"] == [
        f"待提交中期报告：中期检查（{title}）"]
    assert "待中期检查" not in str(board(app, people["officer"]))
    midterm.save_report(people["pi"], report.id, REPORT)
    fire(report, "submit", people["pi"])
    assert board(app, people["officer"])["officer"]["中期报告已提交，待组织评议专家"] == [
        f"中期报告已提交，待组织评议专家：中期检查（{title}）"]
    midterm.assign_panel(people["officer"], report.id, [people[e].id for e in ("e1", "e2", "e3")])
    db.session.commit()
    assert board(app, people["e1"])["expert"]["待中期检查评议"] == [f"待中期检查评议：{title}"]
    assert "中期检查待作结论" not in board(app, people["officer"]).get("officer", {})
    score_all(people, report)
    assert "待中期检查评议" not in board(app, people["e1"]).get("expert", {})
    assert board(app, people["officer"])["officer"]["中期检查待作结论"] == [
        f"中期检查待作结论：中期检查（{title}）"]


def test_the_demo_has_a_check_waiting_for_a_score_and_one_in_rectification(app):
    from workflow import demo
    from workflow.accounts.models import User

    assert demo.seed()
    waiting, rectify = db.session.scalars(sa.select(MidtermReport).order_by(
        MidtermReport.id)).all()
    assert (waiting.state, rectify.state) == (MT.reviewing, MT.rectify)
    assert waiting.application.title == demo.MIDTERM_WAITING
    assert midterm.scores_missing(waiting) == 1 and rectify.round == 2
    assert audit.verify() == []

    def user(username):
        return db.session.scalar(sa.select(User).where(User.username == username))

    assert board(app, user("expert3"))["expert"]["待中期检查评议"] == [
        f"待中期检查评议：{demo.MIDTERM_WAITING}"]
    assert "待中期检查评议" not in board(app, user("expert2")).get("expert", {})
    assert board(app, user("researcher5"))["applicant"]["待提交中期报告"] == [
        f"待提交中期报告：中期检查（{demo.MIDTERM_RECTIFY}）"]
    assert not demo.seed()  # seeded once


def test_every_message_of_a_check_is_written_for_its_people(people, project, app):
    """What the worker does with the check's outbox events: the panel invited, the team
    told the conclusion (each rendered from its template), the conclusion's PDF."""
    report = reviewing(people, project)
    score_all(people, report, "rectify")
    fire(report, "rectify", people["officer"], "限期整改", due_on=later(10), items="补数据")
    midterm.save_report(people["pi"], report.id, REPORT)
    fire(report, "submit", people["pi"])
    midterm.assign_panel(people["officer"], report.id, [people[e].id for e in ("e1", "e2", "e3")])
    db.session.commit()
    fire(report, "terminate", people["officer"], "整改不到位，终止项目",
         override_reason="已书面评议")
    for event in db.session.scalars(sa.select(outbox.OutboxEvent).order_by(
            outbox.OutboxEvent.id)).all():
        for name in outbox.consumers_for(event.topic):
            outbox.consume(event.id, name)
    db.session.commit()

    def titles(username):
        return [n.title for n in db.session.scalars(sa.select(Notification).where(
            Notification.user_id == people[username].id, Notification.channel == "inapp"))]

    team = titles("pi")
    assert any(t.startswith("中期检查结论：整改") for t in team)
    assert any(t.startswith("中期检查结论：终止") for t in team)
    assert any(t.startswith("中期检查结论通知已印发") for t in team)
    assert sum(t.startswith("中期检查评议") for t in titles("e1")) == 2  # each round
    doc = db.session.scalar(sa.select(Document).where(Document.kind == "midterm_conclusion"))
    assert doc is not None and "中期检查结论" in doc.title
    client = app.test_client()
    listed = client.get("/api/v1/midterms", headers=bearer(client, "unitadmin")).get_json()
    assert [m["id"] for m in listed["items"]] == [report.id]  # its unit's research office
