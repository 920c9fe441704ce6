"""Annual reports (年度报告): opened by the beat for running projects, once a year; filed by
the team, endorsed by the unit, accepted or returned by the officer; overdue when late, with
reminders never sent twice; and an overdue report blocks its PI's new applications."""

from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from states import AnnualReportState, ApplicationState
from tests.conftest import api_token, csrf_of, login
from tests.factories import (
    PASSWORD,
    AnnualReportFactory,
    ApplicationFactory,
    CallFactory,
    OrganizationFactory,
    UserFactory,
)
from workflow.annual import operations as annual
from workflow.annual.models import AnnualReport
from workflow.calls.models import Scheme
from workflow.core import audit, engine
from workflow.core.errors import Forbidden, GuardFailed, Invalid
from workflow.core.models import db
from workflow.notify.models import Notification
from workflow.timeutil import shanghai

A, AR = ApplicationState, AnnualReportState
CONTENT = {
    "progress": "完成了中试线的设计与建设，关键工艺参数已经确定，样品性能达到预期。",
    "indicators": [{"indicator": "最大磁能积≥50 MGOe", "status": "已达到 51 MGOe"}],
    "outputs": "发表论文2篇，申请发明专利1项（CN2025100000001）。",
    "spending": {"equipment": "10.5", "business": "8.25", "labour": "6", "indirect": "0"},
}
PUBLISHED = {"published_on": "2025-12-20", "published_where": "单位网站通知公告栏"}


@pytest.fixture
def people(app):
    org = OrganizationFactory(name="赣南科技大学")
    other = OrganizationFactory(name="另一所大学")
    return {
        "officer": UserFactory(username="officer", roles=("officer",), organization=None),
        "pi": UserFactory(username="pi", roles=("applicant",), organization=org,
                          name="王研究员"),
        "colleague": UserFactory(username="colleague", roles=("applicant",), organization=org),
        "unit": UserFactory(username="unit", roles=("org_admin",), organization=org,
                            name="科研处李老师"),
        "other_unit": UserFactory(username="other_unit", roles=("org_admin",),
                                  organization=other),
        "outsider": UserFactory(username="outsider", roles=("applicant",), organization=other),
        "expert": UserFactory(username="expert", roles=("expert",), organization=other),
    }


def project(people, state=A.in_progress, scheme=Scheme.baogan, released="300000.00", **kw):
    return ApplicationFactory(
        call=CallFactory(scheme=scheme), applicant=kw.pop("applicant", people["pi"]),
        state=state, granted_amount=Decimal("1000000.00"), disbursed=Decimal(released), **kw)


def report(people, **kw):
    app = kw.pop("application", None) or project(people)
    row = AnnualReportFactory(application=app, **kw)
    db.session.commit()
    return row


def filled(row, extra=PUBLISHED, actor=None):
    annual.save_draft(actor or row.application.applicant, row.id, {**CONTENT, **extra})
    db.session.commit()
    return row


def bearer(client, username):
    return {"Authorization": "Bearer " + api_token(client, username, PASSWORD)}


# ---- opening --------------------------------------------------------------------------

def test_the_due_date_is_a_working_day_and_the_window_runs_from_december(app):
    # 2026-01-31 is a Saturday: due the next working day.
    assert annual.due_on(2025) == date(2026, 2, 2)
    assert annual.report_year(date(2025, 11, 30)) is None
    assert annual.report_year(date(2025, 12, 1)) == 2025
    assert annual.report_year(date(2026, 2, 2)) == 2025
    assert annual.report_year(date(2026, 2, 3)) is None


def test_the_beat_opens_one_report_per_running_project_and_year(people):
    running = [project(people, state=s) for s in (A.contracted, A.in_progress, A.midterm)]
    for s in (A.draft, A.approved, A.acceptance, A.completed, A.terminated):
        project(people, state=s)
    db.session.commit()
    assert annual.open_due_reports(shanghai(2025, 11, 30, 12)) == 0
    assert annual.open_due_reports(shanghai(2025, 12, 1, 9)) == 3
    # Again the same day, and in January: nothing twice.
    assert annual.open_due_reports(shanghai(2025, 12, 1, 10)) == 0
    assert annual.open_due_reports(shanghai(2026, 1, 5, 10)) == 0
    rows = db.session.scalars(sa.select(AnnualReport)).all()
    assert sorted(r.application_id for r in rows) == sorted(p.id for p in running)
    assert {(r.year, r.due_on, r.state) for r in rows} == {(2025, date(2026, 2, 2), AR.due)}
    trail = audit.history("annual_report", rows[0].id)
    assert [(e.trigger, e.to_state, e.actor_name) for e in trail] == [
        ("open_annual_report", "due", "系统")]
    # A project that starts in the window gets its report on the next run.
    late = project(people, state=A.contracted)
    db.session.commit()
    assert annual.open_due_reports(shanghai(2026, 1, 10, 9)) == 1
    assert db.session.scalar(sa.select(AnnualReport.year).where(
        AnnualReport.application_id == late.id)) == 2025


def test_the_officer_opens_a_year_on_demand_over_the_api(client, people):
    project(people)
    db.session.commit()
    officer = bearer(client, "officer")
    # 2024's configured due date (in February 2025) has passed: a new one is asked.
    late = client.post("/api/v1/annual-reports/open", headers=officer, json={"year": 2024})
    assert late.status_code == 422
    assert "请给出新的截止日期" in late.get_json()["error"]["details"]["due_on"]
    due = (annual.today() + timedelta(days=30)).isoformat()
    resp = client.post("/api/v1/annual-reports/open", headers=officer,
                       json={"year": 2025, "due_on": due})
    assert resp.status_code == 200, resp.get_json()
    [opened] = resp.get_json()["items"]
    assert (opened["year"], opened["state"], opened["due_on"]) == (2025, "due", due)
    again = client.post("/api/v1/annual-reports/open", headers=officer,
                        json={"year": 2025, "due_on": due})
    assert again.get_json()["items"] == []
    bad = client.post("/api/v1/annual-reports/open", headers=officer,
                      json={"year": 1999, "due_on": "2025-13-01"})
    assert bad.status_code == 422
    assert set(bad.get_json()["error"]["details"]) == {"year", "due_on"}
    refused = client.post("/api/v1/annual-reports/open", headers=bearer(client, "unit"),
                          json={"year": 2024})
    assert refused.status_code == 403
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AnnualReport)) == 1


# ---- the form ---------------------------------------------------------------------------

@pytest.mark.parametrize(("spending", "key", "message"), [
    ({"equipment": "-1"}, "spending.equipment", "不小于0"),
    ({"business": "1.234"}, "spending.business", "最多两位小数"),
    ({"labour": "十万"}, "spending.labour", "金额（万元）"),
    ({"travel": "1"}, "spending.travel", "没有这个支出类别"),
    ({"equipment": "20", "business": "10.01"}, "spending", "超过项目已拨付经费 30.00 万元"),
])
def test_the_form_refuses_bad_amounts_in_chinese_and_keeps_the_report(
        client, people, spending, key, message):
    row = report(people)
    resp = client.put(f"/api/v1/annual-reports/{row.id}", headers=bearer(client, "pi"),
                      json={**CONTENT, "spending": spending})
    assert resp.status_code == 422
    assert message in resp.get_json()["error"]["details"][key]
    db.session.expire_all()
    assert (row.progress, row.spending, row.version) == ("", {}, 1)


def test_a_valid_draft_is_saved_in_wan_and_totalled(client, people):
    row = report(people)
    resp = client.put(f"/api/v1/annual-reports/{row.id}", headers=bearer(client, "pi"),
                      json={**CONTENT, **PUBLISHED})
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert body["spending"] == {"equipment": "10.50", "business": "8.25", "labour": "6.00",
                                "indirect": "0.00"}
    assert (body["spent_total_wan"], body["released_wan"]) == ("24.75", "30.00")
    assert body["missing"] == {}
    db.session.expire_all()
    assert row.spent_total == Decimal("247500.00")
    # Spending up to exactly what was released is accepted.
    resp = client.put(f"/api/v1/annual-reports/{row.id}", headers=bearer(client, "pi"),
                      json={"spending": {"equipment": "30.00"}})
    assert resp.status_code == 200, resp.get_json()


def test_dates_and_texts_are_checked_and_unknown_fields_refused(client, people):
    row = report(people)
    pi = bearer(client, "pi")
    url = f"/api/v1/annual-reports/{row.id}"
    future = (annual.today() + timedelta(days=3)).isoformat()
    resp = client.put(url, headers=pi, json={"published_on": future, "outputs": 3})
    assert resp.status_code == 422
    details = resp.get_json()["error"]["details"]
    assert "不能晚于今天" in details["published_on"]
    assert "应为" in details["outputs"]
    assert client.put(url, headers=pi, json={"surplus": "1"}).status_code == 422
    # A NUL (which PostgreSQL cannot store) is refused by name, never a 500.
    resp = client.put(url, headers=pi, json={"progress": "进展\x00", "indicators": [
        {"indicator": "指标\x00", "status": "完成"}]})
    assert resp.status_code == 422
    assert set(resp.get_json()["error"]["details"]) == {"progress", "indicators.0"}
    # A row is an indicator with its status; an empty row is dropped.
    resp = client.put(url, headers=pi, json={"indicators": [
        {"indicator": "", "status": ""}, {"indicator": "指标", "status": ""}]})
    assert resp.status_code == 422
    assert resp.get_json()["error"]["details"] == {"indicators.1.status": "第2行：请填写完成情况"}
    resp = client.put(url, headers=pi, json={"indicators": [{"indicator": "指标"}, 5]})
    assert resp.status_code == 422
    assert set(resp.get_json()["error"]["details"]) == {"indicators.0.status", "indicators.1"}


def test_the_page_form_shows_each_error_beside_its_input(client, people):
    row = report(people)
    login(client, "pi", PASSWORD)
    page = client.get(f"/annual-reports/{row.id}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'data-testid="annual-form"' in html
    assert "内部公开" in html  # 包干制: the publication statement is asked for
    resp = client.post(f"/annual-reports/{row.id}/edit", data={
        "csrf_token": csrf_of(html), "version": "1", "action": "submit",
        "progress": "太短", "spending-equipment": "1.999", "indicator-0": "", "status-0": ""})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 422
    assert re.search(r'id="ar-spending-equipment-error"[^>]*>设备费应为不小于0的金额', html)
    db.session.expire_all()
    assert row.state is AR.due and row.progress == ""


# ---- the paths --------------------------------------------------------------------------

def test_submit_endorse_accept_and_return_with_a_reason(people):
    row = report(people)
    pi, unit, officer = people["pi"], people["unit"], people["officer"]
    with pytest.raises(GuardFailed) as refused:
        engine.fire(row, "submit", pi)
    fields = {k for r in refused.value.details for k in r["fields"]}
    assert {"progress", "outputs", "indicators", "published_on", "published_where"} <= fields
    db.session.rollback()
    filled(row)
    engine.fire(row, "submit", pi)
    db.session.commit()
    assert row.submitted_at is not None
    with pytest.raises(GuardFailed):
        engine.fire(row, "unit_return", unit)  # a return needs its reason
    db.session.rollback()
    engine.fire(row, "endorse", unit)
    engine.fire(row, "return", officer, comment="请补充专利申请号对应的受理通知书")
    assert (row.state, row.return_reason) == (AR.returned, "请补充专利申请号对应的受理通知书")
    filled(row, {**PUBLISHED, "outputs": "论文2篇，专利受理通知书已上传"})
    engine.fire(row, "submit", pi)
    engine.fire(row, "endorse", unit)
    engine.fire(row, "accept", officer)
    db.session.commit()
    assert row.state is AR.accepted and row.accepted_at is not None
    assert [e.trigger for e in audit.history("annual_report", row.id)] == [
        "save_annual_report", "submit", "endorse", "return", "save_annual_report", "submit",
        "endorse", "accept"]


def test_a_jiebang_report_needs_no_publication_statement(people):
    row = report(people, application=project(people, scheme=Scheme.jiebang))
    filled(row, extra={})
    engine.fire(row, "submit", people["pi"])
    assert row.state is AR.submitted


@pytest.mark.parametrize(("who", "trigger", "state"), [
    ("colleague", "submit", AR.due), ("unit", "submit", AR.due),
    ("other_unit", "endorse", AR.submitted), ("pi", "endorse", AR.submitted),
    ("unit", "accept", AR.endorsed), ("pi", "accept", AR.endorsed),
    ("officer", "submit", AR.due),
])
def test_only_the_team_the_unit_and_the_officer_act_each_in_turn(people, who, trigger, state):
    row = report(people, state=state)
    filled_row = row if state is not AR.due else filled(row)
    with pytest.raises(Forbidden):
        engine.fire(filled_row, trigger, people[who])
    db.session.rollback()
    assert db.session.get(AnnualReport, row.id).state is state


def test_a_submitted_report_cannot_be_edited(client, people):
    row = report(people, state=AR.submitted)
    resp = client.put(f"/api/v1/annual-reports/{row.id}", headers=bearer(client, "pi"),
                      json=CONTENT)
    assert resp.status_code == 409
    with pytest.raises(Forbidden):
        annual.save_draft(people["colleague"], row.id, CONTENT)


# ---- overdue and reminders ---------------------------------------------------------------

def _reminders():
    return sorted(db.session.execute(sa.select(Notification.key, Notification.user_id).where(
        Notification.topic == "annual_report_due", Notification.channel == "inapp")).all())


def test_reminders_before_the_due_date_and_when_overdue_never_twice(people):
    row = report(people)  # due Monday 2026-02-02
    pi, unit = people["pi"].id, people["unit"].id
    assert annual.send_reminders(shanghai(2026, 1, 21, 9)) == 0  # 8 working days left
    annual.send_reminders(shanghai(2026, 1, 22, 9))              # 7 left
    first = [(f"reminder:annual:{row.id}:before7:u{u}:inapp", u) for u in sorted((pi, unit))]
    assert _reminders() == sorted(first)
    annual.send_reminders(shanghai(2026, 1, 22, 15))             # the same day again
    annual.send_reminders(shanghai(2026, 1, 29, 9))              # 2 left: still the 7 step
    assert _reminders() == sorted(first)
    annual.send_reminders(shanghai(2026, 1, 30, 9))              # 1 left
    assert len(_reminders()) == 4
    # Still due on the due date; overdue the day after.
    assert annual.mark_overdue(shanghai(2026, 2, 2, 23)) == 0
    assert annual.mark_overdue(shanghai(2026, 2, 3, 0, 30)) == 1
    assert annual.mark_overdue(shanghai(2026, 2, 3, 1)) == 0
    db.session.expire_all()
    assert row.state is AR.overdue and row.overdue_at is not None
    annual.send_reminders(shanghai(2026, 2, 3, 9))
    annual.send_reminders(shanghai(2026, 2, 4, 9))
    assert len(_reminders()) == 6
    annual.send_reminders(shanghai(2026, 2, 10, 9))              # a week on
    assert len(_reminders()) == 8
    # An overdue report can still be filed; then the reminders stop.
    filled(row)
    engine.fire(row, "submit", people["pi"])
    db.session.commit()
    annual.send_reminders(shanghai(2026, 2, 17, 9))
    assert len(_reminders()) == 8


def test_a_reminder_reaches_the_inbox_with_the_due_date(people):
    report(people)
    annual.send_reminders(shanghai(2026, 1, 30, 9))
    title = db.session.scalar(sa.select(Notification.title).where(
        Notification.user_id == people["pi"].id))
    assert title is not None and "年度报告即将截止" in title


# ---- 限项 ---------------------------------------------------------------------------------

def _draft(people, who):
    app = ApplicationFactory(applicant=people[who], state=A.draft, signed=True)
    db.session.commit()
    return app


def test_an_overdue_report_blocks_its_pis_new_application_and_no_one_elses(people, client):
    overdue = report(people, state=AR.overdue)
    mine, theirs = _draft(people, "pi"), _draft(people, "outsider")
    with pytest.raises(GuardFailed) as refused:
        engine.fire(mine, "submit", people["pi"])
    [reason] = [r for r in refused.value.details if r["code"] == "annual_report_overdue"]
    number = overdue.application.project_number or overdue.application.title
    assert number in reason["message"] and "2025年度报告已逾期未报" in reason["message"]
    assert "提交后即可申报" in reason["message"]
    db.session.rollback()
    engine.fire(theirs, "submit", people["outsider"])
    db.session.commit()
    # The applicant sees it on the form before submitting.
    login(client, "pi", PASSWORD)
    html = client.get(f"/applications/{mine.id}/edit").get_data(as_text=True)
    assert 'data-testid="submission-limits"' in html and "年度报告已逾期未报" in html
    report_page = client.get(f"/annual-reports/{overdue.id}").get_data(as_text=True)
    assert 'data-testid="overdue-note"' in report_page
    # Filing the report lifts the block.
    filled(db.session.get(AnnualReport, overdue.id))
    engine.fire(db.session.get(AnnualReport, overdue.id), "submit", people["pi"])
    engine.fire(db.session.get(type(mine), mine.id), "submit", people["pi"])
    db.session.commit()
    assert db.session.get(type(mine), mine.id).state is not A.draft


# ---- who sees what; the API ---------------------------------------------------------------

def test_visibility_other_organisation_and_expert_see_nothing(client, people):
    row = report(people)
    for who in ("outsider", "other_unit", "expert", "colleague"):
        headers = bearer(client, who)
        assert client.get(f"/api/v1/annual-reports/{row.id}", headers=headers
                          ).status_code == 404, who
        assert client.get("/api/v1/annual-reports", headers=headers
                          ).get_json()["total"] == 0, who
        assert client.get(f"/api/v1/annual-reports/{row.id}/transitions", headers=headers
                          ).status_code == 404, who
    for who in ("pi", "unit", "officer"):
        assert client.get(f"/api/v1/annual-reports/{row.id}", headers=bearer(client, who)
                          ).status_code == 200, who
    login(client, "expert", PASSWORD)
    assert client.get("/annual-reports").status_code == 403
    assert client.get(f"/annual-reports/{row.id}").status_code == 404


def test_the_list_filters_sorts_pages_and_exports(client, people):
    a = report(people, year=2025)
    report(people, year=2024, state=AR.accepted)
    report(people, application=project(people, applicant=people["outsider"]), year=2025)
    officer, unit = bearer(client, "officer"), bearer(client, "unit")
    assert client.get("/api/v1/annual-reports", headers=officer).get_json()["total"] == 3
    assert client.get("/api/v1/annual-reports", headers=unit).get_json()["total"] == 2
    got = client.get("/api/v1/annual-reports?year=2025&state=due&sort=year&dir=desc",
                     headers=unit).get_json()
    assert [i["id"] for i in got["items"]] == [a.id]
    call = client.get(f"/api/v1/annual-reports?call={a.application.call_id}",
                      headers=officer).get_json()
    assert [i["id"] for i in call["items"]] == [a.id]
    assert client.get("/api/v1/annual-reports?state=nonsense", headers=officer
                      ).status_code == 422
    xlsx = client.get("/api/v1/annual-reports?export=xlsx", headers=officer)
    assert xlsx.status_code == 200 and xlsx.data[:2] == b"PK"
    login(client, "officer", PASSWORD)
    page = client.get("/annual-reports?q=" + a.application.title)
    assert page.status_code == 200
    assert page.get_data(as_text=True).count("data-report=") == 1


def test_transitions_over_the_api(client, people):
    row = filled(report(people))
    pi, unit, officer = (bearer(client, u) for u in ("pi", "unit", "officer"))
    base = f"/api/v1/annual-reports/{row.id}"
    options = client.get(f"{base}/transitions", headers=pi).get_json()
    allowed = {o["trigger"]: o["allowed"] for o in options["transitions"]}
    assert allowed["submit"] is True and "accept" not in allowed
    assert client.post(f"{base}/transitions", headers=pi, json={"trigger": "submit"}
                       ).get_json()["to"] == "submitted"
    assert client.post(f"{base}/transitions", headers=officer, json={"trigger": "accept"}
                       ).status_code == 409
    resp = client.post(f"{base}/transitions", headers=unit, json={"trigger": "endorse"})
    assert resp.status_code == 200
    stale = client.post(f"{base}/transitions", headers={**officer, "If-Match": '"1"'},
                        json={"trigger": "accept"})
    assert stale.status_code == 409
    no_reason = client.post(f"{base}/transitions", headers=officer, json={"trigger": "return"})
    assert no_reason.status_code == 422
    assert client.post(f"{base}/transitions", headers=officer, json={"trigger": "accept"}
                       ).get_json()["to"] == "accepted"
    history = client.get(f"{base}/history", headers=unit).get_json()["history"]
    assert [h["trigger"] for h in history][-3:] == ["submit", "endorse", "accept"]
    got = client.get(base, headers=pi).get_json()
    assert got["state"] == "accepted" and got["accepted_at"] is not None


def test_the_project_page_links_its_reports(client, people):
    row = report(people)
    login(client, "pi", PASSWORD)
    html = client.get(f"/applications/{row.application_id}").get_data(as_text=True)
    assert 'data-testid="annual-reports"' in html and "填写年度报告" in html


def test_a_bad_content_never_changes_the_report(people):
    row = report(people)
    with pytest.raises(Invalid):
        annual.save_draft(people["pi"], row.id, {"spending": []})
    db.session.rollback()
    assert db.session.get(AnnualReport, row.id).version == 1


# ---- the demo ----------------------------------------------------------------------------

def test_the_demo_has_a_filed_report_and_an_overdue_one_on_the_workbench(app):
    from workflow import demo
    from workflow.accounts.models import User
    from workflow.workbench.todo import sections_for

    assert demo.seed()
    reports = db.session.scalars(sa.select(AnnualReport).order_by(AnnualReport.id)).all()
    filed, late = reports
    assert filed.state is AR.submitted and filed.spent_total == Decimal("298000.00")
    assert filed.spent_total <= filed.application.disbursed
    assert late.state is (AR.overdue if annual.today() > late.due_on else AR.due)
    assert audit.verify() == []

    def todo(username):
        user = db.session.scalar(sa.select(User).where(User.username == username))
        with app.test_request_context():
            return [(i.text, i.href) for s in sections_for(user) for g in s.groups
                    for i in g.items]

    year = late.year
    assert (f"待填写并提交年度报告：{late.application.title}（{year}年度报告）",
            f"/annual-reports/{late.id}") in todo("researcher5")
    assert (f"年度报告待单位审核：{filed.application.title}（{year}年度报告）",
            f"/annual-reports/{filed.id}") in todo("unitadmin")
    assert not demo.seed()  # seeded once


# ---- messages from the committed outbox ------------------------------------------------

def test_each_step_tells_whom_it_concerns_from_the_committed_outbox(people):
    from workflow.core.models import OutboxEvent
    from workflow.notify import notifications

    def told(topic):
        event = db.session.scalars(sa.select(OutboxEvent).where(
            OutboxEvent.topic == topic).order_by(OutboxEvent.id.desc())).first()
        assert event is not None, topic
        notifications.notify_events([event])
        db.session.commit()
        return sorted(db.session.execute(sa.select(Notification.user_id, Notification.title)
                                         .where(Notification.channel == "inapp",
                                                Notification.topic.like("annual_report_%"))
                                         .order_by(Notification.id)).all())

    row = filled(report(people))
    engine.fire(row, "submit", people["pi"])
    db.session.commit()
    assert [uid for uid, _ in told("annual_report.submit")] == [people["unit"].id]
    engine.fire(row, "endorse", people["unit"])
    engine.fire(row, "return", people["officer"], comment="请补充支出明细")
    db.session.commit()
    titles = dict(told("annual_report.return"))
    assert "年度报告被退回修改" in titles[people["pi"].id]
    # The same event again tells nobody twice.
    before = db.session.scalar(sa.select(sa.func.count()).select_from(Notification))
    told("annual_report.return")
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Notification)) == before


def test_the_officer_opens_a_year_from_the_list_page_and_others_cannot(client, people):
    project(people)
    db.session.commit()
    login(client, "officer", PASSWORD)
    html = client.get("/annual-reports").get_data(as_text=True)
    assert 'data-testid="open-year"' in html
    resp = client.post("/annual-reports/open", data={
        "csrf_token": csrf_of(html), "year": "2025",
        "due_on": (annual.today() + timedelta(days=30)).isoformat()})
    assert resp.status_code == 302
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AnnualReport)) == 1
    page = client.get("/annual-reports").get_data(as_text=True)
    assert "已为 1 个在研项目开启年度报告" in page
    client.post("/logout", data={"csrf_token": csrf_of(page)})
    login(client, "unit", PASSWORD)
    html = client.get("/annual-reports").get_data(as_text=True)
    assert 'data-testid="open-year"' not in html and "data-report=" in html
    assert client.post("/annual-reports/open", data={"csrf_token": csrf_of(html),
                                                     "year": "2024"}).status_code == 403


def test_someone_who_cannot_see_a_report_cannot_post_to_it(client, people):
    row = report(people)
    login(client, "outsider", PASSWORD)
    html = client.get("/").get_data(as_text=True)
    resp = client.post(f"/annual-reports/{row.id}/edit", data={
        "csrf_token": csrf_of(html), "progress": "x" * 30})
    assert resp.status_code == 404
    db.session.expire_all()
    assert row.progress == ""


def test_the_unit_and_the_officer_act_on_the_reports_page(client, people):
    row = filled(report(people))
    engine.fire(row, "submit", people["pi"])
    db.session.commit()
    login(client, "unit", PASSWORD)
    html = client.get(f"/annual-reports/{row.id}").get_data(as_text=True)
    assert 'value="endorse"' in html and 'data-testid="annual-spending"' in html
    assert 'data-testid="annual-form"' not in html  # the unit reads, the team writes
    assert "单位网站通知公告栏" in html
    resp = client.post(f"/annual-reports/{row.id}/fire", data={
        "csrf_token": csrf_of(html), "trigger": "endorse", "version": str(row.version)})
    assert resp.status_code == 302
    db.session.expire_all()
    assert row.state is AR.endorsed
