from decimal import Decimal

import sqlalchemy as sa

from states import ApplicationState, CallState, ReviewState
from workflow import demo
from workflow.accounts.models import Organization, User
from workflow.applying.models import Application
from workflow.calls.models import Call
from workflow.core import audit
from workflow.core.models import db, utcnow
from workflow.decisions import operations as decisions
from workflow.demo import DEMO_PASSWORD, EXPERTS, USERS
from workflow.review import results
from workflow.review.models import ReviewAssignment

GOOD_USCC = "91360700MA35A0001P"


def test_org_create_then_user_create_with_password_from_stdin(app):
    runner = app.test_cli_runner()
    out = runner.invoke(args=["org", "create", "--name", "某某大学", "--uscc", GOOD_USCC,
                              "--kind", "university"])
    assert out.exit_code == 0, out.output
    assert "已创建单位" in out.output
    out = runner.invoke(args=["user", "create", "li", "--role", "applicant", "--org", GOOD_USCC,
                              "--name", "李明", "--email", "li@example.cn", "--password-stdin"],
                        input="a-long-enough-secret\n")
    assert out.exit_code == 0, out.output
    user = db.session.scalar(sa.select(User).where(User.username == "li"))
    assert user is not None and user.roles == {"applicant"}
    assert user.organization.uscc == GOOD_USCC
    assert user.password_hash != "a-long-enough-secret"


def test_org_with_a_wrong_check_digit_is_refused_and_nothing_saved(app):
    out = app.test_cli_runner().invoke(
        args=["org", "create", "--name", "某某大学", "--uscc", "91360700MA35A0001Q"])
    assert out.exit_code != 0
    assert "校验位不正确" in out.output
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Organization)) == 0


def test_user_with_a_weak_password_is_refused(app):
    out = app.test_cli_runner().invoke(
        args=["user", "create", "li", "--role", "officer", "--password", "123456"])
    assert out.exit_code != 0 and "密码至少" in out.output
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 0


def test_an_organisation_is_placed_under_a_recommending_body(app):
    from stdnum.cn import uscc

    county = "11360702014000002" + uscc.calc_check_digit("11360702014000002")
    runner = app.test_cli_runner()
    out = runner.invoke(args=["org", "create", "--name", "章贡区科技局", "--uscc", county,
                              "--kind", "government"])
    assert out.exit_code == 0, out.output
    out = runner.invoke(args=["org", "create", "--name", "某某大学", "--uscc", GOOD_USCC,
                              "--parent", county])
    assert out.exit_code == 0, out.output
    university = db.session.scalar(sa.select(Organization).where(
        Organization.uscc == GOOD_USCC))
    assert university.parent.name == "章贡区科技局"
    # A university is no recommending body; under none again.
    out = runner.invoke(args=["org", "set-parent", county, GOOD_USCC])
    assert out.exit_code != 0 and "政府部门" in out.output
    out = runner.invoke(args=["org", "set-parent", GOOD_USCC])
    assert out.exit_code == 0 and "主管部门 无" in out.output
    db.session.expire_all()
    assert db.session.get(Organization, university.id).parent_id is None
    # A recommender belongs to the body.
    out = runner.invoke(args=["user", "create", "dept", "--role", "recommender", "--org",
                              county, "--password", "a-long-secret-1"])
    assert out.exit_code == 0, out.output


def test_applicant_needs_an_organisation(app):
    out = app.test_cli_runner().invoke(
        args=["user", "create", "li", "--role", "applicant", "--password", "a-long-secret-1"])
    assert out.exit_code != 0 and "必须属于一个单位" in out.output


def test_seed_twice_does_not_duplicate(app):
    runner = app.test_cli_runner()
    first = runner.invoke(args=["seed", "--demo"])
    assert first.exit_code == 0, first.output
    assert DEMO_PASSWORD in first.output
    for username, *_ in USERS + EXPERTS:  # type: ignore[operator]
        assert username in first.output
    second = runner.invoke(args=["seed", "--demo"])
    assert "已存在" in second.output
    count = db.session.scalar(sa.select(sa.func.count()).select_from(User))
    assert count == len(USERS) + len(EXPERTS)
    calls = list(db.session.scalars(sa.select(Call)))
    # The open calls, the call under review and the decided one; the calls that give
    # every role something on its 工作台 (unit review and recommendation, an expert
    # review under way, a 揭榜挂帅 project running); last year's guide, archived; the
    # call after the award (a recovery partly repaid, a project held for review); the
    # call of the final acceptances (结题验收).
    assert sorted((c.scheme.value, c.state.value) for c in calls) == [
        ("baogan", "archived"), ("baogan", "decided"), ("baogan", "decided"),
        ("baogan", "decided"), ("baogan", "published"), ("baogan", "published"),
        ("baogan", "reviewing"), ("baogan", "reviewing"), ("jiebang", "decided"),
        ("jiebang", "published")]
    jiebang = next(c for c in calls if c.scheme.value == "jiebang"
                   and c.state is CallState.published)
    assert len(jiebang.challenges) == 2


def test_seed_has_a_call_under_review_ready_for_the_decision(app):
    assert demo.seed()
    call = demo._reviewing_call()
    assert call is not None and call.state is CallState.reviewing
    assert call.closes_at < utcnow()
    res = results.call_results(call)
    assert [r.ranked.rank for r in res.rows] == [1, 2, 3, 4]
    assert [r.app.title for r in res.rows] == [t for t, *_ in demo.REVIEWED]
    assert {r.app.state for r in res.rows} == {ApplicationState.reviewed}
    assert [r.count for r in res.rows] == [3, 3, 3, 3]
    assert not [r for r in results.with_totals(res, res.rows) if r.spread.flagged]
    # The funding line takes the three best and fills the budget; their total reaches
    # the 三重一大 threshold, so the leader needs the meeting recorded.
    assert [r.status == "funded" for r in res.rows] == [True, True, True, False]
    assert res.line.total_funded == call.budget == Decimal("1500000.00")
    assert decisions.needs_meeting(call, res.line.total_funded)
    assert [row["funded"] for row in decisions.draft(call).rows] == [True, True, True, False]
    # Four organisations' people, each reviewed by three experts of other organisations,
    # through the services (invited, accepted, scored), the system finishing the review.
    for r in res.rows:
        assert str(r.app.requested).endswith("0000.00") and r.app.receipt_no
        reviews = list(db.session.scalars(sa.select(ReviewAssignment).where(
            ReviewAssignment.application_id == r.app.id)))
        assert {rv.state for rv in reviews} == {ReviewState.submitted}
        assert all(rv.expert.organization_id != r.app.organization_id for rv in reviews)
        assert [e.trigger for e in audit.history("review", reviews[0].id)] == [
            "invite", "accept", "submit_scores"]
        assert [e.trigger for e in audit.history("application", r.app.id)] == [
            "seed", "finish_review"]
    assert [e.trigger for e in audit.history("call", call.id)] == ["seed", "assign_reviewers"]
    assert audit.verify() == []


def test_seed_has_a_funded_project_with_a_tranche_due(app):
    from workflow.finance import ledger
    from workflow.finance.models import Tranche

    demo.seed()
    call = db.session.scalar(sa.select(Call).where(Call.state == CallState.decided))
    (app_row,) = db.session.scalars(sa.select(Application).where(
        Application.call_id == call.id)).all()
    assert app_row.state is ApplicationState.contracted
    assert app_row.project_number.endswith("-BG-0001") and app_row.doc_number
    due = list(db.session.scalars(sa.select(Tranche).where(Tranche.state == "due")))
    assert [(t.application_id, t.amount) for t in due] == [(app_row.id, Decimal("560000.00"))]
    assert app_row.organization.bank_account.isdigit()
    assert ledger.reconcile(call_id=call.id).ok
    assert audit.verify() == []


def test_seed_adds_what_an_older_demo_database_lacks(app, monkeypatch):
    # A database seeded before the call under review and its two researchers existed.
    monkeypatch.setattr(demo, "USERS", [u for u in USERS if u[0] not in (
        "researcher3", "researcher4")])
    monkeypatch.setattr(demo, "_seed_reviewing_call", lambda users: None)
    monkeypatch.setattr(demo, "_seed_funded_call", lambda users: None)
    monkeypatch.setattr(demo, "_seed_waiting_work", lambda users: None)
    monkeypatch.setattr(demo, "_seed_last_year_call", lambda users: None)
    monkeypatch.setattr(demo, "_seed_after_award", lambda users: None)
    assert demo.seed()
    monkeypatch.undo()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Call)) == 2
    assert demo.seed()
    # The call under review, the decided one, the three of the waiting work and last
    # year's guide, the call after the award, the call of the final acceptances.
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Call)) == 10
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == len(
        USERS) + len(EXPERTS)
    assert not demo.seed()


def test_review_rescore_works_out_the_sums_of_reviews_written_directly(app):
    from tests.factories import ApplicationFactory, CallFactory, ReviewFactory

    call = CallFactory(state=CallState.reviewing, title="稀土专项")
    other = CallFactory(state=CallState.reviewing)
    rows = [ApplicationFactory(call=c, state=ApplicationState.reviewed) for c in (call, other)]
    for row in rows:
        for total in ("80.00", "90.01"):
            ReviewFactory(application=row, state=ReviewState.submitted, total=Decimal(total))
    db.session.commit()
    # Written directly (an import): the ranking has no score for them yet.
    assert [r.aggregate for r in results.call_results(call).rows] == [None]

    runner = app.test_cli_runner()
    out = runner.invoke(args=["review", "rescore", str(call.id)])
    assert out.exit_code == 0 and f"已重算：稀土专项（指南 {call.id}）" in out.output
    db.session.expire_all()
    assert [r.aggregate for r in results.call_results(call).rows] == [Decimal("85.01")]
    assert db.session.get(Application, rows[1].id).review_count == 0  # not asked for

    out = runner.invoke(args=["review", "rescore"])  # every call with reviewed applications
    assert out.exit_code == 0 and f"（指南 {other.id}）" in out.output
    db.session.expire_all()
    assert db.session.get(Application, rows[1].id).review_count == 2

    out = runner.invoke(args=["review", "rescore", "999999"])
    assert out.exit_code != 0 and "没有这些指南：999999" in out.output
