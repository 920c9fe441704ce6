"""The API's lists are the pages' lists: the same search, filters, sorts and Excel export
(one ``ListSpec`` each), with what a page passes over quietly refused by name, and a page
past the last answered empty (a client pages until no items come back)."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from openpyxl import load_workbook

from states import ApplicationState as A
from states import TrancheState
from tests.conftest import api_token, client_for
from tests.factories import (
    PASSWORD,
    ApplicationFactory,
    CallFactory,
    ExpertProfileFactory,
    OrganizationFactory,
    TrancheFactory,
    UserFactory,
)
from workflow.accounts.models import Sanction
from workflow.core.models import db, utcnow
from workflow.notify.models import DeliveryState, Notification
from workflow.timeutil import SHANGHAI
from workflow.web.listing import XLSX


def bearer(client, username):
    return {"Authorization": "Bearer " + api_token(client, username, PASSWORD)}


def rows_of(resp):
    assert resp.status_code == 200, resp.get_data(as_text=True)[:300]
    assert resp.mimetype == XLSX
    book = load_workbook(io.BytesIO(resp.data))
    return [[[c.value for c in row] for row in sheet.iter_rows()] for sheet in book.worksheets]


@pytest.fixture
def bureau(app):
    """Two organisations' applications in two calls, experts, a sanction, tranches and
    messages: something for every list."""
    officer = UserFactory(username="officer", roles=("officer",), organization=None)
    UserFactory(username="finance", roles=("finance",), organization=None)
    UserFactory(username="admin", roles=("admin",), organization=None)
    gannan = OrganizationFactory(name="赣南科技大学")
    other = OrganizationFactory(name="江西理工学院")
    pi = UserFactory(username="pi", roles=("applicant",), organization=gannan)
    outsider = UserFactory(roles=("applicant",), organization=other)
    rare, energy = CallFactory(title="稀土功能材料专项"), CallFactory(title="新能源专项")
    for n in range(12):
        ApplicationFactory(call=rare if n % 2 else energy, applicant=pi if n < 7 else outsider,
                           organization=gannan if n < 7 else other,
                           title=f"稀土永磁课题{n:02d}" if n % 3 else f"储能电池课题{n:02d}",
                           state=A.submitted if n % 4 else A.draft)
    ExpertProfileFactory(user__name="张三", disciplines=["TF"])
    ExpertProfileFactory(user__name="李四", disciplines=["S1"], available=False)
    today = utcnow().astimezone(SHANGHAI).date()
    db.session.add(Sanction(subject="person", name="某研究员", id_number="11010519491231002X",
                            reason="论文造假", starts_on=today - timedelta(days=10),
                            ends_on=today + timedelta(days=700), recorded_by_id=officer.id))
    for n in range(3):
        db.session.add(Notification(key=f"in-{n}", topic="test", user_id=pi.id, channel="inapp",
                                    title=f"通知{n}", body="正文",
                                    read_at=utcnow() if n == 0 else None))
        db.session.add(Notification(key=f"mail-{n}", topic="test", user_id=pi.id, channel="email",
                                    address="pi@example.cn",
                                    title=f"邮件{n}", body="正文",
                                    state=DeliveryState.dead if n else DeliveryState.sent))
    db.session.commit()
    return {"rare": rare, "energy": energy, "gannan": gannan, "other": other}


@pytest.fixture
def money(bureau):
    for n in range(3):
        TrancheFactory(label=f"拨付{n}", state=TrancheState.prepared if n else TrancheState.due)
    db.session.commit()


# (who, API path, page path, a query both understand)
PAIRS = [
    ("officer", "/api/v1/applications", "/applications",
     "q=稀土永磁 赣南&state=submitted&sort=title&dir=asc"),
    ("officer", "/api/v1/calls", "/calls", "q=稀土&sort=title&dir=asc"),
    ("officer", "/api/v1/experts", "/experts", "available=true&sort=name"),
    ("officer", "/api/v1/integrity", "/integrity", "q=造假&period=active"),
    ("finance", "/api/v1/tranches", "/finance", "state=prepared&sort=label&dir=desc"),
    ("pi", "/api/v1/me/inbox", "/inbox", "read=unread&sort=title&dir=asc"),
    ("admin", "/api/v1/notifications", "/notifications", "channel=email&state=dead"),
]


@pytest.mark.parametrize("who,api,page,query", PAIRS, ids=[p[1] for p in PAIRS])
def test_the_api_exports_exactly_what_the_page_exports(client, app, bureau, request, who, api,
                                                        page, query):
    if api == "/api/v1/tranches":
        request.getfixturevalue("money")
    listed = client.get(f"{api}?{query}", headers=bearer(client, who))
    assert listed.status_code == 200, listed.get_json()
    body = listed.get_json()
    assert body["total"] == len(body["items"]) > 0
    from_api = rows_of(client.get(f"{api}?{query}&export=xlsx", headers=bearer(client, who)))
    from_page = rows_of(client_for(app, who, PASSWORD).get(f"{page}?{query}&export=xlsx"))
    assert from_api == from_page
    assert len(from_api[0]) == body["total"] + 1  # the header, then the rows listed


def test_search_filters_sort_and_pages_are_the_pages(client, bureau):
    officer = bearer(client, "officer")

    def titles(query):
        resp = client.get(f"/api/v1/applications?{query}", headers=officer)
        assert resp.status_code == 200, resp.get_json()
        return [a["title"] for a in resp.get_json()["items"]]

    # Each word must match a title, an organisation, a person or a call.
    found = titles("q=稀土永磁 江西理工&sort=title&dir=asc")
    assert found == sorted(found) and found and all("稀土永磁" in t for t in found)
    assert all(int(t[-2:]) >= 7 for t in found)  # 江西理工学院's are numbers 7 to 11
    assert titles("q=储能&sort=title&dir=desc") == ["储能电池课题09", "储能电池课题06",
                                                   "储能电池课题03", "储能电池课题00"]
    assert set(titles(f"call={bureau['energy'].id}&per_page=100")) == {
        f"{'稀土永磁' if n % 3 else '储能电池'}课题{n:02d}" for n in range(0, 12, 2)}
    second = client.get("/api/v1/applications?per_page=5&page=2&sort=title",
                        headers=officer).get_json()
    assert (second["total"], second["pages"], second["page"], len(second["items"])) == (
        12, 3, 2, 5)
    # Past the last page: nothing, not the last page again.
    past = client.get("/api/v1/applications?per_page=5&page=4", headers=officer).get_json()
    assert (past["items"], past["total"], past["page"]) == ([], 12, 4)


def test_a_researcher_lists_their_organisations_rows_only(client, bureau):
    pi = bearer(client, "pi")
    mine = client.get("/api/v1/applications?per_page=100", headers=pi).get_json()
    assert mine["total"] == 7
    assert {a["organization"]["name"] for a in mine["items"]} == {"赣南科技大学"}
    # The organisation filter is the bureau's: asked for, it is refused, not ignored.
    other = client.get(f"/api/v1/applications?organization={bureau['other'].id}", headers=pi)
    assert other.status_code == 422
    assert other.get_json()["error"]["details"] == {"organization": "无权按单位筛选"}
    # The researcher's export holds the same seven and nothing else.
    sheet = rows_of(client.get("/api/v1/applications?export=xlsx", headers=pi))[0]
    assert len(sheet) == 8 and {r[sheet[0].index("申报单位")] for r in sheet[1:]} == {
        "赣南科技大学"}


@pytest.mark.parametrize("query,details", [
    ("state=bogus", {"state"}),
    ("sort=secret&dir=up", {"sort", "dir"}),
    ("page=0&per_page=101", {"page", "per_page"}),
    ("export=csv", {"export"}),
    ("unread=true&status=x", {"unread", "status"}),  # not a parameter of this list
])
def test_what_a_page_passes_over_the_api_refuses_by_name(client, bureau, query, details):
    resp = client.get(f"/api/v1/applications?{query}", headers=bearer(client, "officer"))
    assert resp.status_code == 422
    error = resp.get_json()["error"]
    assert error["code"] == "invalid" and set(error["details"]) == details


def test_the_spec_lists_each_lists_parameters_with_their_choices(client, app):
    paths = client.get("/api/openapi.json").get_json()["paths"]
    for path in ("/api/v1/applications", "/api/v1/calls", "/api/v1/experts",
                 "/api/v1/integrity", "/api/v1/tranches", "/api/v1/me/inbox",
                 "/api/v1/notifications"):
        op = paths[path]["get"]
        params = {p["name"]: p["schema"] for p in op["parameters"]}
        assert {"q", "sort", "dir", "page", "per_page", "export"} <= set(params), path
        assert params["per_page"]["maximum"] == 100 and params["export"]["enum"] == ["xlsx"]
        assert set(op["responses"]["200"]["content"]) == {"application/json", XLSX}, path
    applications = {p["name"]: p["schema"]
                    for p in paths["/api/v1/applications"]["get"]["parameters"]}
    assert "submitted" in applications["state"]["enum"]
    assert applications["scheme"]["enum"] == ["baogan", "jiebang"]
    assert "title" in applications["sort"]["enum"]
