"""公示: the public page, written real-name objections, and approval with its numbers."""

from datetime import timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from states import ApplicationState, CallState
from tests.conftest import client_for, csrf_of
from tests.factories import PASSWORD, ApplicationFactory, CallFactory, UserFactory
from workflow.core import audit, engine, numbering
from workflow.core.errors import GuardFailed, Invalid, NotFound, Throttled
from workflow.core.models import NumberSequence, OutboxEvent, db, utcnow
from workflow.decisions import notices
from workflow.decisions.models import Objection, ObjectionState
from workflow.notify import scheduler

TEXT = "该项目申报材料中的合作单位并未实际参与，申报内容与事实不符。"


@pytest.fixture
def officer(app):
    return UserFactory(roles=("officer",), organization=None, name="张科长")


def on_notice(n=2, ends=timedelta(days=3), **call_kw):
    call = CallFactory(state=CallState.decided, **call_kw)
    apps = [ApplicationFactory(call=call, state=ApplicationState.public_notice,
                               granted_amount=Decimal("300000.00"),
                               notice_started_at=utcnow() - timedelta(days=1),
                               notice_ends_at=utcnow() + ends) for _ in range(n)]
    db.session.commit()
    return call, apps


def public_form(client, app_id):
    page = client.get(f"/public/notices/{app_id}/objection")
    assert page.status_code == 200
    return csrf_of(page.get_data(as_text=True))


def test_the_public_page_lists_projects_in_notice_without_login(app):
    call, (a, b) = on_notice()
    ApplicationFactory(call=call, state=ApplicationState.shortlisted, title="尚未公示的项目")
    db.session.commit()
    page = app.test_client().get("/public/notices").get_data(as_text=True)
    for row in (a, b):
        assert row.title in page and row.organization.name in page
        assert row.applicant.name in page
    assert "30.00" in page and "尚未公示的项目" not in page
    assert "实名" in page and "电话" in page  # how to object
    assert app.test_client().get(f"/public/notices/{9999}/objection").status_code == 404


def test_a_real_name_objection_moves_the_project_into_investigation(app, officer):
    _, (a, _) = on_notice()
    client = app.test_client()
    resp = client.post(f"/public/notices/{a.id}/objection", data={
        "csrf_token": public_form(client, a.id), "name": "赵敏", "contact": "13912345678",
        "organization": "某研究院", "text": TEXT})
    assert resp.status_code == 200 and "已受理" in resp.get_data(as_text=True)
    db.session.expire_all()
    assert a.state is ApplicationState.objection
    objection = db.session.scalars(sa.select(Objection)).one()
    assert (objection.name, objection.contact, objection.state) == (
        "赵敏", "13912345678", ObjectionState.open)
    assert audit.history("application", a.id)[-1].trigger == "raise_objection"
    # A second objection joins the open investigation.
    notices.submit_objection(a.id, {"name": "钱多", "contact": "qian@example.cn",
                                    "text": TEXT}, "10.0.0.2")
    db.session.commit()
    # The officer's finding closes both; the project returns to notice.
    with pytest.raises(GuardFailed):
        engine.fire(a, "dismiss_objection", officer)
    db.session.rollback()
    engine.fire(a, "dismiss_objection", officer, comment="经核查，合作单位有实际参与")
    db.session.commit()
    states = {o.state for o in db.session.scalars(sa.select(Objection))}
    assert states == {ObjectionState.dismissed} and a.state is ApplicationState.public_notice
    # Each objection closed through its own ``dismiss``, by the officer, with the finding.
    for o in db.session.scalars(sa.select(Objection)):
        closed = audit.history("objection", o.id)[-1]
        assert (closed.trigger, closed.from_state, closed.to_state, closed.actor_name,
                closed.comment) == ("dismiss", "open", "dismissed", "张科长",
                                    "经核查，合作单位有实际参与")
        assert o.resolution == "经核查，合作单位有实际参与" and o.resolved_by_id == officer.id


def test_an_anonymous_objection_is_recorded_and_not_accepted(app):
    _, (a, _) = on_notice()
    client = app.test_client()
    resp = client.post(f"/public/notices/{a.id}/objection", data={
        "csrf_token": public_form(client, a.id), "name": "", "contact": "", "text": TEXT})
    assert resp.status_code == 200 and "不予受理" in resp.get_data(as_text=True)
    db.session.expire_all()
    assert a.state is ApplicationState.public_notice
    objection = db.session.scalars(sa.select(Objection)).one()
    assert objection.state is ObjectionState.not_accepted and objection.text == TEXT
    # Recorded in the objection's own trail; the project's state did not change.
    assert [(e.trigger, e.from_state, e.to_state, e.actor_role)
            for e in audit.history("objection", objection.id)] == [
        ("receive", None, "open", "system"),
        ("refuse_anonymous", "open", "not_accepted", "system")]
    assert audit.history("application", a.id) == []


@pytest.mark.parametrize("fields,field,message", [
    ({"name": "赵敏", "contact": "13912345678", "text": "太短"}, "text", "不少于"),
    ({"name": "赵敏", "contact": "12345", "text": TEXT}, "contact", "电话号码格式不正确"),
    ({"name": "赵敏", "contact": "a@b", "text": TEXT}, "contact", "电子邮箱格式不正确"),
    ({"name": "赵" * 60, "contact": "13912345678", "text": TEXT}, "name", "不能超过"),
])
def test_bad_objections_are_refused_in_chinese_and_record_nothing(app, fields, field, message):
    _, (a, _) = on_notice()
    client = app.test_client()
    resp = client.post(f"/public/notices/{a.id}/objection",
                       data={"csrf_token": public_form(client, a.id), **fields})
    assert resp.status_code == 422 and message in resp.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count(Objection.id))) == 0
    db.session.expire_all()
    assert a.state is ApplicationState.public_notice


def test_objections_need_a_csrf_token_and_are_throttled_per_address(app):
    _, (a, _) = on_notice()
    resp = app.test_client().post(f"/public/notices/{a.id}/objection", data={
        "name": "赵敏", "contact": "13912345678", "text": TEXT})
    assert resp.status_code == 400
    for _ in range(notices.PER_SENDER_PER_HOUR):
        notices.submit_objection(a.id, {"text": TEXT}, "10.9.9.9")
        db.session.commit()
    with pytest.raises(Throttled) as refused:
        notices.submit_objection(a.id, {"text": TEXT}, "10.9.9.9")
    assert refused.value.retry_after > 59 * 60  # the oldest leaves the hour in an hour
    assert "请1小时后再试" in refused.value.message
    # The anonymous sender is held back; a real-name objector behind the same address not.
    receipt = notices.submit_objection(a.id, {"name": "赵敏", "contact": "13912345678",
                                              "text": TEXT}, "10.9.9.9")
    assert receipt.accepted


def test_no_objection_once_the_notice_is_over(app, officer):
    _call, (a, _) = on_notice()
    a.state = ApplicationState.approved
    db.session.commit()
    with pytest.raises(NotFound):
        notices.submit_objection(a.id, {"name": "赵敏", "contact": "13912345678",
                                        "text": TEXT}, None)


def test_an_upheld_objection_means_not_funded_and_approval_waits_for_open_ones(app, officer):
    _, (a, b) = on_notice(ends=timedelta(days=-1))
    for row in (a, b):
        notices.submit_objection(row.id, {"name": "赵敏", "contact": "13912345678",
                                          "text": TEXT}, None)
    db.session.commit()
    engine.fire(b, "dismiss_objection", officer, comment="不属实")
    db.session.commit()
    # Back on notice, ``b`` gets a new objection: the period is over, but neither is
    # approved while an objection is open.
    notices.submit_objection(b.id, {"name": "孙立", "contact": "13812345678", "text": TEXT},
                             None)
    db.session.commit()
    assert scheduler.approve_ended_notices() == 0
    engine.fire(a, "uphold_objection", officer, comment="经核查属实，取消立项")
    db.session.commit()
    assert a.state is ApplicationState.not_funded
    assert {o.state for o in notices.objections_of(a)} == {ObjectionState.upheld}


def test_approval_numbers_projects_then_the_file_then_its_notices_without_gaps(app, officer):
    year = utcnow().year
    call, apps = on_notice(n=3, ends=timedelta(minutes=-1))
    assert scheduler.approve_ended_notices() == 3
    db.session.expire_all()
    assert sorted(a.project_number for a in apps) == [
        f"GZKJ-{year}-BG-000{i}" for i in (1, 2, 3)]
    # The last one to leave notice issued the call's 立项文件, once, first; then each
    # project's 立项通知书 (in the order of the project numbers), in one register.
    assert call.doc_number == f"赣市科字〔{year}〕1号"
    by_project = sorted(apps, key=lambda a: a.project_number)
    assert [a.doc_number for a in by_project] == [f"赣市科字〔{year}〕{i}号" for i in (2, 3, 4)]
    topics = list(db.session.scalars(sa.select(OutboxEvent.topic)))
    assert topics.count("call.approval_file") == 1
    assert topics.count("application.notice") == 3
    assert topics.count("application.approve") == 3


def test_a_rolled_back_approval_gives_its_number_back(app):
    assert numbering.next_number("docno:赣市科字〔2030〕") == 1
    db.session.commit()
    assert numbering.next_number("docno:赣市科字〔2030〕") == 2
    db.session.rollback()
    assert numbering.next_number("docno:赣市科字〔2030〕") == 2
    db.session.commit()
    assert db.session.get(NumberSequence, "docno:赣市科字〔2030〕").last == 2


def test_the_approval_file_waits_for_projects_still_under_objection(app, officer):
    call, (a, b) = on_notice(ends=timedelta(minutes=-1))
    notices.submit_objection(b.id, {"name": "赵敏", "contact": "13912345678", "text": TEXT},
                             None)
    db.session.commit()
    assert scheduler.approve_ended_notices() == 1
    db.session.expire_all()
    assert a.state is ApplicationState.approved and call.doc_number is None
    engine.fire(b, "uphold_objection", officer, comment="属实")
    db.session.commit()
    assert call.doc_number is not None


def test_officers_see_objections_on_the_application_page_applicants_do_not(app, officer):
    _, (a, _) = on_notice()
    notices.submit_objection(a.id, {"name": "赵敏", "contact": "13912345678", "text": TEXT},
                             None)
    db.session.commit()
    page = client_for(app, officer.username, PASSWORD).get(f"/applications/{a.id}")
    assert "赵敏" in page.get_data(as_text=True)
    page = client_for(app, a.applicant.username, PASSWORD).get(f"/applications/{a.id}")
    assert page.status_code == 200 and "赵敏" not in page.get_data(as_text=True)


def test_invalid_input_to_the_service_is_refused(app):
    _, (a, _) = on_notice()
    with pytest.raises(Invalid):
        notices.submit_objection(a.id, {"text": None}, None)
