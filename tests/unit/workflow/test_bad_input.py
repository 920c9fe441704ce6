"""Bad input gets a clear error and never a 500."""

import pytest

from states import ApplicationState, CallState
from tests.conftest import api_token, login
from tests.factories import PASSWORD, ApplicationFactory, CallFactory, UserFactory
from workflow.core.models import db


@pytest.fixture
def auth(client, app):
    UserFactory(username="officer", organization=None, roles=("officer",))
    UserFactory(username="li", roles=("applicant",))
    db.session.commit()
    return {"Authorization": f"Bearer {api_token(client, 'officer', PASSWORD)}"}


@pytest.mark.parametrize("path", [
    "/api/v1/calls/99999999999999999999999", "/api/v1/applications/99999999999999999999",
    "/api/v1/applications?page=99999999999999999999999&per_page=-1",
    "/api/v1/applications?organization=%C2%B2", "/api/v1/tranches/²/history",
])
def test_huge_or_odd_ids_are_not_found_or_refused(client, auth, path):
    assert client.get(path, headers=auth).status_code in (200, 404, 422)


def test_deeply_nested_json_is_a_400(client, app):
    resp = client.post("/api/v1/auth/token", data="[" * 200000,
                       content_type="application/json")
    assert resp.status_code == 400


def test_superscript_version_in_if_match(client, auth):
    call = CallFactory(state=CallState.draft)
    db.session.commit()
    resp = client.post(f"/api/v1/calls/{call.id}/transitions", json={"trigger": "publish"},
                       headers={**auth, "If-Match": "²"})
    assert resp.status_code == 422


@pytest.mark.parametrize("body,field", [
    ({"opens_at": "0001-01-01T00:00"}, "opens_at"),
    ({"closes_at": "9999-12-31T23:59:59-12:00"}, "closes_at"),
    ({"rubric": [{"name": "a", "label": "甲", "weight": "NaN", "max": 100}]}, "rubric"),
    ({"steps": [[1]]}, "steps"),
])
def test_odd_call_settings_are_explained(client, auth, body, field):
    base = {"title": "t", "scheme": "baogan", "year": 2026, "opens_at": "2026-12-01T09:00",
            "closes_at": "2026-12-31T17:00", "budget": "10"}
    resp = client.post("/api/v1/calls", headers=auth, json={**base, **body})
    assert resp.status_code == 422 and field in resp.get_json()["error"]["details"]


@pytest.mark.parametrize("trigger,data", [
    ("raise_objection", {"objector_name": 1, "objector_contact": ["x"]}),
    ("approve", {"override_reason": 5}),
])
def test_wrong_types_in_transition_data_are_refusals(client, auth, trigger, data):
    row = ApplicationFactory(state=ApplicationState.public_notice,
                             call=CallFactory(state=CallState.decided))
    db.session.commit()
    resp = client.post(f"/api/v1/applications/{row.id}/transitions", headers=auth,
                       json={"trigger": trigger, "comment": "理由", "data": data})
    assert resp.status_code in (403, 409, 422)


def test_a_published_call_edited_on_its_page_keeps_unchanged_fields(client, auth):
    call = CallFactory(state=CallState.published)
    db.session.commit()
    login(client, "officer", PASSWORD)
    page = client.get(f"/calls/{call.id}/edit").get_data(as_text=True)
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    form = {"csrf_token": token, "version": str(call.version), "title": call.title,
            "guide": "延长截止时间的说明", "budget": "100.00",
            "opens_at": page.split('name="opens_at" type="datetime-local" value="')[1][:16],
            "closes_at": "2099-12-31T17:00", "notice_days": "5", "rubric": "",
            "reviewers_per_application": "3"}
    resp = client.post(f"/calls/{call.id}/edit", data=form)
    assert resp.status_code == 302, resp.get_data(as_text=True)[:500]
    db.session.expire_all()
    assert call.guide == "延长截止时间的说明" and call.closes_at.year == 2099


def test_lone_surrogates_and_huge_body_ids_are_refused(client, auth):
    resp = client.post("/api/v1/auth/token", data='{"username": "\\udfff", "password": "x"}',
                       content_type="application/json")
    assert resp.status_code == 400
    li = {"Authorization": f"Bearer {api_token(client, 'li', PASSWORD)}"}
    for body in ({"call_id": 10**20, "title": "x"}, {"call_id": True, "title": "x"}):
        assert client.post("/api/v1/applications", headers=li, json=body).status_code == 404


def test_huge_path_ids_are_404_for_every_method(client, auth):
    url = "/api/v1/applications/99999999999999"
    assert client.patch(url, headers=auth, json={"title": "x"}).status_code == 404
    assert client.post(f"{url}/transitions", headers=auth,
                       json={"trigger": "withdraw"}).status_code == 404


# ---- one-line text, file names, non-text, money finer than the page shows --------------

FORM = [{"name": "title_en", "label": "英文名称", "type": "text"},
        {"name": "summary", "label": "项目摘要", "type": "longtext"},
        {"name": "amount", "label": "申请经费", "type": "money"},
        {"name": "proposal", "label": "申报书", "type": "file"}]
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@pytest.fixture
def mine(client, auth):
    call = CallFactory(state=CallState.published, form_schema=FORM)
    db.session.commit()
    headers = {"Authorization": f"Bearer {api_token(client, 'li', PASSWORD)}"}
    resp = client.post("/api/v1/applications", headers=headers,
                       json={"call_id": call.id, "title": "稀土永磁材料研究"})
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()["id"], headers, call


def stored(app_id):
    from workflow.applying.models import Application

    db.session.expire_all()
    return db.session.get(Application, app_id)


@pytest.mark.parametrize("title", ["稀土永磁\r\n材料研究", "稀土永磁\n材料研究",
                                   "稀土永磁\r材料研究", "稀土永磁\u2028材料研究"])
def test_a_line_break_in_a_title_is_refused(client, mine, title):
    app_id, headers, call = mine
    resp = client.patch(f"/api/v1/applications/{app_id}", headers=headers,
                        json={"title": title})
    assert resp.status_code == 422, resp.get_json()
    assert resp.get_json()["error"]["details"]["title"] == "项目名称不能换行，请写在一行内"
    assert stored(app_id).title == "稀土永磁材料研究"
    resp = client.post("/api/v1/applications", headers=headers,
                       json={"call_id": call.id, "title": title})
    assert resp.status_code == 422 and "title" in resp.get_json()["error"]["details"]


@pytest.mark.parametrize("path,body,field", [
    ("/api/v1/calls", {"title": "2026年度\r\n科技计划", "scheme": "baogan", "year": 2026,
                       "budget": "10"}, "title"),
    ("/api/v1/organizations", {"name": "赣南\n科技大学", "uscc": "91360700MA35A0001P"},
     "name"),
    ("/api/v1/integrity", {"subject": "org", "name": "某某\r\n公司",
                           "identifier": "91360700MA35A0001P", "reason": "数据造假",
                           "starts_on": "2026-01-01", "ends_on": "2027-01-01"}, "name"),
])
def test_a_line_break_in_a_name_is_refused(client, auth, path, body, field):
    resp = client.post(path, headers=auth, json=body)
    assert resp.status_code == 422, resp.get_json()
    error = resp.get_json()["error"]
    assert "不能换行" in (error["details"] or {}).get(field, error["message"]), error


def test_a_line_break_in_a_one_line_form_field_is_refused(client, mine):
    app_id, headers, _ = mine
    resp = client.patch(f"/api/v1/applications/{app_id}", headers=headers,
                        json={"data": {"title_en": "Rare earth\r\nmagnets",
                                       "summary": "第一段。\r\n第二段。"}})
    assert resp.status_code == 422
    assert resp.get_json()["error"]["details"] == {
        "title_en": "英文名称为单行文本，不能换行，请写在一行内"}


def test_an_objector_name_with_a_line_break_is_refused(client, app):
    from decimal import Decimal

    from tests.factories import ApplicationFactory
    from workflow.core.models import utcnow

    row = ApplicationFactory(state=ApplicationState.public_notice,
                             call=CallFactory(state=CallState.decided),
                             granted_amount=Decimal("300000.00"), notice_started_at=utcnow(),
                             notice_ends_at=utcnow())
    db.session.commit()
    resp = client.post(f"/api/v1/notices/{row.id}/objections", json={
        "name": "赵敏\r\nBcc: x@example.cn", "contact": "13912345678",
        "text": "该项目申报材料中的合作单位并未实际参与，申报内容与事实不符。"})
    assert resp.status_code == 422
    assert resp.get_json()["error"]["details"]["name"] == "姓名不能换行，请写在一行内"


@pytest.mark.parametrize("name", ["..\\..\\x.pdf", "..\\x.pdf", "C:\\x\\y.pdf", "a\\b.pdf",
                                  "../../x.pdf"])
def test_a_file_name_with_a_path_is_refused_whichever_the_slash(client, mine, name):
    import io

    import sqlalchemy as sa

    from workflow.core.models import Attachment

    app_id, headers, _ = mine
    resp = client.post(f"/api/v1/applications/{app_id}/attachments", headers=headers,
                       data={"field": "proposal", "file": (io.BytesIO(PDF), name)},
                       content_type="multipart/form-data")
    assert resp.status_code == 422, resp.get_json()
    assert resp.get_json()["error"]["message"] == "文件名不能包含路径"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Attachment)) == 0


@pytest.mark.parametrize("disposition,sent", [
    ('form-data; name="file"; filename="..\\..\\x.pdf"', "..\\..\\x.pdf"),
    ('form-data; name="file"; filename="a\\"b.pdf"', 'a"b.pdf'),  # an escaped quote
    ('form-data; name="file"; filename="x.pdf"', None),  # werkzeug's reading stands
    ("form-data; name=\"file\"; filename*=UTF-8''a%5Cb.pdf", None),
])
def test_the_file_name_is_read_as_the_client_sent_it(disposition, sent):
    from workflow.core.files import sent_filename

    assert sent_filename(disposition) == sent


@pytest.mark.parametrize("value", [[[[[[[]]]]]], [], {}, [""]])
def test_a_nested_empty_array_in_a_text_field_is_refused_not_saved_as_empty(client, mine,
                                                                            value):
    app_id, headers, _ = mine
    assert client.patch(f"/api/v1/applications/{app_id}", headers=headers, json={
        "data": {"title_en": "Rare earth magnets"}}).status_code == 200
    resp = client.patch(f"/api/v1/applications/{app_id}", headers=headers,
                        json={"data": {"title_en": value}})
    assert resp.status_code == 422, resp.get_json()
    assert resp.get_json()["error"]["details"] == {"title_en": "英文名称应为文字"}
    assert stored(app_id).data["title_en"] == "Rare earth magnets"


@pytest.mark.parametrize("amount", ["12.345678", "12.345", "0.001"])
def test_an_amount_finer_than_two_decimals_in_wan_is_refused(client, mine, amount):
    app_id, headers, _ = mine
    resp = client.patch(f"/api/v1/applications/{app_id}", headers=headers,
                        json={"data": {"amount": amount}})
    assert resp.status_code == 422, resp.get_json()
    assert resp.get_json()["error"]["details"] == {
        "amount": "申请经费：金额以万元为单位，最多保留两位小数（精确到百元）"}
    resp = client.patch(f"/api/v1/applications/{app_id}", headers=headers,
                        json={"data": {"amount": "12.35"}})
    assert resp.status_code == 200 and stored(app_id).data["amount"] == "123500.00"
