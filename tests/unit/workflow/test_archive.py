"""项目档案: a closed project's file as one zip with an index PDF (workflow/archive)."""

from __future__ import annotations

import io
import re
import zipfile
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from openpyxl import load_workbook
from pypdf import PdfReader

from states import (
    ApplicationState,
    ChangeState,
    DecisionState,
    ObjectionState,
    RecoveryState,
    ReviewState,
    TrancheState,
)
from tests.conftest import api_token, client_for, job_of, run_jobs
from tests.factories import (
    PASSWORD,
    AnnualReportFactory,
    ApplicationFactory,
    CallFactory,
    ChangeRequestFactory,
    MilestoneFactory,
    ReviewFactory,
    TrancheFactory,
    UserFactory,
)
from workflow.applying.models import ApplicationRound, FinalReport
from workflow.archive import building, sections
from workflow.archive.building import Copy
from workflow.core import audit
from workflow.core.files import store
from workflow.core.models import Attachment, Job, JobState, db, utcnow
from workflow.decisions.models import DecisionItem, FundingDecision, Objection
from workflow.documents.models import Document
from workflow.documents.pdf import html_to_pdf
from workflow.finance.models import EntryKind, LedgerEntry, Recovery, RecoveryInstalment
from workflow.review.models import DefenceScore, DefenceSession

EXPERTS = ("甄审稿", "贾评议", "谢回避", "钱答辩")


def _pdf(text: str) -> bytes:
    return html_to_pdf(f'<html><head><meta charset="utf-8"><title>{text}</title></head>'
                       f'<body><p>{text}</p></body></html>').data


def _document(app_id: int | None, kind: str, round_no: int, text: str,
              doc_number: str | None = None, call_id: int | None = None) -> Document:
    data = _pdf(text)
    doc = Document(application_id=app_id, call_id=call_id, kind=kind, round=round_no,
                   sha256=store().store(data), size=len(data), pages=1, doc_number=doc_number,
                   title=text)
    db.session.add(doc)
    return doc


def _attachment(app_id: int, name: str, field: str, data: bytes, uploader: Any) -> Attachment:
    row = Attachment(application_id=app_id, field=field, sha256=store().store(data),
                     size=len(data), kind=name.rsplit(".", 1)[1], mime="application/pdf",
                     filename=name, uploaded_by_id=uploader.id)
    db.session.add(row)
    db.session.flush()
    return row


def closed_project(state: ApplicationState = ApplicationState.completed) -> dict[str, Any]:
    """A closed project with something in every section."""
    officer = UserFactory(name="周主管", roles=("officer",))
    leader = UserFactory(name="吴领导", roles=("leader",))
    auditor = UserFactory(name="郑审计", roles=("auditor",))
    pi = UserFactory(name="李明", roles=("applicant",))
    unit = UserFactory(name="王单位", roles=("org_admin",), organization=pi.organization)
    finance = UserFactory(name="冯财务", roles=("finance",))
    call = CallFactory()
    app = ApplicationFactory(call=call, applicant=pi, state=state, title="稀土分离新工艺",
                             project_number="GZKJ-2026-BG-0001", receipt_no="SL-2026-0001",
                             doc_number="赣市科字〔2026〕1号",
                             granted_amount=Decimal("500000.00"), disbursed=Decimal("200000.00"),
                             approved_at=utcnow() - timedelta(days=300),
                             submitted_at=utcnow() - timedelta(days=400))
    for n, outcome in ((1, "return"), (2, "pass")):
        db.session.add(ApplicationRound(
            application_id=app.id, round=n, title=app.title, data={"summary": "摘要"},
            submitted_at=utcnow() - timedelta(days=420 - n), outcome=outcome,
            outcome_comment="请补充查新报告" if outcome == "return" else "符合要求",
            checklist={"申报单位资格符合": True, "附件齐全": outcome == "pass"}))
    _document(app.id, "application", 2, "申报书第二次提交")
    experts = [UserFactory(name=name, roles=("expert",)) for name in EXPERTS]
    for expert, total in ((experts[0], "86.00"), (experts[1], "78.50")):
        ReviewFactory(application=app, expert=expert, state=ReviewState.submitted,
                      scores={"innovation": 90, "feasibility": 82}, total=Decimal(total),
                      comment=f"创新性突出。评审人：{expert.name}",
                      submitted_at=utcnow() - timedelta(days=380))
    declined = ReviewFactory(application=app, expert=experts[2], state=ReviewState.declined,
                             decline_reason="与申报单位存在合作关系，申请回避")
    session = DefenceSession(call_id=call.id, starts_at=utcnow() - timedelta(days=360),
                             place="科技局三楼会议室", panel=[experts[0].id, experts[3].id])
    db.session.add(session)
    db.session.flush()
    db.session.add_all([
        DefenceScore(session_id=session.id, application_id=app.id, panelist_id=experts[0].id,
                     role="expert", score=Decimal("88.00"), comment="答辩清楚"),
        DefenceScore(session_id=session.id, application_id=app.id, panelist_id=experts[3].id,
                     role="expert", score=Decimal("84.00"), comment="钱答辩认为可行")])
    minutes = _attachment(app.id, "党组会纪要.pdf", "meeting_minutes", _pdf("会议纪要"), officer)
    decision = FundingDecision(call_id=call.id, state=DecisionState.approved,
                               total=Decimal("500000.00"), proposed_by_id=officer.id,
                               decided_by_id=leader.id, decided_at=utcnow() - timedelta(days=330),
                               meeting_name="局党组会", meeting_date=date(2025, 12, 1),
                               meeting_attendees="吴领导、周主管", minutes_ref="党组会〔2025〕9号",
                               minutes_attachment_id=minutes.id)
    decision.items.append(DecisionItem(application_id=app.id, position=1,
                                       amount=Decimal("500000.00")))
    db.session.add(decision)
    db.session.add(Objection(application_id=app.id, name="赵举报", contact="13800000000",
                             text="质疑申报材料真实性", state=ObjectionState.dismissed,
                             resolution="经核实不成立", resolved_at=utcnow() - timedelta(days=320)))
    _document(app.id, "notice", 0, "立项通知书", "赣市科字〔2026〕1号")
    _document(app.id, "task_book", 0, "任务书")
    _document(app.id, "payment_notice", 1, "拨付通知", "赣市科财〔2026〕3号")
    _document(None, "approval_file", 0, "立项文件", "赣市科字〔2026〕2号", call_id=call.id)
    ChangeRequestFactory(application=app, state=ChangeState.approved, decision="同意延期",
                         decided_by="吴领导", decided_at=utcnow() - timedelta(days=100))
    AnnualReportFactory(application=app, progress="按计划推进")
    MilestoneFactory(application=app, label="样机完成")
    tranche = TrancheFactory(application=app, state=TrancheState.released,
                             amount=Decimal("200000.00"), payment_ref="PZ-001",
                             released_at=utcnow() - timedelta(days=200),
                             prepared_by_id=finance.id)
    db.session.add(LedgerEntry(call_id=call.id, seq=1, kind=EntryKind.disbursement,
                               amount=Decimal("200000.00"), application_id=app.id,
                               tranche_id=tranche.id, ref="PZ-001", memo="第一笔",
                               available_after=Decimal("0.00"),
                               committed_after=Decimal("300000.00"),
                               disbursed_after=Decimal("200000.00")))
    recovery = Recovery(application_id=app.id, amount=Decimal("10000.00"),
                        repaid=Decimal("10000.00"), reason="结余退回",
                        due_on=date(2026, 6, 30), state=RecoveryState.repaid)
    db.session.add(recovery)
    db.session.flush()
    db.session.add(RecoveryInstalment(recovery_id=recovery.id, key="LS-01",
                                      amount=Decimal("10000.00"), paid_on=date(2026, 6, 1)))
    _attachment(app.id, "查新报告.pdf", "evidence", _pdf("查新报告"), pi)
    _attachment(app.id, "查新报告.pdf", "evidence", _pdf("查新报告（修订）"), pi)
    audit.record(app, "application", "submit", pi, "applicant", "draft", "submitted")
    audit.record(declined, "review", "decline", experts[2], "expert", "invited", "declined",
                 comment=f"{experts[2].name}：与申报单位合作", ip="10.0.0.9")
    audit.record(app, "application", "pass_acceptance", officer, "officer", "acceptance",
                 state.value, comment="验收通过")
    db.session.commit()
    return {"app": app, "officer": officer, "leader": leader, "auditor": auditor, "pi": pi,
            "unit": unit, "finance": finance, "experts": experts}


def _zip(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def _index_text(files: dict[str, bytes]) -> str:
    reader = PdfReader(io.BytesIO(files[building.INDEX_NAME]))
    return "".join(page.extract_text() for page in reader.pages)


def _all_text(files: dict[str, bytes]) -> str:
    """Every file's bytes as text as far as it reads: the PDFs' text (pypdf) and
    metadata, the spreadsheets' cells, and the names."""
    parts = list(files)
    for name, data in files.items():
        if name.endswith(".pdf"):
            reader = PdfReader(io.BytesIO(data))
            parts += [page.extract_text() for page in reader.pages]
            parts += [str(v) for v in (reader.metadata or {}).values()]
        elif name.endswith(".xlsx"):
            book = load_workbook(io.BytesIO(data))
            parts += [str(c) for s in book.worksheets for row in s.iter_rows(values_only=True)
                      for c in row if c is not None]
            parts += [data.decode("latin-1")]
            with zipfile.ZipFile(io.BytesIO(data)) as inner:
                parts += [inner.read(n).decode("utf-8", "replace") for n in inner.namelist()]
        parts.append(data.decode("utf-8", "replace"))
    return "\n".join(parts)


def test_the_bureaus_archive_holds_every_section(app: Flask) -> None:
    made = closed_project()
    db.session.add(FinalReport(application_id=made["app"].id, report="全部指标完成",
                               surplus=Decimal("10000.00"), submitted_by_id=made["pi"].id))
    db.session.commit()
    built = building.build(made["app"], Copy.full)
    files = _zip(built.data)
    names = list(files)
    assert names[0] == building.INDEX_NAME
    for expected in ("01-申报材料/申报书-第2次提交.pdf", "01-申报材料/提交记录与形式审查.xlsx",
                     "02-专家评审/专家评审意见.xlsx", "02-专家评审/评审专家邀请与回避记录.xlsx",
                     "03-答辩/答辩评分.xlsx", "04-立项决策/立项建议名单与会议决策.xlsx",
                     "04-立项决策/会议纪要-名单1-党组会纪要.pdf", "04-立项决策/公示异议.xlsx",
                     "05-公文/立项通知书-赣市科字〔2026〕1号.pdf", "05-公文/任务书.pdf",
                     "05-公文/拨付通知-赣市科财〔2026〕3号.pdf",
                     "05-公文/立项文件-赣市科字〔2026〕2号.pdf",
                     "06-项目变更/项目变更申请.xlsx", "07-年度报告/年度报告.xlsx",
                     "09-结题验收/结题报告与验收结论.xlsx",
                     "11-经费/里程碑与拨付.xlsx", "11-经费/经费账目.xlsx", "11-经费/经费追回.xlsx",
                     "12-审计日志/审计日志.xlsx", "12-审计日志/办理记录.xlsx",
                     "13-附件/查新报告.pdf"):
        assert expected in files, (expected, names)
    # Two uploads under one original name: both kept, the second numbered.
    assert [n for n in names if n.startswith("13-附件/查新报告")] == [
        "13-附件/查新报告.pdf", next(n for n in names if n.startswith("13-附件/查新报告（"))]
    # The stored PDFs as they are.
    notice = db.session.query(Document).filter_by(kind="notice").one()
    assert files["05-公文/立项通知书-赣市科字〔2026〕1号.pdf"] == store().path(
        notice.sha256).read_bytes()
    scores = load_workbook(io.BytesIO(files["02-专家评审/专家评审意见.xlsx"])).active
    rows = list(scores.iter_rows(values_only=True))
    assert [r[0] for r in rows[1:]] == ["专家1", "专家2"]
    assert rows[1][3] == "86.00" and "评审人：专家1" in rows[1][4]


def test_the_index_lists_every_file_with_its_hash(app: Flask) -> None:
    made = closed_project()
    files = _zip(building.build(made["app"], Copy.full).data)
    text = re.sub(r"\s+", "", _index_text(files))
    assert "GZKJ-2026-BG-0001" in text and "稀土分离新工艺" in text and "李明" in text
    assert "50.00万元" in text and "完整版" in text
    others = [n for n in files if n != building.INDEX_NAME]
    for name in others:
        sha = building.hashlib.sha256(files[name]).hexdigest()[:16]
        assert re.sub(r"\s+", "", name) in text, name
        assert sha in text, name
    assert f"共{len(others)}个文件" in text
    reader = PdfReader(io.BytesIO(files[building.INDEX_NAME]))
    box = reader.pages[0].mediabox
    assert (round(float(box.width)), round(float(box.height))) == (595, 842)


def test_no_expert_is_named_anywhere_in_the_zip(app: Flask) -> None:
    made = closed_project()
    for copy in Copy:
        files = _zip(building.build(made["app"], copy).data)
        text = _all_text(files)
        raw = b"".join(files.values())
        for name in EXPERTS:
            assert name not in text, (copy, name)
            assert name.encode() not in raw, (copy, name)
            assert name.encode("utf-16-be") not in raw, (copy, name)
    full = _zip(building.build(made["app"], Copy.full).data)
    trail = load_workbook(io.BytesIO(full["12-审计日志/审计日志.xlsx"])).active
    actors = [r[4] for r in trail.iter_rows(min_row=2, values_only=True)]
    assert "专家3" in actors and "李明" in actors


def test_the_applicants_copy_leaves_out_internal_items(app: Flask) -> None:
    made = closed_project()
    files = _zip(building.build(made["app"], Copy.applicant).data)
    names = set(files)
    for internal in ("02-专家评审/评审专家邀请与回避记录.xlsx", "04-立项决策/公示异议.xlsx",
                     "04-立项决策/立项建议名单与会议决策.xlsx",
                     "04-立项决策/会议纪要-名单1-党组会纪要.pdf", "11-经费/经费账目.xlsx",
                     "12-审计日志/审计日志.xlsx"):
        assert internal not in names
    assert "02-专家评审/专家评审意见.xlsx" in names and "12-审计日志/办理记录.xlsx" in names
    text = _all_text(files)
    for secret in ("赵举报", "合作关系", "党组会", "10.0.0.9", "62166"):
        assert secret not in text, secret
    trail = load_workbook(io.BytesIO(files["12-审计日志/办理记录.xlsx"])).active
    objects = {r[0] for r in trail.iter_rows(min_row=2, values_only=True)}
    assert objects == {"申报书"}
    assert "申请人版" in _index_text(files)


def test_two_builds_are_byte_identical(app: Flask) -> None:
    made = closed_project()
    first = building.build(made["app"], Copy.full).data
    db.session.expire_all()
    assert building.build(made["app"], Copy.full).data == first
    with zipfile.ZipFile(io.BytesIO(first)) as zf:
        assert len({i.date_time for i in zf.infolist()}) == 1


def test_a_running_project_is_refused(app: Flask, client: FlaskClient) -> None:
    made = closed_project(ApplicationState.in_progress)
    with pytest.raises(building.Conflict, match="只有已结题、验收不通过或已终止"):
        building.start(made["officer"], made["app"].id)
    token = api_token(client, made["officer"].username, PASSWORD)
    resp = client.post(f"/api/v1/applications/{made['app'].id}/archive",
                       headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 409
    assert resp.get_json()["error"]["code"] == "not_closed"
    assert db.session.query(Job).count() == 0


@pytest.mark.parametrize("state", [ApplicationState.failed, ApplicationState.terminated])
def test_failed_and_terminated_projects_are_archived(app: Flask, state: ApplicationState
                                                      ) -> None:
    made = closed_project(state)
    job, started = building.start(made["officer"], made["app"].id)
    assert started and job.params == {"application_id": made["app"].id, "copy": "full"}


def test_the_job_builds_once_and_the_api_offers_the_download(app: Flask, client: FlaskClient
                                                             ) -> None:
    made = closed_project()
    app_id = made["app"].id
    token = api_token(client, made["auditor"].username, PASSWORD)
    auth = {"Authorization": f"Bearer {token}"}
    status = client.get(f"/api/v1/applications/{app_id}/archive", headers=auth).get_json()
    assert status["job"] is None and not status["ready"] and status["copy"] == "full"
    resp = client.post(f"/api/v1/applications/{app_id}/archive", headers=auth)
    assert resp.status_code == 202, resp.get_json()
    job_id = resp.get_json()["job"]["id"]
    # Asked again before the worker ran: the same job, not a second one.
    again = client.post(f"/api/v1/applications/{app_id}/archive", headers=auth).get_json()
    assert again["job"]["id"] == job_id
    early = client.get(f"/api/v1/applications/{app_id}/archive/{job_id}/download", headers=auth)
    assert early.status_code == 409 and early.get_json()["error"]["code"] == "not_ready"
    assert run_jobs() == [job_id]
    job = db.session.get(Job, job_id)
    assert job.state is JobState.done, job.error
    status = client.get(f"/api/v1/applications/{app_id}/archive", headers=auth).get_json()
    assert status["ready"] and status["current"] and status["job"]["state"] == "done"
    download = client.get(status["download"], headers=auth)
    assert download.status_code == 200 and download.mimetype == "application/zip"
    assert building.hashlib.sha256(download.data).hexdigest() == status["sha256"]
    assert download.data == building.build(made["app"], Copy.full).data
    # Current: asking again gives the finished job back, no new work.
    again = client.post(f"/api/v1/applications/{app_id}/archive", headers=auth).get_json()
    assert again["job"]["id"] == job_id and db.session.query(Job).count() == 1
    # The applicant's copy is not the bureau's: its download is refused to the team.
    pi_token = api_token(client, made["pi"].username, PASSWORD)
    refused = client.get(status["download"], headers={"Authorization": f"Bearer {pi_token}"})
    assert refused.status_code == 404


def test_who_may_export(app: Flask, client: FlaskClient) -> None:
    made = closed_project()
    app_id = made["app"].id
    outsider = UserFactory(roles=("applicant",))
    colleague = UserFactory(roles=("applicant",), organization=made["pi"].organization)
    db.session.commit()
    expected = {"officer": 202, "leader": 202, "auditor": 202, "pi": 202, "unit": 202,
                "finance": 403}
    for who, status in expected.items():
        token = api_token(client, made[who].username, PASSWORD)
        resp = client.post(f"/api/v1/applications/{app_id}/archive",
                           headers={"Authorization": f"Bearer {token}"})
        assert resp.status_code == status, (who, resp.get_json())
        if status == 202:
            assert resp.get_json()["copy"] == ("applicant" if who in ("pi", "unit") else "full")
    for user, status in ((colleague, 403), (outsider, 404), (made["experts"][0], 404)):
        token = api_token(client, user.username, PASSWORD)
        resp = client.get(f"/api/v1/applications/{app_id}/archive",
                          headers={"Authorization": f"Bearer {token}"})
        assert resp.status_code == status, (user.name, resp.get_json())


def test_the_page_offers_the_export_and_the_download(app: Flask) -> None:
    made = closed_project()
    app_id = made["app"].id
    pi = client_for(app, made["pi"].username, PASSWORD)
    page = pi.get(f"/applications/{app_id}")
    html = page.get_data(as_text=True)
    assert "导出项目档案" in html and "申请人版" in html
    token = html.split('name="csrf_token" value="')[-1].split('"')[0]
    resp = pi.post(f"/applications/{app_id}/archive", data={"csrf_token": token})
    assert resp.status_code == 302
    job_id = job_of(resp.headers["Location"])
    assert run_jobs() == [job_id]
    box = pi.get(f"/jobs/{job_id}").get_data(as_text=True)
    assert "下载项目档案" in box
    html = pi.get(f"/applications/{app_id}").get_data(as_text=True)
    assert "已是最新" in html
    download = pi.get(f"/applications/{app_id}/archive/{job_id}.zip")
    assert download.status_code == 200
    assert "12-审计日志/审计日志.xlsx" not in _zip(download.data)
    # A running project's page offers nothing; its export is refused with the reason.
    running = ApplicationFactory(applicant=made["pi"], state=ApplicationState.in_progress)
    db.session.commit()
    assert "导出项目档案" not in pi.get(f"/applications/{running.id}").get_data(as_text=True)
    refused = pi.post(f"/applications/{running.id}/archive", data={"csrf_token": token})
    assert refused.status_code == 302
    assert "只有已结题" in pi.get(refused.headers["Location"]).get_data(as_text=True)


def test_a_section_is_one_more_registered_function(app: Flask) -> None:
    made = closed_project()
    extra = sections.Section("inspection", "专项检查", lambda a: [sections.ArchiveItem(
        "专项检查报告.txt", "专项检查", date(2026, 1, 5), lambda: "专项检查通过".encode())])
    sections.register(extra)
    try:
        files = _zip(building.build(made["app"], Copy.applicant).data)
        assert files["14-专项检查/专项检查报告.txt"] == "专项检查通过".encode()
        assert "14-专项检查/专项检查报告.txt" in _index_text(files).replace("\n", "")
        with pytest.raises(RuntimeError):
            sections.register(extra)
    finally:
        sections.SECTIONS.remove(extra)
