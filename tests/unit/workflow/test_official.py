"""立项通知书, 立项文件 and 任务书 rendered from the outbox, verified in public, announced
in the inbox."""

import io
from datetime import timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from pypdf import PdfReader

from states import ApplicationState, CallState
from tests.conftest import client_for, csrf_of
from tests.factories import (
    PASSWORD,
    ApplicationFactory,
    CallFactory,
    OrganizationFactory,
    UserFactory,
)
from workflow.applying.models import SignedDocument, SigningParty
from workflow.core import engine, files, outbox
from workflow.core.models import OutboxEvent, db, utcnow
from workflow.documents import official
from workflow.documents.models import Document
from workflow.notify import scheduler
from workflow.notify.models import Notification


def text_of(doc):
    with files.store().open(doc.sha256) as fh:
        data = fh.read()
    return "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(data)).pages), data


def deliver(topic):
    """Run the consumers of every event of ``topic``, as the worker does."""
    for event in db.session.scalars(sa.select(OutboxEvent).where(OutboxEvent.topic == topic)):
        for name in outbox.consumers_for(topic):
            outbox.consume(event.id, name)


@pytest.fixture
def approved(app):
    org = OrganizationFactory(name="赣南䶮堃科技有限公司")
    leader = UserFactory(name="欧阳喆", organization=org)
    call = CallFactory(state=CallState.decided, title="2026年度稀土专项",
                       budget=Decimal("5000000.00"))
    rows = [ApplicationFactory(call=call, applicant=leader, title=f"稀土永磁项目{i}",
                               state=ApplicationState.public_notice,
                               granted_amount=Decimal("1234500.00"),
                               notice_ends_at=utcnow() - timedelta(minutes=1))
            for i in (1, 2)]
    db.session.commit()
    assert scheduler.approve_ended_notices() == 2
    return call, rows


def test_each_approved_project_gets_its_notice_with_numbers_names_and_amount(approved):
    call, (a, _) = approved
    # Approval renders nothing: the notice is issued after the call's 立项文件.
    deliver("application.approve")
    assert db.session.scalar(sa.select(sa.func.count(Document.id))) == 0
    deliver("application.notice")
    doc = db.session.scalars(sa.select(Document).where(
        Document.application_id == a.id, Document.kind == "notice")).one()
    text, data = text_of(doc)
    text = "".join(text.split())  # a name may turn at the end of a line
    for expected in (a.doc_number, a.project_number, "欧阳喆", "赣南䶮堃科技有限公司",
                     "123.45", "赣州市科学技术局", a.title):
        assert expected in text.replace("\n", "")  # (a name may wrap at a line's end)
    assert call.doc_number in text.replace("\n", "")  # it cites the 立项文件
    assert doc.doc_number == a.doc_number and len(doc.code) == 16
    assert official.format_code(doc.code) in text.replace("\n", "")  # beside the QR code
    assert len(data) == doc.size and doc.pages >= 1
    # The applicant is told, with a link to the document.
    notes = {n.channel: n for n in db.session.scalars(sa.select(Notification).where(
        Notification.user_id == a.applicant_id, Notification.link == f"/documents/{doc.id}"))}
    assert set(notes) == {"inapp", "email"}
    assert a.title in notes["inapp"].title and a.project_number in notes["inapp"].body
    # The e-mail waits for its own delivery, with the document's full address in it.
    assert notes["email"].address == a.applicant.email
    assert f"http://testserver/documents/{doc.id}" in notes["email"].body


def test_rendering_again_finds_the_same_document_and_text(approved):
    _, (a, _) = approved
    first = official.render_notice(a.id)
    db.session.commit()
    text, _ = text_of(first)
    assert official.render_notice(a.id).id == first.id
    # Render the same version from scratch (row gone, e.g. a lost first run): same text.
    db.session.delete(first)
    db.session.commit()
    again = official.render_notice(a.id)
    assert text_of(again)[0] == text and again.code == first.code
    # Told once per channel: the inbox line and the e-mail.
    assert sorted(db.session.scalars(sa.select(Notification.channel))) == ["email", "inapp"]


def test_the_approval_file_lists_every_project_of_the_call(approved):
    call, rows = approved
    deliver("call.approval_file")
    doc = db.session.scalars(sa.select(Document).where(Document.call_id == call.id)).one()
    text, _ = text_of(doc)
    assert call.doc_number in text and doc.kind == "approval_file"
    for row in rows:
        assert row.project_number in text and row.title in text
    assert "246.90" in text  # the total, in 万元


def test_the_task_book_has_every_party_and_the_milestones(app):
    from tests.factories import ChallengeFactory

    demand = UserFactory(roles=("demand",), name="发榜联系人")
    challenge = ChallengeFactory(demand_org=demand.organization, ceiling=Decimal(3_000_000))
    officer = UserFactory(roles=("officer",), organization=None, name="张科长")
    row = ApplicationFactory(call=challenge.call, challenge=challenge,
                             state=ApplicationState.approved, approved_at=utcnow(),
                             project_number="GZKJ-2026-JB-0001",
                             granted_amount=Decimal("2000000.00"),
                             data={"milestones": [
                                 {"label": "样机完成", "amount": "800000.00", "months": 12},
                                 {"label": "中试验证", "amount": "1200000.00", "months": 24}],
                                 "indicators": {"指标": "≥ 2"}})
    row.sign(SignedDocument.task_book, SigningParty.demand, None, "发榜联系人", utcnow())
    row.sign(SignedDocument.task_book, SigningParty.team, row.applicant_id, "项目负责人甲",
             utcnow())
    db.session.commit()
    engine.fire(row, "sign_contract", officer)
    db.session.commit()
    deliver("application.sign_contract")
    doc = db.session.scalars(sa.select(Document).where(Document.kind == "task_book")).one()
    text, _ = text_of(doc)
    for expected in ("样机完成", "中试验证", "80.00", "120.00", "张科长", "发榜联系人",
                     "项目负责人甲", challenge.demand_org.name, "GZKJ-2026-JB-0001"):
        assert expected in text


def test_the_public_verification_page_confirms_a_genuine_file_and_refuses_an_altered_one(
        approved, app):
    _, (a, _) = approved
    doc = official.render_notice(a.id)
    db.session.commit()
    _, data = text_of(doc)
    client = app.test_client()
    page = client.get(f"/verify/{official.format_code(doc.code)}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert doc.sha256 in html and a.doc_number in html
    token = csrf_of(html)
    genuine = client.post(f"/verify/{doc.code}", data={
        "csrf_token": token, "file": (io.BytesIO(data), "通知.pdf")},
        content_type="multipart/form-data").get_data(as_text=True)
    assert "与存档文件一致" in genuine
    altered = client.post(f"/verify/{doc.code}", data={
        "csrf_token": token, "file": (io.BytesIO(data + b"%"), "通知.pdf")},
        content_type="multipart/form-data").get_data(as_text=True)
    assert "不一致" in altered
    by_hash = client.post("/verify", data={"csrf_token": token, "sha256": doc.sha256})
    assert "与存档文件一致" in by_hash.get_data(as_text=True)
    assert client.get("/verify/AAAA-BBBB-CCCC-DDDD").status_code == 404
    assert client.get("/verify/" + "x" * 500).status_code == 404


def test_documents_are_read_only_by_those_who_may_read_their_application(approved, app):
    _call, (a, _) = approved
    doc = official.render_notice(a.id)
    db.session.commit()
    own = client_for(app, a.applicant.username, PASSWORD)
    resp = own.get(f"/documents/{doc.id}")
    assert resp.status_code == 200 and resp.data.startswith(b"%PDF")
    stranger = UserFactory(roles=("applicant",))
    expert = UserFactory(roles=("expert",))
    db.session.commit()
    for user in (stranger, expert):
        assert client_for(app, user.username, PASSWORD).get(
            f"/documents/{doc.id}").status_code == 404


def test_the_inbox_shows_the_unread_count_on_every_page(approved, app):
    _, (a, _) = approved
    deliver("application.approve")
    deliver("application.notice")  # the 立项通知书 tells the team it is approved
    client = client_for(app, a.applicant.username, PASSWORD)
    lines = db.session.scalars(sa.select(Notification).where(
        Notification.user_id == a.applicant_id, Notification.channel == "inapp")).all()
    assert len(lines) == 4  # two approvals, and two task books to sign
    home = client.get("/").get_data(as_text=True)
    assert 'data-testid="unread">4<' in home
    page = client.get("/inbox").get_data(as_text=True)
    assert "已立项" in page and "请签署任务书" in page
    note = next(n for n in lines if n.link)
    resp = client.post("/inbox/read", data={"csrf_token": csrf_of(page), "id": note.id,
                                            "next": note.link})
    assert resp.status_code == 302 and resp.headers["Location"].endswith(note.link)
    assert 'data-testid="unread">3<' in client.get("/").get_data(as_text=True)
    # Someone else's message can't be marked.
    other = UserFactory()
    db.session.commit()
    stranger = client_for(app, other.username, PASSWORD)
    page = stranger.get("/inbox").get_data(as_text=True)
    assert stranger.post("/inbox/read", data={"csrf_token": csrf_of(page),
                                              "id": note.id}).status_code == 404
