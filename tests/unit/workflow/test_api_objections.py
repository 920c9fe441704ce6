"""公示: a written objection through the public API, as on the public page
(``/public/notices/<id>/objection``): no account, real name and contact, anonymous ones
recorded and not accepted, the same limits."""

from datetime import timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from states import ApplicationState, CallState
from tests.factories import ApplicationFactory, CallFactory
from workflow.core import audit
from workflow.core.models import db, utcnow
from workflow.decisions import notices
from workflow.decisions.models import Objection, ObjectionState

TEXT = "该项目申报材料中的合作单位并未实际参与，申报内容与事实不符。"
REAL = {"name": "赵敏", "contact": "13912345678", "organization": "某研究院", "text": TEXT}


@pytest.fixture
def on_notice(app):
    call = CallFactory(state=CallState.decided)
    apps = [ApplicationFactory(call=call, state=ApplicationState.public_notice,
                               granted_amount=Decimal("300000.00"),
                               notice_started_at=utcnow() - timedelta(days=1),
                               notice_ends_at=utcnow() + timedelta(days=3)) for _ in range(2)]
    db.session.commit()
    return apps


def objections():
    return list(db.session.scalars(sa.select(Objection).order_by(Objection.id)))


def state_of(row):
    db.session.expire_all()
    return db.session.get(type(row), row.id).state


def test_a_real_name_objection_needs_no_account_and_opens_the_investigation(client,
                                                                            on_notice):
    a, _ = on_notice
    resp = client.post(f"/api/v1/notices/{a.id}/objections", json=REAL)
    assert resp.status_code == 201, resp.get_json()
    (row,) = objections()
    assert resp.get_json() == {
        "objection_id": row.id, "application_id": a.id, "accepted": True, "state": "open",
        "state_label": row.state.label,
        "message": f"异议已受理（编号 {row.id}），将进行核查并通过所留联系方式告知处理结果"}
    assert (row.name, row.contact, row.organization, row.text, row.ip) == (
        "赵敏", "13912345678", "某研究院", TEXT, "127.0.0.1")
    assert state_of(a) is ApplicationState.objection
    assert audit.history("application", a.id)[-1].trigger == "raise_objection"
    listed = {n["application_id"]: n for n in client.get("/api/v1/notices").get_json()["items"]}
    assert listed[a.id]["under_objection"] is True
    # A second objection joins the open investigation.
    again = client.post(f"/api/v1/notices/{a.id}/objections",
                        json={"name": "钱多", "contact": "qian@example.cn", "text": TEXT})
    assert again.status_code == 201 and again.get_json()["accepted"] is True
    assert [o.state for o in objections()] == [ObjectionState.open, ObjectionState.open]


@pytest.mark.parametrize("who", [
    {"text": TEXT},
    {"name": "赵敏", "text": TEXT},          # no contact
    {"contact": "13912345678", "text": TEXT},  # no name
    {"name": "  ", "contact": None, "text": TEXT},
])
def test_an_anonymous_objection_is_recorded_and_not_accepted(client, on_notice, who):
    a, _ = on_notice
    resp = client.post(f"/api/v1/notices/{a.id}/objections", json=who)
    assert resp.status_code == 201, resp.get_json()
    body = resp.get_json()
    (row,) = objections()
    assert (body["accepted"], body["state"], body["objection_id"]) == (
        False, "not_accepted", row.id)
    assert notices.ANONYMOUS in body["message"]
    assert row.state is ObjectionState.not_accepted and row.text == TEXT
    assert state_of(a) is ApplicationState.public_notice
    assert audit.history("application", a.id) == []


@pytest.mark.parametrize("fields,field,message", [
    ({**REAL, "text": "太短"}, "text", "不少于"),
    ({**REAL, "text": "长" * (notices.MAX_OBJECTION + 1)}, "text", "不能超过"),
    ({**REAL, "contact": "12345"}, "contact", "电话号码格式不正确"),
    ({**REAL, "contact": "a@b"}, "contact", "电子邮箱格式不正确"),
    ({**REAL, "name": "赵" * 60}, "name", "不能超过"),
    ({**REAL, "organization": "院" * 201}, "organization", "不能超过"),
    ({**REAL, "text": 12345}, "text", "字符串"),
    ({**REAL, "anonymous": False}, "anonymous", "不接受"),
    ({"name": "赵敏", "contact": "13912345678"}, "text", "不少于"),
])
def test_a_bad_objection_is_refused_naming_the_field_and_records_nothing(client, on_notice,
                                                                        fields, field,
                                                                        message):
    a, _ = on_notice
    resp = client.post(f"/api/v1/notices/{a.id}/objections", json=fields)
    assert resp.status_code == 422, resp.get_json()
    details = resp.get_json()["error"]["details"]
    assert message in details[field]
    assert objections() == []
    assert state_of(a) is ApplicationState.public_notice


def test_only_a_project_on_notice_takes_objections(client, on_notice):
    _a, b = on_notice
    b.state = ApplicationState.approved
    db.session.commit()
    for app_id in (b.id, 99999):
        resp = client.post(f"/api/v1/notices/{app_id}/objections", json=REAL)
        assert resp.status_code == 404 and resp.get_json()["error"]["code"] == "not_found"
    draft = ApplicationFactory()
    db.session.commit()
    assert client.post(f"/api/v1/notices/{draft.id}/objections", json=REAL).status_code == 404
    assert objections() == []


def test_objections_are_limited_per_sender_as_on_the_page(client, on_notice):
    a, b = on_notice
    for _ in range(notices.PER_SENDER_PER_HOUR):
        assert client.post(f"/api/v1/notices/{a.id}/objections",
                           json={"text": TEXT}).status_code == 201
    resp = client.post(f"/api/v1/notices/{b.id}/objections", json={"text": TEXT})
    assert resp.status_code == 429 and resp.get_json()["error"]["code"] == "throttled"
    assert "请1小时后再试" in resp.get_json()["error"]["message"]
    assert 59 * 60 < int(resp.headers["Retry-After"]) <= 3600
    assert len(objections()) == notices.PER_SENDER_PER_HOUR
    assert state_of(b) is ApplicationState.public_notice
    # Anonymous junk from an address does not silence the real-name objector behind it.
    resp = client.post(f"/api/v1/notices/{b.id}/objections", json=REAL)
    assert resp.status_code == 201
    assert state_of(b) is ApplicationState.objection


def test_the_spec_says_the_objection_endpoint_is_public(client, app):
    op = client.get("/api/openapi.json").get_json()["paths"][
        "/api/v1/notices/{app_id}/objections"]["post"]
    assert "security" not in op and "公开" in op["summary"]
    schema = op["requestBody"]["content"]["application/json"]["schema"]
    assert set(schema["properties"]) == {"name", "contact", "organization", "text"}
    assert schema["required"] == ["text"] and schema["additionalProperties"] is False
    assert {"201", "404", "422", "429"} <= set(op["responses"])
    receipt = op["responses"]["201"]["content"]["application/json"]["schema"]
    assert receipt["properties"]["state"]["enum"] == ["open", "not_accepted"]
