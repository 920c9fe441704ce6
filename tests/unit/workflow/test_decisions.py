"""立项决策: the officer's list, the leader's approval (三重一大 with its meeting), bulk."""

import io
from decimal import Decimal

import pytest
import sqlalchemy as sa

from states import ApplicationState, CallState
from tests.conftest import calendar_known_ahead, client_for, csrf_of
from tests.factories import (
    PASSWORD,
    ApplicationFactory,
    CallFactory,
    ChallengeFactory,
    UserFactory,
)
from workflow.core import audit
from workflow.core.errors import Conflict, Forbidden, GuardFailed, Invalid
from workflow.core.models import AuditEvent, db
from workflow.decisions import operations as decisions
from workflow.decisions.models import DecisionState

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@pytest.fixture
def people(app):
    return {"officer": UserFactory(roles=("officer",), organization=None, name="张科长"),
            "leader": UserFactory(roles=("leader",), organization=None, name="李局长"),
            "researcher": UserFactory(roles=("applicant",))}


def reviewed_call(n=3, budget="1000000.00", threshold=None, **kw):
    call = CallFactory(state=CallState.reviewing, budget=Decimal(budget),
                       collective_threshold=threshold and Decimal(threshold), **kw)
    apps = [ApplicationFactory(call=call, state=ApplicationState.reviewed,
                               data={"amount": "300000.00"}) for _ in range(n)]
    db.session.commit()
    return call, apps


def items(*pairs):
    return [{"application_id": a.id, "amount_wan": wan} for a, wan in pairs]


def test_the_approved_list_shortlists_with_amounts_and_declines_the_rest(people):
    call, (a, b, c) = reviewed_call()
    d = decisions.propose(call, people["officer"], items((a, "30"), (b, "25.5")), "按排名")
    db.session.commit()
    assert d.state is DecisionState.proposed and d.total == Decimal("555000.00")
    decisions.approve(d, people["leader"], "同意")
    db.session.commit()
    db.session.expire_all()
    assert call.state is CallState.decided and d.state is DecisionState.approved
    assert (a.state, a.granted_amount) == (ApplicationState.shortlisted, Decimal("300000.00"))
    assert (b.state, b.granted_amount) == (ApplicationState.shortlisted, Decimal("255000.00"))
    assert c.state is ApplicationState.not_funded and c.granted_amount is None
    # Each decision is in the trail: the list proposed and approved (in its own trail,
    # with its own states), the call decided by the leader, every application's own step.
    assert [(e.trigger, e.from_state, e.to_state, e.actor_name)
            for e in audit.history("decision", d.id)] == [
        ("propose", None, "proposed", "张科长"), ("approve", "proposed", "approved", "李局长")]
    assert "propose_decision" not in [e.trigger for e in audit.history("call", call.id)]
    decided = audit.history("call", call.id)[-1]
    assert (decided.trigger, decided.from_state, decided.to_state) == (
        "decide", "reviewing", "decided")
    assert (decided.actor_name, decided.actor_role) == ("李局长", "leader")
    assert audit.history("application", c.id)[-1].trigger == "decline_funding"
    assert audit.history("application", a.id)[-1].data["changes"]["granted_amount"] == [
        None, "300000.00"]


@pytest.mark.parametrize("bad,message", [
    ([("a", "31")], "不能超过申请金额"),
    ([("a", "0")], "应大于零"),
    ([("a", "三十")], "金额应为数字"),
    ([("a", "30"), ("a", "30")], "重复列入"),
    ([], "请至少列入"),
])
def test_bad_lists_are_refused_with_the_reason_and_change_nothing(people, bad, message):
    call, (a, _b, _c) = reviewed_call()
    with pytest.raises(Invalid) as err:
        decisions.propose(call, people["officer"], items(*[(a, w) for _, w in bad]))
    db.session.rollback()
    assert message in err.value.message
    assert decisions.pending(call.id) is None


def test_the_list_fits_the_budget_and_each_challenge_its_teams(people):
    call, (a, b, _) = reviewed_call(budget="500000.00")
    with pytest.raises(Invalid, match="超过指南预算"):
        decisions.propose(call, people["officer"], items((a, "30"), (b, "30")))
    db.session.rollback()
    ch = ChallengeFactory(call=CallFactory(state=CallState.reviewing, budget=Decimal(10**7)),
                          max_teams=1)
    teams = [ApplicationFactory(call=ch.call, challenge=ch, state=ApplicationState.reviewed,
                                data={"amount": "300000.00"}) for _ in range(2)]
    db.session.commit()
    with pytest.raises(Invalid, match="最多立项 1 个团队"):
        decisions.propose(ch.call, people["officer"], items(*[(t, "30") for t in teams]))


def test_no_list_while_reviews_are_open_and_only_officers_propose(people):
    call, (a, _, _) = reviewed_call()
    with pytest.raises(Forbidden):
        decisions.propose(call, people["leader"], items((a, "30")))
    ApplicationFactory(call=call, state=ApplicationState.expert_review)
    db.session.commit()
    with pytest.raises(Conflict, match="评审未完成"):
        decisions.propose(call, people["officer"], items((a, "30")))


def test_a_list_over_the_threshold_needs_the_meeting_before_approval(people):
    call, (a, b, _) = reviewed_call(threshold="500000.00")
    d = decisions.propose(call, people["officer"], items((a, "30"), (b, "20")))
    db.session.commit()
    with pytest.raises(GuardFailed) as err:
        decisions.approve(d, people["leader"])
    db.session.rollback()
    assert err.value.details[0]["code"] == "meeting_missing"
    assert "三重一大" in err.value.message
    db.session.expire_all()
    assert call.state is CallState.reviewing and a.state is ApplicationState.reviewed

    meeting = {"meeting_name": "局党组会议（2026年第12次）", "meeting_date": "2026-11-20",
               "meeting_attendees": "李局长、王副局长、张科长",
               "minutes_ref": "党组纪要〔2026〕12号"}
    with pytest.raises(Invalid, match="请上传会议纪要"):
        decisions.record_meeting(d, people["officer"], meeting)
    db.session.rollback()
    with pytest.raises(Invalid, match="会议日期"):
        decisions.record_meeting(d, people["officer"], {**meeting, "meeting_date": "2026-13-01"},
                                 ("纪要.pdf", io.BytesIO(PDF)))
    db.session.rollback()
    decisions.record_meeting(d, people["officer"], meeting, ("纪要.pdf", io.BytesIO(PDF)))
    db.session.commit()
    decisions.approve(d, people["leader"])
    db.session.commit()
    assert call.state is CallState.decided and d.has_meeting


def test_the_leader_sends_a_list_back_with_a_reason_and_a_new_one_replaces_it(people):
    call, (a, b, _) = reviewed_call()
    first = decisions.propose(call, people["officer"], items((a, "30")))
    db.session.commit()
    with pytest.raises(GuardFailed, match="退回理由"):  # the send_back row's guard
        decisions.send_back(first, people["leader"], " ")
    db.session.rollback()
    decisions.send_back(first, people["leader"], "请补充二号项目")
    db.session.commit()
    assert first.state is DecisionState.returned
    with pytest.raises(Conflict):
        decisions.approve(first, people["leader"])
    db.session.rollback()
    second = decisions.propose(call, people["officer"], items((a, "30"), (b, "30")))
    db.session.commit()
    third = decisions.propose(call, people["officer"], items((b, "30")))
    db.session.commit()
    assert second.state is DecisionState.returned and decisions.pending(call.id) is third
    replaced = audit.history("decision", second.id)[-1]
    assert (replaced.trigger, replaced.from_state, replaced.to_state, replaced.comment) == (
        "withdraw", "proposed", "returned", decisions.SUPERSEDED)
    assert second.decision_comment == decisions.SUPERSEDED
    assert [e.trigger for e in audit.history("decision", first.id)] == ["propose", "send_back"]


def test_bulk_public_notice_after_approval(people):
    calendar_known_ahead()  # (published now: whatever the date, its days are known)
    call, (a, b, _c) = reviewed_call()
    d = decisions.propose(call, people["officer"], items((a, "30"), (b, "30")))
    decisions.approve(d, people["leader"])
    db.session.commit()
    report = decisions.open_notices(call, people["officer"])
    db.session.commit()
    assert report.done == 2 and not report.refused
    db.session.expire_all()
    assert a.state is b.state is ApplicationState.public_notice
    assert a.notice_ends_at > a.notice_started_at


def test_decision_pages_for_officer_and_leader(app, people):
    calendar_known_ahead()
    call, (a, b, c) = reviewed_call(threshold="500000.00")
    call_id, ids = call.id, [a.id, b.id, c.id]
    researcher = client_for(app, people["researcher"].username, PASSWORD)
    assert researcher.get(f"/calls/{call_id}/decision").status_code == 403

    officer = client_for(app, people["officer"].username, PASSWORD)
    page = officer.get(f"/calls/{call_id}/decision").get_data(as_text=True)
    assert "拟定立项建议名单" in page and a.title in page
    token = csrf_of(page)
    resp = officer.post(f"/calls/{call_id}/decision", data={
        "csrf_token": token, "include": [str(ids[0]), str(ids[1])],
        f"amount-{ids[0]}": "31", f"amount-{ids[1]}": "20"}, follow_redirects=True)
    assert "不能超过申请金额" in resp.get_data(as_text=True)
    assert decisions.pending(call_id) is None
    officer.post(f"/calls/{call_id}/decision", data={
        "csrf_token": token, "include": [str(ids[0]), str(ids[1])],
        f"amount-{ids[0]}": "30", f"amount-{ids[1]}": "20"})
    pending = decisions.pending(call_id)
    assert pending is not None and pending.total == Decimal("500000.00")

    leader = client_for(app, people["leader"].username, PASSWORD)
    page = leader.get(f"/calls/{call_id}/decision").get_data(as_text=True)
    assert "须先登记集体决策会议" in page
    resp = leader.post(f"/decisions/{pending.id}/approve", data={"csrf_token": csrf_of(page)},
                       follow_redirects=True)
    assert "三重一大" in resp.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(type(call), call_id).state is CallState.reviewing
    assert db.session.scalar(sa.select(sa.func.count(AuditEvent.id)).where(
        AuditEvent.trigger == "decide")) == 0

    # The meeting is recorded with its minutes; then the leader approves on the page.
    leader.post(f"/decisions/{pending.id}/meeting", data={
        "csrf_token": csrf_of(page), "meeting_name": "局党组会议", "meeting_date": "2026-11-20",
        "meeting_attendees": "李局长、张科长", "minutes_ref": "党组纪要〔2026〕12号",
        "minutes": (io.BytesIO(PDF), "纪要.pdf")}, content_type="multipart/form-data")
    resp = leader.post(f"/decisions/{pending.id}/approve", data={"csrf_token": csrf_of(page)},
                       follow_redirects=True)
    assert "立项名单已审定" in resp.get_data(as_text=True)
    page = officer.get(f"/calls/{call_id}/decision").get_data(as_text=True)
    assert "发布立项公示（2 项）" in page and "局党组会议" in page
    officer.post(f"/calls/{call_id}/notices", data={"csrf_token": csrf_of(page)})
    public = app.test_client().get("/public/notices").get_data(as_text=True)
    assert a.title in public and b.title in public and c.title not in public
