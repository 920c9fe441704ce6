"""The expert pool through the API: search and pages, add, edit, and the Excel import
with its row-by-row report — what the officer's pool page does."""

import io
from datetime import date

import pytest
from openpyxl import Workbook

from tests.conftest import api_token
from tests.factories import PASSWORD, ExpertProfileFactory, OrganizationFactory, UserFactory
from workflow.accounts.models import ExpertProfile, Sanction
from workflow.core.models import db
from workflow.review.experts import COLUMNS


def sheet(rows):
    book = Workbook()
    ws = book.active
    ws.append(COLUMNS)
    for row in rows:
        ws.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


@pytest.fixture
def auth(app, client):
    officer = UserFactory(roles=("officer",), organization=None)
    researcher = UserFactory(roles=("applicant",))
    db.session.commit()
    return {"officer": {"Authorization": "Bearer " + api_token(client, officer.username,
                                                               PASSWORD)},
            "researcher": {"Authorization": "Bearer " + api_token(
                client, researcher.username, PASSWORD)}}


def test_officer_adds_edits_and_finds_an_expert(client, auth):
    org = OrganizationFactory(name="赣南科技大学")
    db.session.commit()
    resp = client.post("/api/v1/experts", headers=auth["officer"], json={
        "username": "zhang", "name": "张三", "id_number": "362101198001010019",
        "org_uscc": org.uscc, "title": "教授", "disciplines": ["tf", "TG"],
        "keywords": "稀土，萃取", "load_cap": 12, "email": "zhang@example.cn"})
    assert resp.status_code == 201, resp.get_json()
    expert = resp.get_json()
    assert expert["disciplines"] == ["TF", "TG"] and expert["keywords"] == ["稀土", "萃取"]
    assert expert["organization"]["name"] == "赣南科技大学"
    assert (expert["load_cap"], expert["load"], expert["status"]) == (12, 0, "available")
    assert "id_number" not in expert

    resp = client.patch(f"/api/v1/experts/{expert['id']}", headers=auth["officer"],
                        json={"load_cap": 20, "available": False, "keywords": ["永磁材料"]})
    assert resp.status_code == 200, resp.get_json()
    assert (resp.get_json()["load_cap"], resp.get_json()["status"]) == (20, "paused")
    profile = db.session.get(ExpertProfile, expert["id"])
    assert profile.keywords == ["永磁材料"] and profile.disciplines == ["TF", "TG"]

    ExpertProfileFactory(user__name="李四", disciplines=["S1"], keywords=["人工智能"])
    ExpertProfileFactory(user__name="王五", disciplines=["TF"], keywords=["冶金"])
    db.session.commit()
    def names(query):
        resp = client.get(f"/api/v1/experts{query}", headers=auth["officer"])
        assert resp.status_code == 200, resp.get_json()
        return [e["name"] for e in resp.get_json()["items"]]
    assert sorted(names("")) == ["张三", "李四", "王五"]
    assert names("?q=永磁") == ["张三"] and names("?q=赣南") == ["张三"]
    assert sorted(names("?discipline=TF")) == ["张三", "王五"]
    # The page's sorts, both ways.
    assert names("?sort=name&dir=desc") == sorted(["张三", "李四", "王五"], reverse=True)
    # A discipline code is typed (the pool's codes are never all read): a well-formed one
    # no expert has finds nobody; a malformed one is refused.
    assert names("?discipline=XX") == []
    unknown = client.get("/api/v1/experts?discipline=X-X&sort=age", headers=auth["officer"])
    assert unknown.status_code == 422
    assert unknown.get_json()["error"]["details"] == {
        "discipline": "没有这个学科代码",
        "sort": "可选：name、org、title、load、available"}
    assert names("?discipline=TF&available=true") == ["王五"]
    page = client.get("/api/v1/experts?per_page=2&page=2", headers=auth["officer"]).get_json()
    assert (page["total"], page["page"], page["per_page"], len(page["items"])) == (3, 2, 2, 1)
    assert client.get("/api/v1/experts?available=maybe",
                      headers=auth["officer"]).status_code == 422
    assert client.get(f"/api/v1/experts/{expert['id']}",
                      headers=auth["officer"]).get_json()["name"] == "张三"


def test_bad_expert_input_is_explained(client, auth):
    resp = client.post("/api/v1/experts", headers=auth["officer"], json={
        "username": "zhang", "id_number": "362101198001010011", "disciplines": "",
        "org_uscc": "91360700MA35A0001Q"})
    assert resp.status_code == 422
    assert {"id_number", "disciplines", "org_uscc"} <= set(resp.get_json()["error"]["details"])
    resp = client.post("/api/v1/experts", headers=auth["officer"], json={
        "username": "zhang", "disciplines": "TF", "load_cap": "many", "email": 5})
    assert resp.get_json()["error"]["details"] == {"load_cap": "应为整数", "email": "应为字符串"}
    resp = client.post("/api/v1/experts", headers=auth["officer"], json={
        "username": "zhang", "disciplines": "TF", "expertise": "稀土"})
    assert resp.status_code == 422
    assert resp.get_json()["error"]["details"] == {"expertise": "不接受该字段"}
    profile = ExpertProfileFactory()
    db.session.commit()
    resp = client.patch(f"/api/v1/experts/{profile.user_id}", headers=auth["officer"],
                        json={"name": "改名"})  # the name is the person's, not the pool's
    assert resp.status_code == 422 and "name" in resp.get_json()["error"]["details"]
    assert client.patch("/api/v1/experts/99999", headers=auth["officer"],
                        json={"load_cap": 1}).status_code == 404
    assert db.session.query(ExpertProfile).count() == 1


def test_excel_import_reports_row_by_row_and_the_expert_joins_the_pool(client, auth):
    org = OrganizationFactory(name="赣南科技大学")
    db.session.commit()
    content = sheet([
        ["li_s", "李四", "362101198001010019", org.uscc, "教授", "TF", "稀土", 20, None, None],
        ["wang_w", "王五", None, "91360700MA35A0001Q", None, "S1", None, 10, None, None],
        [None] * 10,
        ["zhao_l", "赵六", None, None, None, "", None, None, None, None],
    ])
    resp = client.post("/api/v1/experts/import", headers=auth["officer"],
                       content_type="multipart/form-data",
                       data={"file": (io.BytesIO(content), "专家.xlsx")})
    assert resp.status_code == 200, resp.get_json()
    report = resp.get_json()
    assert (report["imported"], report["refused"]) == (1, 2)
    rows = {r["row"]: r for r in report["rows"]}
    assert rows[2]["ok"] and not rows[3]["ok"] and not rows[5]["ok"]
    assert "单位统一社会信用代码：统一社会信用代码校验位不正确" in rows[3]["message"]
    assert "学科代码" in rows[5]["message"]
    found = client.get("/api/v1/experts?q=李四", headers=auth["officer"]).get_json()["items"]
    assert [(e["username"], e["organization"]["name"]) for e in found] == [
        ("li_s", "赣南科技大学")]


def test_import_refuses_what_is_not_an_expert_sheet(client, auth):
    def upload(data):
        return client.post("/api/v1/experts/import", headers=auth["officer"],
                           content_type="multipart/form-data", data=data)
    resp = upload({"file": (io.BytesIO(b"%PDF-1.4\n%%EOF"), "专家.pdf")})
    assert resp.status_code == 415 and "xlsx" in resp.get_json()["error"]["message"]
    resp = upload({})
    assert resp.status_code == 422 and resp.get_json()["error"]["details"] == {"file": "必填"}
    wrong = Workbook()
    wrong.active.append(["A", "B"])
    buf = io.BytesIO()
    wrong.save(buf)
    resp = upload({"file": (io.BytesIO(buf.getvalue()), "x.xlsx")})
    assert resp.status_code == 422 and "表头缺少" in resp.get_json()["error"]["message"]
    resp = upload({"file": (io.BytesIO(sheet([])), "x.xlsx"), "sheet": "专家"})
    assert resp.status_code == 422 and resp.get_json()["error"]["details"] == {
        "sheet": "不接受该字段"}


def test_sanctioned_experts_are_marked(client, auth):
    profile = ExpertProfileFactory(user__name="张三")
    profile.user.id_number = "362101198001010019"
    db.session.add(Sanction(subject="person", name="张三", id_number="362101198001010019",
                            reason="评审失信", starts_on=date(2025, 1, 1),
                            ends_on=date(2099, 1, 1)))
    db.session.commit()
    items = client.get("/api/v1/experts", headers=auth["officer"]).get_json()["items"]
    assert [e["status"] for e in items] == ["sanctioned"]


def test_only_officers_keep_the_pool(client, auth):
    profile = ExpertProfileFactory()
    db.session.commit()
    for method, url, kwargs in (
            ("get", "/api/v1/experts", {}),
            ("post", "/api/v1/experts", {"json": {"username": "x", "disciplines": "TF"}}),
            ("get", f"/api/v1/experts/{profile.user_id}", {}),
            ("patch", f"/api/v1/experts/{profile.user_id}", {"json": {"load_cap": 1}}),
            ("get", "/api/v1/experts/template.xlsx", {}),
            ("post", "/api/v1/experts/import", {"content_type": "multipart/form-data",
                                                "data": {"file": (io.BytesIO(sheet([])),
                                                                  "x.xlsx")}})):
        resp = getattr(client, method)(url, headers=auth["researcher"], **kwargs)
        assert resp.status_code == 403, (method, url)
    template = client.get("/api/v1/experts/template.xlsx", headers=auth["officer"])
    assert template.status_code == 200 and template.data[:2] == b"PK"
