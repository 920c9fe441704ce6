"""Researchers apply online: calls, drafts, attachments, submission, eligibility, review."""

import io
import zipfile
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from forms.commitments import commitment_fingerprint
from states import ApplicationState, CallState
from tests.conftest import api_token, job_of, login, run_jobs
from tests.factories import PASSWORD, OrganizationFactory, UserFactory
from workflow.accounts.models import OrgKind, Sanction
from workflow.applying.models import Application, ApplicationRound, SignedDocument
from workflow.calls.models import Call
from workflow.core.models import Attachment, db, utcnow

FORM = [
    {"name": "summary", "label": "项目摘要", "type": "longtext", "required": True, "max": 200},
    {"name": "amount", "label": "申请经费", "type": "money", "required": True, "max": 50},
    {"name": "team", "label": "项目团队", "type": "persons"},
    {"name": "proposal", "label": "申报书正文", "type": "file"},
]
RUBRIC = [{"name": "innovation", "label": "创新性", "weight": 60, "max": 100},
          {"name": "feasibility", "label": "可行性", "weight": 40, "max": 100}]
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def call_body(**extra):
    now = utcnow()
    body = {
        "title": "2026年度包干制试点", "scheme": "baogan", "year": 2026,
        "guide": "支持基础研究。", "opens_at": (now - timedelta(days=1)).isoformat(),
        "closes_at": (now + timedelta(days=10)).isoformat(), "budget": "500",
        "form_schema": FORM, "rubric": RUBRIC, "reviewers_per_application": 3,
        "checklist": ["附件齐全"],
    }
    body.update(extra)
    return body


@pytest.fixture
def world(app):
    univ = OrganizationFactory(name="赣南科技大学")
    other = OrganizationFactory(name="另一单位")
    enterprise = OrganizationFactory(name="稀土公司", kind=OrgKind.enterprise)
    UserFactory(username="officer", organization=None, roles=("officer",))
    UserFactory(username="li", name="李明", organization=univ, roles=("applicant",),
                id_number="362101198001010019")
    UserFactory(username="zhao", organization=univ, roles=("applicant",))
    UserFactory(username="wang", organization=other, roles=("applicant",))
    db.session.commit()
    return {"univ": univ, "other": other, "enterprise": enterprise}


def h(client, who):
    return {"Authorization": f"Bearer {api_token(client, who, PASSWORD)}"}


def published_call(client, **extra):
    officer = h(client, "officer")
    resp = client.post("/api/v1/calls", json=call_body(**extra), headers=officer)
    assert resp.status_code == 201, resp.get_json()
    call_id = resp.get_json()["id"]
    resp = client.post(f"/api/v1/calls/{call_id}/transitions", json={"trigger": "publish"},
                       headers=officer)
    assert resp.status_code == 200, resp.get_json()
    return call_id


def draft(client, call_id, who="li", title="稀土永磁材料研究", **body):
    resp = client.post("/api/v1/applications", headers=h(client, who),
                       json={"call_id": call_id, "title": title, **body})
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


def fill_and_sign(client, app_id, who="li", summary="研究稀土永磁材料的低重稀土制备工艺。"):
    auth = h(client, who)
    resp = client.patch(f"/api/v1/applications/{app_id}", headers=auth,
                        json={"data": {"summary": summary, "amount": "30"}})
    assert resp.status_code == 200, resp.get_json()
    assert client.post(f"/api/v1/applications/{app_id}/sign", headers=auth).status_code == 200
    return auth


# ---- calls ------------------------------------------------------------------------------

def test_officer_creates_and_publishes_a_call(client, world):
    call_id = published_call(client)
    body = client.get(f"/api/v1/calls/{call_id}", headers=h(client, "li")).get_json()
    assert body["state"] == "published" and body["budget_wan"] == "500.00"
    assert body["form_version"] == 1 and body["form_schema"][0]["name"] == "summary"


def test_bad_call_input_is_explained_field_by_field(client, world):
    resp = client.post("/api/v1/calls", headers=h(client, "officer"), json=call_body(
        budget="-5", rubric=[{"name": "a", "label": "甲", "weight": 30, "max": 100}],
        form_schema=[{"name": "x", "type": "nope"}], scheme="other"))
    assert resp.status_code == 422
    details = resp.get_json()["error"]["details"]
    assert set(details) >= {"budget", "rubric", "form_schema", "scheme"}
    assert "权重之和应为100" in details["rubric"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Call)) == 0


def test_researchers_cannot_create_calls(client, world):
    resp = client.post("/api/v1/calls", headers=h(client, "li"), json=call_body())
    assert resp.status_code == 403


def test_publishing_checks_completeness(client, world):
    officer = h(client, "officer")
    call_id = client.post("/api/v1/calls", headers=officer,
                          json=call_body(guide="", rubric=RUBRIC)).get_json()["id"]
    resp = client.post(f"/api/v1/calls/{call_id}/transitions", json={"trigger": "publish"},
                       headers=officer)
    assert resp.status_code == 422
    assert [d["code"] for d in resp.get_json()["error"]["details"]] == ["guide_missing"]


def test_challenges_belong_to_jiebang_calls(client, world):
    officer = h(client, "officer")
    baogan = client.post("/api/v1/calls", headers=officer, json=call_body()).get_json()["id"]
    challenge = {"title": "低重稀土永磁", "demand_org_uscc": world["enterprise"].uscc,
                 "ceiling": "300", "indicators": [{"name": "磁能积", "target": "≥50 MGOe"}],
                 "milestone_template": [{"label": "中试", "percent": 40},
                                        {"label": "量产", "percent": 60}]}
    assert client.post(f"/api/v1/calls/{baogan}/challenges", headers=officer,
                       json=challenge).status_code == 409
    jiebang = client.post("/api/v1/calls", headers=officer,
                          json=call_body(scheme="jiebang")).get_json()["id"]
    resp = client.post(f"/api/v1/calls/{jiebang}/challenges", headers=officer, json=challenge)
    assert resp.status_code == 201 and resp.get_json()["ceiling_wan"] == "300.00"
    bad = client.post(f"/api/v1/calls/{jiebang}/challenges", headers=officer,
                      json={**challenge, "demand_org_uscc": "91360700MA35A0001Q",
                            "milestone_template": [{"label": "x", "percent": 50}]})
    assert bad.status_code == 422
    assert set(bad.get_json()["error"]["details"]) == {"demand_org_uscc", "milestone_template"}


# ---- drafts and attachments -------------------------------------------------------------

def test_autosave_keeps_good_data_and_refuses_bad_without_saving(client, world):
    call_id = published_call(client)
    app = draft(client, call_id)
    auth = h(client, "li")
    resp = client.patch(f"/api/v1/applications/{app['id']}", headers=auth,
                        json={"data": {"summary": "初稿", "amount": "12.5"}})
    # Money reads back as it was sent, in 万元 (kept in yuan).
    assert resp.status_code == 200 and resp.get_json()["data"]["amount"] == "12.5"
    resp = client.patch(f"/api/v1/applications/{app['id']}", headers=auth, json={"data": {
        "summary": "改过的摘要", "team": [{"name": "张三", "id_number": "362101198001010011",
                                          "org": "赣南科技大学"}]}})
    assert resp.status_code == 422
    assert "校验位" in resp.get_json()["error"]["details"]["team[0].id_number"]
    stored = client.get(f"/api/v1/applications/{app['id']}", headers=auth).get_json()
    assert stored["data"]["summary"] == "初稿"  # the refused save changed nothing


def test_stale_if_match_is_409(client, world):
    app = draft(client, published_call(client))
    resp = client.patch(f"/api/v1/applications/{app['id']}", json={"title": "新题目"},
                        headers={**h(client, "li"), "If-Match": '"99"'})
    assert resp.status_code == 409


def upload(client, app_id, who, name, content, field="proposal"):
    return client.post(f"/api/v1/applications/{app_id}/attachments", headers=h(client, who),
                       data={"field": field, "file": (io.BytesIO(content), name)},
                       content_type="multipart/form-data")


def test_attachment_checked_by_content_and_downloadable_only_by_those_allowed(client, world):
    app = draft(client, published_call(client))
    resp = upload(client, app["id"], "li", "申报书.pdf", PDF)
    assert resp.status_code == 201, resp.get_json()
    sha = resp.get_json()["sha256"]
    got = client.get(f"/api/v1/applications/{app['id']}/attachments/{sha}",
                     headers=h(client, "li"))
    assert got.status_code == 200 and got.data == PDF  # the principal investigator
    # A colleague of the same unit sees the application, not its files (issue 16).
    colleague = client.get(f"/api/v1/applications/{app['id']}/attachments/{sha}",
                           headers=h(client, "zhao"))
    assert colleague.status_code == 403 and colleague.data != PDF
    other = client.get(f"/api/v1/applications/{app['id']}/attachments/{sha}",
                       headers=h(client, "wang"))
    assert other.status_code == 404


def zip_bomb():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("word/document.xml", b"\0" * (110 * 1024 * 1024))
    return buf.getvalue()


@pytest.mark.parametrize("name,content,status", [
    ("big.pdf", PDF + b"0" * 3000, 413),
    ("photo.png", PDF, 415),
    ("virus.exe", b"MZ" + b"0" * 100, 415),
    ("../../etc/passwd.pdf", PDF, 422),
    ("empty.pdf", b"", 422),
])
def test_bad_uploads_are_refused_and_nothing_stored(client, app, world, name, content, status):
    app.config["UPLOAD_MAX_BYTES"] = 2048
    try:
        row = draft(client, published_call(client))
        resp = upload(client, row["id"], "li", name, content)
    finally:
        app.config["UPLOAD_MAX_BYTES"] = 20 * 1024 * 1024
    assert resp.status_code == status, resp.get_json()
    assert resp.get_json()["error"]["message"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Attachment)) == 0


def test_zip_bomb_disguised_as_docx_is_refused(client, world):
    row = draft(client, published_call(client))
    resp = upload(client, row["id"], "li", "申报书.docx", zip_bomb())
    assert resp.status_code == 422 and "压缩" in resp.get_json()["error"]["message"]


# ---- submission -------------------------------------------------------------------------

def test_submit_needs_the_signed_commitment_then_gives_a_receipt(client, world):
    app = draft(client, published_call(client))
    auth = h(client, "li")
    client.patch(f"/api/v1/applications/{app['id']}", headers=auth,
                 json={"data": {"summary": "摘要内容", "amount": "30"}})
    resp = client.post(f"/api/v1/applications/{app['id']}/submit", headers=auth)
    assert resp.status_code == 422
    assert resp.get_json()["error"]["details"][0]["code"] == "commitment_unsigned"
    before = client.get(f"/api/v1/applications/{app['id']}", headers=auth).get_json()
    assert client.post(f"/api/v1/applications/{app['id']}/sign", headers=auth).status_code == 200
    after = client.get(f"/api/v1/applications/{app['id']}", headers=auth).get_json()
    assert after["version"] > before["version"]  # a change like any other
    resp = client.post(f"/api/v1/applications/{app['id']}/submit", headers=auth)
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert body["state"] == "formal_review" and body["receipt_no"].startswith("SB2026BG")
    assert body["data"]["commitment"]["signed_by"] == "李明"
    stored = db.session.get(Application, app["id"])
    letter = stored.signature(SignedDocument.commitment)
    assert (letter.signer_name, letter.signer_id) == ("李明", stored.applicant_id)
    assert letter.text_sha256 == commitment_fingerprint() and "commitment" not in stored.data
    # The round keeps the signature it was sent with (its archival PDF shows it).
    sent = db.session.scalar(sa.select(ApplicationRound))
    assert sent.data["commitment"] == body["data"]["commitment"]
    # Twice (a second tab) → one submission; editing afterwards → 409.
    assert client.post(f"/api/v1/applications/{app['id']}/submit",
                       headers=auth).status_code == 409
    assert client.patch(f"/api/v1/applications/{app['id']}", headers=auth,
                        json={"title": "改"}).status_code == 409
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ApplicationRound)) == 1


def test_missing_required_fields_are_listed_before_submission(client, world):
    app = draft(client, published_call(client))
    auth = h(client, "li")
    client.post(f"/api/v1/applications/{app['id']}/sign", headers=auth)
    resp = client.post(f"/api/v1/applications/{app['id']}/submit", headers=auth)
    assert resp.status_code == 422
    assert set(resp.get_json()["error"]["details"]) == {"summary", "amount"}


def test_after_the_deadline_submission_is_refused_clearly(client, world):
    app = draft(client, published_call(client))
    auth = fill_and_sign(client, app["id"])
    call = db.session.get(Call, app["call_id"])
    call.opens_at, call.closes_at = utcnow() - timedelta(days=9), utcnow() - timedelta(1)
    db.session.commit()
    resp = client.post(f"/api/v1/applications/{app['id']}/submit", headers=auth)
    assert resp.status_code == 422 and "申报已截止" in resp.get_json()["error"]["message"]


def test_withdraw_before_formal_review_only(client, world):
    call_id = published_call(client, steps=["unit_review"])
    app = draft(client, call_id)
    auth = fill_and_sign(client, app["id"])
    assert client.post(f"/api/v1/applications/{app['id']}/submit",
                       headers=auth).get_json()["state"] == "unit_review"
    resp = client.post(f"/api/v1/applications/{app['id']}/transitions", headers=auth,
                       json={"trigger": "withdraw"})
    assert resp.status_code == 200 and resp.get_json()["state"] == "withdrawn"


def test_sanctioned_researcher_cannot_submit(client, world):
    app = draft(client, published_call(client))
    auth = fill_and_sign(client, app["id"])
    db.session.add(Sanction(subject="person", name="李明", id_number="362101198001010019",
                            reason="论文造假", starts_on=date(2025, 1, 1),
                            ends_on=date(2030, 1, 1)))
    db.session.commit()
    resp = client.post(f"/api/v1/applications/{app['id']}/submit", headers=auth)
    assert resp.status_code == 422
    assert "科研失信" in resp.get_json()["error"]["message"]


def test_one_title_submitted_twice_is_flagged_before_formal_review_passes(client, world):
    call_id = published_call(client)
    first = draft(client, call_id, "li", title="稀土永磁材料研究")
    fill_and_sign(client, first["id"], "li")
    client.post(f"/api/v1/applications/{first['id']}/submit", headers=h(client, "li"))
    second = draft(client, call_id, "wang", title="稀土永磁材料研究")
    fill_and_sign(client, second["id"], "wang", summary="完全不同的内容。")
    assert client.post(f"/api/v1/applications/{second['id']}/submit",
                       headers=h(client, "wang")).status_code == 200
    resp = client.post(f"/api/v1/applications/{second['id']}/transitions",
                       headers=h(client, "officer"), json={"trigger": "pass_formal_review"})
    assert resp.status_code == 422
    assert resp.get_json()["error"]["details"][0]["code"] == "duplicate_title"


def test_returned_application_is_revised_and_every_round_kept(client, world):
    app = draft(client, published_call(client))
    auth = fill_and_sign(client, app["id"])
    client.post(f"/api/v1/applications/{app['id']}/submit", headers=auth)
    officer = h(client, "officer")
    resp = client.post(f"/api/v1/applications/{app['id']}/transitions", headers=officer,
                       json={"trigger": "return_for_revision", "comment": "请补充团队信息"})
    assert resp.get_json()["state"] == "returned"
    client.patch(f"/api/v1/applications/{app['id']}", headers=auth,
                 json={"data": {"summary": "补充了团队信息的摘要"}})
    resp = client.post(f"/api/v1/applications/{app['id']}/submit", headers=auth)
    assert resp.status_code == 200 and resp.get_json()["round"] == 2
    rounds = db.session.scalars(sa.select(ApplicationRound).order_by(ApplicationRound.round))
    assert [r.data["summary"] for r in rounds] == [
        "研究稀土永磁材料的低重稀土制备工艺。", "补充了团队信息的摘要"]


def test_editing_a_published_form_does_not_break_saved_applications(client, world):
    call_id = published_call(client)
    old = draft(client, call_id)
    fill_and_sign(client, old["id"])
    new_form = [*FORM, {"name": "plan", "label": "研究计划", "type": "longtext",
                        "required": True}]
    resp = client.patch(f"/api/v1/calls/{call_id}", headers=h(client, "officer"),
                        json={"form_schema": new_form})
    assert resp.status_code == 200 and resp.get_json()["form_version"] == 2
    resp = client.post(f"/api/v1/applications/{old['id']}/submit", headers=h(client, "li"))
    assert resp.status_code == 200  # still judged by the form it was started on
    fresh = draft(client, call_id, "zhao", title="另一个项目")
    assert fresh["form_version"] == 2


def test_published_call_keeps_its_fixed_terms(client, world):
    call_id = published_call(client)
    resp = client.patch(f"/api/v1/calls/{call_id}", headers=h(client, "officer"),
                        json={"budget": "900"})
    assert resp.status_code == 409


# ---- jiebang ----------------------------------------------------------------------------

def test_jiebang_application_with_indicators_milestones_and_pledge(client, world):
    officer = h(client, "officer")
    call_id = client.post("/api/v1/calls", headers=officer, json=call_body(
        scheme="jiebang", form_schema=FORM[:1])).get_json()["id"]
    ch = client.post(f"/api/v1/calls/{call_id}/challenges", headers=officer, json={
        "title": "低重稀土永磁", "demand_org_uscc": world["enterprise"].uscc,
        "ceiling": "300", "indicators": [{"name": "磁能积", "target": "≥50"}],
    }).get_json()
    client.post(f"/api/v1/calls/{call_id}/transitions", json={"trigger": "publish"},
                headers=officer)
    app = draft(client, call_id, challenge_id=ch["id"])
    auth = h(client, "li")
    over = client.patch(f"/api/v1/applications/{app['id']}", headers=auth, json={"data": {
        "milestones": [{"label": "中试", "amount_wan": "200", "months": 12},
                       {"label": "量产", "amount_wan": "150", "months": 24}]}})
    assert over.status_code == 422 and "超过榜额" in over.get_json()["error"]["details"][
        "milestones"]
    ok = client.patch(f"/api/v1/applications/{app['id']}", headers=auth, json={"data": {
        "summary": "揭榜方案", "indicators": {"磁能积": "52 MGOe"},
        "milestones": [{"label": "中试", "amount_wan": "120", "months": 12},
                       {"label": "量产", "amount_wan": "180", "months": 24}]}})
    assert ok.status_code == 200, ok.get_json()
    resp = client.post(f"/api/v1/applications/{app['id']}/submit", headers=auth)
    assert resp.get_json()["error"]["details"][0]["code"] == "pledge_unsigned"
    client.post(f"/api/v1/applications/{app['id']}/sign", headers=auth)
    resp = client.post(f"/api/v1/applications/{app['id']}/submit", headers=auth)
    assert resp.status_code == 200 and resp.get_json()["receipt_no"].startswith("SB2026JB")


# ---- visibility -------------------------------------------------------------------------

def test_another_organisation_sees_none_of_it(client, world):
    app = draft(client, published_call(client))
    sha = upload(client, app["id"], "li", "a.pdf", PDF).get_json()["sha256"]
    wang = h(client, "wang")
    base = f"/api/v1/applications/{app['id']}"
    assert client.get(base, headers=wang).status_code == 404
    assert client.patch(base, headers=wang, json={"title": "x"}).status_code == 404
    assert client.post(f"{base}/sign", headers=wang).status_code == 404
    assert client.post(f"{base}/submit", headers=wang).status_code == 404
    assert upload(client, app["id"], "wang", "a.pdf", PDF).status_code == 404
    assert client.get(f"{base}/attachments/{sha}", headers=wang).status_code == 404
    listed = client.get("/api/v1/applications", headers=wang).get_json()
    assert listed["total"] == 0
    mine = client.get("/api/v1/applications", headers=h(client, "zhao")).get_json()
    assert mine["total"] == 1  # same unit
    # A colleague sees it but may not change another person's application.
    assert client.patch(base, headers=h(client, "zhao"), json={"title": "x"}).status_code == 403


def test_list_filters(client, world):
    call_id = published_call(client)
    draft(client, call_id)
    officer = h(client, "officer")
    assert client.get("/api/v1/applications?state=draft", headers=officer).get_json()[
        "total"] == 1
    assert client.get("/api/v1/applications?scheme=jiebang", headers=officer).get_json()[
        "total"] == 0
    assert client.get("/api/v1/applications?state=bogus", headers=officer).status_code == 422


# ---- pages ------------------------------------------------------------------------------

def test_researcher_fills_the_form_on_the_page_and_sees_errors_beside_fields(client, world):
    call_id = published_call(client)
    login(client, "li", PASSWORD)
    page = client.get(f"/applications/new?call={call_id}").get_data(as_text=True)
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    resp = client.post("/applications/new", data={"csrf_token": token, "call": call_id,
                                                  "title": "页面新建的项目"})
    assert resp.status_code == 302
    app_id = int(resp.headers["Location"].rstrip("/edit").split("/")[-1])
    edit = client.get(f"/applications/{app_id}/edit").get_data(as_text=True)
    assert "项目摘要" in edit and "科研诚信与经费使用承诺书" in edit and "负面清单" in edit
    resp = client.post(f"/applications/{app_id}/edit", data={
        "csrf_token": token, "title": "页面新建的项目", "f_summary": "摘要",
        "f_amount": "abc", "action": "save"})
    assert resp.status_code == 422
    body = resp.get_data(as_text=True)
    assert "金额应为数字" in body and 'value="abc"' in body  # the input is not lost
    resp = client.post(f"/applications/{app_id}/autosave", data={
        "csrf_token": token, "title": "页面新建的项目", "f_summary": "自动保存的摘要",
        "f_amount": "20"})
    assert resp.status_code == 200 and resp.get_json()["saved"]
    resp = client.post(f"/applications/{app_id}/edit", data={
        "csrf_token": token, "title": "页面新建的项目", "f_summary": "自动保存的摘要",
        "f_amount": "20", "action": "sign"})
    edit = client.get(f"/applications/{app_id}/edit").get_data(as_text=True)
    assert "已由 李明 于 " in edit and "我已阅读并签署" not in edit
    resp = client.post(f"/applications/{app_id}/edit", data={
        "csrf_token": token, "title": "页面新建的项目", "f_summary": "自动保存的摘要",
        "f_amount": "20", "action": "submit"})
    assert resp.status_code == 302
    page = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert "受理回执号" in page and "形式审查" in page


def test_officer_bulk_formal_review_reports_each_refusal(client, world):
    call_id = published_call(client)
    ids = []
    for who, title in (("li", "项目甲"), ("wang", "项目乙")):
        app = draft(client, call_id, who, title=title)
        fill_and_sign(client, app["id"], who, summary=f"{title}的摘要")
        client.post(f"/api/v1/applications/{app['id']}/submit", headers=h(client, who))
        ids.append(app["id"])
    login(client, "officer", PASSWORD)
    page = client.get("/applications?state=formal_review").get_data(as_text=True)
    assert "项目甲" in page and "项目乙" in page
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    resp = client.post("/applications/bulk", data={
        "csrf_token": token, "ids": [str(i) for i in ids], "decision": "return", "comment": ""})
    assert resp.status_code == 302
    assert run_jobs() == [job_of(resp.headers["Location"])]
    assert {db.session.get(Application, i).state for i in ids} == {
        ApplicationState.formal_review}
    box = client.get(f"/jobs/{job_of(resp.headers['Location'])}").get_data(as_text=True)
    assert "已处理 0 件，2 件未处理" in box
    assert "项目甲：请填写意见或理由" in box and "项目乙：请填写意见或理由" in box
    resp = client.post("/applications/bulk", data={
        "csrf_token": token, "ids": [str(i) for i in ids], "decision": "pass", "comment": ""})
    assert resp.status_code == 302
    page = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert f"/jobs/{job_of(resp.headers['Location'])}" in page  # the progress box polls it
    run_jobs()
    box = client.get(f"/jobs/{job_of(resp.headers['Location'])}").get_data(as_text=True)
    assert "已处理 2 件" in box and "已处理 2 / 2" in box
    db.session.expire_all()
    assert {db.session.get(Application, i).state for i in ids} == {
        ApplicationState.expert_review}


def test_call_pages_render_for_officer_and_researcher(client, world):
    call_id = published_call(client)
    login(client, "officer", PASSWORD)
    assert "新建指南" in client.get("/calls").get_data(as_text=True)
    assert client.get(f"/calls/{call_id}/edit").status_code == 200
    assert client.get("/calls/new").status_code == 200
    page = client.get(f"/calls/{call_id}").get_data(as_text=True)
    assert "支持基础研究" in page and CallState.published.label in page


def test_officer_keeps_the_integrity_list_with_checked_identifiers(client, world):
    login(client, "officer", PASSWORD)
    page = client.get("/integrity").get_data(as_text=True)
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    bad = client.post("/integrity", data={
        "csrf_token": token, "subject": "person", "name": "某人",
        "identifier": "362101198001010011", "reason": "抄袭", "starts_on": "2026-01-01",
        "ends_on": "2025-01-01"})
    assert bad.status_code == 422
    body = bad.get_data(as_text=True)
    assert "校验位" in body and "结束日期不能早于开始日期" in body
    ok = client.post("/integrity", data={
        "csrf_token": token, "subject": "org", "name": "另一单位",
        "identifier": world["other"].uscc, "reason": "虚报冒领", "starts_on": "2026-01-01",
        "ends_on": "2031-01-01"})
    assert ok.status_code == 302
    assert "虚报冒领" in client.get("/integrity").get_data(as_text=True)
    login_as_researcher = client.application.test_client()
    login(login_as_researcher, "li", PASSWORD)
    assert login_as_researcher.get("/integrity").status_code == 403


def test_officer_attaches_guide_documents_that_researchers_download(client, world):
    call_id = published_call(client)
    login(client, "officer", PASSWORD)
    page = client.get(f"/calls/{call_id}").get_data(as_text=True)
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    resp = client.post(f"/calls/{call_id}/attachments", content_type="multipart/form-data",
                       data={"csrf_token": token, "file": (io.BytesIO(PDF), "申报指南.pdf")})
    assert resp.status_code == 302
    bad = client.post(f"/calls/{call_id}/attachments", content_type="multipart/form-data",
                      data={"csrf_token": token, "file": (io.BytesIO(b"hello"), "x.pdf")})
    assert bad.status_code == 302
    page = client.get(f"/calls/{call_id}").get_data(as_text=True)
    assert "申报指南.pdf" in page and "上传失败" in page
    att = db.session.scalars(sa.select(Attachment).where(Attachment.call_id == call_id)).one()
    researcher = client.application.test_client()
    login(researcher, "wang", PASSWORD)
    got = researcher.get(f"/calls/{call_id}/attachments/{att.id}")
    assert got.status_code == 200 and got.data == PDF


def test_unit_review_then_recommendation_on_the_pages(client, world):
    UserFactory(username="unitadmin", organization=world["univ"], roles=("org_admin",))
    UserFactory(username="otheradmin", organization=world["other"], roles=("org_admin",))
    county = OrganizationFactory(name="章贡区科技局", kind=OrgKind.government)
    world["univ"].parent = county  # the university's recommending body
    UserFactory(username="dept", organization=county, roles=("recommender",))
    db.session.commit()
    call_id = published_call(client, steps=["unit_review", "recommendation"])
    app = draft(client, call_id)
    auth = fill_and_sign(client, app["id"])
    assert client.post(f"/api/v1/applications/{app['id']}/submit",
                       headers=auth).get_json()["state"] == "unit_review"
    other = client.application.test_client()
    login(other, "otheradmin", PASSWORD)
    assert client.get("/").status_code == 302
    assert other.get(f"/applications/{app['id']}").status_code == 404
    login(client, "unitadmin", PASSWORD)
    home = client.get("/").get_data(as_text=True)
    assert "待单位审核：稀土永磁材料研究" in home
    page = client.get(f"/applications/{app['id']}").get_data(as_text=True)
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    client.post(f"/applications/{app['id']}/fire", data={
        "csrf_token": token, "trigger": "unit_approve", "comment": "同意推荐"})
    dept = client.application.test_client()
    login(dept, "dept", PASSWORD)
    assert "待推荐：稀土永磁材料研究" in dept.get("/").get_data(as_text=True)
    page = dept.get(f"/applications/{app['id']}").get_data(as_text=True)
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    dept.post(f"/applications/{app['id']}/fire", data={
        "csrf_token": token, "trigger": "recommend", "comment": ""})
    db.session.expire_all()
    assert db.session.get(Application, app["id"]).state is ApplicationState.formal_review


def test_every_application_page_is_closed_to_another_organisation(client, world):
    app = draft(client, published_call(client))
    sha = upload(client, app["id"], "li", "a.pdf", PDF).get_json()["sha256"]
    auth = fill_and_sign(client, app["id"])
    client.post(f"/api/v1/applications/{app['id']}/submit", headers=auth)
    from workflow.documents import operations as documents

    doc = documents.render_application(app["id"], 1)
    db.session.commit()
    login(client, "wang", PASSWORD)
    token = client.get("/").get_data(as_text=True).split(
        'name="csrf_token" value="')[1].split('"')[0]
    base = f"/applications/{app['id']}"
    for path in (base, f"{base}/edit", f"{base}/attachments/{sha}",
                 f"/documents/{doc.id}"):
        assert client.get(path).status_code == 404, path
    for path in (f"{base}/edit", f"{base}/autosave", f"{base}/withdraw", f"{base}/fire",
                 f"{base}/formal-review", f"{base}/attachments"):
        assert client.post(path, data={"csrf_token": token}).status_code == 404, path
    assert "稀土永磁材料研究" not in client.get("/applications").get_data(as_text=True)
