"""The integrity list (科研失信名单) through the API, as on its page: the officer records
a person or an organisation, checked like the page's form; the bureau's readers list it;
and a recorded sanction keeps the person from applying."""

from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from tests.conftest import api_token
from tests.factories import (
    PASSWORD,
    ApplicationFactory,
    CallFactory,
    OrganizationFactory,
    UserFactory,
)
from workflow.accounts.models import Sanction
from workflow.core.models import db, utcnow

PERSON = {"subject": "person", "name": "某研究员", "identifier": "362101198001010019",
          "reason": "论文抄袭", "starts_on": "2026-01-01", "ends_on": "2029-12-31"}


def bearer(client, username):
    return {"Authorization": "Bearer " + api_token(client, username, PASSWORD)}


@pytest.fixture
def people(app):
    for role in ("officer", "leader", "auditor", "finance", "admin"):
        UserFactory(username=role, roles=(role,), organization=None)
    UserFactory(username="li", roles=("applicant",))
    UserFactory(username="unitadmin", roles=("org_admin",))
    db.session.commit()


def sanctions():
    return db.session.scalar(sa.select(sa.func.count()).select_from(Sanction))


def test_the_officer_records_a_person_and_an_organisation_that_readers_list(client, people):
    org = OrganizationFactory(name="失信公司")
    db.session.commit()
    resp = client.post("/api/v1/integrity", headers=bearer(client, "officer"), json=PERSON)
    assert resp.status_code == 201, resp.get_json()
    person = resp.get_json()
    assert (person["subject"], person["subject_label"], person["identifier"],
            person["ends_on"]) == ("person", "个人", PERSON["identifier"], "2029-12-31")
    resp = client.post("/api/v1/integrity", headers=bearer(client, "officer"), json={
        "subject": "org", "name": org.name, "identifier": org.uscc.lower(),
        "reason": "虚报冒领", "starts_on": "2026-02-01", "ends_on": "2031-01-31"})
    assert resp.status_code == 201, resp.get_json()
    assert resp.get_json()["identifier"] == org.uscc  # kept as checked

    for who in ("officer", "leader", "auditor"):
        listing = client.get("/api/v1/integrity", headers=bearer(client, who)).get_json()
        assert (listing["total"], listing["page"], listing["per_page"]) == (2, 1, 50)
        # The page's order: the latest end first.
        assert [r["name"] for r in listing["items"]] == ["失信公司", "某研究员"]
    officer = bearer(client, "officer")
    paged = client.get("/api/v1/integrity?per_page=1&page=2", headers=officer).get_json()
    assert [r["name"] for r in paged["items"]] == ["某研究员"] and paged["total"] == 2
    assert [r["name"] for r in client.get(
        "/api/v1/integrity?subject=person", headers=officer).get_json()["items"]] == ["某研究员"]
    assert [r["name"] for r in client.get(
        f"/api/v1/integrity?q={org.uscc[-6:]}", headers=officer).get_json()["items"]] == [
        "失信公司"]
    assert client.get("/api/v1/integrity?subject=team", headers=officer).status_code == 422


def test_a_recorded_person_may_not_apply(client, people):
    """What the list is for: a sanctioned principal investigator's submission is refused."""
    researcher = UserFactory(username="sanctioned", roles=("applicant",),
                             id_number=PERSON["identifier"])
    row = ApplicationFactory(call=CallFactory(), applicant=researcher, signed=True)
    db.session.commit()
    today = utcnow().date()
    resp = client.post("/api/v1/integrity", headers=bearer(client, "officer"), json={
        **PERSON, "starts_on": (today - timedelta(days=2)).isoformat(),
        "ends_on": (today + timedelta(days=365)).isoformat()})
    assert resp.status_code == 201
    resp = client.post(f"/api/v1/applications/{row.id}/submit",
                       headers=bearer(client, "sanctioned"))
    assert resp.status_code == 422
    assert "integrity_sanction" in [d["code"] for d in resp.get_json()["error"]["details"]]


@pytest.mark.parametrize("change,fields", [
    ({"identifier": "362101198001010011"}, {"identifier"}),  # check digit wrong
    ({"subject": "org", "identifier": "91360700MA35A0001Q"}, {"identifier"}),
    ({"subject": "team"}, {"subject"}),
    ({"name": "", "reason": " "}, {"name", "reason"}),
    ({"name": "某" * 201}, {"name"}),
    ({"starts_on": "2026-13-01", "ends_on": "明年"}, {"starts_on", "ends_on"}),
    ({"ends_on": "2025-12-31"}, {"ends_on"}),  # before it starts
    ({"starts_on": 20260101}, {"starts_on"}),  # not a string
    ({"until": "2030-01-01"}, {"until"}),  # a field the API does not take
])
def test_a_bad_entry_is_refused_naming_each_field_and_nothing_is_recorded(
        client, people, change, fields):
    resp = client.post("/api/v1/integrity", headers=bearer(client, "officer"),
                       json={**PERSON, **change})
    assert resp.status_code == 422, resp.get_json()
    assert set(resp.get_json()["error"]["details"]) == fields
    assert sanctions() == 0


def test_a_missing_field_is_named(client, people):
    body = {k: v for k, v in PERSON.items() if k not in ("reason", "starts_on")}
    resp = client.post("/api/v1/integrity", headers=bearer(client, "officer"), json=body)
    assert resp.status_code == 422
    assert set(resp.get_json()["error"]["details"]) == {"reason", "starts_on"}


@pytest.mark.parametrize("who", ["leader", "auditor", "finance", "admin", "li", "unitadmin"])
def test_only_the_officer_records(client, people, who):
    resp = client.post("/api/v1/integrity", headers=bearer(client, who), json=PERSON)
    assert resp.status_code == 403 and resp.get_json()["error"]["code"] == "role_not_allowed"
    assert sanctions() == 0


@pytest.mark.parametrize("who", ["finance", "admin", "li", "unitadmin"])
def test_only_the_bureaus_readers_list(client, people, who):
    db.session.add(Sanction(subject="person", name="某人", id_number=PERSON["identifier"],
                            reason="抄袭", starts_on=date(2026, 1, 1),
                            ends_on=date(2027, 1, 1)))
    db.session.commit()
    resp = client.get("/api/v1/integrity", headers=bearer(client, who))
    assert resp.status_code == 403  # the same as the page: /integrity
    assert "某人" not in resp.get_data(as_text=True)


def test_the_spec_describes_the_integrity_list(client, app):
    paths = client.get("/api/openapi.json").get_json()["paths"]
    post = paths["/api/v1/integrity"]["post"]
    body = post["requestBody"]["content"]["application/json"]["schema"]
    assert body["additionalProperties"] is False
    assert body["required"] == ["subject", "name", "identifier", "reason", "starts_on",
                                "ends_on"]
    assert body["properties"]["subject"]["enum"] == ["person", "org"]
    assert {"201", "403", "422"} <= set(post["responses"])
    get = paths["/api/v1/integrity"]["get"]
    params = {p["name"]: p["schema"] for p in get["parameters"]}
    assert set(params) == {"q", "subject", "period", "sort", "dir", "page", "per_page",
                           "cursor", "export"}
    assert params["subject"]["enum"] == ["person", "org"]
    assert params["sort"]["enum"] == ["subject", "name", "starts", "ends"]
    assert set(get["responses"]["200"]["content"]["application/json"]["schema"][
        "required"]) == {"items", "total", "page", "per_page"}
