"""The holiday calendar never guesses: it lives in the database (seeded from
chinese-calendar, each later year entered by the administrator); a period reaching a year
it lacks is refused, naming the year; the counting convention is a setting; the public
page and the documents show the first and the last day."""

import io
from datetime import date, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from pypdf import PdfReader

from states import ApplicationState, CallState
from tests.conftest import api_token, client_for, csrf_of
from tests.factories import PASSWORD, ApplicationFactory, CallFactory, UserFactory
from workflow.core import audit, engine, files
from workflow.core.errors import GuardFailed
from workflow.core.models import db
from workflow.documents import official
from workflow.holidays import operations as holidays
from workflow.holidays.calendar import UnknownYear, count_period, is_working_day, year_known
from workflow.holidays.models import HolidayYear
from workflow.notify import messages
from workflow.notify.models import Notification
from workflow.timeutil import shanghai

A = ApplicationState
# 2022: 10-01 to 10-07 off for National Day, Saturday 10-08 and Sunday 10-09 worked.
OPENED_2022 = shanghai(2022, 9, 29, 10)
# A schedule for 2027 as an administrator enters it from the State Council's notice (the
# dates here are the test's: 2027-01-01 is a Friday).
DAYS_2027 = [{"date": "2027-01-01", "is_working_day": False, "name": "元旦"},
             {"date": "2027-01-02", "is_working_day": False, "name": "元旦"},
             {"date": "2027-01-03", "is_working_day": False, "name": "元旦"},
             {"date": "2027-02-06", "is_working_day": False, "name": "春节"},
             {"date": "2027-02-20", "is_working_day": True, "name": "春节"}]


@pytest.fixture
def people(app):
    return {"officer": UserFactory(roles=("officer",), organization=None, name="张科长"),
            "admin": UserFactory(roles=("admin",), organization=None, name="陈管理员"),
            "applicant": UserFactory(roles=("applicant",), name="李明")}


def shortlisted(people, **call_kw):
    call = CallFactory(state=CallState.decided, **call_kw)
    row = ApplicationFactory(call=call, applicant=people["applicant"], state=A.shortlisted,
                             granted_amount=Decimal("300000.00"))
    db.session.commit()
    return row


def bearer(client, user):
    return {"Authorization": "Bearer " + api_token(client, user.username, PASSWORD)}


def test_the_calendar_is_seeded_from_chinese_calendar_and_stops_where_it_stops(app):
    assert is_working_day(date(2022, 10, 8))       # a 调休 Saturday
    assert not is_working_day(date(2022, 10, 3))   # National Day, a Monday
    assert not is_working_day(date(2022, 10, 15))  # a plain Saturday
    assert year_known(2026) and not year_known(2027)
    with pytest.raises(UnknownYear) as err:
        is_working_day(date(2027, 1, 4))  # a Monday: never counted as one by guess
    assert err.value.year == 2027


@pytest.mark.parametrize("opening_day_counts,first,last", [
    (False, date(2022, 9, 30), date(2022, 10, 11)),
    (True, date(2022, 9, 29), date(2022, 10, 10)),
])
def test_both_conventions_on_the_national_day_example(app, opening_day_counts, first, last):
    period = count_period(OPENED_2022, 5, True, opening_day_counts=opening_day_counts)
    assert (period.first_day, period.last_day) == (first, last)
    assert period.ends_at == shanghai(last.year, last.month, last.day) + timedelta(days=1)
    # Calendar days are counted the same way.
    days = count_period(OPENED_2022, 5, False, opening_day_counts=opening_day_counts)
    assert (days.first_day, days.last_day) == (first, first + timedelta(days=4))


def test_the_convention_is_the_administrators_setting_and_a_notice_keeps_its_days(
        app, client, people):
    early, late = shortlisted(people), shortlisted(people)
    engine.fire(early, "open_notice", people["officer"], now=OPENED_2022)
    db.session.commit()
    assert early.notice_days == (date(2022, 9, 30), date(2022, 10, 11))

    resp = client.patch("/api/v1/calendar", headers=bearer(client, people["officer"]),
                        json={"opening_day_counts": True})
    assert resp.status_code == 403
    resp = client.patch("/api/v1/calendar", headers=bearer(client, people["admin"]),
                        json={"opening_day_counts": True})
    assert resp.status_code == 200 and resp.get_json()["opening_day_counts"] is True
    trail = audit.history("calendar_settings", 1)
    assert [(ev.actor_name, ev.data["changes"]) for ev in trail] == [
        ("陈管理员", {"opening_day_counts": [False, True]})]

    engine.fire(late, "open_notice", people["officer"], now=OPENED_2022)
    db.session.commit()
    db.session.expire_all()
    assert late.notice_days == (date(2022, 9, 29), date(2022, 10, 10))
    assert late.notice_ends_at == shanghai(2022, 10, 11)
    assert early.notice_days == (date(2022, 9, 30), date(2022, 10, 11))  # as published


def test_a_notice_reaching_2027_is_refused_naming_the_year_and_nothing_changes(
        app, client, people, monkeypatch):
    row = shortlisted(people)
    opened = shanghai(2026, 12, 28, 10)  # a Monday: 5 working days reach into January
    with pytest.raises(GuardFailed) as err:
        engine.fire(row, "open_notice", people["officer"], now=opened)
    db.session.rollback()
    assert err.value.status == 422
    assert "2027年" in err.value.message and "节假日安排" in err.value.message
    # The same through the API, on the day (the engine's clock set to it).
    monkeypatch.setattr("workflow.core.engine.utcnow", lambda: opened)
    headers = bearer(client, people["officer"])
    listed = client.get(f"/api/v1/applications/{row.id}/transitions",
                        headers=headers).get_json()["transitions"]
    notice = next(t for t in listed if t["trigger"] == "open_notice")
    assert notice["allowed"] is False
    assert notice["reasons"][0]["code"] == "calendar_year_unknown"
    resp = client.post(f"/api/v1/applications/{row.id}/transitions", headers=headers,
                       json={"trigger": "open_notice"})
    assert resp.status_code == 422
    assert "请系统管理员先在“系统设置 › 节假日安排”中录入2027年的安排" in \
        resp.get_json()["error"]["message"]
    db.session.expire_all()
    assert (row.state, row.notice_started_at, row.notice_ends_at) == (A.shortlisted, None, None)
    # A period in calendar days needs no calendar.
    by_day = shortlisted(people, notice_working_days=False)
    engine.fire(by_day, "open_notice", people["officer"], now=opened)
    assert by_day.notice_days == (date(2026, 12, 29), date(2027, 1, 2))


def test_after_the_administrator_enters_2027_the_notice_opens(app, client, people):
    row = shortlisted(people)
    url = "/api/v1/calendar/2027"
    assert client.get(url, headers=bearer(client, people["officer"])).get_json()["known"] is False
    body = {"days": DAYS_2027, "note": "国办发明电〔2026〕x号"}
    assert client.put(url, headers=bearer(client, people["officer"]), json=body
                      ).status_code == 403
    bad = client.put(url, headers=bearer(client, people["admin"]), json={"days": [
        {"date": "2027-01-04", "is_working_day": True, "name": "元旦"},  # a Monday
        {"date": "2026-12-31", "is_working_day": False, "name": "元旦"}]})
    assert bad.status_code == 422
    assert set(bad.get_json()["error"]["details"]) == {"2027-01-04", "2026-12-31"}
    assert not year_known(2027)

    resp = client.put(url, headers=bearer(client, people["admin"]), json=body)
    assert resp.status_code == 200, resp.get_json()
    entered = resp.get_json()
    assert (entered["known"], entered["source"], entered["holidays"], entered["workdays"]) == (
        True, "admin", 4, 1)
    assert is_working_day(date(2027, 2, 20)) and not is_working_day(date(2027, 1, 1))

    engine.fire(row, "open_notice", people["officer"], now=shanghai(2026, 12, 28, 10))
    db.session.commit()
    # 12-29, 12-30, 12-31; 1-1 to 1-3 off; 1-4, 1-5.
    assert row.notice_days == (date(2026, 12, 29), date(2027, 1, 5))
    year = db.session.scalar(sa.select(HolidayYear).where(HolidayYear.year == 2027))
    trail = audit.history("holiday_year", year.id)
    assert [(ev.trigger, ev.actor_name, ev.comment) for ev in trail] == [
        ("enter_holiday_year", "陈管理员", "国办发明电〔2026〕x号")]
    assert "2027-02-20 调休上班 春节" in trail[0].data["added"]
    # Correcting it later is audited too, old → new.
    fixed = [d for d in DAYS_2027 if d["date"] != "2027-02-06"]
    client.put(url, headers=bearer(client, people["admin"]), json={"days": fixed,
                                                                   "note": "国办发明电〔2026〕x号"})
    trail = audit.history("holiday_year", year.id)
    assert (trail[-1].trigger, trail[-1].data["removed"], trail[-1].data["added"]) == (
        "change_holiday_year", ["2027-02-06 放假 春节"], [])
    assert audit.verify() == []


def test_the_administrator_enters_a_year_on_the_settings_page(app, people):
    admin = client_for(app, people["admin"].username, PASSWORD)
    page = admin.get("/admin/calendar").get_data(as_text=True)
    assert "尚未录入2027年的节假日安排" in page
    assert 'href="/admin/calendar"' in page  # in the administrator's menu
    form = admin.get("/admin/calendar/2027").get_data(as_text=True)
    assert "国庆节" in form and "调休上班日" in form
    lines = {"lines": "3", "csrf_token": csrf_of(form), "note": "国办发明电〔2026〕x号",
             "name-0": "元旦", "start-0": "2027-01-01", "end-0": "2027-01-03",
             "name-1": "春节", "start-1": "2027-02-06", "end-1": "2027-02-12",
             "workdays-1": "2027-02-20，2027-01-31",
             "name-2": "国庆节", "start-2": "2027-10-01", "end-2": "2027-09-07"}
    refused = admin.post("/admin/calendar/2027", data=lines)
    assert refused.status_code == 422
    assert "国庆节：结束日期应不早于开始日期" in refused.get_data(as_text=True)
    assert not year_known(2027)
    saved = admin.post("/admin/calendar/2027", data={**lines, "end-2": "2027-10-07"},
                       follow_redirects=True).get_data(as_text=True)
    assert "已保存2027年的节假日安排" in saved
    assert year_known(2027)
    assert not is_working_day(date(2027, 10, 4)) and is_working_day(date(2027, 1, 31))
    row = saved.split('data-year="2027"')[1].split("</tr>")[0]
    assert "已录入" in row and "陈管理员" in row and ">17<" in row  # 3 + 7 + 7 days off
    # The page shows it back as it was entered, a line per festival.
    again = admin.get("/admin/calendar/2027").get_data(as_text=True)
    assert 'value="2027-10-07"' in again and "2027-01-31、2027-02-20" in again
    # The counting rule, on the same page.
    admin.post("/admin/calendar/counting", data={"csrf_token": csrf_of(again),
                                                 "opening_day_counts": "yes"})
    assert holidays.settings().opening_day_counts is True
    # Nobody else.
    officer = client_for(app, people["officer"].username, PASSWORD)
    assert officer.get("/admin/calendar").status_code == 403
    assert officer.get("/admin/calendar/2027").status_code == 403


def test_administrators_are_reminded_in_november_while_next_year_is_missing(app, people):
    def reminders():
        return list(db.session.scalars(sa.select(Notification).where(
            Notification.user_id == people["admin"].id, Notification.channel == "inapp")))

    messages.send_reminders(now=shanghai(2026, 10, 30, 9))
    assert reminders() == []
    messages.send_reminders(now=shanghai(2026, 11, 2, 9))
    messages.send_reminders(now=shanghai(2026, 11, 3, 9))  # once, not every run
    (note,) = reminders()
    assert note.title == "请录入2027年节假日安排" and note.link == "/admin/calendar/2027"
    assert not [n for n in db.session.scalars(sa.select(Notification)) if
                n.user_id != people["admin"].id]
    holidays.enter_year(people["admin"], 2027, holidays.parse_days(DAYS_2027))
    db.session.commit()
    messages.send_reminders(now=shanghai(2026, 12, 1, 9))
    assert len(reminders()) == 1  # entered: no more


def test_the_public_page_and_the_documents_show_the_first_and_the_last_day(app, people):
    row = shortlisted(people)
    engine.fire(row, "open_notice", people["officer"], now=OPENED_2022)
    db.session.commit()
    page = app.test_client().get("/public/notices").get_data(as_text=True)
    shown = page.split('data-testid="notice-days"')[1].split("</span>")[0]
    assert shown.endswith("2022年9月30日至2022年10月11日")
    objection = app.test_client().get(f"/public/notices/{row.id}/objection")
    assert "公示期 2022年9月30日至2022年10月11日" in objection.get_data(as_text=True)

    # Approved once the period is over: the 立项通知书 prints the same days.
    engine.fire(row, "approve", None, now=shanghai(2022, 10, 12, 9))
    db.session.commit()
    doc = official.render_notice(row.id)
    with files.store().open(doc.sha256) as fh:
        text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(fh.read())).pages)
    assert "公示期：2022年9月30日至2022年10月11日" in text.replace("\n", "")
