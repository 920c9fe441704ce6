"""Evidence (佐证材料) for a running project's reports: a milestone's and the final
report's. On the page the files go with the report; through the API they are uploaded
first (``field``: milestone_evidence or final_evidence) and the report names them by
SHA-256. Only the project's principal investigator uploads, only while the project runs;
whoever reads the project reads the evidence."""

import io
from datetime import timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from states import ApplicationState
from tests.conftest import api_token, client_for, csrf_of
from tests.factories import (
    PASSWORD,
    ApplicationFactory,
    ChallengeFactory,
    OrganizationFactory,
    UserFactory,
)
from workflow.acceptance import operations as acceptances
from workflow.acceptance.models import Acceptance
from workflow.applying.models import Application
from workflow.core import engine
from workflow.core.models import Attachment, db, utcnow
from workflow.finance import operations as finance
from workflow.finance.models import Milestone, MilestoneState

A = ApplicationState
REPORT = "项目全部完成，各项考核指标均已达到任务书要求，经费使用规范。"
MILESTONE_REPORT = "样机已完成并通过第三方检测，磁能积达到52 MGOe。"


def pdf(n=0):
    return b"%PDF-1.4\n%" + str(n).encode() + b"\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def bearer(client, username):
    return {"Authorization": "Bearer " + api_token(client, username, PASSWORD)}


@pytest.fixture
def project(app):
    """A running 揭榜挂帅 project of 赣南科技大学 with two milestones, and the people
    around it."""
    univ = OrganizationFactory(name="赣南科技大学")
    people = {
        "pi": UserFactory(username="pi", roles=("applicant",), organization=univ),
        "colleague": UserFactory(username="colleague", roles=("applicant",),
                                 organization=univ),
        "unitadmin": UserFactory(username="unitadmin", roles=("org_admin",),
                                 organization=univ),
        "outsider": UserFactory(username="outsider", roles=("applicant",)),
        "officer": UserFactory(username="officer", roles=("officer",), organization=None),
        "demand": UserFactory(username="demand", roles=("demand",),
                              organization=OrganizationFactory(name="赣州稀土集团")),
    }
    challenge = ChallengeFactory(demand_org=people["demand"].organization,
                                 call__budget=Decimal(10**7),
                                 call__tranche_plan=[{"condition": "milestone"}])
    row = ApplicationFactory(
        call=challenge.call, challenge=challenge, applicant=people["pi"],
        state=A.public_notice, granted_amount=Decimal("2000000.00"),
        notice_ends_at=utcnow() - timedelta(minutes=1),
        data={"milestones": [{"label": "样机", "amount": "800000.00", "months": 12},
                             {"label": "中试", "amount": "1200000.00", "months": 24}]},
        task_book_signed_by=("team", "demand"))
    db.session.commit()
    engine.fire(row, "approve", None)
    engine.fire(row, "sign_contract", people["officer"])
    engine.fire(row, "start", None)
    db.session.commit()
    assert row.state is A.in_progress
    return row, people


def evidence_rows():
    return list(db.session.scalars(sa.select(Attachment).where(
        Attachment.field.in_(("milestone_evidence", "final_evidence")))))


def upload(client, app_id, who, field="milestone_evidence", content=None, name="检测报告.pdf"):
    return client.post(f"/api/v1/applications/{app_id}/attachments",
                       headers=bearer(client, who),
                       data={"field": field, "file": (io.BytesIO(content or pdf()), name)},
                       content_type="multipart/form-data")


# ---- on the page --------------------------------------------------------------------------

def test_the_team_reports_a_milestone_with_its_evidence_on_the_page(app, project):
    row, _ = project
    m1 = finance.milestones_of(row)[0]
    pi = client_for(app, "pi", PASSWORD)
    page = pi.get(f"/applications/{row.id}").get_data(as_text=True)
    assert 'data-testid="milestone-report"' in page
    resp = pi.post(f"/milestones/{m1.id}/report", content_type="multipart/form-data", data={
        "csrf_token": csrf_of(page), "report": MILESTONE_REPORT,
        "evidence": [(io.BytesIO(pdf(1)), "检测报告.pdf"), (io.BytesIO(pdf(2)), "样机照片.pdf")]},
        follow_redirects=True)
    assert "里程碑完成情况已提交，等待验收" in resp.get_data(as_text=True)
    db.session.expire_all()
    m1 = db.session.get(Milestone, m1.id)
    files = evidence_rows()
    assert m1.state is MilestoneState.reported and m1.report == MILESTONE_REPORT
    assert [(f.filename, f.field) for f in files] == [
        ("检测报告.pdf", "milestone_evidence"), ("样机照片.pdf", "milestone_evidence")]
    assert m1.evidence == [f.sha256 for f in files]
    # The demand side, who judges the milestone, downloads its evidence.
    demand = client_for(app, "demand", PASSWORD)
    got = demand.get(f"/applications/{row.id}/attachments/{files[0].sha256}")
    assert got.status_code == 200 and got.data == pdf(1)
    assert "佐证材料 2 份" in demand.get(f"/milestones/{m1.id}").get_data(as_text=True)


def test_the_team_sends_its_acceptance_package_with_the_tech_report_on_the_pages(
        app, project):
    row, _ = project
    pi = client_for(app, "pi", PASSWORD)
    page = pi.get(f"/applications/{row.id}").get_data(as_text=True)
    assert 'data-testid="open-acceptance"' in page
    resp = pi.post(f"/applications/{row.id}/acceptance", data={"csrf_token": csrf_of(page)})
    assert resp.status_code == 302 and "/acceptances/" in resp.location
    page = pi.get(resp.location).get_data(as_text=True)
    assert 'data-testid="package-form"' in page
    acc_id = int(resp.location.rsplit("/", 1)[1])
    resp = pi.post(f"/acceptances/{acc_id}/tech-report", content_type="multipart/form-data",
                   data={"csrf_token": csrf_of(page),
                         "file": (io.BytesIO(pdf(3)), "科技报告.pdf")}, follow_redirects=True)
    assert "已上传科技报告：科技报告.pdf" in resp.get_data(as_text=True)
    form = {"csrf_token": csrf_of(page), "report": REPORT, "out-0-kind": "patent",
            "out-0-title": "一种稀土萃取方法", "out-0-identifier": "ZL202110123456.7",
            "spend-business": "0"}
    for i, _name in enumerate(acceptances.indicator_names(row)):
        form |= {f"sa-{i}-status": "met", f"sa-{i}-evidence": "见科技报告"}
    resp = pi.post(f"/acceptances/{acc_id}/package", data=form, follow_redirects=True)
    assert "验收材料已保存" in resp.get_data(as_text=True)
    db.session.expire_all()
    acc = db.session.get(Acceptance, acc_id)
    (file,) = db.session.scalars(sa.select(Attachment).where(
        Attachment.application_id == row.id)).all()
    assert file.field == "tech_report" and acc.tech_report_sha256 == file.sha256
    assert acceptances.package_problems(acc) == {}
    # A bad identifier is told beside its input, and nothing is saved.
    resp = pi.post(f"/acceptances/{acc_id}/package",
                   data={**form, "out-0-identifier": "专利"})
    assert resp.status_code == 422
    assert 'data-testid="output-error"' in resp.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Acceptance, acc_id).outputs[0]["identifier"] == "ZL202110123456.7"


def test_a_closed_project_takes_no_evidence_on_the_page(app, project):
    row, people = project
    m1 = finance.milestones_of(row)[0]
    pi = client_for(app, "pi", PASSWORD)
    page = pi.get(f"/applications/{row.id}").get_data(as_text=True)
    engine.fire(engine.load("application", row.id, lock=True), "terminate",
                people["officer"], comment="项目组主动申请终止")
    db.session.commit()
    resp = pi.post(f"/milestones/{m1.id}/report", content_type="multipart/form-data", data={
        "csrf_token": csrf_of(page), "report": MILESTONE_REPORT,
        "evidence": [(io.BytesIO(pdf(1)), "检测报告.pdf")]}, follow_redirects=True)
    assert "项目当前为“终止”，不能上传佐证材料" in resp.get_data(as_text=True)
    assert evidence_rows() == []


def test_another_organisation_cannot_report_with_evidence_on_the_page(app, project):
    row, _ = project
    m1 = finance.milestones_of(row)[0]
    outsider = client_for(app, "outsider", PASSWORD)
    page = outsider.get("/calls").get_data(as_text=True)  # any page: its form's token
    resp = outsider.post(f"/milestones/{m1.id}/report", content_type="multipart/form-data",
                         data={"csrf_token": csrf_of(page), "report": MILESTONE_REPORT,
                               "evidence": [(io.BytesIO(pdf(1)), "检测报告.pdf")]})
    assert resp.status_code == 404  # another organisation's project: not known to exist
    assert evidence_rows() == []


# ---- through the API ----------------------------------------------------------------------

def test_the_team_uploads_evidence_then_reports_the_milestone_naming_it(client, project):
    row, _ = project
    m1 = finance.milestones_of(row)[0]
    resp = upload(client, row.id, "pi", content=pdf(1))
    assert resp.status_code == 201, resp.get_json()
    sha = resp.get_json()["sha256"]
    assert resp.get_json()["field"] == "milestone_evidence"
    resp = client.post(f"/api/v1/milestones/{m1.id}/report", headers=bearer(client, "pi"),
                       json={"report": MILESTONE_REPORT, "evidence": [sha]})
    assert resp.status_code == 200, resp.get_json()
    assert (resp.get_json()["state"], resp.get_json()["evidence"]) == ("reported", [sha])
    # The demand side reads it, with the project's files, and downloads it.
    demand = bearer(client, "demand")
    listed = client.get(f"/api/v1/applications/{row.id}/milestones",
                        headers=demand).get_json()["items"]
    assert listed[0]["evidence"] == [sha]
    got = client.get(f"/api/v1/applications/{row.id}/attachments/{sha}", headers=demand)
    assert got.status_code == 200 and got.data == pdf(1)
    attachments = client.get(f"/api/v1/applications/{row.id}",
                             headers=bearer(client, "pi")).get_json()["attachments"]
    assert [(a["sha256"], a["field"]) for a in attachments] == [(sha, "milestone_evidence")]


def test_the_team_uploads_evidence_then_sends_the_final_report_naming_it(client, project):
    row, _ = project
    sha = upload(client, row.id, "pi", "final_evidence", pdf(5), "结题报告.pdf").get_json()[
        "sha256"]
    resp = client.post(f"/api/v1/applications/{row.id}/final-report",
                       headers=bearer(client, "pi"), json={"report": REPORT, "evidence": [sha]})
    assert resp.status_code == 200, resp.get_json()
    # The report is the 结题验收 package's now: the PDF named is its 科技报告, and the
    # project goes to acceptance when the package is submitted and endorsed.
    assert resp.get_json()["state"] == "in_progress"
    data = client.get(f"/api/v1/applications/{row.id}/acceptance",
                      headers=bearer(client, "officer")).get_json()
    assert (data["report"], data["tech_report"], data["state"]) == (REPORT, sha, "draft")


@pytest.mark.parametrize("who,status", [
    ("colleague", 403), ("unitadmin", 403), ("demand", 403), ("officer", 403),
    ("outsider", 404),  # another organisation's project: not known to exist
])
def test_only_the_principal_investigator_uploads_evidence(client, project, who, status):
    row, _ = project
    for field in ("milestone_evidence", "final_evidence"):
        resp = upload(client, row.id, who, field)
        assert resp.status_code == status, (field, resp.get_json())
    assert evidence_rows() == []


@pytest.mark.parametrize("state", [A.draft, A.approved, A.contracted, A.acceptance,
                                   A.completed, A.failed, A.terminated])
def test_evidence_only_while_the_project_runs(client, project, state):
    row, _ = project
    closed = ApplicationFactory(applicant=row.applicant, state=state)
    db.session.commit()
    resp = upload(client, closed.id, "pi")
    assert resp.status_code == 409, resp.get_json()
    assert resp.get_json()["error"]["code"] == "not_running"
    assert evidence_rows() == []


def test_evidence_may_be_gathered_during_the_midterm_check(client, project):
    row, _ = project
    checked = ApplicationFactory(applicant=row.applicant, state=A.midterm)
    db.session.commit()
    resp = upload(client, checked.id, "pi")
    assert resp.status_code == 201 and resp.get_json()["field"] == "milestone_evidence"


def test_evidence_fields_do_not_open_a_running_projects_form(client, project):
    row, _ = project
    resp = upload(client, row.id, "pi", field="summary")
    assert resp.status_code == 409 and resp.get_json()["error"]["code"] == "not_editable"


def test_a_report_naming_files_not_of_its_project_is_refused_and_changes_nothing(
        client, project):
    row, _ = project
    m1 = finance.milestones_of(row)[0]
    other = ApplicationFactory(applicant=row.applicant, state=A.in_progress)
    db.session.commit()
    foreign = upload(client, other.id, "pi", content=pdf(9)).get_json()["sha256"]
    pi = bearer(client, "pi")
    for evidence in ([foreign], ["0" * 64], "not-a-list", [1]):
        resp = client.post(f"/api/v1/milestones/{m1.id}/report", headers=pi,
                           json={"report": MILESTONE_REPORT, "evidence": evidence})
        assert resp.status_code == 422, (evidence, resp.get_json())
        resp = client.post(f"/api/v1/applications/{row.id}/final-report", headers=pi,
                           json={"report": REPORT, "evidence": evidence})
        assert resp.status_code == 422, (evidence, resp.get_json())
        assert "evidence" in resp.get_json()["error"]["details"]
    db.session.expire_all()
    m1 = db.session.get(Milestone, m1.id)
    row = db.session.get(Application, row.id)
    assert (m1.state, m1.report or "", m1.evidence) == (MilestoneState.planned, "", [])
    assert (row.state, row.final_report) == (A.in_progress, None)


def test_an_upload_takes_only_file_and_field(client, project):
    row, _ = project
    resp = client.post(f"/api/v1/applications/{row.id}/attachments",
                       headers=bearer(client, "pi"), content_type="multipart/form-data",
                       data={"field": "milestone_evidence", "milestone_id": "1",
                             "file": (io.BytesIO(pdf()), "a.pdf")})
    assert resp.status_code == 422
    assert resp.get_json()["error"]["details"] == {"milestone_id": "不接受该字段"}
    assert evidence_rows() == []


def test_the_spec_says_how_evidence_is_given(client, app):
    paths = client.get("/api/openapi.json").get_json()["paths"]
    for path in ("/api/v1/milestones/{milestone_id}/report",
                 "/api/v1/applications/{app_id}/final-report"):
        body = paths[path]["post"]["requestBody"]["content"]["application/json"]["schema"]
        assert body["properties"]["evidence"]["type"] == "array", path
        assert body["properties"]["evidence"]["items"] == {"type": "string"}
    op = paths["/api/v1/applications/{app_id}/attachments"]["post"]
    form = op["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert form["required"] == ["file", "field"]
    assert "milestone_evidence" in form["properties"]["field"]["description"]
    assert {"201", "403", "404", "409", "413", "415", "422"} <= set(op["responses"])
