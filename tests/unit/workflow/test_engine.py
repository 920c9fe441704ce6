"""Every change goes through engine.fire: tables of (state, trigger, role) -> outcome."""

import contextlib
from datetime import date, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from states import (
    LIFECYCLES,
    ApplicationState,
    CallState,
    DecisionState,
    MilestoneState,
    ObjectionState,
    ReviewState,
    TrancheState,
)
from tests.conftest import calendar_known_ahead
from tests.factories import (
    ApplicationFactory,
    CallFactory,
    ChallengeFactory,
    OrganizationFactory,
    UserFactory,
)
from workflow.accounts.models import OrgKind
from workflow.applying import operations as applications
from workflow.applying.models import FinalReport, SignedDocument, SigningParty, Verdict
from workflow.calls.models import Scheme
from workflow.core import audit, engine
from workflow.core.entities import entity_of
from workflow.core.errors import Conflict, Forbidden, GuardFailed, Invalid, NotFound
from workflow.core.models import Attachment, AuditEvent, OutboxEvent, db, utcnow
from workflow.decisions.models import FundingDecision, Objection
from workflow.finance import ledger
from workflow.finance.models import EntryKind, Milestone, Tranche
from workflow.review.models import ReviewAssignment
from workflow.timeutil import shanghai

A = ApplicationState
ANSWERS = {"summary": "本项目研究稀土永磁材料。"}


@pytest.fixture
def people(app):
    county = OrganizationFactory(kind=OrgKind.government)  # the recommending body
    org = OrganizationFactory(parent=county)
    other = OrganizationFactory(parent=OrganizationFactory(kind=OrgKind.government))
    users = {
        "applicant": UserFactory(organization=org, roles=("applicant",)),
        "colleague": UserFactory(organization=org, roles=("applicant",)),
        "stranger": UserFactory(organization=other, roles=("applicant",)),
        "org_admin": UserFactory(organization=org, roles=("org_admin",)),
        "other_admin": UserFactory(organization=other, roles=("org_admin",)),
        "recommender": UserFactory(organization=county, roles=("recommender",)),
        # Another county's: the application is not under its body.
        "other_recommender": UserFactory(organization=other.parent, roles=("recommender",)),
        "officer": UserFactory(organization=None, roles=("officer",)),
        "leader": UserFactory(organization=None, roles=("leader",)),
        "expert": UserFactory(organization=other, roles=("expert",)),
        "finance": UserFactory(organization=None, roles=("finance",)),
        "finance2": UserFactory(organization=None, roles=("finance",)),
        "auditor": UserFactory(organization=None, roles=("auditor",)),
        "system": None,
    }
    db.session.commit()
    return users


def application_in(state, people, steps=(), call_state=CallState.published, **extra):
    call = CallFactory(steps=list(steps), state=call_state)
    row = ApplicationFactory(call=call, applicant=people["applicant"], state=state,
                             data=dict(ANSWERS), signed=True, **extra)
    db.session.commit()
    return row


def counts(kind="application"):
    """Audit and outbox rows of one kind of entity (an approval also writes the call's
    立项文件 number, on the call)."""
    return (db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)
                              .where(AuditEvent.entity_type == kind)),
            db.session.scalar(sa.select(sa.func.count()).select_from(OutboxEvent)
                              .where(OutboxEvent.entity_type == kind)))


PAST = {"notice_ends_at": utcnow() - timedelta(hours=1)}
FUTURE = {"notice_ends_at": utcnow() + timedelta(days=3)}
OBJECTION = {"objector_name": "张三", "objector_contact": "13812345678"}

# state, trigger, role, expected (a state, or the refusal status), options
APPLICATION_TABLE = [
    (A.draft, "submit", "applicant", A.formal_review, {}),
    (A.draft, "submit", "applicant", A.unit_review, {"steps": ["unit_review"]}),
    (A.draft, "submit", "applicant", A.recommended, {"steps": ["recommendation"]}),
    (A.draft, "submit", "colleague", 403, {}),
    (A.draft, "submit", "stranger", 403, {}),
    (A.draft, "submit", "officer", 403, {}),
    (A.draft, "submit", "system", 403, {}),
    (A.draft, "submit", "applicant", 422, {"call_state": CallState.closed}),
    (A.draft, "withdraw", "applicant", A.withdrawn, {}),
    (A.draft, "pass_formal_review", "officer", 409, {}),
    (A.draft, "fly_to_the_moon", "officer", 404, {}),
    (A.unit_review, "unit_approve", "org_admin", A.formal_review, {"steps": ["unit_review"]}),
    (A.unit_review, "unit_approve", "org_admin", A.recommended,
     {"steps": ["unit_review", "recommendation"]}),
    (A.unit_review, "unit_approve", "other_admin", 403, {"steps": ["unit_review"]}),
    (A.unit_review, "unit_approve", "applicant", 403, {"steps": ["unit_review"]}),
    (A.unit_review, "unit_return", "org_admin", 422, {"steps": ["unit_review"]}),
    (A.unit_review, "unit_return", "org_admin", A.returned,
     {"steps": ["unit_review"], "comment": "请补充预算说明"}),
    (A.unit_review, "withdraw", "applicant", A.withdrawn, {"steps": ["unit_review"]}),
    (A.recommended, "recommend", "recommender", A.formal_review, {"steps": ["recommendation"]}),
    (A.recommended, "recommend", "officer", 403, {"steps": ["recommendation"]}),
    (A.recommended, "recommend", "other_recommender", 403, {"steps": ["recommendation"]}),
    (A.formal_review, "withdraw", "applicant", 409, {}),
    (A.formal_review, "pass_formal_review", "officer", A.expert_review, {}),
    (A.formal_review, "pass_formal_review", "leader", 403, {}),
    (A.formal_review, "return_for_revision", "officer", 422, {}),
    (A.formal_review, "return_for_revision", "officer", A.returned, {"comment": "附件不全"}),
    (A.formal_review, "reject", "officer", A.rejected, {"comment": "不符合申报条件"}),
    (A.returned, "resubmit", "applicant", A.formal_review, {}),
    (A.returned, "resubmit", "stranger", 403, {}),
    (A.expert_review, "finish_review", "officer", 422, {}),
    (A.expert_review, "finish_review", "expert", 403, {}),
    (A.reviewed, "shortlist", "leader", A.shortlisted, {}),
    (A.reviewed, "decline_funding", "officer", A.not_funded, {}),
    (A.reviewed, "shortlist", "applicant", 403, {}),
    (A.shortlisted, "open_notice", "officer", 422, {}),
    (A.shortlisted, "open_notice", "officer", A.public_notice,
     {"call_state": CallState.decided}),
    (A.public_notice, "raise_objection", "officer", 422, {"comment": "有异议"}),
    (A.public_notice, "raise_objection", "officer", A.objection,
     {"comment": "成果存在署名争议", "data": OBJECTION}),
    (A.objection, "dismiss_objection", "officer", A.public_notice, {"comment": "经核查不属实"}),
    (A.objection, "uphold_objection", "officer", A.not_funded, {"comment": "经核查属实"}),
    (A.public_notice, "approve", "system", 422, {"row": FUTURE}),
    (A.public_notice, "approve", "system", A.approved, {"row": PAST}),
    (A.public_notice, "approve", "applicant", 403, {"row": PAST}),
    (A.approved, "sign_contract", "officer", 422, {}),
    # The officer can't sign for the team: the transition takes no such input.
    (A.approved, "sign_contract", "officer", 422,
     {"data": {"signed_by": ["bureau", "team"]}}),
    (A.approved, "sign_contract", "officer", A.contracted,
     {"row": {"task_book_signed_by": ["team"]}}),
    (A.contracted, "start", "system", A.in_progress, {}),
    (A.in_progress, "start_midterm", "officer", 409, {}),
    (A.in_progress, "start_midterm", "officer", A.midterm, {"steps": ["midterm"]}),
    (A.midterm, "pass_midterm", "officer", A.in_progress, {"steps": ["midterm"]}),
    # 结题验收 (workflow/acceptance) moves the project: the unit's endorsement of the
    # package takes it to acceptance, the officer's conclusion out of it; nobody fires
    # these by hand.
    (A.in_progress, "request_acceptance", "applicant", 403, {"final_report": "全部指标完成"}),
    (A.in_progress, "request_acceptance", "system", 422, {}),  # no final report yet
    (A.in_progress, "request_acceptance", "system", A.acceptance,
     {"final_report": "全部指标完成"}),
    (A.acceptance, "pass_acceptance", "officer", 403, {"data": {"verdict": "pass"}}),
    (A.acceptance, "pass_acceptance", "system", 422, {}),
    (A.acceptance, "pass_acceptance", "system", A.completed, {"data": {"verdict": "pass"}}),
    (A.acceptance, "fail_acceptance", "officer", 403, {"comment": "指标未完成"}),
    (A.acceptance, "fail_acceptance", "system", A.failed, {"comment": "指标未完成"}),
    (A.in_progress, "terminate", "officer", A.terminated, {"comment": "承担单位申请终止"}),
    (A.in_progress, "terminate", "applicant", 403, {"comment": "想终止"}),
    (A.completed, "terminate", "officer", 409, {"comment": "终止"}),
]


def carried_out(row, trigger, actor, **kwargs):
    """Fire ``trigger`` as what carries it out (``via``) does: the tables test each
    transition's own rules; that one is never fired on its own is tested below."""
    specs = entity_of(row).lifecycle.transitions_for(trigger)
    via = specs[0].via if specs else ()
    with engine.carrying_out(via[0]) if via else contextlib.nullcontext():
        return engine.fire(row, trigger, actor, **kwargs)


def _outcome(fn):
    try:
        return fn()
    except (Forbidden, Conflict, GuardFailed, Invalid, NotFound) as err:
        db.session.rollback()
        return err.status


@pytest.mark.parametrize("state,trigger,role,expected,opts", APPLICATION_TABLE,
                         ids=[f"{s.value}-{t}-{r}" for s, t, r, _, _ in APPLICATION_TABLE])
def test_application_table(people, state, trigger, role, expected, opts):
    if trigger == "open_notice":
        calendar_known_ahead()  # (opened now: whatever the date, its days are known)
    row = application_in(state, people, steps=opts.get("steps", ()),
                         call_state=opts.get("call_state", CallState.published),
                         **opts.get("row", {}))
    if opts.get("final_report"):
        row.final_report = FinalReport(report=opts["final_report"], submitted_at=utcnow())
        db.session.commit()
    before = counts()
    version = row.version
    result = _outcome(lambda: carried_out(row, trigger, people[role],
                                          comment=opts.get("comment", ""),
                                          data=opts.get("data")))
    if isinstance(expected, int):
        assert result == expected
        db.session.expire_all()
        assert (row.state, row.version) == (state, version)
        assert counts() == before
    else:
        db.session.commit()
        assert result.final_state == expected.value
        db.session.expire_all()
        assert row.state is expected
        hops = 2 if result.followed_by else 1
        # A (re)submission also announces its round (the receipt, the archival PDF); the
        # approval of the call's only project issues the 立项文件 and then its 立项通知书.
        announced = 1 if trigger in ("submit", "resubmit", "approve") else 0
        assert counts() == (before[0] + hops, before[1] + hops + announced)
        assert row.version == version + hops


def test_every_failing_guard_is_reported(people):
    row = application_in(A.draft, people, call_state=CallState.closed)
    row.title = ""
    row.data = {}
    row.signatures.clear()
    db.session.commit()
    with pytest.raises(GuardFailed) as err:
        engine.fire(row, "submit", people["applicant"])
    codes = [d["code"] for d in err.value.details]
    assert codes == ["call_not_open", "title_missing", "fields_missing", "commitment_unsigned"]
    assert "申报书" not in err.value.message and "该指南未在受理期" in err.value.message


def test_an_acceptance_records_the_verdict_of_its_transition(people):
    passed = application_in(A.acceptance, people)
    carried_out(passed, "pass_acceptance", None, data={"verdict": "pass"})
    # Opinions without a verdict: the failure is the verdict.
    failed = application_in(A.acceptance, people)
    carried_out(failed, "fail_acceptance", None, comment="指标未完成",
                data={"opinions": "关键指标未达到"})
    db.session.commit()
    assert (passed.acceptance_verdict, passed.acceptance_opinions) == (Verdict.passed, None)
    assert (failed.acceptance_verdict, failed.acceptance_opinions) == (Verdict.failed,
                                                                       "关键指标未达到")
    ev = audit.history("application", failed.id)[-1]
    assert ev.data["changes"]["acceptance_verdict"] == [None, "fail"]


def test_the_database_refuses_a_state_without_the_fact_it_needs(people):
    row = application_in(A.acceptance, people)
    row.state = A.completed  # round the engine, without a verdict
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()
    row = application_in(A.expert_review, people)
    row.defence_score = Decimal("80.00")  # before any defence
    with pytest.raises(IntegrityError):
        db.session.commit()


def test_jiebang_needs_a_challenge_and_the_pledge(people):
    challenge = ChallengeFactory()
    row = ApplicationFactory(call=challenge.call, applicant=people["applicant"],
                             data={"summary": "x"})
    db.session.commit()
    with pytest.raises(GuardFailed) as err:
        engine.fire(row, "submit", people["applicant"])
    assert [d["code"] for d in err.value.details] == ["challenge_missing", "pledge_unsigned"]
    row.challenge = challenge
    row.sign(SignedDocument.pledge, SigningParty.team, people["applicant"].id,
             people["applicant"].name, utcnow())
    db.session.commit()
    # Taking the list also means answering its indicators with a milestone plan.
    with pytest.raises(GuardFailed) as err:
        engine.fire(row, "submit", people["applicant"])
    assert {d["code"] for d in err.value.details} == {"field_invalid"}
    assert "攻关指标" in str(err.value) and "里程碑计划" in str(err.value)
    db.session.rollback()
    row.data = {**row.data, "indicators": {i["name"]: "达到" for i in challenge.indicators},
                "milestones": [{"label": "样机", "amount": "100000", "months": 6}]}
    db.session.commit()
    assert engine.fire(row, "submit", people["applicant"]).final_state == "formal_review"


def test_one_application_per_principal_investigator_per_call(people):
    first = application_in(A.draft, people)
    engine.fire(first, "submit", people["applicant"])
    db.session.commit()
    second = ApplicationFactory(call=first.call, applicant=people["applicant"],
                                data=dict(ANSWERS), signed=True)
    db.session.commit()
    with pytest.raises(GuardFailed) as err:
        engine.fire(second, "submit", people["applicant"])
    assert err.value.details[0]["code"] == "limit_per_call"


def test_stale_version_is_409_and_changes_nothing(people):
    row = application_in(A.formal_review, people)
    before = counts()
    with pytest.raises(Conflict) as err:
        engine.fire(row, "pass_formal_review", people["officer"], expected_version=99)
    assert err.value.code == "stale_version"
    assert counts() == before


def test_audit_row_records_the_change(people):
    row = application_in(A.formal_review, people)
    engine.fire(row, "return_for_revision", people["officer"], comment="请补充附件",
                ip="10.0.0.8")
    db.session.commit()
    ev = audit.history("application", row.id)[-1]
    assert (ev.trigger, ev.from_state, ev.to_state) == (
        "return_for_revision", "formal_review", "returned")
    assert ev.actor_id == people["officer"].id and ev.actor_role == "officer"
    assert ev.comment == "请补充附件" and ev.ip == "10.0.0.8"
    assert ev.data["changes"]["state"] == ["formal_review", "returned"]
    assert audit.verify() == []


def test_outbox_event_is_written_with_the_change_and_sent_after_commit(people, sent):
    row = application_in(A.formal_review, people)
    engine.fire(row, "pass_formal_review", people["officer"])
    assert sent == []  # nothing leaves before the commit
    db.session.commit()
    event = db.session.scalars(sa.select(OutboxEvent)).one()
    assert event.topic == "application.pass_formal_review"
    assert event.payload["to"] == "expert_review"
    assert sent == [("kjflow.relay_outbox", {"event_ids": [event.id]})]


def test_notice_period_is_counted_in_working_days(people):
    row = application_in(A.shortlisted, people, call_state=CallState.decided)
    # 2022: 10-01 to 10-07 off for National Day, Saturday 10-08 and Sunday 10-09 worked.
    start = shanghai(2022, 9, 29, 10)
    engine.fire(row, "open_notice", people["officer"], now=start)
    db.session.commit()
    assert row.notice_days == (date(2022, 9, 30), date(2022, 10, 11))
    assert row.notice_ends_at == shanghai(2022, 10, 12)


def test_options_explain_what_is_not_allowed(people):
    row = application_in(A.formal_review, people)
    row.data = {}
    db.session.commit()
    by_trigger = {o.trigger: o for o in engine.options(row, people["officer"])}
    assert set(by_trigger) == {"return_for_revision", "reject", "pass_formal_review"}
    assert by_trigger["reject"].allowed  # the comment is asked for when it is typed
    opts = {o.trigger: o for o in engine.options(row, people["applicant"])}
    assert not opts["reject"].allowed
    assert opts["reject"].reasons[0].code == "role_not_allowed"


# ---- calls, reviews, tranches -----------------------------------------------------------

C = CallState
CALL_TABLE = [
    (C.draft, "publish", "officer", C.published, {}),
    (C.draft, "publish", "leader", 403, {}),
    (C.draft, "publish", "officer", 422, {"rubric": []}),
    (C.published, "close", "system", 422, {}),
    (C.published, "close", "system", C.closed, {"past": True}),
    (C.published, "close", "officer", C.closed, {"data": {"early_close_reason": "预算已满"}}),
    (C.closed, "start_review", "officer", C.reviewing, {}),
    (C.reviewing, "decide", "leader", 422, {}),  # no list yet
    # The list's approval decides the call (三重一大: see DECISION_TABLE); a list still
    # awaiting the leader does not.
    (C.reviewing, "decide", "leader", 422, {"proposal": DecisionState.proposed}),
    (C.reviewing, "decide", "leader", C.decided, {"proposal": DecisionState.approved}),
    (C.reviewing, "decide", "officer", 403, {"proposal": DecisionState.approved}),
    (C.decided, "archive", "officer", C.archived, {}),
    (C.archived, "publish", "officer", 409, {}),
]


@pytest.mark.parametrize("state,trigger,role,expected,opts", CALL_TABLE,
                         ids=[f"{s.value}-{t}-{r}" for s, t, r, _, _ in CALL_TABLE])
def test_call_table(people, state, trigger, role, expected, opts):
    kwargs = {"state": state, "guide": "指南正文"}
    if "rubric" in opts:
        kwargs["rubric"] = opts["rubric"]
    if opts.get("past"):
        kwargs.update(opens_at=utcnow() - timedelta(days=9), closes_at=utcnow() - timedelta(1))
    row = CallFactory(**kwargs, collective_threshold=opts.get("threshold"))
    if "proposal" in opts:
        db.session.add(FundingDecision(call_id=row.id, total=Decimal("500000.00"),
                                       proposed_by_id=people["officer"].id,
                                       state=opts["proposal"]))
    db.session.commit()
    result = _outcome(lambda: carried_out(row, trigger, people[role], data=opts.get("data")))
    if isinstance(expected, int):
        assert result == expected
    else:
        db.session.commit()
        assert row.state is expected


R = ReviewState
REVIEW_TABLE = [
    (R.invited, "accept", "expert", R.accepted, {}),
    (R.invited, "accept", "officer", 403, {}),
    (R.invited, "accept", "other_expert", 403, {}),
    (R.invited, "decline", "expert", 422, {}),
    (R.invited, "decline", "expert", R.declined, {"comment": "与申请人有合作关系"}),
    (R.invited, "expire", "system", 422, {}),
    (R.invited, "expire", "system", R.expired, {"overdue": True}),
    (R.accepted, "submit_scores", "expert", 422, {}),
    (R.accepted, "submit_scores", "expert", R.submitted, {"scored": True}),
    (R.accepted, "recuse", "officer", R.recused, {"comment": "发现利益冲突"}),
    (R.invited, "cancel_invitation", "officer", R.recused, {"comment": "改派专家"}),
    (R.invited, "cancel_invitation", "expert", 403, {"comment": "改派专家"}),
    (R.submitted, "submit_scores", "expert", 409, {"scored": True}),
]


@pytest.mark.parametrize("state,trigger,role,expected,opts", REVIEW_TABLE,
                         ids=[f"{s.value}-{t}-{r}" for s, t, r, _, _ in REVIEW_TABLE])
def test_review_table(people, state, trigger, role, expected, opts):
    people["other_expert"] = UserFactory(roles=("expert",))
    app_row = application_in(A.expert_review, people)
    review = ReviewAssignment(application=app_row, expert=people["expert"], state=state,
                              respond_by=utcnow() + timedelta(days=-1 if opts.get("overdue")
                                                               else 3))
    if opts.get("scored"):
        review.scores = {"innovation": 80, "feasibility": 90}
        review.comment = "创新性突出，技术路线清晰可行，团队基础扎实，建议立项支持。"
    db.session.add(review)
    db.session.commit()
    result = _outcome(lambda: engine.fire(review, trigger, people[role],
                                          comment=opts.get("comment", "")))
    if isinstance(expected, int):
        assert result == expected
    else:
        db.session.commit()
        assert review.state is expected
    if expected is R.submitted:
        assert review.total == Decimal("85.00")


T = TrancheState
TRANCHE_TABLE = [
    (T.planned, "make_due", "system", T.due, {}),
    (T.planned, "make_due", "system", 422, {"app_state": A.approved}),
    (T.due, "prepare", "finance", T.prepared, {}),
    (T.due, "prepare", "officer", 403, {}),
    (T.prepared, "approve", "finance", 422, {"maker": "finance"}),
    (T.prepared, "approve", "finance2", T.approved, {"maker": "finance"}),
    (T.prepared, "approve", "finance2", 422, {"maker": "finance", "amount": "2000000.00"}),
    (T.prepared, "approve", "finance2", T.approved,
     {"maker": "finance", "amount": "2000000.00", "data": {"decision_ref": "局党组会〔2026〕3号"}}),
    (T.approved, "release", "finance2", 422, {"maker": "finance"}),
    (T.approved, "release", "finance2", T.released,
     {"maker": "finance", "data": {"payment_ref": "ZF2026-0001"}}),
    (T.approved, "release", "finance2", 422,
     {"maker": "finance", "grant": "100000.00", "data": {"payment_ref": "ZF2026-0001"}}),
    (T.released, "release", "finance2", 409, {"data": {"payment_ref": "ZF2026-0002"}}),
    # The payee's account changed since the voucher was made: no check, no payment (409),
    # until the voucher is made again on the new account.
    (T.prepared, "approve", "finance2", 409, {"maker": "finance", "account_changed": True}),
    (T.approved, "release", "finance2", 409,
     {"maker": "finance", "account_changed": True, "data": {"payment_ref": "ZF2026-0001"}}),
    (T.prepared, "reprepare", "finance", T.prepared,
     {"maker": "finance", "account_changed": True}),
    (T.approved, "reprepare", "finance2", T.prepared,
     {"maker": "finance", "account_changed": True}),
    (T.prepared, "reprepare", "finance", 409, {"maker": "finance"}),
    (T.prepared, "reprepare", "officer", 403, {"maker": "finance", "account_changed": True}),
    (T.due, "hold", "finance", T.on_hold, {"comment": "单位账户变更"}),
    (T.on_hold, "resume", "officer", T.due, {}),
    (T.due, "cancel", "officer", T.cancelled, {"comment": "项目终止"}),
    (T.cancelled, "resume", "officer", 409, {}),
]


@pytest.mark.parametrize("state,trigger,role,expected,opts", TRANCHE_TABLE,
                         ids=[f"{s.value}-{t}-{r}" for s, t, r, _, _ in TRANCHE_TABLE])
def test_tranche_table(people, state, trigger, role, expected, opts):
    call = CallFactory(collective_threshold=Decimal("1000000.00"), budget=Decimal(10**7))
    app_row = ApplicationFactory(call=call, applicant=people["applicant"],
                                 state=opts.get("app_state", A.in_progress),
                                 granted_amount=Decimal(opts.get("grant", "3000000.00")),
                                 approved_at=utcnow())
    db.session.flush()
    # Approved projects have their grant committed in the call's ledger.
    ledger.post(call.id, EntryKind.commitment, app_row.granted_amount, application_id=app_row.id)
    maker = people[opts["maker"]] if "maker" in opts else None
    released = state is T.released
    org = app_row.organization
    # From preparation on, the voucher names the payee as it was checked.
    payee = {"payee_name": org.name, "payee_bank": org.bank_name,
             "payee_account": org.bank_account} if state in (T.prepared, T.approved,
                                                             T.released) else {}
    tranche = Tranche(application=app_row, seq=1, label="首笔", condition="contract",
                      amount=Decimal(opts.get("amount", "300000.00")), state=state,
                      prepared_by_id=maker.id if maker else None,
                      payment_ref="ZF-OLD" if released else None,
                      released_at=utcnow() if released else None, **payee)
    db.session.add(tranche)
    if opts.get("account_changed"):
        org.bank_account = "6222020200000000001"
    db.session.commit()
    result = _outcome(lambda: engine.fire(tranche, trigger, people[role],
                                          comment=opts.get("comment", ""),
                                          data=opts.get("data")))
    if isinstance(expected, int):
        assert result == expected
    else:
        db.session.commit()
        assert tranche.state is expected


def test_jiebang_contract_needs_the_demand_side_signature(people):
    challenge = ChallengeFactory(call__scheme=Scheme.jiebang)
    row = ApplicationFactory(call=challenge.call, challenge=challenge,
                             applicant=people["applicant"], state=A.approved)
    db.session.commit()
    applications.sign_task_book(people["applicant"], row)
    db.session.commit()
    with pytest.raises(Invalid, match="signed_by"):  # not the officer's to say
        engine.fire(row, "sign_contract", people["officer"],
                    data={"signed_by": ["bureau", "team", "demand"]})
    db.session.rollback()
    with pytest.raises(GuardFailed, match="发榜方"):
        engine.fire(row, "sign_contract", people["officer"])
    db.session.rollback()
    demand = UserFactory(organization=challenge.demand_org, roles=("demand",))
    with pytest.raises(Forbidden):
        applications.sign_task_book(people["stranger"], row)
    applications.sign_task_book(demand, row)
    engine.fire(row, "sign_contract", people["officer"])
    db.session.commit()
    assert row.state is A.contracted
    assert sorted(p.value for p in row.task_book_parties) == ["bureau", "demand", "team"]
    bureau = row.signature(SignedDocument.task_book, SigningParty.bureau)
    assert (bureau.signer_id, bureau.signer_name) == (people["officer"].id,
                                                      people["officer"].name)
    ev = audit.history("application", row.id)[-1]
    assert ev.data["changes"]["task_book_signed_by"] == [["demand", "team"],
                                                         ["bureau", "demand", "team"]]


# ---- milestones, funding decisions, objections --------------------------------------------

def fire_and_check(kind, row, state, trigger, actor, expected, comment="", data=None):
    """Fire and check the outcome: a refusal changes nothing and writes nothing; a change
    is in the row's own trail, with the row's own states (not its project's or call's)."""
    before, version = counts(kind), row.version
    result = _outcome(lambda: carried_out(row, trigger, actor, comment=comment, data=data))
    if isinstance(expected, int):
        assert result == expected
        db.session.expire_all()
        assert (row.state, row.version) == (state, version)
        assert counts(kind) == before
        return None
    db.session.commit()
    assert result.from_state == state.value
    db.session.expire_all()
    assert row.state is expected
    ev = audit.history(kind, row.id)[0]  # the first of this row's own trail
    assert (ev.entity_type, ev.trigger, ev.from_state, ev.to_state) == (
        kind, trigger, state.value, result.to_state)
    assert ev.data["changes"]["state"] == [state.value, result.to_state]
    topics = db.session.scalars(sa.select(OutboxEvent.topic).where(
        OutboxEvent.entity_type == kind, OutboxEvent.entity_id == row.id))
    assert f"{kind}.{trigger}" in list(topics)
    assert audit.verify() == []
    return result


M = MilestoneState
REPORT = {"report": "样机已完成并通过第三方测试，各项指标达标"}
OPINION = "样机满足榜单指标要求"
# state, trigger, role, expected (a state, or the refusal status), options
MILESTONE_TABLE = [
    (M.planned, "report", "applicant", M.reported, {"data": REPORT}),
    (M.rejected, "report", "applicant", M.reported, {"data": REPORT}),
    (M.planned, "report", "applicant", 422, {"data": {"report": "完成"}}),
    (M.planned, "report", "applicant", 422, {"data": {**REPORT, "evidence": ["0" * 64]}}),
    (M.planned, "report", "applicant", 422, {"data": {**REPORT, "amount": "1"}}),  # undeclared
    (M.planned, "report", "applicant", 422, {"data": REPORT, "app_state": A.acceptance}),
    (M.planned, "report", "colleague", 403, {"data": REPORT}),  # not the project's leader
    (M.planned, "report", "officer", 403, {"data": REPORT}),
    (M.reported, "report", "applicant", 409, {"data": REPORT}),
    # Both the demand side and the officer accept, in either order.
    (M.reported, "demand_accept", "demand", M.demand_accepted, {"comment": OPINION}),
    (M.reported, "officer_accept", "officer", M.officer_accepted, {"comment": OPINION}),
    (M.demand_accepted, "officer_accept", "officer", M.accepted, {"comment": OPINION}),
    (M.officer_accepted, "demand_accept", "demand", M.accepted, {"comment": OPINION}),
    (M.reported, "demand_accept", "demand", 422, {}),  # the opinion is required
    (M.reported, "demand_accept", "other_demand", 403, {"comment": OPINION}),
    (M.reported, "demand_accept", "officer", 403, {"comment": OPINION}),
    (M.reported, "officer_accept", "demand", 403, {"comment": OPINION}),
    (M.demand_accepted, "demand_accept", "demand", 409, {"comment": OPINION}),
    # Without a demand side the officer's acceptance is enough.
    (M.reported, "officer_accept", "officer", M.accepted, {"comment": OPINION, "open": True}),
    (M.reported, "demand_accept", "demand", 409, {"comment": OPINION, "open": True}),
    # A rejection by either party returns it to the team; the second ends the project,
    # whose wind-up cancels its open milestones, this one included.
    (M.reported, "reject", "demand", M.rejected, {"comment": "指标未达到"}),
    (M.officer_accepted, "reject", "demand", M.rejected, {"comment": "指标未达到"}),
    (M.demand_accepted, "reject", "officer", M.rejected, {"comment": "指标未达到"}),
    # A party that passed it has given its verdict.
    (M.demand_accepted, "reject", "demand", 403, {"comment": "指标未达到"}),
    (M.officer_accepted, "reject", "officer", 403, {"comment": "指标未达到"}),
    (M.reported, "reject", "officer", M.cancelled, {"comment": "指标未达到", "rejections": 1}),
    (M.reported, "reject", "officer", 422, {}),
    (M.reported, "reject", "applicant", 403, {"comment": "指标未达到"}),
    (M.reported, "reject", "other_demand", 403, {"comment": "指标未达到"}),
    (M.planned, "reject", "officer", 409, {"comment": "指标未达到"}),
    (M.reported, "cancel", "system", M.cancelled, {"comment": "项目终止"}),
    (M.reported, "cancel", "officer", 403, {"comment": "项目终止"}),
    (M.accepted, "cancel", "system", 409, {"comment": "项目终止"}),
]


def milestone_in(state, people, app_state=A.in_progress, challenge=True, rejections=0):
    """A milestone of a running 揭榜挂帅 project, with its tranche."""
    ch = ChallengeFactory(call__budget=Decimal(10**7))
    people["demand"] = UserFactory(organization=ch.demand_org, roles=("demand",))
    people["other_demand"] = UserFactory(roles=("demand",))
    app_row = ApplicationFactory(call=ch.call, challenge=ch if challenge else None,
                                 applicant=people["applicant"], state=app_state,
                                 granted_amount=Decimal("800000.00"))
    db.session.flush()
    m = Milestone(application_id=app_row.id, seq=1, label="样机", amount=Decimal("800000.00"),
                  due_on=utcnow().date(), state=state, rejections=rejections,
                  demand_verdict="pass" if state is M.demand_accepted else None,
                  officer_verdict="pass" if state is M.officer_accepted else None)
    db.session.add(m)
    db.session.flush()
    db.session.add(Tranche(application=app_row, seq=1, label="里程碑1：样机", amount=m.amount,
                           condition="milestone", milestone_id=m.id))
    db.session.commit()
    return m


@pytest.mark.parametrize("state,trigger,role,expected,opts", MILESTONE_TABLE,
                         ids=[f"{s.value}-{t}-{r}" for s, t, r, _, _ in MILESTONE_TABLE])
def test_milestone_table(people, state, trigger, role, expected, opts):
    m = milestone_in(state, people, app_state=opts.get("app_state", A.in_progress),
                     challenge=not opts.get("open"), rejections=opts.get("rejections", 0))
    result = fire_and_check("milestone", m, state, trigger, people[role], expected,
                            opts.get("comment", ""), opts.get("data"))
    if result is None:
        return
    (tranche,) = db.session.scalars(sa.select(Tranche).where(Tranche.milestone_id == m.id))
    if expected is M.accepted:  # its tranche is due
        assert m.accepted_at is not None and tranche.state is TrancheState.due
        assert tranche.milestone_accepted_at == m.accepted_at
    else:
        assert tranche.state in (TrancheState.planned, TrancheState.cancelled)
    if trigger == "reject":
        assert m.rejections == opts.get("rejections", 0) + 1
        assert getattr(m, f"{role}_verdict") == "fail"
    if expected is M.cancelled and trigger == "reject":
        assert m.application.state is A.terminated and tranche.state is TrancheState.cancelled
    if trigger == "report":
        assert m.report == REPORT["report"] and m.demand_verdict is m.officer_verdict is None


D = DecisionState
DECISION_TABLE = [
    (D.proposed, "approve", "leader", D.approved, {}),
    (D.proposed, "approve", "officer", 403, {}),
    (D.proposed, "approve", "applicant", 403, {}),
    # 三重一大: a total at the threshold needs the meeting on record; below it, not.
    (D.proposed, "approve", "leader", 422, {"threshold": "500000.00"}),
    (D.proposed, "approve", "leader", D.approved, {"threshold": "500000.01"}),
    (D.proposed, "approve", "leader", D.approved, {"threshold": "500000.00", "meeting": True}),
    (D.proposed, "send_back", "leader", 422, {}),  # the reason is required
    (D.proposed, "send_back", "leader", D.returned, {"comment": "请补充二号项目"}),
    (D.proposed, "send_back", "officer", 403, {"comment": "请补充二号项目"}),
    (D.proposed, "withdraw", "officer", D.returned, {"comment": "重新拟定"}),
    (D.proposed, "withdraw", "leader", 403, {"comment": "重新拟定"}),
    (D.returned, "approve", "leader", 409, {}),
    (D.approved, "send_back", "leader", 409, {"comment": "请补充二号项目"}),
    (D.proposed, "fly_to_the_moon", "leader", 404, {}),
]


@pytest.mark.parametrize("state,trigger,role,expected,opts", DECISION_TABLE,
                         ids=[f"{s.value}-{t}-{r}" for s, t, r, _, _ in DECISION_TABLE])
def test_decision_table(people, state, trigger, role, expected, opts):
    threshold = opts.get("threshold")
    call = CallFactory(state=CallState.reviewing,
                       collective_threshold=Decimal(threshold) if threshold else None)
    db.session.flush()
    decision = FundingDecision(call_id=call.id, total=Decimal("500000.00"), state=state,
                               proposed_by_id=people["officer"].id)
    if opts.get("meeting"):
        minutes = Attachment(call_id=call.id, field="meeting_minutes", sha256="a" * 64,
                             size=10, kind="pdf", mime="application/pdf", filename="纪要.pdf")
        db.session.add(minutes)
        db.session.flush()
        decision.meeting_name, decision.meeting_date = "局党组会议", utcnow().date()
        decision.meeting_attendees, decision.minutes_ref = "李局长、张科长", "纪要〔2026〕1号"
        decision.minutes_attachment_id = minutes.id
    db.session.add(decision)
    db.session.commit()
    result = fire_and_check("decision", decision, state, trigger, people[role], expected,
                            opts.get("comment", ""))
    if result is None:
        assert call.state is CallState.reviewing
        return
    if expected is D.approved:  # its follow-up decides the call, by the same leader
        assert call.state is CallState.decided
        assert audit.history("call", call.id)[-1].actor_id == people[role].id
    if trigger in ("approve", "send_back"):
        assert (decision.decided_by_id, decision.decision_comment) == (
            people[role].id, opts.get("comment", ""))


OB = ObjectionState
ANONYMOUS = "匿名异议（未留真实姓名和联系方式），不予受理"
OBJECTION_TABLE = [
    (OB.open, "uphold", "officer", OB.upheld, {"comment": "经核查属实"}),
    (OB.open, "dismiss", "officer", OB.dismissed, {"comment": "经核查不属实"}),
    (OB.open, "dismiss", "officer", 422, {}),  # the finding is required
    (OB.open, "uphold", "leader", 403, {"comment": "经核查属实"}),
    (OB.open, "uphold", "applicant", 403, {"comment": "经核查属实"}),
    (OB.open, "refuse_anonymous", "system", OB.not_accepted,
     {"comment": ANONYMOUS, "anonymous": True}),
    (OB.open, "refuse_anonymous", "system", 422, {"comment": ANONYMOUS}),  # real-name
    (OB.open, "refuse_anonymous", "officer", 403, {"comment": ANONYMOUS, "anonymous": True}),
    (OB.upheld, "dismiss", "officer", 409, {"comment": "经核查不属实"}),
    (OB.not_accepted, "uphold", "officer", 409, {"comment": "经核查属实"}),
]


@pytest.mark.parametrize("state,trigger,role,expected,opts", OBJECTION_TABLE,
                         ids=[f"{s.value}-{t}-{r}" for s, t, r, _, _ in OBJECTION_TABLE])
def test_objection_table(people, state, trigger, role, expected, opts):
    app_row = application_in(A.objection, people, call_state=CallState.decided)
    named = {} if opts.get("anonymous") else {"name": "赵敏", "contact": "13912345678"}
    objection = Objection(application_id=app_row.id, text="合作单位并未实际参与项目。",
                          state=state, **named)
    db.session.add(objection)
    db.session.commit()
    result = fire_and_check("objection", objection, state, trigger, people[role], expected,
                            opts.get("comment", ""))
    if result is not None:
        assert objection.resolution == opts["comment"] and objection.resolved_at is not None
        assert app_row.state is A.objection  # the project moves by its own transitions


def test_an_objection_is_closed_by_the_finding_on_its_project_not_on_its_own(people):
    app_row = application_in(A.objection, people, call_state=CallState.decided)
    objection = Objection(application_id=app_row.id, name="赵敏", contact="13912345678",
                          text="合作单位并未实际参与项目。")
    db.session.add(objection)
    db.session.commit()
    with pytest.raises(Conflict) as refused:
        engine.fire(objection, "uphold", people["officer"], comment="属实")
    assert refused.value.code == "carried_out_via"
    assert refused.value.details["via"] == ["application.uphold_objection"]
    assert "uphold_objection" in refused.value.details["api"][0]
    assert objection.state is OB.open
    offered = {o.trigger: o for o in engine.options(objection, people["officer"])}
    assert [r.code for r in offered["uphold"].reasons] == ["carried_out_via"]
    assert not offered["uphold"].allowed and offered["uphold"].dedicated
    engine.fire(app_row, "uphold_objection", people["officer"], comment="经核查属实")
    db.session.commit()
    assert objection.state is OB.upheld and app_row.state is A.not_funded


VIA = [(lc.name, spec.trigger, spec.sources[0], spec.via)
       for lc in LIFECYCLES.values() for spec in lc.transitions if spec.via]


def test_the_rows_carried_out_via_something_else_are_the_decisions_and_findings():
    assert {(kind, trigger) for kind, trigger, _, _ in VIA} == {
        ("call", "decide"), ("application", "shortlist"), ("application", "decline_funding"),
        ("objection", "uphold"), ("objection", "dismiss"),
        # The project's acceptance is its 结题验收's (workflow/acceptance).
        ("application", "request_acceptance"), ("application", "pass_acceptance"),
        ("application", "fail_acceptance")}


@pytest.mark.parametrize("kind,trigger,state,via", VIA, ids=[f"{k}-{t}" for k, t, _, _ in VIA])
def test_a_row_carried_out_via_something_else_is_never_fired_on_its_own(
        people, kind, trigger, state, via):
    """Not by the people whose role it names either: a call is decided by approving its
    list, a project shortlisted by the list or by the choice of teams by score."""
    if kind == "call":
        row = CallFactory(state=state, guide="指南正文")
    elif kind == "application":
        row = application_in(state, people)
    else:
        parent = application_in(A.objection, people, call_state=CallState.decided)
        row = Objection(application_id=parent.id, name="赵敏", contact="13912345678",
                        text="合作单位并未实际参与项目。")
        db.session.add(row)
    db.session.commit()
    role = "officer" if kind == "objection" else "leader"
    before = counts(kind)
    with pytest.raises(Conflict) as refused:
        engine.fire(row, trigger, people[role], comment="经核查属实")
    assert refused.value.code == "carried_out_via" and refused.value.details["via"] == list(via)
    db.session.rollback()
    assert row.state is state and counts(kind) == before
