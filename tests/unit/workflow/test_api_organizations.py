"""Organisations and their bank accounts through the API: the bureau registers and
corrects organisations (统一社会信用代码 checked), an organisation's administrator keeps
its account, and a tranche can then be prepared."""

from datetime import timedelta
from decimal import Decimal

import pytest
from stdnum.cn import uscc

from states import ApplicationState, TrancheState
from tests.conftest import api_token
from tests.factories import (
    PASSWORD,
    ApplicationFactory,
    CallFactory,
    OrganizationFactory,
    UserFactory,
)
from workflow.accounts.models import Organization
from workflow.core import engine
from workflow.core.models import db, utcnow
from workflow.finance import operations as finance


def make_uscc(n):
    """A valid code the factories never make (theirs start 9136070)."""
    base = f"91360799MA{n:07d}"
    return base + uscc.calc_check_digit(base)


def bearer(client, user):
    return {"Authorization": "Bearer " + api_token(client, user.username, PASSWORD)}


@pytest.fixture
def people(app, client):
    university = OrganizationFactory(name="赣南科技大学")
    users = {"officer": UserFactory(roles=("officer",), organization=None),
             "admin": UserFactory(roles=("admin",), organization=None),
             "researcher": UserFactory(roles=("applicant",), organization=university),
             "org_admin": UserFactory(roles=("org_admin",), organization=university),
             "other_admin": UserFactory(roles=("org_admin",)),
             "finance": UserFactory(roles=("finance",), organization=None)}
    db.session.commit()
    return {"university": university, **{k: bearer(client, u) for k, u in users.items()}}


def test_the_bureau_registers_and_corrects_an_organisation(client, people):
    resp = client.post("/api/v1/organizations", headers=people["officer"], json={
        "name": "稀土新材料有限公司", "uscc": make_uscc(900), "kind": "enterprise"})
    assert resp.status_code == 201, resp.get_json()
    org = resp.get_json()
    assert (org["kind"], org["kind_label"], org["bank_account_set"]) == (
        "enterprise", "企业", False)
    resp = client.patch(f"/api/v1/organizations/{org['id']}", headers=people["admin"],
                        json={"name": "赣州稀土新材料有限公司"})
    assert resp.status_code == 200 and resp.get_json()["uscc"] == org["uscc"]
    assert db.session.get(Organization, org["id"]).name == "赣州稀土新材料有限公司"
    # A challenge can now name it as its demand side.
    listing = client.get("/api/v1/organizations?q=稀土&kind=enterprise",
                         headers=people["officer"]).get_json()
    assert [o["name"] for o in listing["items"]] == ["赣州稀土新材料有限公司"]
    assert client.get(f"/api/v1/organizations?q={org['uscc'][-6:]}",
                      headers=people["officer"]).get_json()["total"] == 1


@pytest.mark.parametrize("body,field", [
    ({"name": "某公司", "uscc": "91360700MA35A0001Q"}, "uscc"),  # check digit wrong
    ({"name": "某公司", "uscc": "123"}, "uscc"),
    ({"name": "", "uscc": make_uscc(901)}, "name"),
    ({"name": "某公司", "uscc": make_uscc(901), "kind": "company"}, "kind"),
    ({"name": "某公司", "uscc": 91360700}, "uscc"),
    ({"name": "某公司", "uscc": make_uscc(901), "address": "赣州"}, "address"),
])
def test_bad_organisations_are_refused_naming_the_field(client, people, body, field):
    resp = client.post("/api/v1/organizations", headers=people["officer"], json=body)
    assert resp.status_code == 422 and field in resp.get_json()["error"]["details"]


def test_an_organisation_is_registered_once(client, people):
    uni = people["university"]
    for body, field in (({"name": "新名称", "uscc": uni.uscc}, "uscc"),
                        ({"name": uni.name, "uscc": make_uscc(902)}, "name")):
        resp = client.post("/api/v1/organizations", headers=people["officer"], json=body)
        assert resp.status_code == 422 and field in resp.get_json()["error"]["details"]
    other = OrganizationFactory()
    db.session.commit()
    resp = client.patch(f"/api/v1/organizations/{other.id}", headers=people["officer"],
                        json={"uscc": uni.uscc})
    assert resp.status_code == 422 and resp.get_json()["error"]["details"] == {
        "uscc": "该单位已存在"}


def test_researchers_see_their_own_organisation_only(client, people):
    uni = people["university"]
    other = OrganizationFactory()
    db.session.commit()
    mine = client.get("/api/v1/organizations", headers=people["researcher"]).get_json()
    assert [o["id"] for o in mine["items"]] == [uni.id] and mine["total"] == 1
    assert client.get(f"/api/v1/organizations/{uni.id}",
                      headers=people["researcher"]).status_code == 200
    assert client.get(f"/api/v1/organizations/{other.id}",
                      headers=people["researcher"]).status_code == 404
    # They see their own but may not change it; another's they do not know of.
    assert client.patch(f"/api/v1/organizations/{uni.id}", headers=people["researcher"],
                        json={"name": "x"}).status_code == 403
    assert client.patch(f"/api/v1/organizations/{other.id}", headers=people["researcher"],
                        json={"name": "x"}).status_code == 404
    assert client.post("/api/v1/organizations", headers=people["org_admin"], json={
        "name": "某公司", "uscc": make_uscc(903)}).status_code == 403
    assert client.get("/api/v1/organizations?kind=company",
                      headers=people["officer"]).status_code == 422


@pytest.fixture
def due_tranche(app, people):
    """An approved project of the university, its first tranche due, no account known."""
    uni = people["university"]
    uni.bank_name, uni.bank_account = "", ""
    officer = UserFactory(roles=("officer",), organization=None)
    call = CallFactory(budget=Decimal("5000000.00"), tranche_plan=[
        {"label": "合同签订后拨付", "percent": 100, "condition": "contract"}])
    row = ApplicationFactory(call=call, applicant=UserFactory(organization=uni),
                             state=ApplicationState.public_notice,
                             granted_amount=Decimal("500000.00"),
                             notice_ends_at=utcnow() - timedelta(minutes=1),
                             task_book_signed_by=("team",))
    db.session.commit()
    engine.fire(row, "approve", None)
    engine.fire(row, "sign_contract", officer)
    db.session.commit()
    tranche = finance.tranches_of(row)[0]
    assert tranche.state is TrancheState.due
    return tranche


def test_the_org_admin_sets_the_account_and_the_tranche_can_then_be_prepared(
        client, people, due_tranche):
    uni = people["university"]
    prepare = f"/api/v1/tranches/{due_tranche.id}/transitions"
    resp = client.post(prepare, headers=people["finance"], json={"trigger": "prepare"})
    assert resp.status_code == 422
    assert [r["code"] for r in resp.get_json()["error"]["details"]] == ["payee_account_missing"]

    account = f"/api/v1/organizations/{uni.id}/bank-account"
    resp = client.put(account, headers=people["org_admin"],
                      json={"bank_name": "工行", "bank_account": "12ab"})
    assert resp.status_code == 422
    assert set(resp.get_json()["error"]["details"]) == {"bank_account"}
    resp = client.put(account, headers=people["org_admin"],
                      json={"bank_name": "工商银行赣州分行",
                            "bank_account": "6222 0215 0000 1234", "swift": "ICBK"})
    assert resp.status_code == 422 and "swift" in resp.get_json()["error"]["details"]
    resp = client.put(account, headers=people["org_admin"],
                      json={"bank_name": "工商银行赣州分行",
                            "bank_account": "6222 0215 0000 1234"})
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json() == {"organization_id": uni.id, "bank_name": "工商银行赣州分行",
                               "bank_account": "6222021500001234"}
    assert client.get(account, headers=people["finance"]).get_json()["bank_account"] == \
        "6222021500001234"
    assert client.get(f"/api/v1/organizations/{uni.id}", headers=people["researcher"]
                      ).get_json()["bank_account_set"] is True

    resp = client.post(prepare, headers=people["finance"], json={"trigger": "prepare"})
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["state"] == "prepared"


def test_only_the_organisations_admin_keeps_its_account(client, people):
    uni = people["university"]
    account = f"/api/v1/organizations/{uni.id}/bank-account"
    body = {"bank_name": "工商银行赣州分行", "bank_account": "6222021500001234"}
    # A member sees the organisation, but not its account, and may not set it.
    assert client.get(account, headers=people["researcher"]).status_code == 403
    assert client.put(account, headers=people["researcher"], json=body).status_code == 403
    # The bureau's finance staff read it but do not set it.
    assert client.put(account, headers=people["finance"], json=body).status_code == 403
    # Another organisation's administrator does not know this one.
    assert client.put(account, headers=people["other_admin"], json=body).status_code == 404
    assert client.get(account, headers=people["other_admin"]).status_code == 404
    db.session.expire_all()
    assert uni.bank_account != "6222021500001234"
