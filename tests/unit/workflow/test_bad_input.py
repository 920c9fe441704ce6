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
