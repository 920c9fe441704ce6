"""Money goes to the account that was checked: the voucher keeps the payee the maker
checked; an account changed since refuses the check and the payment (409) until the
voucher is made again; a released tranche shows the account it was paid to, forever;
every change of an organisation's account or details is audited and shown to finance."""

import io
from datetime import timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook
from pypdf import PdfReader

from states import ApplicationState, TrancheState
from tests.conftest import api_token, client_for, csrf_of
from tests.factories import PASSWORD, ApplicationFactory, CallFactory, UserFactory
from workflow.core import audit, engine, files
from workflow.core.models import AuditEvent, db, utcnow
from workflow.documents import official
from workflow.finance import operations as finance
from workflow.finance.models import LedgerEntry

T = TrancheState
OLD_BANK, OLD_ACCOUNT = "中国银行赣州分行", "6216610000000001"
NEW_BANK, NEW_ACCOUNT = "建设银行赣州开发区支行", "6227002020000009"


@pytest.fixture
def project(app):
    """A contracted project whose first tranche is due; its organisation's administrator
    and two finance staff (maker and checker), each with an API token."""
    people = {"officer": UserFactory(roles=("officer",), organization=None, name="张科长"),
              "maker": UserFactory(roles=("finance",), organization=None, name="周会计"),
              "checker": UserFactory(roles=("finance",), organization=None, name="吴出纳"),
              "applicant": UserFactory(roles=("applicant",), name="李明")}
    org = people["applicant"].organization
    org.bank_name, org.bank_account = OLD_BANK, OLD_ACCOUNT
    people["unitadmin"] = UserFactory(roles=("org_admin",), organization=org, name="赵主任")
    call = CallFactory(budget=Decimal("5000000.00"), tranche_plan=[
        {"label": "合同签订后拨付", "percent": 70, "condition": "contract"},
        {"label": "验收后拨付", "percent": 30, "condition": "acceptance"}])
    row = ApplicationFactory(call=call, applicant=people["applicant"],
                             state=ApplicationState.public_notice,
                             granted_amount=Decimal("1000000.00"),
                             notice_ends_at=utcnow() - timedelta(minutes=1),
                             task_book_signed_by=("team",))
    db.session.commit()
    engine.fire(row, "approve", None)
    engine.fire(row, "sign_contract", people["officer"])
    db.session.commit()
    return people, row, finance.tranches_of(row)[0]


def bearer(app, user):
    client = app.test_client()
    return {"Authorization": "Bearer " + api_token(client, user.username, PASSWORD)}


def fire(client, headers, tranche, trigger, **data):
    return client.post(f"/api/v1/tranches/{tranche.id}/transitions", headers=headers,
                       json={"trigger": trigger, **({"data": data} if data else {})})


def change_account(client, headers, org, bank=NEW_BANK, account=NEW_ACCOUNT):
    resp = client.put(f"/api/v1/organizations/{org.id}/bank-account", headers=headers,
                      json={"bank_name": bank, "bank_account": account})
    assert resp.status_code == 200, resp.get_json()


def api_tranche(client, headers, tranche, state):
    items = client.get(f"/api/v1/tranches?state={state}", headers=headers).get_json()["items"]
    return next(t for t in items if t["id"] == tranche.id)


def test_a_released_tranche_shows_the_account_it_was_paid_to_after_the_account_changes(
        app, client, project):
    people, row, first = project
    maker, checker = bearer(app, people["maker"]), bearer(app, people["checker"])
    assert fire(client, maker, first, "prepare").status_code == 200
    assert fire(client, checker, first, "approve").status_code == 200
    assert fire(client, checker, first, "release", payment_ref="ZF2026-0001").status_code == 200
    change_account(client, bearer(app, people["unitadmin"]), row.organization)

    # The API: the account it was paid to.
    paid = api_tranche(client, checker, first, "released")
    assert paid["payee"] == {"organization": row.organization.name, "bank_name": OLD_BANK,
                             "bank_account": OLD_ACCOUNT}
    assert paid["payee_on_voucher"] is True and paid["payee_changed"] is None
    # The finance queue and the tranche's page.
    pages = client_for(app, people["checker"].username, PASSWORD)
    for url in ("/finance?state=released", f"/tranches/{first.id}"):
        page = pages.get(url).get_data(as_text=True)
        assert OLD_ACCOUNT in page and NEW_ACCOUNT not in page, url
    assert "拨付至（实际收款账户）" in pages.get(f"/tranches/{first.id}").get_data(as_text=True)
    # The Excel export, from the page and from the API.
    for book in (pages.get("/finance?state=released&export=xlsx").data,
                 client.get("/api/v1/tranches?state=released&export=xlsx", headers=checker).data):
        header, *lines = list(load_workbook(io.BytesIO(book)).worksheets[0].iter_rows(
            values_only=True))
        sheet = [dict(zip(header, line, strict=True)) for line in lines]
        assert [(r["开户银行"], r["银行账号"], r["收款账户依据"]) for r in sheet] == [
            (OLD_BANK, OLD_ACCOUNT, "已拨付至该账户")]
    # The payment notice, even when the worker renders it after the change.
    doc = official.render_payment_notice(first.id)
    with files.store().open(doc.sha256) as fh:
        text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(fh.read())).pages)
    assert OLD_ACCOUNT in text and NEW_ACCOUNT not in text


def test_an_account_changed_after_preparation_refuses_the_check_and_the_payment(
        app, client, project):
    people, row, first = project
    maker, checker = bearer(app, people["maker"]), bearer(app, people["checker"])
    assert fire(client, maker, first, "prepare").status_code == 200
    change_account(client, bearer(app, people["unitadmin"]), row.organization)
    db.session.expire_all()
    version, trail = first.version, len(audit.history("tranche", first.id))

    resp = fire(client, checker, first, "approve")
    assert resp.status_code == 409
    error = resp.get_json()["error"]
    assert error["details"][0]["code"] == "payee_changed"
    for said in ("收款账户已于", "由 赵主任 变更", "与制单时核对的账户不一致", "尾号0001",
                 "尾号0009", "不能审核", "重新制单"):
        assert said in error["message"], said
    db.session.expire_all()
    assert (first.state, first.version, first.approved_by_id) == (T.prepared, version, None)
    assert len(audit.history("tranche", first.id)) == trail
    # The transitions say so, and offer to prepare again on the new account.
    listed = {t["trigger"]: t for t in client.get(
        f"/api/v1/tranches/{first.id}/transitions", headers=checker).get_json()["transitions"]}
    assert listed["approve"]["allowed"] is False
    assert "重新制单" in listed["approve"]["reasons"][0]["message"]
    assert listed["reprepare"]["allowed"] is True
    # The queue shows finance who changed it and when; the checker's button is gone.
    page = client_for(app, people["checker"].username, PASSWORD).get(
        "/finance?state=prepared").get_data(as_text=True)
    note = page.split('data-testid="payee-note"')[1].split("</span>")[0]
    for said in ("收款账户已于", "由 赵主任 变更", "须按变更后的账户重新制单"):
        assert said in note, said
    assert 'value="approve"' not in page and 'value="reprepare"' in page


def test_an_account_changed_after_the_check_refuses_the_payment(app, client, project):
    people, row, first = project
    maker, checker = bearer(app, people["maker"]), bearer(app, people["checker"])
    fire(client, maker, first, "prepare")
    assert fire(client, checker, first, "approve").status_code == 200
    change_account(client, bearer(app, people["unitadmin"]), row.organization)
    resp = fire(client, checker, first, "release", payment_ref="ZF2026-0002")
    assert resp.status_code == 409 and "不能拨付" in resp.get_json()["error"]["message"]
    db.session.expire_all()
    assert first.state is T.approved and first.payment_ref is None
    assert row.disbursed == Decimal("0.00")
    assert db.session.scalar(sa.select(sa.func.count()).select_from(LedgerEntry).where(
        LedgerEntry.tranche_id == first.id)) == 0


def test_preparing_again_takes_the_new_account_and_pays_it(app, client, project):
    people, row, first = project
    maker, checker = bearer(app, people["maker"]), bearer(app, people["checker"])
    fire(client, maker, first, "prepare")
    fire(client, checker, first, "approve")
    change_account(client, bearer(app, people["unitadmin"]), row.organization)
    # Before: the account on the voucher, and what changed.
    before = api_tranche(client, checker, first, "approved")
    assert before["payee"]["bank_account"] == OLD_ACCOUNT
    assert before["payee_changed"]["by"] == "赵主任"
    assert before["payee_changed"]["current"]["bank_account"] == NEW_ACCOUNT
    # The finance to-do says what to do.
    home = client_for(app, people["maker"].username, PASSWORD).get("/").get_data(as_text=True)
    assert "收款账户已变更，待重新制单" in home

    assert fire(client, maker, first, "reprepare").status_code == 200
    again = api_tranche(client, checker, first, "prepared")
    assert again["payee"]["bank_account"] == NEW_ACCOUNT and again["payee_changed"] is None
    db.session.expire_all()
    assert first.prepared_by_id == people["maker"].id and first.approved_by_id is None
    # Nothing changed since: nothing to prepare again; a new check is needed.
    assert fire(client, maker, first, "reprepare").status_code == 409
    assert fire(client, maker, first, "approve").status_code == 422  # the maker: not the checker
    assert fire(client, checker, first, "approve").status_code == 200
    assert fire(client, checker, first, "release", payment_ref="ZF2026-0003").status_code == 200
    paid = api_tranche(client, checker, first, "released")
    assert (paid["payee"]["bank_name"], paid["payee"]["bank_account"]) == (NEW_BANK,
                                                                          NEW_ACCOUNT)
    # The voucher's change is in the tranche's own trail, old → new.
    prepared = [ev for ev in audit.history("tranche", first.id) if ev.trigger == "reprepare"]
    assert prepared[0].data["changes"]["payee_account"] == [OLD_ACCOUNT, NEW_ACCOUNT]


def test_every_change_of_an_account_or_details_is_audited_and_shown_to_finance(
        app, client, project):
    people, row, first = project
    org = row.organization
    admin = client_for(app, people["unitadmin"].username, PASSWORD)
    form = admin.get("/organization/bank").get_data(as_text=True)
    resp = admin.post("/organization/bank", data={
        "csrf_token": csrf_of(form), "bank_name": NEW_BANK, "bank_account": NEW_ACCOUNT})
    assert resp.status_code == 302
    officer = bearer(app, people["officer"])
    resp = client.patch(f"/api/v1/organizations/{org.id}", headers=officer,
                        json={"name": "赣南科技大学（更名）"})
    assert resp.status_code == 200, resp.get_json()

    trail = audit.history("organization", org.id)
    assert [(ev.trigger, ev.actor_name) for ev in trail] == [
        ("change_bank_account", "赵主任"), ("update_organization", "张科长")]
    assert trail[0].data["changes"] == {"bank_name": [OLD_BANK, NEW_BANK],
                                        "bank_account": [OLD_ACCOUNT, NEW_ACCOUNT]}
    assert trail[1].data["changes"]["name"][1] == "赣南科技大学（更名）"
    assert trail[0].ip is not None
    assert audit.verify() == []
    # Saving the same account again records nothing.
    form = admin.get("/organization/bank").get_data(as_text=True)
    admin.post("/organization/bank", data={
        "csrf_token": csrf_of(form), "bank_name": NEW_BANK, "bank_account": NEW_ACCOUNT})
    assert len(audit.history("organization", org.id)) == 2
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent).where(
        AuditEvent.entity_type == "organization")) == 2

    # Finance reads it beside the tranche: on the queue and on its page, with the trail.
    pages = client_for(app, people["maker"].username, PASSWORD)
    queue = pages.get("/finance?state=due").get_data(as_text=True)
    assert "收款账户已于" in queue and "由 张科长 变更" in queue
    page = pages.get(f"/tranches/{first.id}").get_data(as_text=True)
    history = page.split('data-testid="payee-history"')[1].split("</table>")[0]
    assert "赵主任" in history and f"{OLD_ACCOUNT} → {NEW_ACCOUNT}" in history
    assert "张科长" in history and "赣南科技大学（更名）" in history
    # The organisation's administrator sees the changes of the account too.
    own = admin.get("/organization/bank").get_data(as_text=True)
    assert f"{OLD_ACCOUNT} → {NEW_ACCOUNT}" in own.split('data-testid="bank-history"')[1]
    # The researcher sees the tranche, not the account's trail.
    mine = client_for(app, people["applicant"].username, PASSWORD).get(
        f"/tranches/{first.id}").get_data(as_text=True)
    assert 'data-testid="payee-history"' not in mine and NEW_ACCOUNT not in mine
