"""Issuing official documents under the office's 发文字号 (系统设置 › 发文字号, and the
API): the 立项文件 first, each 立项通知书 after it citing its number; documents of an
entered kind wait (待编号) until the office enters their number; no document takes a
number twice; only the officer keeps the numbers."""

from __future__ import annotations

import io
import re
from datetime import timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from pypdf import PdfReader

from states import ApplicationState, CallState
from tests.conftest import api_token, client_for, csrf_of
from tests.factories import PASSWORD, ApplicationFactory, CallFactory, UserFactory
from workflow.core import engine, files, numbering, outbox
from workflow.core.models import (
    AuditEvent,
    IssuedNumber,
    NumberSequence,
    OutboxEvent,
    db,
    utcnow,
)
from workflow.documents.models import Document
from workflow.notify import scheduler
from workflow.notify.models import Notification


@pytest.fixture
def people(app):
    out = {"officer": UserFactory(username="officer", roles=("officer",), organization=None,
                                  name="张科长"),
           "researcher": UserFactory(username="researcher", roles=("applicant",)),
           "expert": UserFactory(username="expert", roles=("expert",)),
           "admin": UserFactory(username="admin", roles=("admin",), organization=None),
           "finance": UserFactory(username="finance", roles=("finance",), organization=None)}
    db.session.commit()
    return out


def on_notice(n=2):
    call = CallFactory(state=CallState.decided, title="2026年度稀土专项",
                       budget=Decimal("5000000.00"))
    rows = [ApplicationFactory(call=call, title=f"稀土永磁项目{i}",
                               state=ApplicationState.public_notice,
                               granted_amount=Decimal("300000.00"),
                               notice_ends_at=utcnow() - timedelta(minutes=1))
            for i in range(1, n + 1)]
    db.session.commit()
    return call, rows


def deliver(topic):
    """Run the consumers of every event of ``topic`` as the worker does (each twice: a
    repeated task does nothing)."""
    for event in db.session.scalars(sa.select(OutboxEvent).where(OutboxEvent.topic == topic)):
        for name in outbox.consumers_for(topic):
            outbox.consume(event.id, name)
            outbox.consume(event.id, name)


def topics():
    return list(db.session.scalars(sa.select(OutboxEvent.topic).order_by(OutboxEvent.id)))


def text_of(doc):
    with files.store().open(doc.sha256) as fh:
        pages = PdfReader(io.BytesIO(fh.read())).pages
        return "".join(p.extract_text() for p in pages).replace("\n", "")


def bearer(client, username):
    return {"Authorization": "Bearer " + api_token(client, username, PASSWORD)}


def counters_now():
    return {key: last for key, last in db.session.execute(
        sa.select(NumberSequence.key, NumberSequence.last))}


def this_year():
    return numbering.year_of(utcnow())


# ---- the order of issue ----------------------------------------------------------------

def test_the_file_is_issued_first_and_each_notice_after_it_cites_its_number(app, people):
    year = this_year()
    call, rows = on_notice(2)
    assert scheduler.approve_ended_notices() == 2
    db.session.expire_all()
    # Approval numbers the projects (kjflow's own) and renders nothing by itself.
    assert all(r.project_number.startswith(f"GZKJ-{year}-BG-") for r in rows)
    assert call.doc_number == f"赣市科字〔{year}〕1号"
    assert topics().index("call.approval_file") < topics().index("application.notice")
    deliver("application.approve")
    assert db.session.scalar(sa.select(sa.func.count(Document.id))) == 0
    deliver("call.approval_file")
    deliver("application.notice")
    file_doc = db.session.scalars(sa.select(Document).where(Document.call_id == call.id)).one()
    assert file_doc.doc_number == call.doc_number and call.doc_number in text_of(file_doc)
    for row in rows:
        doc = db.session.scalars(sa.select(Document).where(
            Document.application_id == row.id, Document.kind == "notice")).one()
        text = text_of(doc)
        assert doc.doc_number == row.doc_number and row.doc_number in text
        assert call.doc_number in text  # the notice cites its 立项文件
        # The team is told when its notice is issued, with the link to it.
        assert db.session.scalar(sa.select(sa.func.count(Notification.id)).where(
            Notification.user_id == row.applicant_id,
            Notification.link == f"/documents/{doc.id}")) == 2


def test_a_render_run_twice_or_again_takes_no_second_number(app, people):
    _call, (row, _) = on_notice(2)
    scheduler.approve_ended_notices()
    counters = counters_now()
    given = db.session.scalar(sa.select(sa.func.count(IssuedNumber.id)))
    deliver("call.approval_file")
    deliver("application.notice")
    deliver("application.notice")
    from workflow.documents import official

    first = official.render_notice(row.id)
    db.session.delete(first)
    db.session.commit()
    again = official.render_notice(row.id)  # rendered from scratch: same number
    db.session.commit()
    assert again.doc_number == row.doc_number == first.doc_number
    assert counters_now() == counters
    assert db.session.scalar(sa.select(sa.func.count(IssuedNumber.id))) == given == 3
    assert db.session.scalar(sa.select(sa.func.count(Document.id))) == 3


# ---- entered by the office, on its pages -------------------------------------------------

def test_an_entered_file_waits_then_the_office_enters_its_number_on_the_page(app, people):
    year = this_year()
    office = client_for(app, "officer", PASSWORD)
    page = office.get("/admin/numbering")
    assert page.status_code == 200 and "发文字号" in page.get_data(as_text=True)
    resp = office.post("/admin/numbering/approval_file", data={
        "csrf_token": csrf_of(page.get_data(as_text=True)), "mode": "entered",
        "prefix": "赣市科字〔{year}〕", "next_number": ""})
    assert resp.status_code == 302
    call, rows = on_notice(2)
    assert scheduler.approve_ended_notices() == 2
    db.session.expire_all()
    # Approved, numbered as projects; the 立项文件 waits for the office, the notices for it.
    assert all(r.state is ApplicationState.approved and r.project_number for r in rows)
    assert call.doc_number is None and all(r.doc_number is None for r in rows)
    assert "call.approval_file" not in topics() and "application.notice" not in topics()

    listing = office.get("/admin/numbering/documents").get_data(as_text=True)
    assert "待编号" in listing and "关于下达2026年度稀土专项立项项目的通知" in listing
    assert "稀土专项" in office.get("/admin/numbering/documents?q=稀土专项").get_data(
        as_text=True)
    assert "关于下达" not in office.get("/admin/numbering/documents?q=没有这个").get_data(
        as_text=True)
    waiting = db.session.scalars(sa.select(IssuedNumber)).one()
    form = office.get(f"/admin/numbering/documents/{waiting.id}").get_data(as_text=True)
    token = csrf_of(form)
    # Refused input changes nothing, and says why beside the field.
    assert office.post(f"/admin/numbering/documents/{waiting.id}",
                       data={"number": f"赣市科字〔{year}〕15号"}).status_code == 400
    for bad, why in ((f"赣市科字〔{year}〕\n15号", "不能换行"), ("", "请填写发文字号"),
                     ("赣市科字15号", "年份"), ("赣" * 41, "不能超过40字")):
        resp = office.post(f"/admin/numbering/documents/{waiting.id}",
                           data={"csrf_token": token, "number": bad})
        assert resp.status_code == 422 and why in resp.get_data(as_text=True)
    db.session.expire_all()
    assert waiting.number is None and topics().count("call.approval_file") == 0

    resp = office.post(f"/admin/numbering/documents/{waiting.id}",
                       data={"csrf_token": token, "number": f"赣市科字〔{year}〕15号"})
    assert resp.status_code == 302
    db.session.expire_all()
    assert call.doc_number == f"赣市科字〔{year}〕15号"
    # The notices follow, from their sequence, past the number the office entered.
    by_project = sorted(rows, key=lambda r: r.project_number)
    assert [r.doc_number for r in by_project] == [f"赣市科字〔{year}〕{i}号" for i in (16, 17)]
    deliver("call.approval_file")
    deliver("application.notice")
    file_doc = db.session.scalars(sa.select(Document).where(Document.call_id == call.id)).one()
    assert f"赣市科字〔{year}〕15号" in text_of(file_doc)
    notice = db.session.scalars(sa.select(Document).where(
        Document.application_id == by_project[0].id)).one()
    assert f"赣市科字〔{year}〕15号" in text_of(notice)
    # The same number for another document is refused, and the entry is audited.
    again = office.post(f"/admin/numbering/documents/{waiting.id}",
                        data={"csrf_token": token, "number": f"赣市科字〔{year}〕18号"})
    assert again.status_code == 409 and "已编号" in again.get_data(as_text=True)
    (entered,) = db.session.scalars(sa.select(AuditEvent).where(
        AuditEvent.entity_type == "issued_number")).all()
    assert (entered.trigger, entered.actor_id) == ("enter_number", people["officer"].id)
    assert "已编号" in office.get("/admin/numbering/documents?state=numbered").get_data(
        as_text=True)


def test_the_settings_page_refuses_a_next_number_already_given(app, people):
    year = this_year()
    _call, _ = on_notice(2)
    scheduler.approve_ended_notices()  # 1 (the file), 2 and 3 (the notices)
    office = client_for(app, "officer", PASSWORD)
    token = csrf_of(office.get("/admin/numbering").get_data(as_text=True))
    resp = office.post("/admin/numbering/notice", data={
        "csrf_token": token, "mode": "sequence", "prefix": "赣市科字〔{year}〕",
        "next_number": "3"})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 422 and f"赣市科字〔{year}〕已发至3号，下一个号应大于3" in html
    assert numbering.sequence_of("notice").next == 4
    resp = office.post("/admin/numbering/notice", data={
        "csrf_token": token, "mode": "sequence", "prefix": "赣市科字〔{year}〕",
        "next_number": "120"})
    assert resp.status_code == 302
    page = office.get("/admin/numbering").get_data(as_text=True)
    assert f"赣市科字〔{year}〕120号" in page
    assert office.post("/admin/numbering/task_book", data={
        "csrf_token": token, "mode": "sequence"}).status_code == 404


# ---- the API -----------------------------------------------------------------------------

def test_the_api_sets_numbering_lists_the_waiting_and_enters_numbers(client, people):
    year = this_year()
    office = bearer(client, "officer")
    body = client.get("/api/v1/doc-numbering", headers=office).get_json()
    assert [k["kind"] for k in body["items"]] == ["approval_file", "notice", "payment_notice",
                                                "recovery_notice", "change_approval",
                                                "acceptance_conclusion",
                                                "midterm_conclusion"]
    assert body["items"][0]["next_doc_number"] == f"赣市科字〔{year}〕1号"
    resp = client.put("/api/v1/doc-numbering/notice", headers=office,
                      json={"mode": "entered"})
    assert resp.status_code == 200 and resp.get_json()["mode"] == "entered"
    for bad, field in (({"mode": "manual"}, "mode"), ({"prefix": "赣市科字"}, "prefix"),
                       ({"next_number": 0}, "next_number"), ({"next_number": "5"}, "next_number"),
                       ({"colour": "red"}, "colour")):
        resp = client.put("/api/v1/doc-numbering/notice", headers=office, json=bad)
        assert resp.status_code == 422 and field in resp.get_json()["error"]["details"], bad
    assert client.put("/api/v1/doc-numbering/task_book", headers=office,
                      json={"mode": "sequence"}).status_code == 404

    call, rows = on_notice(2)
    scheduler.approve_ended_notices()  # the file from the sequence; the notices wait
    db.session.expire_all()
    assert call.doc_number == f"赣市科字〔{year}〕1号"
    page = client.get("/api/v1/doc-numbers?state=awaiting&sort=due&dir=asc",
                      headers=office).get_json()
    assert page["total"] == 2 and {i["kind"] for i in page["items"]} == {"notice"}
    assert all(i["number"] is None and i["state"] == "awaiting" for i in page["items"])
    first, second = page["items"]
    assert client.get("/api/v1/doc-numbers?state=late", headers=office).status_code == 422

    taken = client.post(f"/api/v1/doc-numbers/{first['id']}", headers=office,
                        json={"number": call.doc_number})
    assert taken.status_code == 409 and "已用于立项文件" in taken.get_json()["error"]["message"]
    bad = client.post(f"/api/v1/doc-numbers/{first['id']}", headers=office,
                      json={"number": "赣市科字〔2026〕\r\n7号"})
    assert bad.status_code == 422
    done = client.post(f"/api/v1/doc-numbers/{first['id']}", headers=office,
                       json={"number": f"赣市科字〔{year}〕7号"})
    assert done.status_code == 200
    assert (done.get_json()["state"], done.get_json()["number"]) == (
        "numbered", f"赣市科字〔{year}〕7号")
    assert client.post(f"/api/v1/doc-numbers/{second['id']}", headers=office,
                       json={"number": f"赣市科字〔{year}〕7号"}).status_code == 409
    assert client.post(f"/api/v1/doc-numbers/{first['id']}", headers=office,
                       json={"number": f"赣市科字〔{year}〕8号"}).status_code == 409
    assert client.get(f"/api/v1/doc-numbers/{first['id']}", headers=office).get_json()[
        "number"] == f"赣市科字〔{year}〕7号"
    assert client.get("/api/v1/doc-numbers/99999", headers=office).status_code == 404
    # A next number at or below one given (7, entered) is refused, with the reason.
    low = client.put("/api/v1/doc-numbering/approval_file", headers=office,
                     json={"next_number": 6})
    assert low.status_code == 422 and "已发至7号" in low.get_json()["error"]["message"]
    deliver("application.notice")
    db.session.expire_all()
    (numbered,) = [r for r in rows if r.doc_number == f"赣市科字〔{year}〕7号"]
    doc = db.session.scalars(sa.select(Document).where(
        Document.application_id == numbered.id)).one()
    text = text_of(doc)
    assert f"赣市科字〔{year}〕7号" in text and call.doc_number in text
    assert db.session.scalar(sa.select(sa.func.count(Document.id)).where(
        Document.kind == "notice")) == 1  # the other still waits


def test_an_entered_payment_notice_waits_for_its_number(client, people):
    from workflow.finance import operations as finance

    year = this_year()
    office = bearer(client, "officer")
    client.put("/api/v1/doc-numbering/payment_notice", headers=office,
               json={"mode": "entered"})
    f1 = UserFactory(roles=("finance",), organization=None)
    f2 = UserFactory(roles=("finance",), organization=None)
    call = CallFactory(budget=Decimal("5000000.00"), tranche_plan=[
        {"label": "合同签订后拨付", "percent": 100, "condition": "contract"}])
    row = ApplicationFactory(call=call, state=ApplicationState.public_notice,
                             granted_amount=Decimal("1000000.00"),
                             notice_ends_at=utcnow() - timedelta(minutes=1),
                             task_book_signed_by=("team",))
    db.session.commit()
    engine.fire(row, "approve", None)
    engine.fire(row, "sign_contract", people["officer"])
    db.session.commit()
    tranche = finance.tranches_of(row)[0]
    for trigger, who, data in (("prepare", f1, None), ("approve", f2, None),
                               ("release", f2, {"payment_ref": "ZF2026-0042"})):
        engine.fire(engine.load("tranche", tranche.id, lock=True), trigger, who, data=data)
    db.session.commit()
    assert "tranche.payment_notice" not in topics()
    (waiting,) = client.get("/api/v1/doc-numbers?kind=payment_notice",
                            headers=office).get_json()["items"]
    assert waiting["state"] == "awaiting" and "合同签订后拨付" in waiting["subject"]
    assert client.post(f"/api/v1/doc-numbers/{waiting['id']}", headers=office,
                       json={"number": f"赣市科财字〔{year}〕3号"}).status_code == 200
    deliver("tranche.payment_notice")
    doc = db.session.scalars(sa.select(Document).where(
        Document.kind == "payment_notice")).one()
    assert doc.doc_number == f"赣市科财字〔{year}〕3号" and doc.doc_number in text_of(doc)


# ---- who ---------------------------------------------------------------------------------

@pytest.mark.parametrize("who", ["researcher", "expert", "admin", "finance"])
def test_only_the_officer_sees_or_sets_the_numbers(app, client, people, who):
    numbering.configure("approval_file", "entered", None, None, people["officer"], "officer")
    _call, _ = on_notice(1)
    scheduler.approve_ended_notices()
    waiting = db.session.scalars(sa.select(IssuedNumber)).one()
    browser = client_for(app, who, PASSWORD)
    for path in ("/admin/numbering", "/admin/numbering/documents",
                 f"/admin/numbering/documents/{waiting.id}"):
        assert browser.get(path).status_code == 403, path
    home = browser.get("/").get_data(as_text=True)
    assert "/admin/numbering" not in home
    token = csrf_of(home) if 'name="csrf_token"' in home else ""
    assert browser.post(f"/admin/numbering/documents/{waiting.id}", data={
        "csrf_token": token, "number": "赣市科字〔2026〕1号"}).status_code in (400, 403)
    headers = bearer(client, who)
    assert client.get("/api/v1/doc-numbering", headers=headers).status_code == 403
    assert client.put("/api/v1/doc-numbering/notice", headers=headers,
                      json={"mode": "entered"}).status_code == 403
    assert client.get("/api/v1/doc-numbers", headers=headers).status_code == 403
    assert client.post(f"/api/v1/doc-numbers/{waiting.id}", headers=headers,
                       json={"number": "赣市科字〔2026〕1号"}).status_code == 403
    db.session.expire_all()
    assert waiting.number is None and numbering.setting("notice").mode.value == "sequence"
    officer_home = client_for(app, "officer", PASSWORD).get("/").get_data(as_text=True)
    assert re.search(r'href="/admin/numbering"[^>]*>发文字号<', officer_home)
