"""结题验收: the team's package (report, 科技报告, outputs, 决算 or the 包干制 declaration,
self-assessment) endorsed by its unit, a conflict-checked panel (with the demand side for
揭榜挂帅), 财务验收 against the ledger, and the officer's graded conclusion with its
验收结论书; at a 不通过 the diligence finding (宽容失败) decides between closing the project
and a recovery with an integrity record. Every refusal changes nothing."""

import io
from datetime import timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from states import AcceptanceState, ApplicationState, TrancheState
from tests.acceptance_steps import (
    OPINION,
    REPORT,
    accept,
    check_finance,
    experts,
    fire,
    full_package,
    pdf_bytes,
    prepare,
    score_all,
    to_panel,
    unit_admin,
)
from tests.conftest import api_token, client_for
from tests.factories import (
    PASSWORD,
    ApplicationFactory,
    CallFactory,
    ChallengeFactory,
    OrganizationFactory,
    UserFactory,
)
from workflow.acceptance import operations as acceptances
from workflow.acceptance.documents import render_acceptance_conclusion
from workflow.acceptance.models import Acceptance
from workflow.accounts.models import Sanction
from workflow.core import audit, engine
from workflow.core.errors import Conflict, Forbidden, GuardFailed, Invalid
from workflow.core.models import IssuedNumber, db, utcnow
from workflow.finance import ledger, recovery
from workflow.finance import operations as finance
from workflow.finance.models import EntryKind

A, AC, T = ApplicationState, AcceptanceState, TrancheState
PLAN = [{"label": "合同签订后拨付", "percent": 70, "condition": "contract"},
        {"label": "验收通过后拨付", "percent": 30, "condition": "acceptance"}]


@pytest.fixture
def people(app):
    univ = OrganizationFactory(name="赣南科技大学")
    demand_org = OrganizationFactory(name="赣州稀土集团")
    return {
        "univ": univ,
        "pi": UserFactory(username="pi", name="李明", roles=("applicant",), organization=univ,
                          id_number="362101198001010019"),
        "colleague": UserFactory(username="colleague", roles=("applicant",), organization=univ),
        "unitadmin": UserFactory(username="unitadmin", roles=("org_admin",), organization=univ),
        "otheradmin": UserFactory(username="otheradmin", roles=("org_admin",)),
        "officer": UserFactory(username="officer", name="张科长", roles=("officer",),
                               organization=None),
        "finance1": UserFactory(username="fin1", roles=("finance",), organization=None),
        "finance2": UserFactory(username="fin2", roles=("finance",), organization=None),
        "demand": UserFactory(username="demand", name="发榜方联系人", roles=("demand",),
                              organization=demand_org),
    }


def running(people, challenge=None, **call_kw):
    """A project approved, contracted and started through the engine, its contract share
    paid (700,000 of 1,000,000 for 包干制)."""
    call = challenge.call if challenge else CallFactory(
        budget=Decimal(10**7), tranche_plan=PLAN, **call_kw)
    data = ({"milestones": [{"label": "样机", "amount": "800000.00", "months": 12},
                            {"label": "中试", "amount": "1200000.00", "months": 24}],
             "indicators": {"萃取率": "≥ 99.5%"}} if challenge else
            {"summary": "稀土萃取分离新工艺"})
    row = ApplicationFactory(call=call, challenge=challenge, applicant=people["pi"],
                             organization=people["univ"], state=A.public_notice,
                             granted_amount=Decimal("2000000.00" if challenge else "1000000.00"),
                             notice_ends_at=utcnow() - timedelta(minutes=1), data=data,
                             task_book_signed_by=("team", "demand"))
    db.session.commit()
    engine.fire(row, "approve", None)
    engine.fire(row, "sign_contract", people["officer"])
    engine.fire(row, "start", None)
    db.session.commit()
    if challenge is None:
        pay(finance.tranches_of(row)[0], people)
    return row


def pay(tranche, people, ref="ZF2026-0001"):
    engine.fire(engine.load("tranche", tranche.id, lock=True), "prepare", people["finance1"])
    engine.fire(engine.load("tranche", tranche.id, lock=True), "approve", people["finance2"])
    engine.fire(engine.load("tranche", tranche.id, lock=True), "release", people["finance2"],
                data={"payment_ref": ref})
    db.session.commit()


@pytest.fixture
def baogan(people):
    return running(people)


@pytest.fixture
def jiebang(people):
    challenge = ChallengeFactory(demand_org=people["demand"].organization,
                                 call__budget=Decimal(10**7),
                                 call__tranche_plan=[{"condition": "milestone"}],
                                 indicators=[{"name": "萃取率", "target": "≥ 99%"}],
                                 duration_months=24)
    return running(people, challenge)


def refused(exc, fn, *args, match=None, **kw):
    """``fn`` refused with ``exc``; nothing it did stays."""
    with pytest.raises(exc, match=match):
        fn(*args, **kw)
    db.session.rollback()
    db.session.expire_all()


# ---- the package -----------------------------------------------------------------------

def test_the_team_fills_in_and_submits_the_package_and_the_unit_endorses_it(baogan, people):
    acc = prepare(baogan, spent_wan="60", surplus_wan="10")
    assert acc.state is AC.draft and acceptances.package_problems(acc) == {}
    fire(acc, "submit", people["pi"])
    assert acc.state is AC.submitted and baogan.state is A.in_progress
    fire(acc, "endorse", people["unitadmin"], "同意报送")
    # The endorsed package is the project's final report, and the project is in 验收.
    assert (acc.state, baogan.state) == (AC.endorsed, A.acceptance)
    assert (baogan.final_report.report, baogan.final_report.surplus) == (
        REPORT, Decimal("100000.00"))
    assert baogan.final_report.evidence == [acc.tech_report_sha256]
    assert acc.unit_opinion == "同意报送"


def test_an_incomplete_package_is_refused_with_what_it_lacks(baogan, people):
    acc = acceptances.open_package(people["pi"], baogan)
    db.session.commit()
    with pytest.raises(GuardFailed) as err:
        fire(acc, "submit", people["pi"])
    db.session.rollback()
    text = str(err.value.details)
    for lack in ("结题报告", "科技报告", "成果和知识产权清单", "经费使用声明", "逐项自评"):
        assert lack in text
    assert db.session.get(Acceptance, acc.id).state is AC.draft


def test_only_the_principal_investigator_opens_and_fills_in_the_package(baogan, people):
    refused(Forbidden, acceptances.open_package, people["colleague"], baogan)
    acc = acceptances.open_package(people["pi"], baogan)
    db.session.commit()
    refused(Forbidden, acceptances.save_package, people["colleague"], acc, {"report": REPORT})
    refused(Forbidden, fire, acc, "submit", people["colleague"])
    assert acc.report == ""


@pytest.mark.parametrize("output,field", [
    ({"kind": "paper", "title": "论文", "identifier": "doi:abc"}, "outputs.0.identifier"),
    ({"kind": "patent", "title": "专利", "identifier": "专利123"}, "outputs.0.identifier"),
    ({"kind": "standard", "title": "标准", "identifier": "GB 9704"}, "outputs.0.identifier"),
    ({"kind": "software", "title": "软著", "identifier": "SR123"}, "outputs.0.identifier"),
    ({"kind": "thesis", "title": "学位论文", "identifier": "x"}, "outputs.0.kind"),
    ({"kind": "paper", "title": "", "identifier": "10.1000/xyz"}, "outputs.0.title"),
])
def test_bad_output_identifiers_are_refused_by_field(baogan, people, output, field):
    acc = acceptances.open_package(people["pi"], baogan)
    db.session.commit()
    with pytest.raises(Invalid) as err:
        acceptances.save_package(people["pi"], acc, {"outputs": [output]})
    db.session.rollback()
    assert field in err.value.details
    assert db.session.get(Acceptance, acc.id).outputs == []


def test_good_identifiers_of_every_kind_are_kept(baogan, people):
    acc = acceptances.open_package(people["pi"], baogan)
    outputs = [{"kind": "paper", "title": "论文", "identifier": "10.1016/j.x.2026.1"},
               {"kind": "patent", "title": "专利", "identifier": "ZL202110123456.7"},
               {"kind": "standard", "title": "标准", "identifier": "GB/T 9704-2012"},
               {"kind": "software", "title": "软件", "identifier": "2021SR0123456"},
               {"kind": "product", "title": "萃取设备样机", "identifier": ""}]
    acceptances.save_package(people["pi"], acc, {"outputs": outputs})
    db.session.commit()
    assert acc.outputs == outputs


def test_spending_beyond_what_was_paid_is_refused(baogan, jiebang, people):
    # 包干制: 70 万元 paid; 60 spent + 20 surplus is more than that.
    acc = prepare(baogan, spent_wan="60", surplus_wan="20")
    assert "surplus" in acceptances.package_problems(acc)
    refused(GuardFailed, fire, acc, "submit", people["pi"], match="验收材料不完整")
    # 揭榜挂帅: nothing paid yet (milestones unpaid): any 决算 is over it.
    other = prepare(jiebang, spending={"equipment": "5"})
    assert "超过已拨付" in acceptances.package_problems(other)["spending"]
    # A scheme's form is its own: no category table for 包干制, no declaration for 揭榜挂帅.
    refused(Invalid, acceptances.save_package, people["pi"], acc,
            {"spending": {"equipment": "1"}}, match="包干制项目不编制")
    refused(Invalid, acceptances.save_package, people["pi"], other,
            {"negative_list_declared": True}, match="揭榜挂帅")


def test_the_tech_report_must_be_a_pdf(baogan, people):
    acc = acceptances.open_package(people["pi"], baogan)
    db.session.commit()
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
    refused(Exception, acceptances.attach_tech_report, people["pi"], acc, "报告.pdf",
            io.BytesIO(png))
    acceptances.attach_tech_report(people["pi"], acc, "科技报告.pdf", io.BytesIO(pdf_bytes(1)))
    db.session.commit()
    assert acceptances.tech_report_of(acc).filename == "科技报告.pdf"


def test_the_unit_returns_a_package_and_another_unit_cannot_endorse_it(baogan, people):
    acc = prepare(baogan, spent_wan="50")
    fire(acc, "submit", people["pi"])
    refused(Forbidden, fire, acc, "endorse", people["otheradmin"])
    refused(GuardFailed, fire, acc, "return_for_revision", people["unitadmin"])  # no reason
    fire(acc, "return_for_revision", people["unitadmin"], "请补充成果清单中的专利")
    assert (acc.state, baogan.state) == (AC.returned, A.in_progress)
    acceptances.save_package(people["pi"], acc, {"report": REPORT + "已补充。"})
    fire(acc, "submit", people["pi"])
    assert acc.state is AC.submitted


# ---- the panel -------------------------------------------------------------------------

def test_the_panel_has_three_experts_none_conflicted(baogan, people):
    acc = prepare(baogan, spent_wan="50")
    fire(acc, "submit", people["pi"])
    fire(acc, "endorse", people["unitadmin"])
    two = experts(2)
    refused(GuardFailed, fire, acc, "assign_panel", people["officer"],
            expert_ids=[str(e.id) for e in two], match="至少|3至")
    colleague = UserFactory(roles=("expert",), name="同单位专家", organization=people["univ"])
    refused(GuardFailed, fire, acc, "assign_panel", people["officer"],
            expert_ids=[str(e.id) for e in [*two, colleague]], match="同单位专家")
    refused(GuardFailed, fire, acc, "assign_panel", people["officer"],
            expert_ids=[str(e.id) for e in two] + [str(people["pi"].id)], match="不是在库的")
    refused(Forbidden, fire, acc, "assign_panel", people["unitadmin"],
            expert_ids=[str(e.id) for e in experts()])
    assert db.session.get(Acceptance, acc.id).members == []
    three = [*two, UserFactory(roles=("expert",))]
    fire(acc, "assign_panel", people["officer"], expert_ids=[str(e.id) for e in three])
    assert acc.state is AC.panel_review
    assert [m.alias for m in acc.members] == ["专家1", "专家2", "专家3"]


def test_only_the_panel_scores_once_each(baogan, people):
    acc, panel = to_panel(baogan, people["officer"], spent_wan="50")
    body = {"scores": dict.fromkeys(acceptances.indicator_names(baogan), True),
            "grade": "pass", "opinion": OPINION}
    refused(Forbidden, acceptances.score, UserFactory(roles=("expert",)), acc, body)
    refused(Forbidden, acceptances.score, people["pi"], acc, body)
    refused(Invalid, acceptances.score, panel[0], acc, {**body, "scores": {}},
            match="验收意见有误")
    refused(Invalid, acceptances.score, panel[0], acc, {**body, "grade": "fail"},
            match="勤勉尽责")
    acceptances.score(panel[0], acc, body)
    db.session.commit()
    refused(Conflict, acceptances.score, panel[0], acc, body, match="已提交")


def test_the_conclusion_waits_for_the_panel_and_for_finance(baogan, people):
    acc, panel = to_panel(baogan, people["officer"], spent_wan="50")
    refused(GuardFailed, fire, acc, "pass", people["officer"], match="专家组意见尚未全部提交")
    score_all(acc, panel)
    refused(GuardFailed, fire, acc, "pass", people["officer"], match="财务验收意见尚未录入")
    refused(Forbidden, acceptances.check_finance, people["pi"], acc, "pass", "决算属实无误")
    auditor = UserFactory(roles=("auditor",), organization=None)
    acceptances.check_finance(auditor, acc, "pass", "决算与台账一致")  # an appointed auditor
    db.session.commit()
    refused(Forbidden, fire, acc, "pass", people["pi"])
    fire(acc, "pass", people["officer"])
    assert (acc.state, baogan.state) == (AC.passed, A.completed)


def test_finance_cannot_pass_a_spending_beyond_the_ledger(jiebang, people):
    acc = prepare(jiebang, spending={"business": "0"})
    fire(acc, "submit", people["pi"])
    fire(acc, "endorse", people["unitadmin"])
    acc.spending = {"business": "50000.00"}  # a 决算 the ledger does not bear out
    db.session.commit()
    refused(Invalid, acceptances.check_finance, people["finance1"], acc, "pass", "决算超支",
            match="超过账面已拨付")


# ---- the conclusion --------------------------------------------------------------------

def test_a_pass_completes_the_project_keeps_the_surplus_and_issues_the_conclusion(
        baogan, people):
    acc = accept(baogan, people["officer"])
    acc = db.session.get(Acceptance, acc.id)
    assert (acc.state, baogan.state, acc.proposed) == (AC.passed, A.completed, "pass")
    assert finance.tranches_of(baogan)[-1].state is T.due
    # The 验收结论书 is numbered with the transition and rendered once committed.
    number = db.session.scalar(sa.select(IssuedNumber).where(
        IssuedNumber.kind == "acceptance_conclusion", IssuedNumber.entity_id == acc.id))
    assert number is not None and number.number
    doc = render_acceptance_conclusion(acc.id)
    db.session.commit()
    assert doc is not None and doc.doc_number == number.number


def test_the_surplus_of_a_baogan_project_is_entered_in_the_ledger(baogan, people):
    acc, panel = to_panel(baogan, people["officer"], spent_wan="60", surplus_wan="10")
    score_all(acc, panel)
    check_finance(acc)
    fire(acc, "pass", people["officer"])
    entries = [(e.kind, e.amount) for e in ledger.entries(baogan.call_id)]
    assert entries[-1] == (EntryKind.surplus, Decimal("100000.00"))


def test_a_conclusion_other_than_the_majority_needs_a_reason(baogan, people):
    acc, panel = to_panel(baogan, people["officer"], spent_wan="50")
    score_all(acc, panel, "pass")
    check_finance(acc)
    refused(GuardFailed, fire, acc, "conclude", people["officer"], "未达",
            match="专家组多数意见为“通过”")
    fire(acc, "conclude", people["officer"], "主要指标完成，但产业化指标未完全达到")
    assert (acc.state, acc.proposed) == (AC.concluded, "pass")


@pytest.mark.parametrize("rule,last", [("withhold", T.cancelled), ("pay", T.due)])
def test_a_concluded_project_is_completed_and_its_last_tranche_follows_the_call(
        people, rule, last):
    row = running(people, concluded_rule=rule)
    acc = accept(row, people["officer"], "concluded")
    assert (db.session.get(Acceptance, acc.id).state, row.state) == (AC.concluded, A.completed)
    assert finance.tranches_of(row)[-1].state is last


def test_a_diligent_failure_closes_the_project_without_recovery_or_integrity_record(
        baogan, people):
    refused_acc, panel = to_panel(baogan, people["officer"], spent_wan="50")
    score_all(refused_acc, panel, "fail", diligent=True)
    check_finance(refused_acc)
    refused(GuardFailed, fire, refused_acc, "fail", people["officer"], OPINION,
            match="勤勉尽责")
    refused(GuardFailed, fire, refused_acc, "fail", people["officer"], OPINION,
            diligent="yes", recovery_wan="10", match="不予追回")
    fire(refused_acc, "fail", people["officer"], OPINION, diligent="yes")
    acc = db.session.get(Acceptance, refused_acc.id)
    assert (acc.state, baogan.state, acc.diligent) == (AC.failed, A.failed, True)
    assert recovery.of_application(baogan.id) is None
    assert acc.sanction_id is None and db.session.scalar(sa.select(Sanction)) is None
    assert finance.tranches_of(baogan)[-1].state is T.cancelled


def test_a_failure_without_diligence_opens_a_recovery_and_an_integrity_record(
        baogan, people):
    acc = accept(baogan, people["officer"], "fail", diligent="no", recovery_wan="30")
    acc = db.session.get(Acceptance, acc.id)
    assert (acc.state, baogan.state, acc.diligent) == (AC.failed, A.failed, False)
    owed = recovery.of_application(baogan.id)
    assert (owed.amount, owed.reason) == (Decimal("300000.00"), "结题验收不通过")
    mark = db.session.get(Sanction, acc.sanction_id)
    assert (mark.subject, mark.name, mark.id_number) == ("person", "李明",
                                                         "362101198001010019")
    assert "未勤勉尽责" in mark.reason


def test_a_recovery_beyond_what_was_paid_is_refused(baogan, people):
    acc, panel = to_panel(baogan, people["officer"], spent_wan="50")
    score_all(acc, panel, "fail", diligent=False)
    check_finance(acc)
    refused(GuardFailed, fire, acc, "fail", people["officer"], OPINION, diligent="no",
            recovery_wan="80", match="不能超过已拨付")
    refused(GuardFailed, fire, acc, "fail", people["officer"], OPINION, diligent="no",
            match="应追回金额")
    assert db.session.get(Acceptance, acc.id).state is AC.panel_review


def test_without_tolerance_a_failure_is_recovered_and_no_diligence_is_asked(people):
    row = running(people, tolerate_failure=False)
    acc, panel = to_panel(row, people["officer"], spent_wan="50")
    score_all(acc, panel, "fail")
    check_finance(acc)
    refused(GuardFailed, fire, acc, "fail", people["officer"], OPINION, diligent="yes",
            recovery_wan="0", match="不实行宽容失败")
    fire(acc, "fail", people["officer"], OPINION, recovery_wan="20")
    assert row.state is A.failed and recovery.of_application(row.id).amount == Decimal(
        "200000.00")
    assert db.session.get(Acceptance, acc.id).sanction_id is None


def test_a_pass_is_refused_when_finance_failed_the_spending(baogan, people):
    acc, panel = to_panel(baogan, people["officer"], spent_wan="50")
    score_all(acc, panel)
    check_finance(acc, "fail")
    refused(GuardFailed, fire, acc, "pass", people["officer"], match="财务验收不通过")
    fire(acc, "conclude", people["officer"], "财务验收不通过，予以结题")
    assert acc.state is AC.concluded


# ---- 揭榜挂帅: the demand side on the panel ---------------------------------------------

def test_the_demand_side_sits_on_the_panel_and_its_verdict_is_the_projects(jiebang, people):
    acc, panel = to_panel(jiebang, people["officer"])
    assert [m.alias for m in acc.members] == ["专家1", "专家2", "专家3", "发榜方"]
    score_all(acc, panel, "pass", people["demand"], demand_grade="fail", diligent=True)
    check_finance(acc)
    assert jiebang.demand_verdict.value == "fail"
    refused(GuardFailed, fire, acc, "pass", people["officer"], "专家组三票通过",
            match="发榜方验收结论为不通过")
    refused(GuardFailed, fire, acc, "conclude", people["officer"], "专家组三票通过",
            match="发榜方验收结论为不通过")
    fire(acc, "fail", people["officer"], "发榜方认定攻关指标未达到", diligent="yes")
    assert (acc.state, jiebang.state) == (AC.failed, A.failed)


def test_a_jiebang_project_passes_with_the_demand_sides_pass(jiebang, people):
    acc = accept(jiebang, people["officer"], demand=people["demand"])
    assert jiebang.state is A.completed and jiebang.demand_verdict.value == "pass"
    assert jiebang.demand_verdict_by == "发榜方联系人"
    assert db.session.get(Acceptance, acc.id).members[-1].signed_by == "发榜方联系人"


# ---- what the team sees -----------------------------------------------------------------

def test_the_team_sees_the_panel_as_expert_numbers_never_names(app, baogan, people):
    acc = accept(baogan, people["officer"])
    names = [m.user.name for m in db.session.get(Acceptance, acc.id).members]
    assert [e.actor_name for e in audit.history("acceptance", acc.id)
            if e.trigger == "score"] == ["专家1", "专家2", "专家3"]
    pi = client_for(app, "pi", PASSWORD)
    page = pi.get(f"/acceptances/{acc.id}").get_data(as_text=True)
    assert "专家1" in page and "专家3" in page
    assert not any(n in page for n in names)
    token = api_token(pi, "pi", PASSWORD)
    data = pi.get(f"/api/v1/acceptances/{acc.id}",
                  headers={"Authorization": f"Bearer {token}"}).get_json()
    assert [(m["alias"], m["name"]) for m in data["members"]] == [
        ("专家1", None), ("专家2", None), ("专家3", None)]
    officer = client_for(app, "officer", PASSWORD)
    assert names[0] in officer.get(f"/acceptances/{acc.id}").get_data(as_text=True)


# ---- the API, both schemes ------------------------------------------------------------------

def _api(client, username):
    return {"Authorization": f"Bearer {api_token(client, username, PASSWORD)}"}


@pytest.mark.parametrize("scheme", ["baogan", "jiebang"])
def test_the_whole_acceptance_through_the_api(app, client, people, scheme, request):
    row = request.getfixturevalue(scheme)
    pi, unit, officer = _api(client, "pi"), _api(client, "unitadmin"), _api(client, "officer")
    resp = client.post(f"/api/v1/applications/{row.id}/acceptance", headers=pi)
    assert resp.status_code == 201, resp.get_json()
    acc_id = resp.get_json()["id"]
    assert resp.get_json()["missing"]
    resp = client.patch(f"/api/v1/acceptances/{acc_id}", headers=pi,
                        json={"outputs": [{"kind": "patent", "title": "专利",
                                           "identifier": "12"}]})
    assert resp.status_code == 422 and "outputs.0.identifier" in resp.get_json()["error"][
        "details"]
    for odd in ({"outputs": [{"kind": [], "title": "x", "identifier": "x"}]},
                {"self_assessment": {acceptances.indicator_names(row)[0]: {"status": {}}}}):
        resp = client.patch(f"/api/v1/acceptances/{acc_id}", headers=pi, json=odd)
        assert resp.status_code == 422, resp.get_json()
    body = full_package(row, spending={"business": "0"} if scheme == "jiebang" else None,
                        spent_wan="50")
    resp = client.patch(f"/api/v1/acceptances/{acc_id}", headers=pi, json=body)
    assert resp.status_code == 200, resp.get_json()
    resp = client.post(f"/api/v1/acceptances/{acc_id}/tech-report", headers=pi,
                       data={"file": (io.BytesIO(pdf_bytes(9)), "科技报告.pdf")},
                       content_type="multipart/form-data")
    assert resp.status_code == 201, resp.get_json()
    assert client.get(f"/api/v1/acceptances/{acc_id}", headers=pi).get_json()["missing"] == {}
    for who, trigger in ((pi, "submit"), (unit, "endorse")):
        resp = client.post(f"/api/v1/acceptances/{acc_id}/transitions", headers=who,
                           json={"trigger": trigger, "comment": "同意"})
        assert resp.status_code == 200, resp.get_json()
    panel = experts()
    resp = client.post(f"/api/v1/acceptances/{acc_id}/panel", headers=officer,
                       json={"expert_ids": [e.id for e in panel[:2]]})
    assert resp.status_code == 422
    resp = client.post(f"/api/v1/acceptances/{acc_id}/panel", headers=officer,
                       json={"expert_ids": [e.id for e in panel]})
    assert resp.status_code == 200, resp.get_json()
    names = acceptances.indicator_names(row)
    voices = [e.username for e in panel] + (["demand"] if scheme == "jiebang" else [])
    for username in voices:
        resp = client.post(f"/api/v1/acceptances/{acc_id}/scores", headers=_api(
            client, username), json={"scores": dict.fromkeys(names, True), "grade": "pass",
                                     "opinion": OPINION})
        assert resp.status_code == 200, resp.get_json()
    resp = client.post(f"/api/v1/acceptances/{acc_id}/conclusion", headers=officer,
                       json={"grade": "pass"})
    assert resp.status_code == 422 and "财务验收" in resp.get_json()["error"]["message"]
    resp = client.post(f"/api/v1/acceptances/{acc_id}/finance-check",
                       headers=_api(client, "fin1"),
                       json={"verdict": "pass", "opinion": "决算与台账一致"})
    assert resp.status_code == 200, resp.get_json()
    resp = client.post(f"/api/v1/acceptances/{acc_id}/conclusion", headers=pi,
                       json={"grade": "pass"})
    assert resp.status_code == 403
    resp = client.post(f"/api/v1/acceptances/{acc_id}/conclusion", headers=officer,
                       json={"grade": "pass", "comment": "同意专家组意见"})
    assert resp.status_code == 200, resp.get_json()
    data = resp.get_json()
    assert (data["state"], data["conclusion"]["grade"], data["proposed"]) == (
        "passed", "pass", "pass")
    assert client.get(f"/api/v1/applications/{row.id}", headers=pi).get_json()[
        "state"] == "completed"
    listed = client.get("/api/v1/acceptances", headers=pi).get_json()
    assert [a["id"] for a in listed["items"]] == [acc_id]
    assert client.get("/api/v1/acceptances", headers=unit).get_json()["total"] == 1
    assert client.get("/api/v1/acceptances", headers=_api(client, "otheradmin")
                      ).get_json()["total"] == 0
    history = client.get(f"/api/v1/acceptances/{acc_id}/history", headers=pi).get_json()
    assert "passed" in [h["to"] for h in history["history"]]


def test_the_former_final_report_call_fills_in_the_package(client, baogan, people):
    pi = _api(client, "pi")
    resp = client.post(f"/api/v1/applications/{baogan.id}/final-report", headers=pi,
                       json={"report": REPORT, "surplus_wan": "5"})
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["state"] == "in_progress"
    acc = db.session.get(Acceptance, resp.get_json()["acceptance_id"])
    assert (acc.report, acc.surplus, acc.state) == (REPORT, Decimal("50000.00"), AC.draft)


def test_the_acceptance_list_page_searches_and_exports(app, baogan, people):
    accept(baogan, people["officer"])
    officer = client_for(app, "officer", PASSWORD)
    page = officer.get("/acceptances?q=" + baogan.title[:4]).get_data(as_text=True)
    assert baogan.title in page and "验收通过" in page
    resp = officer.get("/acceptances?export=xlsx")
    assert resp.status_code == 200 and resp.mimetype.endswith("sheet")
    unit_admin(baogan)
    outsider = client_for(app, "otheradmin", PASSWORD)
    assert baogan.title not in outsider.get("/acceptances").get_data(as_text=True)


def test_the_call_builder_sets_the_concluded_rule_and_tolerance(app, client, people):
    call = CallFactory()
    db.session.commit()
    assert (call.concluded_rule, call.tolerate_failure) == ("withhold", True)
    officer = _api(client, "officer")
    resp = client.patch(f"/api/v1/calls/{call.id}", headers=officer,
                        json={"concluded_rule": "sometimes"})
    assert resp.status_code == 422 and "concluded_rule" in resp.get_json()["error"]["details"]
    resp = client.patch(f"/api/v1/calls/{call.id}", headers=officer,
                        json={"concluded_rule": "pay", "tolerate_failure": False})
    assert resp.status_code == 200, resp.get_json()
    db.session.expire_all()
    assert (call.concluded_rule, call.tolerate_failure) == ("pay", False)
    page = client_for(app, "officer", PASSWORD).get(f"/calls/{call.id}/edit").get_data(
        as_text=True)
    assert 'id="concluded_rule"' in page and 'id="tolerate_failure"' in page


def test_the_demo_has_one_acceptance_waiting_for_its_panel_one_concluded_one_tolerated(app):
    from workflow import demo

    assert demo.seed()
    rows = [a for a in db.session.scalars(sa.select(Acceptance).order_by(Acceptance.id))
            if a.application.call.title.endswith(demo.ACCEPTANCE_TITLE)]
    assert [(a.application.title, a.state) for a in rows] == [
        (title, state) for (title, _), state in zip(
            demo.ACCEPTANCE_PROJECTS, (AC.endorsed, AC.concluded, AC.failed), strict=True)]
    waiting, concluded, failed = rows
    assert waiting.application.state is A.acceptance
    assert concluded.application.state is A.completed
    assert finance.tranches_of(concluded.application)[-1].state is T.cancelled  # withheld
    assert (failed.application.state, failed.diligent, failed.sanction_id) == (
        A.failed, True, None)
    assert recovery.of_application(failed.application_id) is None
    assert [m.alias for m in concluded.members] == ["专家1", "专家2", "专家3"]


def test_the_api_refuses_a_conclusion_without_a_grade_and_a_rule_of_the_wrong_type(
        client, baogan, people):
    acc, _panel = to_panel(baogan, people["officer"], spent_wan="50")
    officer = _api(client, "officer")
    for body in ({}, {"comment": "", "diligent": "no", "recovery_wan": ""}, {"grade": "maybe"}):
        resp = client.post(f"/api/v1/acceptances/{acc.id}/conclusion", headers=officer,
                           json=body)
        assert resp.status_code == 422, (body, resp.get_json())
    resp = client.patch(f"/api/v1/calls/{baogan.call_id}", headers=officer,
                        json={"concluded_rule": {}})
    assert resp.status_code == 422
    assert db.session.get(Acceptance, acc.id).state is AC.panel_review


def test_the_panel_reads_the_tech_report_and_others_do_not(app, baogan, people):
    acc, panel = to_panel(baogan, people["officer"], spent_wan="50")
    outsider = UserFactory(username="outsider_expert", roles=("expert",))
    db.session.commit()
    member = client_for(app, panel[0].username, PASSWORD)
    got = member.get(f"/acceptances/{acc.id}/tech-report")
    assert got.status_code == 200 and got.data.startswith(b"%PDF")
    page = member.get(f"/acceptances/{acc.id}").get_data(as_text=True)
    assert 'data-testid="score-form"' in page and "专家1" in page
    stranger = client_for(app, outsider.username, PASSWORD)
    assert stranger.get(f"/acceptances/{acc.id}/tech-report").status_code == 404
    assert stranger.get(f"/acceptances/{acc.id}").status_code == 404


def test_the_team_the_panel_and_finance_are_told_and_the_conclusion_is_a_pdf(
        baogan, people):
    from pypdf import PdfReader

    from workflow.core import files, outbox
    from workflow.core.models import OutboxEvent
    from workflow.documents.models import Document
    from workflow.notify.models import Notification

    acc = accept(baogan, people["officer"], "fail", diligent="yes",
                 comment="关键指标未达到，团队勤勉尽责，按宽容失败处理。")
    # What the worker does with the committed events: each of their consumers runs.
    for event in db.session.scalars(sa.select(OutboxEvent).where(
            OutboxEvent.entity_type == "acceptance").order_by(OutboxEvent.id)).all():
        for name in outbox.consumers_for(event.topic):
            outbox.consume(event.id, name)
    db.session.commit()

    def told(user):
        return [n.title for n in db.session.scalars(sa.select(Notification).where(
            Notification.user_id == user.id, Notification.channel == "inapp"))]

    assert any("结题验收材料待单位审核" in t for t in told(people["unitadmin"]))
    acc = db.session.get(Acceptance, acc.id)
    assert any("请参加结题验收" in t for t in told(acc.members[0].user))
    assert any("待财务验收" in t for t in told(people["finance1"]))
    mine = told(people["pi"])
    assert any("结题验收结论：验收不通过" in t for t in mine)
    assert any("验收结论书已印发" in t for t in mine)
    doc = db.session.scalar(sa.select(Document).where(Document.kind == "acceptance_conclusion"))
    assert doc.title == f"关于“{baogan.title}”项目结题验收的结论"
    with files.store().open(doc.sha256) as fh:
        text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(fh.read())).pages)
    flat = text.replace("\n", "").replace(" ", "")
    assert "验收不通过" in flat and "勤勉尽责" in flat and "专家1" in flat
    assert not any(m.user.name in flat for m in acc.members)


def test_no_one_reads_a_verdict_before_they_may(app, client, baogan, people):
    """A member still to give a verdict reads only their own; the team reads the panel's
    verdicts once the acceptance is concluded; the bureau reads them as they come."""
    acc, panel = to_panel(baogan, people["officer"])
    names = acceptances.indicator_names(baogan)
    acceptances.score(panel[0], acc, {"scores": dict.fromkeys(names, True), "grade": "pass",
                                      "opinion": OPINION})
    db.session.commit()

    def members(username):
        body = client.get(f"/api/v1/acceptances/{acc.id}", headers=_api(client, username))
        return body.get_json()

    def grades(body):
        return [m["grade"] for m in body["members"]]

    officer = members("officer")
    assert grades(officer) == ["pass", None, None]
    team = members("pi")
    assert grades(team) == [None, None, None] and team["proposed"] is None
    assert all(m["opinion"] is None and m["scores"] == {} for m in team["members"])
    assert team["members"][0]["submitted_at"] is not None  # given, not shown
    second = members(panel[1].username)
    assert grades(second) == [None, None, None] and second["proposed"] is None
    page = client_for(app, "pi", PASSWORD).get(f"/acceptances/{acc.id}").get_data(
        as_text=True)
    assert OPINION not in page and "验收结论作出后可见" in page
    page = client_for(app, panel[1].username, PASSWORD).get(
        f"/acceptances/{acc.id}").get_data(as_text=True)
    assert OPINION not in page and "提交本人意见后可见" in page
    for expert in panel[1:]:
        acceptances.score(expert, acc, {"scores": dict.fromkeys(names, True),
                                        "grade": "pass", "opinion": OPINION})
        db.session.commit()
    assert grades(members(panel[1].username)) == ["pass"] * 3
    assert members("officer")["proposed"] == "pass"
    team = members("pi")  # still under review
    assert grades(team) == [None] * 3 and team["proposed"] is None
    check_finance(acc)
    fire(acc, "pass", people["officer"], "同意")
    team = members("pi")
    assert grades(team) == ["pass"] * 3 and team["members"][0]["opinion"] == OPINION
