"""The 工作台 per role: every row on which the person may fire a trigger now (and the few
things to do that are not transitions), grouped, counted, each linking to the page where
it is done."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import sqlalchemy as sa
from flask import Flask

from states import AcceptanceState, ApplicationState, CallState, ReviewState, TrancheState
from tests.conftest import client_for
from tests.factories import (
    PASSWORD,
    ApplicationFactory,
    CallFactory,
    ChallengeFactory,
    MilestoneFactory,
    OrganizationFactory,
    ReviewFactory,
    TrancheFactory,
    UserFactory,
)
from workflow.acceptance.models import Acceptance, AcceptanceMember
from workflow.accounts.models import OrgKind
from workflow.core.models import db, utcnow
from workflow.decisions import operations as decisions
from workflow.finance.models import MilestoneState
from workflow.workbench import todo


def board(app: Flask, user) -> dict[str, dict[str, list[tuple[str, str]]]]:
    """role -> phrase -> [(text, link)], as sections_for builds them."""
    with app.test_request_context():
        db.session.refresh(user)
        return {s.role: {g.phrase: [(i.text, i.href or "") for i in g.items]
                         for g in s.groups} for s in todo.sections_for(user)}


def counts(app: Flask, user) -> dict[str, int]:
    with app.test_request_context():
        return {g.phrase: g.count for s in todo.sections_for(user) for g in s.groups}


def test_finance_sees_each_tranche_due_and_where_it_is_paid(app):
    clerk, other = UserFactory(roles=("finance",)), UserFactory(roles=("finance",))
    due = TrancheFactory(state=TrancheState.due)
    prepared = TrancheFactory(state=TrancheState.prepared, prepared_by_id=clerk.id)
    approved = TrancheFactory(state=TrancheState.approved)
    TrancheFactory(state=TrancheState.planned)  # its condition is not met: nothing to do
    TrancheFactory(state=TrancheState.released, released_at=utcnow(), payment_ref="P1")
    db.session.commit()
    mine = board(app, clerk)["finance"]
    assert [link for _, link in mine["待制单"]] == ["/finance?state=due"]
    assert due.application.title in mine["待制单"][0][0]
    assert approved.application.title in mine["待拨付"][0][0]  # the voucher is typed there
    # The maker does not check their own voucher: the other clerk does.
    assert "待审核" not in mine
    theirs = board(app, other)["finance"]
    assert prepared.application.title in theirs["待审核"][0][0]
    assert theirs["待审核"][0][1] == "/finance?state=prepared"


def test_finance_with_nothing_due_is_told_so(app, client):
    clerk = UserFactory(roles=("finance",))
    db.session.commit()
    assert board(app, clerk) == {"finance": {}}
    page = client_for(app, clerk.username, PASSWORD).get("/").get_data(as_text=True)
    assert "暂无待拨付批次" in page


def test_the_leader_decides_calls_with_a_proposal_only(app):
    officer, leader = UserFactory(roles=("officer",)), UserFactory(roles=("leader",))
    proposed = CallFactory(state=CallState.reviewing, title="有建议名单的指南")
    bare = CallFactory(state=CallState.reviewing, title="尚无名单的指南")
    for call in (proposed, bare):
        ApplicationFactory(call=call, state=ApplicationState.reviewed,
                           data={"amount": "300000.00"})
    db.session.commit()
    app_id = db.session.scalar(sa.select(ApplicationFactory._meta.model.id).where(
        ApplicationFactory._meta.model.call_id == proposed.id))
    decisions.propose(proposed, officer, [{"application_id": app_id, "amount_wan": "30"}])
    db.session.commit()
    mine = board(app, leader)["leader"]
    assert mine == {"待决策": [(f"待决策：{proposed.title}", f"/calls/{proposed.id}/decision")]}
    # The officer proposes for the other call; the one waiting for the leader is not theirs.
    assert board(app, officer)["officer"]["评审完成，待拟定立项建议名单"] == [
        (f"评审完成，待拟定立项建议名单：{bare.title}", f"/calls/{bare.id}/decision")]


def test_the_officer_sees_calls_needing_experts_a_decision_and_formal_review(app):
    officer = UserFactory(roles=("officer",))
    short = CallFactory(state=CallState.reviewing, title="专家不足的指南",
                        reviewers_per_application=2)
    under = ApplicationFactory(call=short, state=ApplicationState.expert_review)
    ReviewFactory(application=under, state=ReviewState.declined)
    ReviewFactory(application=under, state=ReviewState.accepted)
    full = CallFactory(state=CallState.reviewing, reviewers_per_application=1)
    ReviewFactory(application=ApplicationFactory(call=full,
                                                 state=ApplicationState.expert_review))
    ranked = CallFactory(state=CallState.reviewing, title="评审完成的指南")
    for _ in range(3):
        ApplicationFactory(call=ranked, state=ApplicationState.reviewed)
    checking = ApplicationFactory(state=ApplicationState.formal_review, title="待审的申报书")
    closed = CallFactory(state=CallState.closed, title="已截止的指南")
    db.session.commit()
    mine = board(app, officer)["officer"]
    assert mine["待分配评审专家"] == [(f"待分配评审专家：{short.title}",
                                f"/calls/{short.id}/assign")]
    # One line per call, with how many of its applications wait.
    assert mine["评审完成，待拟定立项建议名单"] == [
        (f"评审完成，待拟定立项建议名单：{ranked.title}", f"/calls/{ranked.id}/decision")]
    assert mine["待形式审查"] == [(f"待形式审查：{checking.title}",
                              f"/applications/{checking.id}")]
    assert mine["待开始评审"] == [(f"待开始评审：{closed.title}", f"/calls/{closed.id}")]
    with app.test_request_context():
        officer_section = todo.sections_for(officer)[0]
    grouped = next(g for g in officer_section.groups if g.phrase.startswith("评审完成"))
    assert grouped.items[0].rows == 3
    # Nothing of what may be done at any time (terminate, hold, cancel an invitation).
    assert not any("终止" in p or "暂停" in p or "撤销" in p for p in mine)


def test_the_expert_is_sent_to_the_scoring_page(app):
    expert = UserFactory(roles=("expert",))
    invited = ReviewFactory(expert=expert, state=ReviewState.invited)
    accepted = ReviewFactory(expert=expert, state=ReviewState.accepted)
    ReviewFactory(expert=expert, state=ReviewState.submitted, submitted_at=utcnow())
    ReviewFactory(state=ReviewState.invited)  # someone else's
    db.session.commit()
    mine = board(app, expert)["expert"]
    assert mine["请答复评审邀请"] == [(f"请答复评审邀请：{invited.application.title}",
                                f"/reviews/{invited.id}/score")]
    assert mine["待评分"] == [(f"待评分：{accepted.application.title}",
                            f"/reviews/{accepted.id}/score")]
    client = client_for(app, expert.username, PASSWORD)
    home = client.get("/").get_data(as_text=True)
    assert f'href="/reviews/{accepted.id}/score"' in home
    # The page it leads to is where the work is done: accept there, then score there.
    page = client.get(f"/reviews/{invited.id}/score").get_data(as_text=True)
    assert 'value="accept"' in page and 'value="submit"' not in page
    page = client.get(f"/reviews/{accepted.id}/score").get_data(as_text=True)
    assert 'value="submit"' in page and "disabled" not in page


def test_the_applicant_continues_drafts_and_revises_returned_ones(app):
    pi = UserFactory(roles=("applicant",))
    draft = ApplicationFactory(applicant=pi, title="未完成的草稿", data={})  # incomplete
    returned = ApplicationFactory(applicant=pi, state=ApplicationState.returned,
                                  call=CallFactory(state=CallState.closed))
    ApplicationFactory(applicant=pi, state=ApplicationState.formal_review)
    closed = ApplicationFactory(applicant=pi, call=CallFactory(
        state=CallState.closed, opens_at=utcnow() - timedelta(days=10),
        closes_at=utcnow() - timedelta(days=1)))  # too late to submit
    ApplicationFactory(organization=pi.organization)  # a colleague's draft
    db.session.commit()
    mine = board(app, pi)["applicant"]
    assert mine["继续填写"] == [(f"继续填写：{draft.title}",
                             f"/applications/{draft.id}/edit")]
    assert mine["按意见修改后重新提交"] == [(f"按意见修改后重新提交：{returned.title}",
                                   f"/applications/{returned.id}/edit")]
    assert closed.title not in str(mine)
    # And the open calls, on whose pages one applies (not the closed one).
    open_now = [text for text, _ in mine["可申报"]]
    assert f"可申报：{draft.call.title}（包干制）" in open_now
    assert not any(closed.call.title in text for text in open_now)


def test_unit_review_for_the_organisations_administrator(app):
    admin = UserFactory(roles=("org_admin",))
    ours = ApplicationFactory(organization=admin.organization,
                              applicant=UserFactory(organization=admin.organization),
                              state=ApplicationState.unit_review,
                              call=CallFactory(steps=["unit_review"]))
    ApplicationFactory(state=ApplicationState.unit_review,
                       call=CallFactory(steps=["unit_review"]))  # another organisation's
    db.session.commit()
    assert board(app, admin)["org_admin"] == {
        "待单位审核": [(f"待单位审核：{ours.title}", f"/applications/{ours.id}")]}


def test_recommended_applications_for_the_recommender(app):
    county = OrganizationFactory(kind=OrgKind.government)
    recommender = UserFactory(roles=("recommender",), organization=county)
    call = CallFactory(steps=["recommendation"])
    unit = OrganizationFactory(parent=county)
    waiting = ApplicationFactory(state=ApplicationState.recommended, call=call,
                                 applicant=UserFactory(organization=unit))
    ApplicationFactory(state=ApplicationState.recommended, call=call)  # under no body of its
    db.session.commit()
    assert board(app, recommender)["recommender"] == {
        "待推荐": [(f"待推荐：{waiting.title}", f"/applications/{waiting.id}")]}


def test_milestones_awaiting_the_demand_side(app):
    demand = UserFactory(roles=("demand",), organization=OrganizationFactory())
    challenge = ChallengeFactory(demand_org=demand.organization)
    project = ApplicationFactory(call=challenge.call, challenge=challenge,
                                 state=ApplicationState.in_progress)
    MilestoneFactory(application=project, label="中试样品")
    MilestoneFactory(application=project, label="已给意见", demand_verdict="pass",
                     state=MilestoneState.demand_accepted)  # the officer's to give now
    MilestoneFactory(application=project, label="尚未提交", state=MilestoneState.planned)
    MilestoneFactory(label="别家的里程碑")
    # At the final acceptance the demand side sits on the panel (结题验收): its verdict is
    # to give there.
    acceptance = ApplicationFactory(call=challenge.call, challenge=challenge,
                                    state=ApplicationState.acceptance)
    expert = UserFactory(roles=("expert",))
    seated = Acceptance(application=acceptance, state=AcceptanceState.panel_review, members=[
        AcceptanceMember(seq=1, role="expert", user_id=expert.id, scores={}),
        AcceptanceMember(seq=2, role="demand", scores={})])
    db.session.add(seated)
    db.session.commit()
    mine = board(app, demand)["demand"]
    assert mine["待验收里程碑"] == [(f"待验收里程碑：中试样品（{project.title}）",
                               f"/applications/{project.id}")]
    assert mine["待提交验收意见"] == [(f"待提交验收意见：{acceptance.title}",
                                f"/acceptances/{seated.id}")]
    assert board(app, expert)["expert"]["待提交验收意见"] == [
        (f"待提交验收意见：{acceptance.title}", f"/acceptances/{seated.id}")]
    clerk = UserFactory(roles=("finance",), organization=None)
    db.session.commit()
    assert board(app, clerk)["finance"]["待财务验收"] == [
        (f"待财务验收：{acceptance.title}", f"/acceptances/{seated.id}")]


def test_milestones_awaiting_the_officer_from_their_lifecycle(app):
    """Reported, or passed by the demand side: the officer's verdict is due; passed by the
    officer already: not theirs any more."""
    officer = UserFactory(roles=("officer",))
    challenge = ChallengeFactory()
    project = ApplicationFactory(call=challenge.call, challenge=challenge,
                                 state=ApplicationState.in_progress)
    MilestoneFactory(application=project, label="已提交")
    MilestoneFactory(application=project, label="发榜方已通过", demand_verdict="pass",
                     state=MilestoneState.demand_accepted)
    MilestoneFactory(application=project, label="主管已通过", officer_verdict="pass",
                     state=MilestoneState.officer_accepted)
    db.session.commit()
    mine = board(app, officer)["officer"]
    assert sorted(mine["待验收里程碑"]) == [
        (f"待验收里程碑：{label}（{project.title}）", f"/applications/{project.id}")
        for label in sorted(("已提交", "发榜方已通过"))]


def test_sections_count_and_cap_what_they_list(app, client):
    clerk = UserFactory(roles=("finance",))
    for _ in range(todo.LIMIT + 2):
        TrancheFactory(state=TrancheState.due)
    db.session.commit()
    assert counts(app, clerk) == {"待制单": todo.LIMIT + 2}
    assert len(board(app, clerk)["finance"]["待制单"]) == todo.LIMIT
    page = client_for(app, clerk.username, PASSWORD).get("/").get_data(as_text=True)
    assert f"共 {todo.LIMIT + 2} 项" in page and "另有 2 项未列出" in page


def test_the_officers_board_takes_the_same_queries_for_more_rows(app):
    """No query per row: the officer's board with 3 rows of each kind and with 12 takes
    the same statements, one per entity and state the officer acts from (three for
    milestones awaiting a verdict: reported, and passed by one party; the changes, annual
    reports, recoveries, midterm checks, acceptances and evaluations waiting on them)."""
    officer = UserFactory(roles=("officer",))
    call = CallFactory(state=CallState.closed)

    def add(rows):
        for _ in range(rows):
            ApplicationFactory(call=call, state=ApplicationState.formal_review)
            TrancheFactory(state=TrancheState.due, application=ApplicationFactory(
                call=call, state=ApplicationState.in_progress, granted_amount=Decimal(500000)))
        db.session.commit()

    def measured():
        statements: list[str] = []

        def count(*args, **kwargs):
            statements.append(args[2])

        sa.event.listen(db.engine, "before_cursor_execute", count)
        try:
            return counts(app, officer), statements
        finally:
            sa.event.remove(db.engine, "before_cursor_execute", count)

    add(3)
    few, few_statements = measured()
    add(9)
    many, many_statements = measured()
    assert (few["待形式审查"], many["待形式审查"]) == (3, 12)
    assert len(many_statements) == len(few_statements), many_statements
    assert len(many_statements) <= 40, many_statements
