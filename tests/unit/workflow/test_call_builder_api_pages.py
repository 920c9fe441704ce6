"""The call builder through the API and the pages: copy, export, import, the edit page's
errors beside their fields, the missing items before publishing, the live preview, and
the checklist's required items on the formal review page."""

import io
import json
import re
from decimal import Decimal

import pytest

from states import ApplicationState, CallState
from tests.conftest import api_token, csrf_of, login
from tests.factories import (
    PASSWORD,
    ApplicationFactory,
    CallFactory,
    OrganizationFactory,
    UserFactory,
)
from workflow.calls import operations as calls
from workflow.calls.models import Call
from workflow.core.models import db

CHECKLIST = ["申报单位具有独立法人资格", "附件齐全"]


@pytest.fixture
def world(app):
    UserFactory(username="officer", organization=None, roles=("officer",))
    UserFactory(username="li", organization=OrganizationFactory(), roles=("applicant",))
    year = calls.this_year() - 1
    last = CallFactory(state=CallState.archived, year=year,
                       title=f"{year}年度市自然科学基金项目（包干制）", guide="支持基础研究。",
                       checklist=CHECKLIST, checklist_required=CHECKLIST[:1],
                       tranche_plan=[{"label": "首笔", "condition": "contract", "percent": 100}])
    draft = CallFactory(state=CallState.draft, title="未发布的草稿")
    db.session.commit()
    return {"last": last, "draft": draft}


def h(client, who):
    return {"Authorization": f"Bearer {api_token(client, who, PASSWORD)}"}


# ---- the API ---------------------------------------------------------------------------------

def test_api_copies_a_call_into_a_dateless_draft(client, world):
    last = world["last"]
    resp = client.post(f"/api/v1/calls/{last.id}/copy", headers=h(client, "officer"))
    assert resp.status_code == 201, resp.get_json()
    body = resp.get_json()
    assert body["state"] == "draft" and body["year"] == calls.this_year()
    assert (body["opens_at"], body["closes_at"]) == (None, None)
    assert body["title"].startswith(f"{calls.this_year()}年度市自然科学基金项目")
    assert (body["checklist"], body["checklist_required"]) == (CHECKLIST, CHECKLIST[:1])
    assert body["rubric"] == last.rubric and body["form_schema"] == last.form_schema
    # What publishing still needs, through the generic transitions endpoint.
    listed = client.get(f"/api/v1/calls/{body['id']}/transitions",
                        headers=h(client, "officer")).get_json()["transitions"]
    publish = next(t for t in listed if t["trigger"] == "publish")
    assert [r["code"] for r in publish["reasons"]] == ["opens_missing", "closes_missing"]


def test_api_copy_takes_dates_and_refuses_other_fields(client, world):
    url = f"/api/v1/calls/{world['last'].id}/copy"
    officer = h(client, "officer")
    resp = client.post(url, headers=officer, json={
        "title": "下一批", "opens_at": "2031-03-01 09:00", "closes_at": "2031-04-30 17:00"})
    assert resp.status_code == 201, resp.get_json()
    assert resp.get_json()["opens_at"].startswith("2031-03-01T01:00")
    resp = client.post(url, headers=officer, json={"budget": "100"})
    assert resp.status_code == 422
    assert resp.get_json()["error"]["details"] == {"budget": "不接受该字段"}


def test_api_copy_export_and_import_are_the_call_keepers(client, world):
    li = h(client, "li")
    last, draft = world["last"], world["draft"]
    assert client.post(f"/api/v1/calls/{last.id}/copy", headers=li).status_code == 403
    assert client.get(f"/api/v1/calls/{last.id}/export", headers=li).status_code == 403
    # A draft is unseen by a researcher: 404, as for a call that does not exist.
    assert client.post(f"/api/v1/calls/{draft.id}/copy", headers=li).status_code == 404
    assert client.get(f"/api/v1/calls/{draft.id}/export", headers=li).status_code == 404
    exported = client.get(f"/api/v1/calls/{last.id}/export",
                          headers=h(client, "officer")).get_json()
    assert client.post("/api/v1/calls/import", headers=li, json=exported).status_code == 403


def test_api_exports_a_call_and_imports_it_as_a_new_draft(client, world):
    officer = h(client, "officer")
    last = world["last"]
    exported = client.get(f"/api/v1/calls/{last.id}/export", headers=officer)
    assert exported.status_code == 200
    document = exported.get_json()
    assert document["format"] == "kjflow-call" and "opens_at" not in document["call"]
    resp = client.post("/api/v1/calls/import", headers=officer, json=document)
    assert resp.status_code == 201, resp.get_json()
    body = resp.get_json()
    assert body["state"] == "draft" and body["title"] == last.title
    assert body["checklist_required"] == CHECKLIST[:1]
    # A file that is not a call, or a call with a field nobody knows: 422, named.
    bad = client.post("/api/v1/calls/import", headers=officer,
                      json={**document, "call": {**document["call"], "secret": 1}})
    assert bad.status_code == 422
    assert bad.get_json()["error"]["details"] == {"call.secret": "不接受该字段"}
    bad = client.post("/api/v1/calls/import", headers=officer,
                      json={**document, "format": "excel"})
    assert bad.status_code == 422
    assert client.post("/api/v1/calls/import", headers=officer,
                       json={**document, "extra": 1}).status_code == 422


def test_openapi_documents_copy_export_and_import(client, world):
    spec = client.get("/api/openapi.json").get_json()
    copy = spec["paths"]["/api/v1/calls/{call_id}/copy"]["post"]
    assert copy["requestBody"]["required"] is False
    assert set(copy["requestBody"]["content"]["application/json"]["schema"]["properties"]) == {
        "title", "year", "opens_at", "closes_at"}
    export = spec["paths"]["/api/v1/calls/{call_id}/export"]["get"]
    schema = export["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema["properties"]["format"]["enum"] == ["kjflow-call"]
    assert "checklist" in schema["properties"]["call"]["properties"]
    imported = spec["paths"]["/api/v1/calls/import"]["post"]
    body = imported["requestBody"]["content"]["application/json"]["schema"]
    assert body["required"] == ["format", "version", "call"]
    assert {"201", "403", "422"} <= set(imported["responses"])


# ---- the pages -------------------------------------------------------------------------------

def test_new_call_page_offers_last_years_guide_first_and_copies_it(client, world):
    login(client, "officer", PASSWORD)
    page = client.get("/calls/new").get_data(as_text=True)
    sources = page.split('data-testid="copy-sources"')[1].split("</ul>")[0]
    assert sources.index(world["last"].title) >= 0 and "未发布的草稿" not in sources
    assert "上年" in sources
    resp = client.post(f"/calls/{world['last'].id}/copy", data={"csrf_token": csrf_of(page)})
    assert resp.status_code == 302
    assert re.search(r"/calls/\d+/edit$", resp.headers["Location"])
    edit = client.get(resp.headers["Location"]).get_data(as_text=True)
    missing = edit.split('data-testid="publish-missing"')[1].split("</ul>")[0]
    assert '<a href="#field-opens_at">开始时间</a>' in missing
    assert '<a href="#field-closes_at">截止时间</a>' in missing
    assert 'id="field-opens_at"' in edit and 'id="field-closes_at"' in edit
    # The call's page names them too, linking to the edit page's fields.
    call_id = int(resp.headers["Location"].split("/")[-2])
    show = client.get(f"/calls/{call_id}").get_data(as_text=True)
    assert f'href="/calls/{call_id}/edit#field-opens_at">开始时间</a>：请填写开始时间' in show


def test_edit_page_marks_required_fields_and_shows_every_error_beside_its_field(client, world):
    draft = world["draft"]
    login(client, "officer", PASSWORD)
    page = client.get(f"/calls/{draft.id}/edit").get_data(as_text=True)
    for name in ("title", "guide", "opens_at", "closes_at", "budget"):
        label = page.split(f'<label for="{name}" class="form-label">')[1].split("</div>")[0]
        assert '</label> <span class="kj-req" aria-hidden="true">必填</span>' in label, name
        assert re.search(rf'id="{name}" name="{name}"[^>]*aria-required="true"', page), name
    resp = client.post(f"/calls/{draft.id}/edit", data={
        "csrf_token": csrf_of(page), "version": str(draft.version), "title": "",
        "budget": "很多", "opens_at": "2031-05-01T09:00", "closes_at": "2031-04-01T17:00",
        "rubric": "[{\"name\": \"a\", \"label\": \"甲\", \"weight\": 50",
        "form_schema": json.dumps([{"name": "f", "label": "", "type": "text"}]),
        "checklist": json.dumps(["附件齐全", {"label": "附件齐全", "required": True}])})
    assert resp.status_code == 422
    html = resp.get_data(as_text=True)
    for name, message in (("title", "请填写指南名称"), ("budget", "金额应为数字，单位万元"),
                          ("closes_at", "截止时间必须晚于开始时间"),
                          ("rubric", "不是合法的 JSON"), ("form_schema", "第1项：请填写字段标题"),
                          ("checklist", "第2项形式审查要点“附件齐全”重复")):
        assert f'id="{name}-error" data-field="{name}"' in html, name
        feedback = html.split(f'id="{name}-error" data-field="{name}"')[1].split("</div>")[0]
        assert message in feedback, (name, feedback)
        assert re.search(rf'id="{name}" name="{name}"[^>]*class="[^"]*is-invalid', html) or \
            re.search(rf'<textarea id="{name}" name="{name}"[^>]*is-invalid', html), name
    assert "有 6 处需要修改" in html
    db.session.expire_all()
    assert db.session.get(Call, draft.id).title == "未发布的草稿"  # nothing saved


def test_edit_page_saves_what_the_builder_writes(client, world):
    draft = world["draft"]
    draft.collective_threshold = Decimal("1000000.00")
    db.session.commit()
    login(client, "officer", PASSWORD)
    page = client.get(f"/calls/{draft.id}/edit").get_data(as_text=True)
    resp = client.post(f"/calls/{draft.id}/edit", data={
        "csrf_token": csrf_of(page), "version": str(draft.version), "title": "新指南",
        "budget": "300", "opens_at": "", "closes_at": "", "steps_shown": "1",
        "collective_threshold": "",
        "steps": ["defence", "midterm"],
        "checklist": json.dumps([{"label": "附件齐全", "required": True}, "签章完整"]),
        "tranche_plan": json.dumps([{"label": "按里程碑", "condition": "milestone"}])})
    assert resp.status_code == 302, resp.get_data(as_text=True)[:2000]
    db.session.expire_all()
    call = db.session.get(Call, draft.id)
    assert (call.title, call.budget, call.steps) == ("新指南", Decimal("3000000.00"),
                                                      ["defence", "midterm"])
    assert (call.checklist, call.checklist_required) == (["附件齐全", "签章完整"], ["附件齐全"])
    assert call.opens_at is None  # a draft may wait for its dates
    assert call.collective_threshold is None  # cleared: no 三重一大 threshold
    edit = client.get(f"/calls/{draft.id}/edit").get_data(as_text=True)
    assert 'id="step-defence" checked' in edit and 'id="step-unit_review" checked' not in edit


def test_export_downloads_a_file_that_imports_as_a_new_draft(client, world):
    login(client, "officer", PASSWORD)
    last = world["last"]
    show = client.get(f"/calls/{last.id}").get_data(as_text=True)
    assert f'href="/calls/{last.id}/export"' in show
    resp = client.get(f"/calls/{last.id}/export")
    assert resp.status_code == 200 and resp.mimetype == "application/json"
    assert "attachment" in resp.headers["Content-Disposition"]
    page = client.get("/calls/new").get_data(as_text=True)
    resp = client.post("/calls/import", content_type="multipart/form-data", data={
        "csrf_token": csrf_of(page), "file": (io.BytesIO(resp.data), "指南.json")})
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/edit")
    imported = db.session.get(Call, int(resp.headers["Location"].split("/")[-2]))
    assert imported.title == last.title and imported.state is CallState.draft
    bad = client.post("/calls/import", content_type="multipart/form-data", data={
        "csrf_token": csrf_of(page), "file": (io.BytesIO(b"{not json"), "x.json")})
    assert bad.status_code == 422
    assert "不是合法的 JSON" in bad.get_data(as_text=True)


def test_researcher_cannot_reach_the_builder(client, world):
    login(client, "li", PASSWORD)
    last = world["last"]
    assert client.get("/calls/new").status_code == 403
    assert client.get(f"/calls/{last.id}/export").status_code == 403
    page = client.get(f"/calls/{last.id}").get_data(as_text=True)
    assert "导出指南文件" not in page and "复制为新指南" not in page
    assert client.post(f"/calls/{last.id}/copy",
                       data={"csrf_token": csrf_of(page)}).status_code == 403


def test_the_preview_renders_the_applicants_form_from_the_schema(client, world):
    login(client, "officer", PASSWORD)
    page = client.get("/calls/new").get_data(as_text=True)
    schema = [{"name": "summary", "label": "项目摘要", "type": "longtext", "required": True},
              {"name": "field", "label": "所属领域", "type": "choice",
               "options": [{"value": "a", "label": "新材料"}]},
              {"name": "field_3", "label": "", "type": "text"}]
    resp = client.post("/calls/form-preview", data={"csrf_token": csrf_of(page),
                                                    "form_schema": json.dumps(schema)})
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    # The application page's own rendering, its inputs named apart from the call's.
    assert re.search(r'<label for="pv1_summary"[^>]*>项目摘要', html)
    assert re.search(r'<option value="a"[^>]*>新材料</option>', html)
    assert "第3项尚未设置完整：请填写字段标题" in html
    assert 'name="f_' not in html
    bad = client.post("/calls/form-preview", data={"csrf_token": csrf_of(page),
                                                   "form_schema": "[{"})
    assert "不是合法的 JSON" in bad.get_data(as_text=True)


def test_the_formal_review_page_marks_and_enforces_the_required_items(client, world):
    call = CallFactory(checklist=CHECKLIST, checklist_required=CHECKLIST[:1])
    app = ApplicationFactory(call=call, state=ApplicationState.formal_review, signed=True)
    db.session.commit()
    login(client, "officer", PASSWORD)
    page = client.get(f"/applications/{app.id}").get_data(as_text=True)
    form = page.split('data-testid="formal-review"')[1].split("</form>")[0]
    legends = re.findall(r'<legend class="kj-check-label">(.*?)</legend>', form, re.S)
    assert [("必须符合" in legend, CHECKLIST[i] in legend)
            for i, legend in enumerate(legends)] == [(True, True), (False, True)]
    token = csrf_of(page)
    refused = client.post(f"/applications/{app.id}/formal-review", data={
        "csrf_token": token, "decision": "pass", "check-0": "no", "check-1": "yes"})
    db.session.expire_all()
    assert db.session.get(type(app), app.id).state is ApplicationState.formal_review
    assert CHECKLIST[0] in refused.get_data(as_text=True)
    client.post(f"/applications/{app.id}/formal-review", data={
        "csrf_token": token, "decision": "pass", "check-0": "yes", "check-1": "yes"})
    db.session.expire_all()
    assert db.session.get(type(app), app.id).state is ApplicationState.expert_review


def test_the_workbench_offers_the_officer_to_copy_last_years_guide(client, world):
    login(client, "officer", PASSWORD)
    home = client.get("/").get_data(as_text=True)
    shortcuts = home.split('data-testid="shortcuts"')[1].split("</p>")[0]
    assert 'href="/calls/new#copy">复制上年指南</a>' in shortcuts


def test_edit_page_keeps_amounts_exact_and_locks_what_a_published_call_keeps(client, world):
    published = CallFactory(state=CallState.published, budget=Decimal("1234500.00"),
                            tranche_plan=[{"label": "首笔", "condition": "contract",
                                           "percent": 100}])
    db.session.commit()
    login(client, "officer", PASSWORD)
    page = client.get(f"/calls/{published.id}/edit").get_data(as_text=True)
    # Shown as typed back, never rounded: saving the page unchanged changes nothing.
    assert 'name="budget" type="text" value="123.45"' in page
    budget = page.split('id="budget"')[1].split(">")[0]
    assert " disabled" in budget
    assert " disabled" not in page.split('id="closes_at"')[1].split(">")[0]
    tranche = page.split('<textarea id="tranche_plan"')[1].split(">")[0]
    assert " disabled" in tranche and 'data-readonly="1"' in page
    assert 'name="steps_shown"' not in page
    resp = client.post(f"/calls/{published.id}/edit", data={
        "csrf_token": csrf_of(page), "version": str(published.version),
        "guide": "补充说明", "closes_at": "2099-12-31T17:00"})
    assert resp.status_code == 302, resp.get_data(as_text=True)[:1000]
    db.session.expire_all()
    call = db.session.get(Call, published.id)
    assert call.guide == "补充说明" and call.budget == Decimal("1234500.00")


def test_the_builder_is_offered_the_uses_the_rest_of_kjflow_reads_fields_by(client, world):
    """The ranking's requested amount, the duplicate check's summary and the expert
    matching's keywords are read by field name: the builder offers them as uses."""
    from workflow.review.results import requested_amount

    login(client, "officer", PASSWORD)
    page = client.get("/calls/new").get_data(as_text=True)
    raw = page.split('data-builder-settings="')[1].split('"')[0]
    settings = json.loads(raw.replace("&#34;", '"').replace("&#39;", "'").replace("&amp;", "&"))
    uses = {r["value"]: r for r in settings["roles"]}
    assert uses["amount"]["types"] == ["money"] and uses["amount"]["expected"] is True
    assert {"summary", "keywords"} <= set(uses)
    assert [t["label"] for t in settings["types"]] == [
        "单行文本", "多行文本", "整数", "金额", "日期", "单选", "多选", "人员表", "单位", "附件"]
    app = ApplicationFactory(data={"amount": "300000.00"})
    assert requested_amount(app) == Decimal("300000.00")
