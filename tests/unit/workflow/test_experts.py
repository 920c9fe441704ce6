"""The expert pool: added by hand or imported from Excel with a row-by-row report."""

import io
from datetime import date

import sqlalchemy as sa
from openpyxl import Workbook

from tests.conftest import job_of, login, run_jobs
from tests.factories import PASSWORD, OrganizationFactory, UserFactory
from workflow.accounts.models import ExpertProfile, Sanction
from workflow.core.models import db
from workflow.review.experts import COLUMNS


def _officer(client):
    UserFactory(username="officer", organization=None, roles=("officer",))
    db.session.commit()
    login(client, "officer", PASSWORD)
    page = client.get("/experts").get_data(as_text=True)
    return page.split('name="csrf_token" value="')[1].split('"')[0]


def sheet(rows):
    book = Workbook()
    ws = book.active
    ws.append(COLUMNS)
    for row in rows:
        ws.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_officer_adds_an_expert_and_bad_input_is_explained(client, app):
    token = _officer(client)
    bad = client.post("/experts", data={"csrf_token": token, "username": "zhang",
                                        "name": "张三", "id_number": "362101198001010011",
                                        "disciplines": "", "load_cap": "abc"})
    assert bad.status_code == 422
    body = bad.get_data(as_text=True)
    assert "校验位" in body and "学科代码" in body and "最大评审数" in body
    ok = client.post("/experts", data={"csrf_token": token, "username": "zhang", "name": "张三",
                                       "id_number": "362101198001010019",
                                       "disciplines": "tf, TG", "keywords": "稀土，萃取",
                                       "load_cap": "12"})
    assert ok.status_code == 302
    profile = db.session.scalars(sa.select(ExpertProfile)).one()
    assert profile.disciplines == ["TF", "TG"] and profile.keywords == ["稀土", "萃取"]
    assert profile.load_cap == 12 and profile.user.roles == {"expert"}


def test_excel_import_reports_row_by_row(client, app):
    org = OrganizationFactory(name="赣南科技大学")
    token = _officer(client)
    content = sheet([
        ["li_s", "李四", "362101198001010019", org.uscc, "教授", "TF", "稀土", 20, None, None],
        ["wang_w", "王五", None, "91360700MA35A0001Q", None, "S1", None, 10, None, None],
        ["li_s", "李四重复", None, None, None, "TF", None, None, None, None],
        ["zhao_l", "赵六", None, None, None, "", None, None, None, None],
        [None] * 10,
        ["chen_q", "陈七", None, None, None, "TP", "人工智能", None, "bad-mail", None],
    ])
    resp = client.post("/experts/import", content_type="multipart/form-data", data={
        "csrf_token": token, "file": (io.BytesIO(content), "专家.xlsx")})
    assert resp.status_code == 302  # back to the pool, with the import's progress box
    assert run_jobs() == [job_of(resp.headers["Location"])]
    page = client.get(f"/jobs/{job_of(resp.headers['Location'])}").get_data(as_text=True)
    assert "成功 1 行，未导入 4 行" in page and "已处理 6 / 6" in page
    assert "单位统一社会信用代码：统一社会信用代码校验位不正确" in page
    assert "用户名：该用户名已被使用" in page
    assert "学科代码：请填写学科代码" in page and "电子邮箱格式不正确" in page
    names = [p.user.name for p in db.session.scalars(sa.select(ExpertProfile))]
    assert names == ["李四"]


def test_import_refuses_what_is_not_an_expert_sheet(client, app):
    token = _officer(client)
    resp = client.post("/experts/import", content_type="multipart/form-data", data={
        "csrf_token": token, "file": (io.BytesIO(b"%PDF-1.4\n%%EOF"), "专家.pdf")})
    assert resp.status_code == 302
    assert "请上传 .xlsx" in client.get("/experts").get_data(as_text=True)
    wrong = Workbook()
    wrong.active.append(["A", "B"])
    buf = io.BytesIO()
    wrong.save(buf)
    resp = client.post("/experts/import", content_type="multipart/form-data", data={
        "csrf_token": token, "file": (io.BytesIO(buf.getvalue()), "x.xlsx")})
    run_jobs()
    box = client.get(f"/jobs/{job_of(resp.headers['Location'])}").get_data(as_text=True)
    assert 'data-job-state="failed"' in box and "表头缺少" in box


def test_template_and_integrity_status(client, app):
    token = _officer(client)
    template = client.get("/experts/template.xlsx")
    assert template.status_code == 200 and template.data[:2] == b"PK"
    client.post("/experts", data={"csrf_token": token, "username": "zhang", "name": "张三",
                                  "id_number": "362101198001010019", "disciplines": "TF"})
    db.session.add(Sanction(subject="person", name="张三", id_number="362101198001010019",
                            reason="评审失信", starts_on=date(2025, 1, 1),
                            ends_on=date(2030, 1, 1)))
    db.session.commit()
    assert "科研失信处理期内" in client.get("/experts").get_data(as_text=True)


def test_only_officers_keep_the_pool(client, app):
    UserFactory(username="li", roles=("applicant",))
    db.session.commit()
    login(client, "li", PASSWORD)
    assert client.get("/experts").status_code == 403
