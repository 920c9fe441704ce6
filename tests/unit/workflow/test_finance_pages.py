"""The finance queue, the ledger pages and the money API, by role and ownership."""

import io
from datetime import timedelta
from decimal import Decimal

import pytest
from openpyxl import load_workbook

from states import ApplicationState, TrancheState
from tests import acceptance_steps as steps
from tests.conftest import api_token, client_for, csrf_of
from tests.factories import PASSWORD, ApplicationFactory, CallFactory, UserFactory
from workflow.acceptance import operations as acceptances
from workflow.acceptance.models import Acceptance
from workflow.core import engine
from workflow.core.models import db, utcnow
from workflow.finance import operations as finance


@pytest.fixture
def project(app):
    people = {"officer": UserFactory(roles=("officer",), organization=None),
              "finance1": UserFactory(roles=("finance",), organization=None),
              "finance2": UserFactory(roles=("finance",), organization=None),
              "applicant": UserFactory(roles=("applicant",)),
              "stranger": UserFactory(roles=("applicant",))}
    call = CallFactory(budget=Decimal("5000000.00"), tranche_plan=[
        {"label": "合同签订后拨付", "percent": 70, "condition": "contract"},
        {"label": "验收后拨付", "percent": 30, "condition": "acceptance"}])
    row = ApplicationFactory(call=call, applicant=people["applicant"],
                             state=ApplicationState.public_notice,
                             granted_amount=Decimal("1234500.00"),
                             notice_ends_at=utcnow() - timedelta(minutes=1),
                             task_book_signed_by=("team",))
    db.session.commit()
    engine.fire(row, "approve", None)
    engine.fire(row, "sign_contract", people["officer"])
    db.session.commit()
    return people, row


def test_finance_prepares_and_a_second_one_approves_and_releases_on_the_queue(app, project):
    people, row = project
    first = finance.tranches_of(row)[0]
    maker = client_for(app, people["finance1"].username, PASSWORD)
    page = maker.get("/finance").get_data(as_text=True)
    assert "捌拾陆万肆仟壹佰伍拾元整" in page  # 864,150.00 in capitals
    assert row.organization.bank_account in page and "86.42" in page
    done = maker.post(f"/tranches/{first.id}/fire", data={
        "csrf_token": csrf_of(page), "trigger": "prepare", "version": first.version,
        "next": "/finance"}, follow_redirects=True).get_data(as_text=True)
    db.session.expire_all()
    assert first.state is TrancheState.prepared
    # The row left the 应付 tab; the message says which one it was.
    assert f"已制单：{row.project_number} 合同签订后拨付 86.42万元" in done
    page = maker.get("/finance?state=prepared").get_data(as_text=True)
    resp = maker.post(f"/tranches/{first.id}/fire", data={
        "csrf_token": csrf_of(page), "trigger": "approve", "version": first.version},
        follow_redirects=True)
    assert "制单人不能审核" in resp.get_data(as_text=True)

    checker = client_for(app, people["finance2"].username, PASSWORD)
    page = checker.get("/finance?state=prepared").get_data(as_text=True)
    checker.post(f"/tranches/{first.id}/fire", data={
        "csrf_token": csrf_of(page), "trigger": "approve", "version": first.version})
    db.session.expire_all()
    resp = checker.post(f"/tranches/{first.id}/fire", data={
        "csrf_token": csrf_of(page), "trigger": "release", "version": first.version,
        "payment_ref": ""}, follow_redirects=True)
    assert "请填写支付凭证号" in resp.get_data(as_text=True)
    checker.post(f"/tranches/{first.id}/fire", data={
        "csrf_token": csrf_of(page), "trigger": "release", "version": first.version,
        "payment_ref": "ZF2026-0099"})
    db.session.expire_all()
    assert first.state is TrancheState.released and first.payment_ref == "ZF2026-0099"

    # The researcher sees the payment on the project page.
    own = client_for(app, people["applicant"].username, PASSWORD)
    page = own.get(f"/applications/{row.id}").get_data(as_text=True)
    assert "ZF2026-0099" in page and "已拨付" in page and "86.42" in page
    # And the ledger shows it, reconciled.
    ledger_page = checker.get(f"/calls/{row.call_id}/ledger").get_data(as_text=True)
    assert "拨付" in ledger_page and "一致" in ledger_page
    # Each entry names its project by number, never by an internal id.
    entries = ledger_page.split('data-testid="ledger"')[1].split("</tbody>")[0]
    assert entries.count(f">{row.project_number}</a>") == 2  # 立项承诺, 拨付
    assert f">#{row.id}<" not in entries
    paid = checker.get(f"/calls/{row.call_id}/ledger?kind=disbursement&q={row.project_number}")
    assert paid.get_data(as_text=True).count("ZF2026-0099") == 1
    for url in (f"/calls/{row.call_id}/ledger.xlsx",
                f"/calls/{row.call_id}/ledger?export=xlsx&kind=disbursement"):
        book = load_workbook(io.BytesIO(checker.get(url).data))
        header, *lines = list(book.worksheets[0].iter_rows(values_only=True))
        sheet = [dict(zip(header, line, strict=True)) for line in lines]
        paid_rows = [r for r in sheet if r["类型"] == "拨付"]
        assert [(r["项目编号"], r["凭证/文号"], r["拨付批次"]) for r in paid_rows] == [
            (row.project_number, "ZF2026-0099", "合同签订后拨付")]
        assert paid_rows[0]["金额（万元）"] == 86.415  # exact: 864,150 元
        assert book.sheetnames[-1] == "对账"


def test_the_final_report_and_the_verdict_show_on_the_page_and_under_data_in_the_api(
        app, project):
    people, row = project
    first = finance.tranches_of(row)[0]
    engine.fire(first, "prepare", people["finance1"])
    engine.fire(first, "approve", people["finance2"])
    engine.fire(first, "release", people["finance2"], data={"payment_ref": "ZF2026-0100"})
    engine.fire(row, "start", None)
    db.session.commit()
    report = "项目全部完成，各项考核指标均已达到任务书要求，经费使用规范。"
    own = client_for(app, people["applicant"].username, PASSWORD)
    mine = {"Authorization": "Bearer " + api_token(own, people["applicant"].username,
                                                   PASSWORD)}
    # The report goes into the 结题验收 package; the rest of the package, the unit, the
    # panel and finance follow (tests/acceptance_steps.py) before the officer's pass.
    resp = own.post(f"/api/v1/applications/{row.id}/final-report", headers=mine,
                    json={"report": report, "surplus_wan": "5.5"})
    assert resp.status_code == 200, resp.get_json()
    acc = db.session.get(Acceptance, resp.get_json()["acceptance_id"])
    package = {**steps.full_package(row, spent_wan="60", surplus_wan="5.5"), "report": report}
    acceptances.save_package(people["applicant"], acc, package)
    acceptances.attach_tech_report(people["applicant"], acc, "科技报告.pdf",
                                   io.BytesIO(steps.pdf_bytes()))
    db.session.commit()
    steps.fire(acc, "submit", people["applicant"])
    steps.fire(acc, "endorse", steps.unit_admin(row))
    panel = steps.experts()
    steps.fire(acc, "assign_panel", people["officer"], expert_ids=[str(e.id) for e in panel])
    steps.score_all(acc, panel)
    steps.check_finance(acc)
    officer = {"Authorization": "Bearer " + api_token(own, people["officer"].username,
                                                      PASSWORD)}
    resp = own.post(f"/api/v1/acceptances/{acc.id}/conclusion", headers=officer,
                    json={"grade": "pass", "comment": "专家组一致同意通过验收"})
    assert resp.status_code == 200, resp.get_json()

    data = own.get(f"/api/v1/applications/{row.id}", headers=mine).get_json()["data"]
    assert data["summary"] == "摘要"
    assert {k: v for k, v in data["final_report"].items() if k != "submitted_at"} == {
        "report": report, "surplus": "55000.00", "evidence": [acc.tech_report_sha256]}
    assert data["acceptance"]["verdict"] == "pass"
    assert data["acceptance"]["opinions"].startswith("专家1：通过，")
    contract = data["contract"]
    assert contract["signed_by"] == ["bureau", "team"]
    assert (contract["team_signer"], contract["bureau_signer"]) == (
        people["applicant"].name, people["officer"].name)
    assert contract["team_signed_at"] < contract["signed_at"]
    page = own.get(f"/applications/{row.id}").get_data(as_text=True)
    assert 'data-testid="project-acceptance"' in page and "验收通过" in page
    page = own.get(f"/acceptances/{acc.id}").get_data(as_text=True)
    assert report in page and "结余 5.50 万元" in page


def test_money_pages_are_closed_to_researchers(app, project):
    people, row = project
    own = client_for(app, people["applicant"].username, PASSWORD)
    # The pages exist and the call is seen: refused, not hidden (403).
    for path in ("/finance", f"/calls/{row.call_id}/ledger", "/finance/reconcile",
                 f"/calls/{row.call_id}/ledger.xlsx"):
        assert own.get(path).status_code == 403, path
    stranger = client_for(app, people["stranger"].username, PASSWORD)
    page = stranger.get(f"/applications/{row.id}")
    # (Not a bare "ZF": a random CSRF token in the page may contain it.)
    assert page.status_code == 404
    assert row.organization.bank_account not in page.get_data(as_text=True)


def test_the_api_lists_due_tranches_and_the_ledger(client, project):
    people, row = project
    token = api_token(client, people["finance1"].username, PASSWORD)
    auth = {"Authorization": f"Bearer {token}"}
    due = client.get("/api/v1/tranches?state=due", headers=auth).get_json()["items"]
    assert [(t["amount_wan"], t["amount_capital"]) for t in due] == [
        ("86.42", "捌拾陆万肆仟壹佰伍拾元整")]  # 864,150.00 yuan
    assert client.get("/api/v1/tranches?state=nope", headers=auth).status_code == 422
    body = client.get(f"/api/v1/budgets/{row.call_id}/ledger", headers=auth).get_json()
    assert [e["kind"] for e in body["entries"]] == ["allocation", "commitment"]
    assert body["reconciliation"]["ok"] is True
    rec = client.get("/api/v1/finance/reconciliation?year=1999", headers=auth)
    assert rec.status_code == 422
    mine = {"Authorization": "Bearer " + api_token(client, people["applicant"].username,
                                                   PASSWORD)}
    assert len(client.get("/api/v1/tranches", headers=mine).get_json()["items"]) == 2
    other = {"Authorization": "Bearer " + api_token(client, people["stranger"].username,
                                                    PASSWORD)}
    assert client.get("/api/v1/tranches", headers=other).get_json()["items"] == []
    # The call is seen, its ledger refused (403).
    assert client.get(f"/api/v1/budgets/{row.call_id}/ledger",
                      headers=other).status_code == 403


def test_the_organisation_keeps_its_bank_account(app, project):
    people, row = project
    admin = UserFactory(roles=("org_admin",), organization=row.organization)
    db.session.commit()
    client = client_for(app, admin.username, PASSWORD)
    page = client.get("/organization/bank").get_data(as_text=True)
    resp = client.post("/organization/bank", data={"csrf_token": csrf_of(page),
                                                   "bank_name": "工行", "bank_account": "12ab"})
    assert resp.status_code == 422 and "银行账号应为8至32位数字" in resp.get_data(as_text=True)
    client.post("/organization/bank", data={"csrf_token": csrf_of(page),
                                            "bank_name": "工商银行赣州分行",
                                            "bank_account": "6222 0215 0000 1234"})
    db.session.expire_all()
    assert row.organization.bank_account == "6222021500001234"
    assert client_for(app, people["applicant"].username, PASSWORD).get(
        "/organization/bank").status_code == 403


def test_a_release_renders_the_payment_notice_and_tells_the_researcher(app, project):
    import io

    import sqlalchemy as sa
    from pypdf import PdfReader

    from workflow.core import files, outbox
    from workflow.core.models import OutboxEvent
    from workflow.documents import official
    from workflow.documents.models import Document
    from workflow.notify.models import Notification

    people, row = project
    first = finance.tranches_of(row)[0]
    for trigger, who, data in (("prepare", "finance1", None), ("approve", "finance2", None),
                               ("release", "finance2", {"payment_ref": "ZF2026-0042"})):
        engine.fire(engine.load("tranche", first.id, lock=True), trigger, people[who],
                    data=data)
    db.session.commit()
    # Released: the 拨付通知 is issued with its 发文字号 (the office's sequence here).
    (event,) = db.session.scalars(sa.select(OutboxEvent).where(
        OutboxEvent.topic == "tranche.payment_notice")).all()
    assert "render_payment_notice" in outbox.consumers_for(event.topic)
    outbox.consume(event.id, "render_payment_notice")
    outbox.consume(event.id, "render_payment_notice")  # a repeated task does nothing
    (doc,) = db.session.scalars(sa.select(Document).where(
        Document.kind == "payment_notice")).all()
    with files.store().open(doc.sha256) as fh:
        pages = [p.extract_text() for p in PdfReader(io.BytesIO(fh.read())).pages]
    text = "".join(pages).replace("\n", "")
    number = event.payload["number"]
    assert doc.doc_number == number and number.startswith("赣市科字〔")
    for expected in (number, "ZF2026-0042", "86.42", "捌拾陆万肆仟壹佰伍拾元整", row.project_number,
                     row.organization.bank_account, "37.04"):  # 123.45 - 86.42 left
        assert expected in text, expected
    # GB/T 9704: the signature never alone on a page (the 版头 takes half the first)
    assert doc.pages == len(pages) <= 2 and "特此通知" in pages[-1]
    assert official.render_payment_notice(first.id).id == doc.id
    note = db.session.scalars(sa.select(Notification).where(
        Notification.topic == "tranche_released", Notification.channel == "inapp")).one()
    assert note.user_id == row.applicant_id and note.link == f"/documents/{doc.id}"


def test_finance_reads_approved_projects_only(app, project):
    people, row = project
    draft = ApplicationFactory(applicant=people["applicant"])
    db.session.commit()
    client = client_for(app, people["finance1"].username, PASSWORD)
    assert client.get(f"/applications/{row.id}").status_code == 200
    assert client.get(f"/applications/{draft.id}").status_code == 404
    listing = client.get("/applications").get_data(as_text=True)
    assert row.title in listing and draft.title not in listing
