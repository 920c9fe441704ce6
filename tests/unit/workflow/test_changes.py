"""项目变更: a running project's team asks for a change with reasons and evidence, its unit's
research office endorses, the officer decides (the demand side agrees first to a 揭榜挂帅
project's change of indicators; a leader decides a change of organisation or a
termination). An approved change takes effect on the project and issues a 变更批复; a
refused one leaves the project as it was."""

import io
from datetime import date, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from states import ApplicationState, ChangeState, TrancheState
from tests.conftest import api_token, client_for
from tests.factories import (
    PASSWORD,
    ApplicationFactory,
    CallFactory,
    ChallengeFactory,
    ChangeRequestFactory,
    OrganizationFactory,
    UserFactory,
)
from workflow.changes import operations as changes
from workflow.changes.documents import render_change_approval
from workflow.changes.models import ChangeRequest
from workflow.changes.rules import months_after, planned_end
from workflow.core import audit, engine
from workflow.core.errors import Conflict, Forbidden, GuardFailed, Invalid
from workflow.core.models import IssuedNumber, db, utcnow
from workflow.finance import operations as finance
from workflow.finance.models import Tranche
from workflow.timeutil import SHANGHAI

A, C = ApplicationState, ChangeState
REASON = "关键设备到货延迟六个月，需顺延项目实施期限。"
TEAM_FORM = [
    {"name": "summary", "label": "项目摘要", "type": "longtext", "required": True, "max": 2000},
    {"name": "team", "label": "项目团队", "type": "persons", "max_rows": 10},
]
MEMBER = {"name": "赵六", "id_number": "362101198512124560", "org": "赣南科技大学",
          "role": "数据分析", "title": "讲师"}


def pdf(n=0):
    return b"%PDF-1.4\n%" + str(n).encode() + b"\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@pytest.fixture
def people(app):
    univ = OrganizationFactory(name="赣南科技大学")
    demand_org = OrganizationFactory(name="赣州稀土集团")
    return {
        "univ": univ,
        "pi": UserFactory(username="pi", name="李明", roles=("applicant",), organization=univ),
        "colleague": UserFactory(username="colleague", name="王强", roles=("applicant",),
                                 organization=univ),
        "unitadmin": UserFactory(username="unitadmin", roles=("org_admin",), organization=univ),
        "otheradmin": UserFactory(username="otheradmin", roles=("org_admin",)),
        "outsider": UserFactory(username="outsider", roles=("applicant",)),
        "expert": UserFactory(username="expert", roles=("expert",)),
        "officer": UserFactory(username="officer", name="张科长", roles=("officer",),
                               organization=None),
        "leader": UserFactory(username="leader", name="孙局长", roles=("leader",),
                              organization=None),
        "demand": UserFactory(username="demand", roles=("demand",), organization=demand_org),
    }


def running(people, challenge=None, **call_kw):
    """A project approved, contracted and started through the engine."""
    call = challenge.call if challenge else CallFactory(
        budget=Decimal(10**7), form_schema=TEAM_FORM,
        tranche_plan=[{"label": "合同签订后拨付", "percent": 70, "condition": "contract"},
                      {"label": "验收通过后拨付", "percent": 30, "condition": "acceptance"}],
        **call_kw)
    data = ({"milestones": [{"label": "样机", "amount": "800000.00", "months": 12},
                            {"label": "中试", "amount": "1200000.00", "months": 24}],
             "indicators": {"指标": "≥ 1.2"}} if challenge else
            {"summary": "稀土萃取分离新工艺", "team": [
                {"name": "李明", "id_number": "362101198001010019", "org": "赣南科技大学",
                 "role": "负责人", "title": "教授"}]})
    row = ApplicationFactory(call=call, challenge=challenge, applicant=people["pi"],
                             state=A.public_notice, granted_amount=Decimal("2000000.00"),
                             notice_ends_at=utcnow() - timedelta(minutes=1), data=data,
                             task_book_signed_by=("team", "demand"))
    db.session.commit()
    engine.fire(row, "approve", None)
    engine.fire(row, "sign_contract", people["officer"])
    engine.fire(row, "start", None)
    db.session.commit()
    return row


@pytest.fixture
def baogan(people):
    return running(people)


@pytest.fixture
def jiebang(people):
    challenge = ChallengeFactory(demand_org=people["demand"].organization,
                                 call__budget=Decimal(10**7),
                                 call__tranche_plan=[{"condition": "milestone"}],
                                 duration_months=24)
    return running(people, challenge)


def draft(app, people, evidence=True, **body):
    change = changes.create(people["pi"], app, body)
    if evidence:
        changes.attach_evidence(people["pi"], change, "证明材料.pdf", io.BytesIO(pdf(change.id)))
    db.session.commit()
    return change


def fire(change, trigger, actor, comment=""):
    result = engine.fire(engine.load("change", change.id, lock=True), trigger, actor,
                         comment=comment)
    db.session.commit()
    return result


def endorsed(app, people, **body):
    change = draft(app, people, **body)
    fire(change, "submit", people["pi"])
    fire(change, "endorse", people["unitadmin"], "情况属实，同意")
    return change


def extension(app, months=6):
    return {"kind": "extension", "reason": REASON,
            "new_end_date": months_after(planned_end(app), months).isoformat()}


# ---- the lifecycle ------------------------------------------------------------------------

def test_an_approved_extension_moves_the_end_and_the_open_milestones_and_issues_the_reply(
        jiebang, people):
    end = planned_end(jiebang)
    assert end == months_after(jiebang.approved_at.astimezone(SHANGHAI).date(), 24)
    first, second = (m.due_on for m in finance.milestones_of(jiebang))
    change = endorsed(jiebang, people, **extension(jiebang, 6))
    new_end = months_after(end, 6)
    fire(change, "approve", people["officer"], "同意延期")
    db.session.refresh(jiebang)
    assert change.state is C.approved and change.decided_by == "张科长"
    assert planned_end(jiebang) == new_end
    shift = new_end - end
    assert [m.due_on for m in finance.milestones_of(jiebang)] == [
        first + shift, min(second + shift, new_end)]
    # The project's own trail records the change; the reply has its 发文字号.
    assert [e.trigger for e in audit.history("application", jiebang.id)][-1] == "apply_change"
    issued = db.session.scalar(sa.select(IssuedNumber).where(
        IssuedNumber.kind == "change_approval", IssuedNumber.entity_id == change.id))
    assert issued.number.startswith("赣市科字〔") and issued.number.endswith("号")


def test_the_change_approval_is_rendered_with_its_number_and_what_changed(baogan, people):
    from pypdf import PdfReader

    from workflow.core import files, outbox
    from workflow.core.models import OutboxEvent
    from workflow.documents.models import Document
    from workflow.notify.models import Notification

    change = endorsed(baogan, people, **extension(baogan, 3))
    fire(change, "approve", people["officer"], "同意延期")
    # What the worker does with the committed event: its consumer renders the reply.
    (event,) = db.session.scalars(sa.select(OutboxEvent).where(
        OutboxEvent.topic == "change.approval")).all()
    assert "render_change_approval" in outbox.consumers_for(event.topic)
    outbox.consume(event.id, "render_change_approval")
    doc = db.session.scalar(sa.select(Document).where(Document.kind == "change_approval"))
    assert render_change_approval(change.id).id == doc.id  # rendered once
    told = db.session.scalar(sa.select(Notification).where(
        Notification.user_id == people["pi"].id, Notification.link == f"/documents/{doc.id}",
        Notification.channel == "inapp"))
    assert told is not None and "变更批复已印发" in told.title
    with files.store().open(doc.sha256) as fh:
        text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(fh.read())).pages)
    flat = text.replace("\n", "").replace(" ", "")
    number = db.session.scalar(sa.select(IssuedNumber.number).where(
        IssuedNumber.kind == "change_approval"))
    assert doc.doc_number == number and number.replace(" ", "") in flat
    assert doc.title == f"关于“{baogan.title}”项目延期的批复"
    assert "同意项目实施期限延长至" in flat and "赣南科技大学" in flat
    assert "无需报批" in flat  # 包干制: no budget lines


def test_a_second_extension_is_refused_and_one_beyond_the_limit_too(baogan, people):
    with pytest.raises(Invalid) as too_long:
        changes.create(people["pi"], baogan, extension(baogan, 13))
    assert "不能超过12个月" in too_long.value.details["new_end_date"]
    change = endorsed(baogan, people, **extension(baogan, 12))
    fire(change, "approve", people["officer"], "同意")
    with pytest.raises(Conflict) as again:
        changes.create(people["pi"], baogan, extension(baogan, 2))
    assert "至多延期1次" in again.value.message


def test_a_pending_extension_is_refused_at_its_decision_once_another_was_approved(
        baogan, people):
    one = endorsed(baogan, people, **extension(baogan, 2))
    other = ChangeRequestFactory(application=baogan, seq=9, state=C.endorsed,
                                 new_end_date=months_after(planned_end(baogan), 1),
                                 evidence=list(one.evidence))
    db.session.commit()
    fire(one, "approve", people["officer"], "同意")
    end = planned_end(baogan)
    with pytest.raises(GuardFailed) as refused:
        fire(other, "approve", people["officer"], "同意")
    assert "每个项目至多延期1次" in refused.value.message
    db.session.rollback()
    assert engine.load("change", other.id).state is C.endorsed
    assert planned_end(baogan) == end


def test_a_new_pi_over_the_limit_is_refused_and_the_project_keeps_its_pi(baogan, people):
    new = people["colleague"]
    for _ in range(2):  # 限项: the call allows 2 running projects per PI
        ApplicationFactory(applicant=new, state=A.in_progress)
    change = draft(baogan, people, kind="pi", reason="原负责人调离本单位，由王强接任负责人。",
                   new_pi_id=new.id)
    with pytest.raises(GuardFailed) as refused:
        fire(change, "submit", people["pi"])
    assert refused.value.status == 422
    assert "新负责人王强：负责人在研项目已达2项上限（限项）" in refused.value.message
    db.session.rollback()
    assert baogan.applicant_id == people["pi"].id
    assert engine.load("change", change.id).state is C.draft


def test_an_approved_change_of_pi_makes_the_new_pi_the_projects(baogan, people):
    change = endorsed(baogan, people, kind="pi", new_pi_id=people["colleague"].id,
                      reason="原负责人调离本单位，由王强接任负责人。")
    fire(change, "approve", people["officer"], "同意")
    db.session.refresh(baogan)
    assert baogan.applicant_id == people["colleague"].id
    assert change.before == {"pi": "李明"}


def test_an_approved_change_of_members_replaces_the_team(baogan, people):
    team = [*baogan.data["team"], MEMBER]
    change = endorsed(baogan, people, kind="member", new_team=team,
                      reason="新增数据分析人员一名，加强数据处理工作。")
    fire(change, "approve", people["officer"], "同意")
    db.session.refresh(baogan)
    assert [p["name"] for p in baogan.data["team"]] == ["李明", "赵六"]


def test_a_baogan_content_change_is_kept_with_the_project(baogan, people):
    text = "研究内容调整为无氨皂化萃取体系，考核指标：分离能耗降低15%。"
    change = endorsed(baogan, people, kind="content", new_content=text,
                      reason="中试结果表明原指标需要调整，特申请调整考核指标。")
    fire(change, "approve", people["officer"], "同意")
    db.session.refresh(baogan)
    assert baogan.data["adjusted_content"] == text


def test_a_jiebang_indicator_change_needs_the_demand_side(jiebang, people):
    change = endorsed(jiebang, people, kind="content", new_indicators={"指标": "≥ 1.0"},
                      reason="原材料批次差异较大，申请将指标调整为≥1.0。")
    with pytest.raises(Conflict):  # not before the demand side agrees
        fire(change, "approve", people["officer"], "同意")
    db.session.rollback()
    with pytest.raises(Forbidden):
        fire(change, "demand_agree", people["unitadmin"], "同意")
    db.session.rollback()
    fire(change, "demand_agree", people["demand"], "同意调整")
    assert change.demand_opinion == "同意调整"
    fire(change, "approve", people["officer"], "同意")
    db.session.refresh(jiebang)
    assert jiebang.data["indicators"] == {"指标": "≥ 1.0"}


def test_the_demand_side_refusing_an_indicator_change_leaves_the_project(jiebang, people):
    change = endorsed(jiebang, people, kind="content", new_indicators={"指标": "≥ 0.5"},
                      reason="原材料批次差异较大，申请将指标调整为≥0.5。")
    fire(change, "demand_refuse", people["demand"], "指标降低过多，不同意")
    db.session.refresh(jiebang)
    assert change.state is C.rejected and change.decision == "指标降低过多，不同意"
    assert jiebang.data["indicators"] == {"指标": "≥ 1.2"}


def test_a_leader_decides_a_change_of_organization(baogan, people):
    new_org = OrganizationFactory(name="赣州市农业科学研究院")
    people["pi"].organization = new_org  # the PI has moved there
    db.session.commit()
    change = endorsed(baogan, people, kind="organization", new_organization_id=new_org.id,
                      reason="项目负责人调入市农科院，项目随负责人转移。")
    with pytest.raises(Conflict):
        fire(change, "approve", people["officer"], "同意")
    db.session.rollback()
    fire(change, "propose", people["officer"], "拟同意")
    assert change.state is C.proposed and change.officer_opinion == "拟同意"
    with pytest.raises(Forbidden):
        fire(change, "approve", people["officer"], "同意")
    db.session.rollback()
    fire(change, "approve", people["leader"], "同意")
    db.session.refresh(baogan)
    assert baogan.organization_id == new_org.id and change.decided_by == "孙局长"


def test_a_rejected_change_of_organization_changes_nothing(baogan, people):
    new_org = OrganizationFactory(name="赣州市农业科学研究院")
    people["pi"].organization = new_org
    db.session.commit()
    version = baogan.version
    change = endorsed(baogan, people, kind="organization", new_organization_id=new_org.id,
                      reason="项目负责人调入市农科院，项目随负责人转移。")
    fire(change, "propose", people["officer"], "拟同意")
    with pytest.raises(GuardFailed):  # a reason is required
        fire(change, "reject", people["leader"])
    db.session.rollback()
    fire(change, "reject", people["leader"], "新单位不具备实施条件")
    db.session.refresh(baogan)
    assert change.state is C.rejected and change.decision == "新单位不具备实施条件"
    assert (baogan.organization_id, baogan.version) == (people["univ"].id, version)
    assert db.session.scalar(sa.select(IssuedNumber.id).where(
        IssuedNumber.kind == "change_approval")) is None


def test_an_approved_termination_terminates_the_project_and_cancels_its_unpaid_money(
        baogan, people):
    change = endorsed(baogan, people, kind="termination",
                      reason="核心技术路线经论证不可行，申请终止项目。")
    fire(change, "propose", people["officer"], "拟同意终止")
    fire(change, "approve", people["leader"], "同意终止")
    db.session.refresh(baogan)
    assert baogan.state is A.terminated
    assert {t.state for t in db.session.scalars(sa.select(Tranche).where(
        Tranche.application_id == baogan.id))} == {TrancheState.cancelled}
    assert "经项目变更申请批准终止" in audit.history("application", baogan.id)[-1].comment


def test_the_unit_returns_and_the_team_resubmits_or_withdraws(baogan, people):
    change = draft(baogan, people, **extension(baogan, 3))
    fire(change, "submit", people["pi"])
    with pytest.raises(GuardFailed):
        fire(change, "return_for_revision", people["unitadmin"])
    db.session.rollback()
    fire(change, "return_for_revision", people["unitadmin"], "请补充设备延期到货证明")
    assert change.state is C.returned and change.unit_opinion == "请补充设备延期到货证明"
    changes.update(people["pi"], change, {"new_end_date": months_after(
        planned_end(baogan), 4).isoformat()})
    fire(change, "submit", people["pi"])
    fire(change, "withdraw", people["pi"])
    assert change.state is C.withdrawn


def test_submission_needs_reasons_and_evidence(baogan, people):
    change = draft(baogan, people, evidence=False, kind="extension", reason="延期",
                   new_end_date=months_after(planned_end(baogan), 2).isoformat())
    with pytest.raises(GuardFailed) as refused:
        fire(change, "submit", people["pi"])
    codes = {r["code"] for r in refused.value.details}
    assert codes == {"reason_missing", "evidence_missing"}


def test_only_a_running_project_may_ask_and_only_its_pi(people):
    project = ApplicationFactory(applicant=people["pi"], state=A.completed)
    with pytest.raises(Conflict):
        changes.create(people["pi"], project, {"kind": "termination", "reason": REASON})
    running_one = ApplicationFactory(applicant=people["pi"], state=A.in_progress,
                                     approved_at=utcnow())
    with pytest.raises(Forbidden):
        changes.create(people["colleague"], running_one,
                       {"kind": "termination", "reason": REASON})
    with pytest.raises(Invalid) as wrong:
        changes.create(people["pi"], running_one, {"kind": "termination", "reason": REASON,
                                                   "new_end_date": "2030-01-01"})
    assert wrong.value.details == {"new_end_date": "终止不填写此项"}


@pytest.mark.parametrize(("state", "trigger", "who", "outcome"), [
    (C.draft, "submit", "pi", C.submitted),
    (C.draft, "endorse", "unitadmin", Conflict),
    (C.submitted, "endorse", "pi", Forbidden),
    (C.submitted, "endorse", "unitadmin", C.endorsed),
    (C.submitted, "approve", "officer", Conflict),
    (C.endorsed, "approve", "officer", C.approved),
    (C.endorsed, "approve", "leader", Forbidden),
    (C.endorsed, "propose", "officer", Conflict),
    (C.endorsed, "reject", "officer", C.rejected),
    (C.endorsed, "withdraw", "pi", Conflict),
    (C.approved, "reject", "officer", Conflict),
])
def test_the_lifecycle_of_an_extension(baogan, people, state, trigger, who, outcome):
    change = draft(baogan, people, **extension(baogan, 3))
    change.state = state
    if state is C.approved:
        change.decided_at = utcnow()
    db.session.commit()
    if isinstance(outcome, ChangeState):
        fire(change, trigger, people[who], "意见")
        assert change.state is outcome
    else:
        with pytest.raises(outcome):
            fire(change, trigger, people[who], "意见")


def test_the_officer_decides_with_a_reason(baogan, people):
    change = endorsed(baogan, people, **extension(baogan, 3))
    with pytest.raises(GuardFailed) as refused:
        fire(change, "approve", people["officer"])
    assert refused.value.message == "请填写意见或理由"
    db.session.rollback()
    assert planned_end(baogan) == months_after(baogan.approved_at.astimezone(SHANGHAI).date(), 24)


def test_the_unit_office_of_another_organisation_may_not_endorse(baogan, people):
    change = draft(baogan, people, **extension(baogan, 3))
    fire(change, "submit", people["pi"])
    with pytest.raises(Forbidden):
        fire(change, "endorse", people["otheradmin"], "同意")


# ---- the API and the pages ------------------------------------------------------------------

def bearer(client, username):
    return {"Authorization": "Bearer " + api_token(client, username, PASSWORD)}


def test_the_api_takes_a_change_from_draft_to_approval(baogan, people, client):
    pi, unit, officer = (bearer(client, u) for u in ("pi", "unitadmin", "officer"))
    end = planned_end(baogan)
    new_end = months_after(end, 6).isoformat()
    made = client.post(f"/api/v1/applications/{baogan.id}/changes", headers=pi,
                       json={"kind": "extension", "reason": REASON, "new_end_date": new_end})
    assert made.status_code == 201, made.get_json()
    body = made.get_json()
    assert (body["state"], body["current_end_date"]) == ("draft", end.isoformat())
    cid = body["id"]
    refused = client.post(f"/api/v1/changes/{cid}/transitions", headers=pi,
                          json={"trigger": "submit"})
    assert refused.status_code == 422
    assert "请上传变更的佐证材料" in refused.get_json()["error"]["message"]
    up = client.post(f"/api/v1/changes/{cid}/attachments", headers=pi,
                     data={"file": (io.BytesIO(pdf()), "到货证明.pdf")},
                     content_type="multipart/form-data")
    assert up.status_code == 201, up.get_json()
    fake = client.post(f"/api/v1/changes/{cid}/attachments", headers=pi,
                       data={"file": (io.BytesIO(b"MZ\x90\x00 not a pdf"), "x.pdf")},
                       content_type="multipart/form-data")
    assert fake.status_code == 415
    for headers, trigger in ((pi, "submit"), (unit, "endorse"), (officer, "approve")):
        resp = client.post(f"/api/v1/changes/{cid}/transitions", headers=headers,
                           json={"trigger": trigger, "comment": "同意"})
        assert resp.status_code == 200, resp.get_json()
    got = client.get(f"/api/v1/changes/{cid}", headers=pi).get_json()
    assert (got["state"], got["current_end_date"], got["decision"]) == (
        "approved", new_end, "同意")
    history = client.get(f"/api/v1/changes/{cid}/history", headers=officer).get_json()
    assert [e["trigger"] for e in history["history"]] == [
        "create", "attach_change_evidence", "submit", "endorse", "approve"]
    listed = client.get(f"/api/v1/applications/{baogan.id}/changes", headers=unit).get_json()
    assert [c["id"] for c in listed["items"]] == [cid]
    everything = client.get("/api/v1/changes?state=approved", headers=officer).get_json()
    assert everything["total"] == 1
    assert client.get("/api/v1/changes?export=xlsx", headers=officer).status_code == 200


def test_the_api_refuses_bad_input_by_name(baogan, people, client):
    pi = bearer(client, "pi")
    url = f"/api/v1/applications/{baogan.id}/changes"
    assert client.post(url, headers=pi, json={"kind": "moon"}).status_code == 422
    resp = client.post(url, headers=pi, json={"kind": "extension", "new_end_date": "tomorrow",
                                              "colour": "red"})
    assert resp.status_code == 422 and "colour" in resp.get_json()["error"]["details"]
    resp = client.post(url, headers=pi, json={"kind": "extension", "new_end_date": "2001-01-01"})
    assert resp.status_code == 422
    assert "new_end_date" in resp.get_json()["error"]["details"]


def test_who_may_not_see_a_change_is_told_it_does_not_exist(baogan, people, client):
    change = draft(baogan, people, **extension(baogan, 3))
    for who in ("outsider", "expert", "otheradmin", "colleague"):
        headers = bearer(client, who)
        assert client.get(f"/api/v1/changes/{change.id}", headers=headers).status_code == 404
        assert client.post(f"/api/v1/changes/{change.id}/transitions", headers=headers,
                           json={"trigger": "endorse"}).status_code == 404
    officer = bearer(client, "officer")
    resp = client.post(f"/api/v1/changes/{change.id}/transitions", headers=officer,
                       json={"trigger": "submit"})
    assert resp.status_code == 403
    expert = bearer(client, "expert")
    assert client.post(f"/api/v1/applications/{baogan.id}/changes", headers=expert,
                       json={"kind": "termination"}).status_code == 404


def test_the_pages_offer_the_change_and_list_it(baogan, people, app):
    pi = client_for(app, "pi", PASSWORD)
    page = pi.get(f"/applications/{baogan.id}").get_data(as_text=True)
    assert 'data-testid="request-change"' in page
    form = pi.get(f"/applications/{baogan.id}/changes/new")
    assert form.status_code == 200 and "无需申请变更或报批" in form.get_data(as_text=True)
    token = form.get_data(as_text=True).split('name="csrf_token" value="')[1].split('"')[0]
    new_end = months_after(planned_end(baogan), 5).isoformat()
    bad = pi.post(f"/applications/{baogan.id}/changes/new", data={
        "csrf_token": token, "kind": "extension", "reason": REASON, "new_end_date": "2001-01-01"})
    assert bad.status_code == 422 and "应晚于现结束日期" in bad.get_data(as_text=True)
    made = pi.post(f"/applications/{baogan.id}/changes/new", data={
        "csrf_token": token, "kind": "extension", "reason": REASON, "new_end_date": new_end})
    assert made.status_code == 302
    change = db.session.scalar(sa.select(ChangeRequest))
    shown = pi.get(f"/changes/{change.id}").get_data(as_text=True)
    assert new_end in shown and "本项目实行经费包干制" in shown and "上传佐证材料" in shown
    officer = client_for(app, "officer", PASSWORD)
    listed = officer.get("/changes?state=draft").get_data(as_text=True)
    assert "延期" in listed and baogan.title in listed
    assert officer.get("/changes?export=xlsx").status_code == 200
    expert = client_for(app, "expert", PASSWORD)
    assert expert.get(f"/changes/{change.id}").status_code == 404
    assert expert.get("/changes").status_code == 403


def test_planned_end_of_a_baogan_project_counts_the_configured_months(baogan):
    start = baogan.approved_at.astimezone(SHANGHAI).date()
    assert planned_end(baogan) == months_after(start, 24)
    assert months_after(date(2026, 1, 31), 1) == date(2026, 2, 28)


def test_the_team_is_told_of_the_outcome(baogan, people):
    from workflow.core import outbox
    from workflow.core.models import OutboxEvent
    from workflow.notify.models import Notification

    change = endorsed(baogan, people, **extension(baogan, 3))
    fire(change, "reject", people["officer"], "延期理由不充分")
    for event in db.session.scalars(sa.select(OutboxEvent).where(
            OutboxEvent.topic == "change.reject")):
        for name in outbox.consumers_for(event.topic):
            outbox.consume(event.id, name)
    told = db.session.scalars(sa.select(Notification).where(
        Notification.user_id == people["pi"].id, Notification.channel == "inapp")).all()
    assert any("未获批准" in n.title for n in told)
    assert any("延期理由不充分" in n.body or "未获批准" in n.body for n in told)


def test_each_party_finds_the_request_waiting_on_its_workbench(baogan, people, app):
    change = draft(baogan, people, **extension(baogan, 3))
    fire(change, "submit", people["pi"])
    unit = client_for(app, "unitadmin", PASSWORD)
    home = unit.get("/").get_data(as_text=True)
    assert f"/changes/{change.id}" in home and "延期" in home
    fire(change, "endorse", people["unitadmin"], "同意")
    officer = client_for(app, "officer", PASSWORD).get("/").get_data(as_text=True)
    assert f"/changes/{change.id}" in officer
    other = client_for(app, "otheradmin", PASSWORD).get("/").get_data(as_text=True)
    assert f"/changes/{change.id}" not in other


def test_the_pages_carry_a_request_from_evidence_to_approval(baogan, people, app):
    from tests.conftest import csrf_of

    change = draft(baogan, people, evidence=False, **extension(baogan, 4))
    pi = client_for(app, "pi", PASSWORD)
    page = pi.get(f"/changes/{change.id}").get_data(as_text=True)
    up = pi.post(f"/changes/{change.id}/evidence", data={
        "csrf_token": csrf_of(page), "file": (io.BytesIO(pdf(7)), "到货证明.pdf")},
        content_type="multipart/form-data")
    assert up.status_code == 302
    for who, trigger in (("pi", "submit"), ("unitadmin", "endorse"), ("officer", "approve")):
        client = pi if who == "pi" else client_for(app, who, PASSWORD)
        page = client.get(f"/changes/{change.id}").get_data(as_text=True)
        assert f'value="{trigger}"' in page, (who, trigger)
        version = engine.load("change", change.id).version
        done = client.post(f"/changes/{change.id}/fire", data={
            "csrf_token": csrf_of(page), "trigger": trigger, "comment": "同意",
            "version": version})
        assert done.status_code == 302
    assert engine.load("change", change.id).state is C.approved
    shown = pi.get(f"/changes/{change.id}").get_data(as_text=True)
    assert "到货证明.pdf" in shown and "已批准：同意（张科长" in shown
    officer = client_for(app, "officer", PASSWORD)
    assert officer.get(f"/applications/{baogan.id}/changes/new").status_code == 403


def test_the_list_searches_filters_and_shows_a_unit_only_its_own(baogan, people, app,
                                                                  client):
    draft(baogan, people, **extension(baogan, 3))
    draft(baogan, people, kind="termination", reason="核心技术路线经论证不可行，申请终止项目。")
    other_pi = UserFactory(username="otherpi", roles=("applicant",),
                           organization=people["otheradmin"].organization)
    other = ApplicationFactory(applicant=other_pi, state=A.in_progress, approved_at=utcnow(),
                               title="油茶籽油精深加工")
    changes.create(other_pi, other, {"kind": "termination", "reason": REASON})
    db.session.commit()
    officer = bearer(client, "officer")
    everything = client.get("/api/v1/changes", headers=officer).get_json()
    assert everything["total"] == 3
    found = client.get("/api/v1/changes?q=油茶&kind=termination", headers=officer).get_json()
    assert [c["project"] for c in found["items"]] == ["油茶籽油精深加工"]
    unit = client.get("/api/v1/changes", headers=bearer(client, "unitadmin")).get_json()
    assert {c["project"] for c in unit["items"]} == {baogan.title}
    page = client_for(app, "unitadmin", PASSWORD).get("/changes?kind=extension")
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and baogan.title in text and "油茶籽油" not in text
