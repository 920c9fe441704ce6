"""Tranches, milestones, acceptance and the ledger: money moves once, and every move is
in the call's ledger."""

from datetime import timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from states import ApplicationState, TrancheState
from tests import acceptance_steps as acceptance
from tests.conftest import login
from tests.factories import (
    PASSWORD,
    ApplicationFactory,
    CallFactory,
    ChallengeFactory,
    OrganizationFactory,
    UserFactory,
)
from workflow.acceptance import operations as acceptances
from workflow.applying.models import Verdict
from workflow.calls.models import Scheme
from workflow.core import audit, engine
from workflow.core.errors import Conflict, Forbidden, GuardFailed, Invalid
from workflow.core.models import db, utcnow
from workflow.finance import ledger, recovery
from workflow.finance import operations as finance
from workflow.finance.models import EntryKind, LedgerEntry, MilestoneState

A, T = ApplicationState, TrancheState
REPORT = "项目全部完成，各项考核指标均已达到任务书要求，经费使用规范。"
PLAN = [{"label": "合同签订后拨付", "percent": 70, "condition": "contract"},
        {"label": "验收后拨付", "percent": 30, "condition": "acceptance"}]


@pytest.fixture
def people(app):
    return {"officer": UserFactory(roles=("officer",), organization=None, name="张科长"),
            "finance1": UserFactory(roles=("finance",), organization=None, name="财务甲"),
            "finance2": UserFactory(roles=("finance",), organization=None, name="财务乙"),
            "applicant": UserFactory(roles=("applicant",), name="王研究员")}


def approved_project(people, grant="1000000.00", budget="5000000.00", plan=PLAN, **kw):
    """A project approved through the engine (its grant committed), contract signed."""
    call = CallFactory(budget=Decimal(budget), tranche_plan=plan, **kw.pop("call_kw", {}))
    row = ApplicationFactory(call=call, applicant=people["applicant"],
                             state=A.public_notice, granted_amount=Decimal(grant),
                             notice_ends_at=utcnow() - timedelta(minutes=1),
                             data=kw.pop("data", {}), task_book_signed_by=("team", "demand"),
                             **kw)
    db.session.commit()
    engine.fire(row, "approve", None)
    engine.fire(row, "sign_contract", people["officer"])
    db.session.commit()
    return row


def pay(tranche, people, ref="ZF2026-0001"):
    engine.fire(engine.load("tranche", tranche.id, lock=True), "prepare", people["finance1"])
    engine.fire(engine.load("tranche", tranche.id, lock=True), "approve", people["finance2"])
    engine.fire(engine.load("tranche", tranche.id, lock=True), "release", people["finance2"],
                data={"payment_ref": ref})
    db.session.commit()


def kinds(call_id):
    return [(e.kind.value, e.amount) for e in ledger.entries(call_id)]


def test_a_contract_plans_the_tranches_and_the_contract_share_is_due(people):
    row = approved_project(people)
    first, last = finance.tranches_of(row)
    assert (first.amount, first.condition, first.state) == (Decimal("700000.00"), "contract",
                                                            T.due)
    assert (last.amount, last.condition, last.state) == (Decimal("300000.00"), "acceptance",
                                                         T.planned)
    # Each keeps the project's number, by which the money lists sort them, and its title
    # and organisation, by which the queue is searched.
    assert row.project_number and {first.project_number, last.project_number} == {
        row.project_number}
    assert {(t.title, t.organization_id) for t in (first, last)} == {
        (row.title, row.organization_id)}
    assert kinds(row.call_id) == [("allocation", Decimal("5000000.00")),
                                  ("commitment", Decimal("1000000.00"))]
    assert ledger.balances(row.call_id) == ledger.Balances(
        Decimal("4000000.00"), Decimal("1000000.00"), Decimal("0.00"))


def test_maker_prepares_checker_approves_release_enters_the_ledger_once(people):
    row = approved_project(people)
    first = finance.tranches_of(row)[0]
    engine.fire(first, "prepare", people["finance1"])
    db.session.commit()
    with pytest.raises(GuardFailed, match="制单人不能审核"):
        engine.fire(first, "approve", people["finance1"])
    db.session.rollback()
    engine.fire(first, "approve", people["finance2"])
    db.session.commit()
    with pytest.raises(GuardFailed, match="支付凭证号"):
        engine.fire(first, "release", people["finance2"])
    db.session.rollback()
    engine.fire(first, "release", people["finance2"], data={"payment_ref": "ZF-1"})
    db.session.commit()
    assert first.state is T.released and row.disbursed == Decimal("700000.00")
    assert kinds(row.call_id)[-1] == ("disbursement", Decimal("700000.00"))
    with pytest.raises(Conflict):
        engine.fire(first, "release", people["finance2"], data={"payment_ref": "ZF-2"})
    db.session.rollback()
    entries = db.session.scalar(sa.select(sa.func.count(LedgerEntry.id)).where(
        LedgerEntry.tranche_id == first.id))
    assert entries == 1
    assert ledger.balances(row.call_id).disbursed == Decimal("700000.00")


def test_the_database_refuses_a_second_payment_and_a_negative_balance(people):
    row = approved_project(people)
    first = finance.tranches_of(row)[0]
    pay(first, people)
    last = ledger.last_entry(row.call_id)
    db.session.add(LedgerEntry(call_id=row.call_id, seq=last.seq + 1,
                               kind=EntryKind.disbursement, amount=first.amount,
                               tranche_id=first.id, available_after=last.available_after,
                               committed_after=last.committed_after,
                               disbursed_after=last.disbursed_after))
    with pytest.raises(IntegrityError):
        db.session.flush()
    db.session.rollback()
    db.session.add(LedgerEntry(call_id=row.call_id, seq=last.seq + 1,
                               kind=EntryKind.commitment, amount=Decimal(10**8),
                               available_after=Decimal(-1), committed_after=Decimal(0),
                               disbursed_after=Decimal(0)))
    with pytest.raises(IntegrityError):
        db.session.flush()
    db.session.rollback()
    row.disbursed = row.granted_amount + 1
    with pytest.raises(IntegrityError):
        db.session.flush()
    db.session.rollback()


def test_the_code_refuses_what_would_overdraw_the_budget(people):
    call = CallFactory(budget=Decimal("100000.00"))
    db.session.commit()
    with pytest.raises(Conflict, match="可用余额将为负数"):
        ledger.post(call.id, EntryKind.commitment, Decimal("100000.01"))
    db.session.rollback()
    assert ledger.entries(call.id) == []


def test_acceptance_makes_the_last_share_due_and_records_the_surplus(people):
    row = approved_project(people)
    pay(finance.tranches_of(row)[0], people)
    engine.fire(row, "start", None)
    db.session.commit()
    # The surplus declared in the 结题验收 package is never more than was paid out.
    acc = acceptance.prepare(row, spent_wan="60", surplus_wan="80")
    with pytest.raises(GuardFailed, match="结余之和超过已拨付"):
        acceptance.fire(acc, "submit", row.applicant)
    db.session.rollback()
    acceptances.save_package(people["applicant"], acc, {"surplus_wan": "5.5"})
    fire_acceptance(acc, row, people, "pass")
    last = finance.tranches_of(row)[-1]
    assert row.state is A.completed and last.state is T.due
    assert kinds(row.call_id)[-1] == ("surplus", Decimal("55000.00"))
    assert ledger.balances(row.call_id).committed == Decimal("300000.00")


def fire_acceptance(acc, row, people, grade, **data):
    """The package submitted and endorsed, the panel's and finance's verdicts in, the
    officer's conclusion (``tests/acceptance_steps.py``)."""
    acceptance.fire(acc, "submit", row.applicant)
    acceptance.fire(acc, "endorse", acceptance.unit_admin(row))
    panel = acceptance.experts()
    acceptance.fire(acc, "assign_panel", people["officer"],
                    expert_ids=[str(e.id) for e in panel])
    acceptance.score_all(acc, panel, grade, data.pop("demand", None),
                         data.pop("demand_grade", None), diligent=True)
    acceptance.check_finance(acc)
    trigger = {"pass": "pass", "concluded": "conclude", "fail": "fail"}[grade]
    return acceptance.fire(acc, trigger, people["officer"], data.pop("comment", ""), **data)


def test_termination_cancels_unpaid_tranches_and_opens_a_recovery_of_what_is_owed(people):
    row = approved_project(people)
    first, last = finance.tranches_of(row)
    pay(first, people)
    engine.fire(row, "start", None)
    with pytest.raises(Invalid, match="追回金额不能超过已拨付金额"):
        engine.fire(row, "terminate", people["officer"], comment="单位申请终止",
                    data={"recovery_wan": "80"})
    db.session.rollback()
    engine.fire(row, "terminate", people["officer"], comment="单位申请终止",
                data={"recovery_wan": "20"})
    db.session.commit()
    db.session.expire_all()
    assert last.state is T.cancelled and row.state is A.terminated
    # What is owed is a recovery (追回); the ledger counts the money back as it comes.
    owed = recovery.of_application(row.id)
    assert (owed.amount, owed.reason, owed.state.value) == (
        Decimal("200000.00"), "项目终止", "opened")
    assert kinds(row.call_id)[-1] == ("decommitment", Decimal("300000.00"))
    bal = ledger.balances(row.call_id)
    assert bal == ledger.Balances(Decimal("4300000.00"), Decimal("0.00"),
                                  Decimal("700000.00"))
    assert row.disbursed == Decimal("700000.00")
    assert ledger.reconcile(call_id=row.call_id).ok


def jiebang_project(people, teams=1, max_teams=1):
    demand = UserFactory(roles=("demand",), name="发榜方联系人",
                         organization=OrganizationFactory(name="赣州稀土集团"))
    challenge = ChallengeFactory(demand_org=demand.organization, max_teams=max_teams,
                                 call__budget=Decimal(10**7),
                                 call__tranche_plan=[{"condition": "milestone"}])
    rows = []
    for _ in range(teams):
        applicant = UserFactory(roles=("applicant",))
        row = ApplicationFactory(
            call=challenge.call, challenge=challenge, applicant=applicant,
            state=A.public_notice, granted_amount=Decimal("2000000.00"),
            notice_ends_at=utcnow() - timedelta(minutes=1),
            data={"milestones": [{"label": "样机", "amount": "800000.00", "months": 12},
                                 {"label": "中试", "amount": "1200000.00", "months": 24}]},
            task_book_signed_by=("team", "demand"))
        db.session.commit()
        engine.fire(row, "approve", None)
        engine.fire(row, "sign_contract", people["officer"])
        engine.fire(row, "start", None)
        db.session.commit()
        rows.append(row)
    return demand, challenge, rows


def test_a_jiebang_acceptance_hears_the_demand_side_on_the_panel(people, client):
    demand, _, (row, other) = jiebang_project(people, teams=2, max_teams=2)
    acc = acceptance.prepare(row, spending={"business": "0"})
    # The demand side is on the panel: a fail of its own stops a pass or a 结题.
    with pytest.raises(GuardFailed, match="发榜方验收结论为不通过"):
        fire_acceptance(acc, row, people, "pass", demand=demand, demand_grade="fail",
                        comment="专家组认为指标基本达到")
    db.session.rollback()
    db.session.expire_all()
    assert row.state is A.acceptance and row.demand_verdict is Verdict.failed
    assert acc.state.value == "panel_review"
    with pytest.raises(Forbidden):  # the officer is not the demand side
        acceptances.score(people["officer"], acc, {"scores": {}, "grade": "pass",
                                                   "opinion": "样机指标达到榜单要求"})
    db.session.rollback()

    acc = acceptance.prepare(other, spending={"business": "0"})
    fire_acceptance(acc, other, people, "pass", demand=demand, comment="同意专家组意见")
    db.session.expire_all()
    assert other.state is A.completed
    assert (other.demand_verdict, other.demand_verdict_by) == (Verdict.passed, "发榜方联系人")
    assert other.demand_opinion.startswith("通过：")
    assert other.acceptance_verdict is Verdict.passed
    assert "专家1：通过" in other.acceptance_opinions
    assert (other.final_report.report, other.final_report.surplus,
            other.final_report.submitted_by_id) == (acceptance.REPORT, Decimal("0.00"),
                                                    other.applicant_id)
    login(client, other.applicant.username, PASSWORD)
    page = client.get(f"/applications/{other.id}").get_data(as_text=True)
    assert 'data-testid="project-acceptance"' in page and "验收通过" in page


def test_milestones_need_both_the_demand_side_and_the_officer(people):
    demand, _, (row,) = jiebang_project(people)
    m1, m2 = finance.milestones_of(row)
    t1, t2 = finance.tranches_of(row)
    assert (t1.amount, t1.milestone_id, t1.state) == (Decimal("800000.00"), m1.id, T.planned)
    assert m2.due_on > m1.due_on
    with pytest.raises(Forbidden):
        finance.report_milestone(people["officer"], m1.id, "样机已完成并通过测试")
    with pytest.raises(GuardFailed, match="不少于10字"):  # the report row's guard
        finance.report_milestone(row.applicant, m1.id, "完成")
    db.session.rollback()
    finance.report_milestone(row.applicant, m1.id, "样机已完成并通过第三方测试，指标达标")
    finance.judge_milestone(demand, m1.id, "pass", "样机满足要求")
    db.session.commit()
    assert m1.state is MilestoneState.demand_accepted and t1.state is T.planned
    finance.judge_milestone(people["officer"], m1.id, "pass", "同意")
    db.session.commit()
    assert m1.state is MilestoneState.accepted and t1.state is T.due and t2.state is T.planned
    # The milestone's own trail, with its own states; the project's is untouched by it.
    assert [(e.trigger, e.from_state, e.to_state, e.actor_role)
            for e in audit.history("milestone", m1.id)] == [
        ("report", "planned", "reported", "applicant"),
        ("demand_accept", "reported", "demand_accepted", "demand"),
        ("officer_accept", "demand_accepted", "accepted", "officer")]
    assert not {"report_milestone", "judge_milestone"} & {
        e.trigger for e in audit.history("application", row.id)}
    assert audit.verify() == []


def test_a_milestone_failed_twice_ends_the_project(people):
    demand, _, (row,) = jiebang_project(people)
    m1 = finance.milestones_of(row)[0]
    for attempt in (1, 2):
        finance.report_milestone(row.applicant, m1.id, f"第{attempt}次提交：样机完成情况说明")
        finance.judge_milestone(demand, m1.id, "fail", "指标未达到")
        db.session.commit()
    assert m1.rejections == 2 and row.state is A.terminated
    assert {t.state for t in finance.tranches_of(row)} == {T.cancelled}
    assert {m.state for m in finance.milestones_of(row)} == {MilestoneState.cancelled}
    assert ledger.balances(row.call_id).committed == Decimal("0.00")
    # The second rejection, then the project's wind-up cancelling the milestone.
    assert [(e.trigger, e.from_state, e.to_state)
            for e in audit.history("milestone", m1.id)][-2:] == [
        ("reject", "reported", "rejected"), ("cancel", "rejected", "cancelled")]


def test_stage_gate_keeps_the_selected_teams_and_cancels_the_others(people):
    _, challenge, (a, b) = jiebang_project(people, teams=2, max_teams=2)
    stopped = finance.stage_gate(people["officer"], challenge.id, [a.id], "甲团队进度领先")
    db.session.commit()
    assert stopped == [b.id]
    assert a.state is A.in_progress and b.state is A.terminated
    assert {t.state for t in finance.tranches_of(b)} == {T.cancelled}
    assert {t.state for t in finance.tranches_of(a)} == {T.planned}


def test_reconciliation_recomputes_every_balance_and_spots_an_edit(people):
    row = approved_project(people)
    pay(finance.tranches_of(row)[0], people)
    report = ledger.reconcile(year=row.call.year)
    (mine,) = [c for c in report.calls if c.call_id == row.call_id]
    assert mine.ok and mine.entries == 3
    assert mine.totals[EntryKind.disbursement] == Decimal("700000.00")
    # Someone edits an amount in the database: the report says so.
    db.session.execute(sa.update(LedgerEntry).where(
        LedgerEntry.kind == EntryKind.disbursement).values(amount=Decimal("600000.00")))
    db.session.commit()
    assert not ledger.reconcile(call_id=row.call_id).ok


def test_capital_amounts():
    assert finance.capital(Decimal("1234500.00")) == "壹佰贰拾叁万肆仟伍佰元整"
    assert finance.capital(Decimal("700000.50")) == "柒拾万元伍角"


def test_baogan_without_a_plan_pays_once_on_contract(people):
    row = approved_project(people, plan=[])
    (only,) = finance.tranches_of(row)
    assert (only.amount, only.state) == (Decimal("1000000.00"), T.due)
    assert row.call.scheme is Scheme.baogan


def test_a_resumed_tranche_needs_a_new_check_after_it_is_prepared_again(people):
    row = approved_project(people)
    first = finance.tranches_of(row)[0]
    engine.fire(first, "prepare", people["finance1"])
    engine.fire(first, "approve", people["finance2"])
    engine.fire(first, "hold", people["finance1"], comment="账户核对")
    engine.fire(first, "resume", people["officer"])
    engine.fire(first, "prepare", people["finance2"])  # the former checker makes it now
    db.session.commit()
    assert (first.prepared_by_id, first.approved_by_id) == (people["finance2"].id, None)
    with pytest.raises(GuardFailed, match="制单人不能审核"):
        engine.fire(first, "approve", people["finance2"])
