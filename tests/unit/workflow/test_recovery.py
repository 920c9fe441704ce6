"""追回 as a workflow, and integrity after funding: a recovery is opened when a project
is wound up owing money, notified by a numbered 追回通知, repaid in instalments that the
ledger records (never more than owed, never twice), escalated when overdue, written off
only by a leader; a sanction on a running project's people or organisation holds its
tranches and opens the officer's review, whose outcomes continue, end or revoke it."""

import io
from datetime import timedelta
from decimal import Decimal

import openpyxl
import pytest
import sqlalchemy as sa
from pypdf import PdfReader

from states import ApplicationState, RecoveryState, SanctionReviewState, TrancheState
from tests.conftest import api_token, client_for
from tests.factories import (
    PASSWORD,
    ApplicationFactory,
    CallFactory,
    OrganizationFactory,
    UserFactory,
)
from workflow.accounts.models import Sanction
from workflow.core import engine, files, outbox
from workflow.core.errors import Conflict, Forbidden, GuardFailed, ServiceError
from workflow.core.models import OutboxEvent, db, utcnow
from workflow.documents.models import Document
from workflow.finance import ledger, recovery, sanctions
from workflow.finance import operations as finance
from workflow.finance.models import EntryKind, LedgerEntry, Recovery, SanctionReview
from workflow.notify.models import Notification

A, T, RC, SR = ApplicationState, TrancheState, RecoveryState, SanctionReviewState
PI_ID = "362101198001010019"
MEMBER_ID = "362101198502020020"
PLAN = [{"label": "合同签订后拨付", "percent": 70, "condition": "contract"},
        {"label": "验收后拨付", "percent": 30, "condition": "acceptance"}]


@pytest.fixture
def people(app):
    out = {role: UserFactory(username=role, roles=(role,), organization=None,
                             name=f"{role}员")
           for role in ("officer", "leader", "auditor")}
    out["finance1"] = UserFactory(username="finance1", roles=("finance",),
                                  organization=None, name="财务甲")
    out["finance2"] = UserFactory(username="finance2", roles=("finance",),
                                  organization=None, name="财务乙")
    org = OrganizationFactory(name="赣南稀土研究院")
    out["applicant"] = UserFactory(username="pi", roles=("applicant",), organization=org,
                                   name="王研究员", id_number=PI_ID)
    out["unit"] = UserFactory(username="unit", roles=("org_admin",), organization=org,
                              name="科研处")
    out["other"] = UserFactory(username="other", roles=("applicant",), name="外单位研究员")
    db.session.commit()
    return out


def bearer(client, username):
    return {"Authorization": "Bearer " + api_token(client, username, PASSWORD)}


def running_project(people, paid=True):
    """A project in progress, its team with one member, the first tranche (70 万) paid
    unless ``paid`` is false (then it is due)."""
    call = CallFactory(budget=Decimal("5000000.00"), tranche_plan=PLAN)
    row = ApplicationFactory(call=call, applicant=people["applicant"], state=A.public_notice,
                             granted_amount=Decimal("1000000.00"),
                             notice_ends_at=utcnow() - timedelta(minutes=1),
                             data={"members": [{"name": "李成员", "id_number": MEMBER_ID}]},
                             task_book_signed_by=("team", "demand"))
    db.session.commit()
    engine.fire(row, "approve", None)
    engine.fire(row, "sign_contract", people["officer"])
    engine.fire(row, "start", None)
    db.session.commit()
    if paid:
        first = finance.tranches_of(row)[0]
        for trigger, who, data in (("prepare", "finance1", None),
                                   ("approve", "finance2", None),
                                   ("release", "finance2", {"payment_ref": "ZF-0001"})):
            engine.fire(engine.load("tranche", first.id, lock=True), trigger, people[who],
                        data=data)
        db.session.commit()
    return row


def owing(people, wan="30"):
    """A terminated project owing ``wan`` 万元: its recovery."""
    row = running_project(people)
    engine.fire(row, "terminate", people["officer"], comment="单位申请终止",
                data={"recovery_wan": wan})
    db.session.commit()
    return row, recovery.of_application(row.id)


def fire(kind, row_id, trigger, who, comment="", **data):
    result = engine.fire(engine.load(kind, row_id, lock=True), trigger, who,
                         comment=comment, data=data)
    db.session.commit()
    return result


def instalment(key, wan, paid_on=None):
    return {"amount_wan": wan, "key": key,
            "paid_on": (paid_on or utcnow().date()).isoformat()}


def recovery_entries(rec):
    return list(db.session.scalars(sa.select(LedgerEntry).where(
        LedgerEntry.kind == EntryKind.recovery, LedgerEntry.recovery_id == rec.id)
        .order_by(LedgerEntry.seq)))


def deliver(topic):
    for event in db.session.scalars(sa.select(OutboxEvent).where(OutboxEvent.topic == topic)):
        for name in outbox.consumers_for(topic):
            outbox.consume(event.id, name)


# ---- the recovery's lifecycle ----------------------------------------------------------

def test_a_recovery_is_notified_repaid_in_instalments_into_the_ledger_and_closed(people):
    row, rec = owing(people)
    assert (rec.state, rec.amount, rec.outstanding) == (RC.opened, Decimal("300000.00"),
                                                        Decimal("300000.00"))
    # Nothing is received before the notice.
    with pytest.raises(Conflict):
        fire("recovery", rec.id, "receive", people["finance1"], **instalment("B-1", "10"))
    db.session.rollback()
    with pytest.raises(Forbidden):
        fire("recovery", rec.id, "notify", people["finance1"])
    db.session.rollback()
    fire("recovery", rec.id, "notify", people["officer"])
    assert rec.state is RC.notified and rec.notified_at is not None

    available = ledger.balances(row.call_id).available
    fire("recovery", rec.id, "receive", people["finance1"], **instalment("B-1", "10"))
    db.session.expire_all()
    assert rec.state is RC.partly_repaid and rec.repaid == Decimal("100000.00")
    (entry,) = recovery_entries(rec)
    assert (entry.amount, entry.ref, entry.application_id) == (
        Decimal("100000.00"), "B-1", row.id)
    assert ledger.balances(row.call_id).available == available + Decimal("100000.00")
    assert row.disbursed == Decimal("600000.00")

    # More than is owed is refused, and changes nothing.
    with pytest.raises(GuardFailed, match=r"超过尚欠金额 20\.00 万元"):
        fire("recovery", rec.id, "receive", people["finance2"], **instalment("B-2", "25"))
    db.session.rollback()
    # The same bank record twice is recorded once.
    with pytest.raises(GuardFailed, match="已登记"):
        fire("recovery", rec.id, "receive", people["finance2"], **instalment("B-1", "10"))
    db.session.rollback()
    db.session.expire_all()
    assert rec.repaid == Decimal("100000.00") and len(recovery_entries(rec)) == 1

    fire("recovery", rec.id, "receive", people["finance2"], **instalment("B-2", "20"))
    db.session.expire_all()
    assert rec.state is RC.repaid and rec.outstanding == 0
    assert sum(e.amount for e in recovery_entries(rec)) == rec.amount
    assert row.disbursed == Decimal("400000.00")
    assert ledger.reconcile(call_id=row.call_id).ok
    with pytest.raises(Conflict):  # closed: nothing more is received
        fire("recovery", rec.id, "receive", people["finance2"], **instalment("B-3", "1"))
    db.session.rollback()


@pytest.mark.parametrize("data,field", [
    ({"amount_wan": "0", "key": "X", "paid_on": "2026-01-02"}, "amount_wan"),
    ({"amount_wan": "abc", "key": "X", "paid_on": "2026-01-02"}, "amount_wan"),
    ({"amount_wan": "1", "key": " ", "paid_on": "2026-01-02"}, "key"),
    ({"amount_wan": "1", "key": "X", "paid_on": "昨天"}, "paid_on"),
    ({"amount_wan": "1", "key": "X", "paid_on": "2999-01-01"}, "paid_on"),
])
def test_a_bad_instalment_is_refused_by_field_and_records_nothing(people, data, field):
    _row, rec = owing(people)
    fire("recovery", rec.id, "notify", people["officer"])
    with pytest.raises(ServiceError) as err:
        fire("recovery", rec.id, "receive", people["finance1"], **data)
    db.session.rollback()
    details = err.value.details
    named = set(details) if isinstance(details, dict) else {
        f for reason in details for f in reason.get("fields") or {}}
    assert err.value.status == 422 and field in named
    db.session.expire_all()
    assert rec.repaid == 0 and rec.state is RC.notified and not recovery_entries(rec)


def test_the_beat_escalates_an_overdue_recovery_and_tells_the_officer_and_the_unit(people):
    _row, rec = owing(people)
    fire("recovery", rec.id, "notify", people["officer"])
    now = utcnow()
    assert recovery.escalate_overdue(now) == 0  # not due yet
    rec.due_on = now.date() - timedelta(days=2)
    db.session.commit()
    assert recovery.escalate_overdue(now) == 1
    assert recovery.escalate_overdue(now) == 0  # once
    db.session.expire_all()
    assert rec.state is RC.overdue
    deliver("recovery.escalate")
    told = set(db.session.scalars(sa.select(Notification.user_id).where(
        Notification.topic == "recovery_overdue", Notification.channel == "inapp")))
    assert {people["officer"].id, people["unit"].id, people["applicant"].id} <= told
    assert people["other"].id not in told
    # Overdue money still comes in, and the last sum closes it.
    fire("recovery", rec.id, "receive", people["finance1"], **instalment("L-1", "30"))
    db.session.expire_all()
    assert rec.state is RC.repaid


def test_only_a_leader_writes_a_recovery_off_and_with_a_reason(people):
    _row, rec = owing(people)
    for who in ("officer", "finance1"):
        with pytest.raises(Forbidden):
            fire("recovery", rec.id, "write_off", people[who], comment="无法追回")
        db.session.rollback()
    with pytest.raises(GuardFailed):
        fire("recovery", rec.id, "write_off", people["leader"])
    db.session.rollback()
    fire("recovery", rec.id, "write_off", people["leader"], comment="单位已注销，经局务会研究核销")
    db.session.expire_all()
    assert rec.state is RC.written_off


def test_the_recovery_notice_is_rendered_with_its_number_amounts_and_account(people, app):
    row, rec = owing(people, wan="12.34")
    due = utcnow().date() + timedelta(days=20)
    fire("recovery", rec.id, "notify", people["officer"], due_on=due.isoformat())
    (event,) = db.session.scalars(sa.select(OutboxEvent).where(
        OutboxEvent.topic == "recovery.notice")).all()
    number = event.payload["number"]
    assert number.startswith("赣市科字〔")
    outbox.consume(event.id, "render_recovery_notice")
    outbox.consume(event.id, "render_recovery_notice")  # a repeated task does nothing
    (doc,) = db.session.scalars(sa.select(Document).where(
        Document.kind == "recovery_notice")).all()
    with files.store().open(doc.sha256) as fh:
        text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(fh.read())).pages)
    text = text.replace("\n", "")
    assert doc.doc_number == number
    for expected in (number, row.organization.name, row.project_number, "12.34",
                     "壹拾贰万叁仟肆佰元整", app.config["RECOVERY_BANK"],
                     f"{due.year}年{due.month}月{due.day}日", "项目终止"):
        assert expected in text, expected


# ---- integrity after funding -------------------------------------------------------------

def sanction(subject="person", ident=PI_ID, name="王研究员", measures=None, starts=None,
             ends=None):
    today = utcnow().date()
    row = Sanction(subject=subject, name=name, reason="论文数据造假",
                   id_number=ident if subject == "person" else None,
                   uscc=ident if subject == "org" else None,
                   starts_on=starts or today - timedelta(days=1),
                   ends_on=ends or today + timedelta(days=365),
                   measures=measures or ["no_apply", "no_review"])
    db.session.add(row)
    db.session.flush()
    outbox.emit("sanction.recorded", "sanction", row.id)
    db.session.commit()
    return row


def test_why_tranches_are_held_is_read_for_many_projects_in_two_statements(people):
    """The tranche list explains each hold: one project with an open review, one with a
    sanction not yet reviewed, one clear; two statements however many projects."""
    reviewed, unreviewed, clear = (running_project(people, paid=False) for _ in range(3))
    sanction("person", MEMBER_ID)
    deliver("sanction.recorded")  # reviews opened for the three (the member is on all)
    db.session.execute(sa.delete(SanctionReview).where(
        SanctionReview.application_id != reviewed.id))
    for row in (unreviewed, clear):
        row.data = {"members": []} if row is clear else row.data
    db.session.commit()
    db.session.expire_all()
    apps = [reviewed, unreviewed, clear]
    for row in apps:  # loaded, as a list page has them
        assert row.applicant.name and row.organization.name
    statements: list[str] = []

    def count(*args, **kwargs):
        statements.append(args[2])

    sa.event.listen(db.engine, "before_cursor_execute", count)
    try:
        holds = sanctions.hold_texts(apps)
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", count)
    assert len(statements) == 2, statements
    listed = "暂停拨付：项目组成员李成员已被列入科研失信名单（论文数据造假"
    assert holds[reviewed.id].startswith(listed + "，")
    assert holds[reviewed.id].endswith("待项目主管复核")
    assert holds[unreviewed.id] == listed + "），待项目主管复核"
    assert holds[clear.id] is None
    assert all(sanctions.hold_text(row) == holds[row.id] for row in apps)


@pytest.mark.parametrize("who", ["pi", "member", "org"])
def test_a_sanction_on_a_running_project_holds_its_tranches_and_opens_a_review(
        people, client, who):
    row = running_project(people, paid=False)
    first = finance.tranches_of(row)[0]
    assert first.state is T.due
    subject, ident, label = {
        "pi": ("person", PI_ID, "项目负责人王研究员"),
        "member": ("person", MEMBER_ID, "项目组成员李成员"),
        "org": ("org", row.organization.uscc, "承担单位赣南稀土研究院")}[who]
    s = sanction(subject, ident)
    # Until the holds are placed finance is already refused, with the reason.
    with pytest.raises(GuardFailed, match="暂停拨付"):
        fire("tranche", first.id, "prepare", people["finance1"])
    db.session.rollback()
    deliver("sanction.recorded")
    deliver("sanction.recorded")  # once
    (review,) = db.session.scalars(sa.select(SanctionReview)).all()
    assert (review.state, review.subject, review.sanction_id) == (SR.open, label, s.id)
    db.session.expire_all()
    assert first.state is T.on_hold and review.held_tranche_ids == [first.id]
    with pytest.raises(GuardFailed, match=f"暂停拨付：{label}已被列入科研失信名单") as err:
        fire("tranche", first.id, "resume", people["finance1"])
    db.session.rollback()
    assert err.value.status == 409
    # The explanation is on the tranche in the API and in the finance queue.
    body = client.get("/api/v1/tranches?state=on_hold",
                      headers=bearer(client, "finance1")).get_json()
    assert label in body["items"][0]["integrity_hold"]
    page = client_for(client.application, "finance1", PASSWORD).get(
        "/finance?state=on_hold").get_data(as_text=True)
    assert f"暂停拨付：{label}" in page


def test_continuing_lifts_the_holds(people, client):
    row = running_project(people, paid=False)
    first = finance.tranches_of(row)[0]
    sanction()
    deliver("sanction.recorded")
    review = db.session.scalars(sa.select(SanctionReview)).one()
    headers = bearer(client, "finance1")
    resp = client.post(f"/api/v1/sanction-reviews/{review.id}/transitions", headers=headers,
                       json={"trigger": "continue", "comment": "经核查与本项目无关"})
    assert resp.status_code == 403
    resp = client.post(f"/api/v1/sanction-reviews/{review.id}/transitions",
                       headers=bearer(client, "officer"), json={"trigger": "continue"})
    assert resp.status_code == 422  # a reason is required
    resp = client.post(f"/api/v1/sanction-reviews/{review.id}/transitions",
                       headers=bearer(client, "officer"),
                       json={"trigger": "continue", "comment": "经核查与本项目无关"})
    assert resp.status_code == 200, resp.get_json()
    db.session.expire_all()
    assert review.state is SR.continued and first.state is T.due
    fire("tranche", first.id, "prepare", people["finance1"])
    assert first.state is T.prepared


def test_terminating_on_review_ends_the_project_and_opens_the_recovery(people, client):
    row = running_project(people)
    sanction(ident=MEMBER_ID, name="李成员")
    deliver("sanction.recorded")
    review = db.session.scalars(sa.select(SanctionReview)).one()
    resp = client.post(f"/api/v1/sanction-reviews/{review.id}/transitions",
                       headers=bearer(client, "officer"),
                       json={"trigger": "terminate", "comment": "成员造假，终止项目",
                             "data": {"recovery_wan": "20"}})
    assert resp.status_code == 200, resp.get_json()
    db.session.expire_all()
    assert review.state is SR.terminated and row.state is A.terminated
    assert all(t.state in (T.released, T.cancelled) for t in finance.tranches_of(row))
    rec = recovery.of_application(row.id)
    assert rec.amount == Decimal("200000.00") and rec.state is RC.opened


def test_revoking_recovers_everything_paid(people, client):
    row = running_project(people)
    sanction(measures=["revoke", "no_apply"])
    deliver("sanction.recorded")
    review = db.session.scalars(sa.select(SanctionReview)).one()
    resp = client.post(f"/api/v1/sanction-reviews/{review.id}/transitions",
                       headers=bearer(client, "leader"),
                       json={"trigger": "revoke", "comment": "撤销立项"})
    assert resp.status_code == 200, resp.get_json()
    db.session.expire_all()
    rec = recovery.of_application(row.id)
    assert review.state is SR.revoked and row.state is A.terminated
    assert rec.amount == Decimal("700000.00") and rec.reason.startswith("撤销立项")
    body = client.get(f"/api/v1/sanction-reviews/{review.id}",
                      headers=bearer(client, "auditor")).get_json()
    assert (body["state"], body["sanction"]["measures"]) == ("revoked", ["revoke", "no_apply"])


def test_a_sanction_on_someone_else_holds_nothing(people):
    row = running_project(people, paid=False)
    sanction(ident="362101199003030034", name="无关人员")
    deliver("sanction.recorded")
    assert not db.session.scalars(sa.select(SanctionReview)).all()
    assert finance.tranches_of(row)[0].state is T.due
    assert sanctions.hold_text(row) is None


# ---- submission checks team members, measures and dates ---------------------------------

def draft_with_member(people):
    row = ApplicationFactory(call=CallFactory(), applicant=people["other"], signed=True,
                             data={"summary": "稀土分离新工艺研究",
                                   "members": [{"name": "李成员", "id_number": MEMBER_ID}]})
    db.session.commit()
    return row


def test_a_sanctioned_team_member_stops_submission_while_in_force(people, client):
    row = draft_with_member(people)
    sanction(ident=MEMBER_ID, name="李成员")
    resp = client.post(f"/api/v1/applications/{row.id}/submit",
                       headers=bearer(client, "other"))
    assert resp.status_code == 422
    details = resp.get_json()["error"]["details"]
    assert any(d["code"] == "integrity_sanction" and "项目组成员李成员" in d["message"]
               for d in details)


def test_an_ended_sanction_or_one_without_no_apply_lets_the_team_submit(people, client):
    row = draft_with_member(people)
    today = utcnow().date()
    sanction(ident=MEMBER_ID, starts=today - timedelta(days=400),
             ends=today - timedelta(days=1))
    sanction(ident=MEMBER_ID, measures=["no_review"])
    resp = client.post(f"/api/v1/applications/{row.id}/submit",
                       headers=bearer(client, "other"))
    assert resp.status_code == 200, resp.get_json()


# ---- API and pages: roles and ownership --------------------------------------------------

def test_the_api_lists_and_shows_recoveries_to_whom_they_concern(people, client):
    _row, rec = owing(people)
    fire("recovery", rec.id, "notify", people["officer"])
    for who in ("finance1", "officer", "leader", "auditor", "pi", "unit"):
        body = client.get("/api/v1/recoveries", headers=bearer(client, who)).get_json()
        assert [r["id"] for r in body["items"]] == [rec.id], who
    assert client.get("/api/v1/recoveries", headers=bearer(client, "other")).get_json()[
        "items"] == []
    assert client.get(f"/api/v1/recoveries/{rec.id}",
                      headers=bearer(client, "other")).status_code == 404
    body = client.get(f"/api/v1/recoveries/{rec.id}", headers=bearer(client, "pi")).get_json()
    assert (body["amount_wan"], body["amount_capital"], body["state"], body["instalments"]) \
        == ("30.00", "叁拾万元整", "notified", [])
    assert body["doc_number"].startswith("赣市科字〔")
    xlsx = client.get("/api/v1/recoveries?export=xlsx", headers=bearer(client, "finance1"))
    assert xlsx.status_code == 200 and xlsx.data[:2] == b"PK"


def test_instalments_through_the_api_are_recorded_once_by_finance_only(people, client):
    _row, rec = owing(people)
    fire("recovery", rec.id, "notify", people["officer"])
    url = f"/api/v1/recoveries/{rec.id}/instalments"
    body = instalment("GH-20261201-01", "12.5")
    for who in ("pi", "officer"):
        assert client.post(url, headers=bearer(client, who), json=body).status_code == 403
    finance1 = bearer(client, "finance1")
    first = client.post(url, headers=finance1, json=body)
    assert first.status_code == 201, first.get_json()
    again = client.post(url, headers=finance1, json=body)
    assert again.status_code == 200 and again.get_json()["replayed"] is True
    assert again.get_json()["instalment"]["id"] == first.get_json()["instalment"]["id"]
    clash = client.post(url, headers=finance1, json={**body, "amount_wan": "1"})
    assert clash.status_code == 409
    over = client.post(url, headers=finance1, json=instalment("GH-2", "18"))
    assert over.status_code == 422
    assert over.get_json()["error"]["details"][0]["code"] == "over_repayment"
    assert client.post(url, headers=finance1, json={**body, "extra": 1}).status_code == 422
    assert client.post(url, headers=finance1, json={"key": "x"}).status_code == 422
    db.session.expire_all()
    assert rec.repaid == Decimal("125000.00") and len(recovery_entries(rec)) == 1
    detail = client.get(f"/api/v1/recoveries/{rec.id}", headers=finance1).get_json()
    assert [i["key"] for i in detail["instalments"]] == ["GH-20261201-01"]
    assert detail["outstanding_wan"] == "17.50" and detail["state"] == "partly_repaid"


def test_the_pages_show_the_recovery_to_finance_and_its_unit_only(people, app):
    row, rec = owing(people)
    fire("recovery", rec.id, "notify", people["officer"])
    fire("recovery", rec.id, "receive", people["finance1"], **instalment("P-1", "10"))
    finance_page = client_for(app, "finance1", PASSWORD)
    listing = finance_page.get("/recoveries").get_data(as_text=True)
    assert row.title in listing and "20.00" in listing
    page = finance_page.get(f"/recoveries/{rec.id}").get_data(as_text=True)
    assert "P-1" in page and "尚欠 <strong class=\"num\">20.00</strong>" in page
    assert client_for(app, "unit", PASSWORD).get(f"/recoveries/{rec.id}").status_code == 200
    assert client_for(app, "other", PASSWORD).get(f"/recoveries/{rec.id}").status_code == 404
    assert row.title not in client_for(app, "other", PASSWORD).get(
        "/recoveries").get_data(as_text=True)


def test_the_review_pages_are_the_bureaus(people, app):
    row = running_project(people, paid=False)
    sanction()
    deliver("sanction.recorded")
    review = db.session.scalars(sa.select(SanctionReview)).one()
    officer = client_for(app, "officer", PASSWORD)
    assert row.title in officer.get("/sanction-reviews").get_data(as_text=True)
    # A list like the others: searched, filtered by state, exported to Excel.
    assert row.title in officer.get("/sanction-reviews?q=王研究员&state=open").get_data(
        as_text=True)
    assert row.title not in officer.get("/sanction-reviews?state=continued").get_data(
        as_text=True)
    assert row.title not in officer.get("/sanction-reviews?q=不存在的项目").get_data(
        as_text=True)
    xlsx = officer.get("/sanction-reviews?export=xlsx")
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.data)).active
    assert [c.value for c in sheet[1]][:4] == ["项目编号", "项目名称", "承担单位", "失信对象"]
    assert [c.value for c in sheet[2]][1] == row.title
    assert [c.value for c in sheet[2]][-1] == "待复核（暂停拨付）"
    page = officer.get(f"/sanction-reviews/{review.id}").get_data(as_text=True)
    assert "项目负责人王研究员已被列入科研失信名单" in page and "继续执行" in page
    assert client_for(app, "pi", PASSWORD).get("/sanction-reviews").status_code == 403
    assert client_for(app, "pi", PASSWORD).get(
        f"/sanction-reviews/{review.id}").status_code == 404



def test_the_demo_has_a_recovery_partly_repaid_and_a_project_held_for_review(app):
    from workflow import demo

    assert demo.seed()
    (rec,) = db.session.scalars(sa.select(Recovery)).all()
    assert rec.state is RC.partly_repaid and (rec.amount, rec.repaid) == (
        Decimal("200000.00"), Decimal("80000.00"))
    assert len(recovery_entries(rec)) == 1
    (review,) = db.session.scalars(sa.select(SanctionReview)).all()
    assert review.state is SR.open and review.subject == "项目组成员刘某某"
    held = finance.tranches_of(review.application)[0]
    assert held.state is T.on_hold and sanctions.hold_text(review.application)
    assert ledger.reconcile(call_id=rec.application.call_id).ok


def test_a_sanction_recorded_through_the_api_with_its_measures_holds_the_project(
        people, client):
    row = running_project(people, paid=False)
    today = utcnow().date()
    body = {"subject": "person", "name": "王研究员", "identifier": PI_ID, "reason": "论文抄袭",
            "starts_on": today.isoformat(),
            "ends_on": (today + timedelta(days=730)).isoformat()}
    officer = bearer(client, "officer")
    bad = client.post("/api/v1/integrity", headers=officer, json={**body, "measures": ["坐牢"]})
    assert bad.status_code == 422 and set(bad.get_json()["error"]["details"]) == {"measures"}
    assert not db.session.scalars(sa.select(Sanction)).all()
    made = client.post("/api/v1/integrity", headers=officer,
                       json={**body, "measures": ["no_review", "revoke"]})
    assert made.status_code == 201 and made.get_json()["measures"] == ["no_review", "revoke"]
    deliver("sanction.recorded")
    review = db.session.scalars(sa.select(SanctionReview)).one()
    assert review.application_id == row.id
    assert finance.tranches_of(row)[0].state is T.on_hold
    # The list gives measures a default for rows recorded without them.
    listed = client.get("/api/v1/integrity", headers=officer).get_json()["items"]
    assert listed[0]["measures"] == ["no_review", "revoke"]


def test_the_integrity_page_records_the_measures_ticked(people, app):
    from tests.conftest import csrf_of

    officer = client_for(app, "officer", PASSWORD)
    page = officer.get("/integrity").get_data(as_text=True)
    assert "不得申报" in page and "撤销立项" in page
    today = utcnow().date()
    resp = officer.post("/integrity", data={
        "csrf_token": csrf_of(page), "subject": "person", "name": "王研究员",
        "identifier": PI_ID, "reason": "论文抄袭", "starts_on": today.isoformat(),
        "ends_on": (today + timedelta(days=30)).isoformat(),
        "measures": ["no_apply", "notice"]})
    assert resp.status_code == 302
    (row,) = db.session.scalars(sa.select(Sanction)).all()
    assert row.measures == ["no_apply", "notice"]


def test_the_officer_issues_the_notice_and_finance_records_a_sum_on_the_page(people, app):
    from tests.conftest import csrf_of

    _row, rec = owing(people)
    officer = client_for(app, "officer", PASSWORD)
    page = officer.get(f"/recoveries/{rec.id}").get_data(as_text=True)
    assert "印发追回通知" in page and 'name="due_on"' in page
    resp = officer.post(f"/recoveries/{rec.id}/fire", data={
        "csrf_token": csrf_of(page), "trigger": "notify", "version": str(rec.version)})
    assert resp.status_code == 302
    db.session.expire_all()
    assert rec.state is RC.notified
    cashier = client_for(app, "finance1", PASSWORD)
    page = cashier.get(f"/recoveries/{rec.id}").get_data(as_text=True)
    assert 'name="amount_wan"' in page and 'name="key"' in page
    resp = cashier.post(f"/recoveries/{rec.id}/fire", data={
        "csrf_token": csrf_of(page), "trigger": "receive", "version": str(rec.version),
        "amount_wan": "31", "key": "Y-1", "paid_on": utcnow().date().isoformat()})
    assert resp.status_code == 422 and "超过尚欠金额" in resp.get_data(as_text=True)
    db.session.expire_all()
    assert rec.repaid == 0 and rec.state is RC.notified
