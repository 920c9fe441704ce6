"""The lists of applications, calls, organisations, users and experts, and every role's
home page, at national scale (issue 19): each costs a fixed number of statements
(at most 20) whatever the number of rows, never one per row; the API pages deep by a
keyset ``cursor`` (its ``next`` link) as well as by page number; the organisation filter
of the applications list looks one organisation up instead of listing all 20,000."""

from __future__ import annotations

import base64
import html
import json
import re
from decimal import Decimal

import pytest

from states import ApplicationState as A
from states import TrancheState
from tests.conftest import api_token, client_for
from tests.factories import (
    PASSWORD,
    ApplicationFactory,
    CallFactory,
    ExpertProfileFactory,
    OrganizationFactory,
    ReviewFactory,
    TrancheFactory,
    UserFactory,
)
from tests.statements import flat, statements_of
from workflow.core.models import db

ROLES = ("officer", "leader", "applicant", "expert", "finance", "auditor", "admin")
# The researcher's applications of each round: drafts and returned ones (their 工作台
# checks each one's submission: form, 限项, integrity), and the officer's work.
STATES = (A.draft, A.returned, A.formal_review, A.expert_review, A.reviewed, A.in_progress)


@pytest.fixture
def world(app):
    """A person of each role, a recommending body with an organisation under it, and a
    first round of everything the lists show."""
    body = OrganizationFactory(name="赣州市工业和信息化局")
    uni = OrganizationFactory(name="赣南科技大学", parent=body)
    people = {role: UserFactory(username=role, roles=(role,),
                                organization=uni if role == "applicant" else None)
              for role in ROLES}
    world = {"body": body, "uni": uni, **people}
    more(world)
    return world


def more(world, rounds: int = 1) -> None:
    """Rows of every kind the lists and home pages show: calls, organisations, experts,
    the researcher's applications in several states, the expert's invitations, projects
    with tranches due."""
    for _ in range(rounds):
        call = CallFactory()
        OrganizationFactory(parent=world["body"])
        ExpertProfileFactory()
        UserFactory()
        for state in STATES:
            ApplicationFactory(call=call, applicant=world["applicant"], state=state)
        ReviewFactory(expert=world["expert"])
        TrancheFactory(state=TrancheState.due,
                       application__granted_amount=Decimal("500000.00"))
    db.session.commit()


def bearer(client, username):
    return {"Authorization": "Bearer " + api_token(client, username, PASSWORD)}


PAGES = [
    ("officer", "/"), ("officer", "/applications"), ("officer", "/api/v1/applications"),
    ("officer", "/applications?sort=org&organization=赣南科技大学"),
    ("officer", "/calls"), ("officer", "/api/v1/calls"),
    ("officer", "/organizations"), ("officer", "/api/v1/organizations"),
    ("officer", "/experts"), ("officer", "/api/v1/experts"),
    ("leader", "/"), ("leader", "/applications"), ("leader", "/calls"),
    ("leader", "/api/v1/calls"),
    ("applicant", "/"), ("applicant", "/applications"), ("applicant", "/api/v1/applications"),
    ("applicant", "/calls"), ("applicant", "/api/v1/calls"), ("applicant", "/organizations"),
    ("expert", "/"), ("expert", "/calls"),
    ("finance", "/"), ("finance", "/applications"), ("finance", "/api/v1/applications"),
    ("auditor", "/"), ("auditor", "/applications"), ("auditor", "/api/v1/applications"),
    ("admin", "/"), ("admin", "/users"), ("admin", "/api/v1/users"),
]


@pytest.mark.parametrize(("role", "url"), PAGES, ids=[f"{r}:{u}" for r, u in PAGES])
def test_the_list_costs_the_same_statements_whatever_its_rows(app, world, role, url):
    client = client_for(app, role, PASSWORD)
    headers = bearer(client, role) if url.startswith("/api/") else None
    client.get(url, headers=headers)  # (a token's first use is recorded once)
    flat(client, url, lambda: more(world, 2), headers=headers)


def test_the_cursor_page_costs_the_same_statements_as_the_first(app, world):
    client = client_for(app, "officer", PASSWORD)
    headers = bearer(client, "officer")
    first = client.get("/api/v1/applications?per_page=2", headers=headers).get_json()
    assert first["next"]
    client.get(first["next"], headers=headers)
    flat(client, first["next"], lambda: more(world, 2), headers=headers)


# ---- keyset pagination --------------------------------------------------------------------

def walk(client, headers, url):
    """Every page by ``next`` from ``url``: the ids in the order given, and the pages."""
    ids, pages, total, first = [], 0, None, 1
    while url:
        resp = client.get(url, headers=headers)
        assert resp.status_code == 200, resp.get_json()
        body = resp.get_json()
        ids += [item["id"] for item in body["items"]]
        if pages:  # each answer says which page it is, and the same total
            assert body["page"] == first + pages and body["total"] == total
        else:
            first = body["page"]
        pages += 1
        total = body["total"]
        url = body["next"]
    return ids, pages, total


@pytest.mark.parametrize("sort", ["", "&sort=title", "&sort=title&dir=desc", "&sort=state",
                                  "&sort=org&dir=asc", "&q=课题"])
def test_walking_every_page_by_next_gives_every_row_once_in_order(app, client, sort):
    UserFactory(username="officer", roles=("officer",), organization=None)
    orgs = [OrganizationFactory() for _ in range(3)]
    call = CallFactory()
    for n in range(23):  # ties in every sort: the id breaks them
        ApplicationFactory(call=call, title=f"课题{n % 4}",
                           state=(A.draft, A.submitted, A.formal_review)[n % 3],
                           organization=orgs[n % 3],
                           applicant=UserFactory(organization=orgs[n % 3]))
    db.session.commit()
    headers = bearer(client, "officer")
    whole = client.get(f"/api/v1/applications?per_page=100{sort}", headers=headers).get_json()
    expected = [item["id"] for item in whole["items"]]
    assert len(expected) == 23
    ids, pages, total = walk(client, headers, f"/api/v1/applications?per_page=5{sort}")
    assert ids == expected and len(set(ids)) == 23
    assert (pages, total) == (5, 23)
    # From a page number on: ``next`` carries on from it.
    page3 = client.get(f"/api/v1/applications?per_page=5&page=3{sort}",
                       headers=headers).get_json()
    assert page3["page"] == 3
    rest, _, _ = walk(client, headers, page3["next"])
    assert [i["id"] for i in page3["items"]] + rest == expected[10:]


def test_the_last_page_has_no_next(app, client, world):
    headers = bearer(client, "officer")
    body = client.get("/api/v1/applications?per_page=100", headers=headers).get_json()
    assert body["next"] is None and body["page"] == 1
    assert len(body["items"]) == body["total"]


def _cursor(payload) -> str:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(("query", "message"), [
    ("cursor=!!!", "无法解析"),
    ("cursor=" + _cursor(b"not json"), "无法解析"),
    ("cursor=" + _cursor([1, 2]), "无法解析"),
    ("cursor=" + _cursor({"s": "", "d": "desc", "k": ["x"]}), "与排序不符"),
    ("cursor=" + _cursor({"s": "", "d": "desc", "k": [True]}), "与排序不符"),
    ("cursor=" + _cursor({"s": "", "d": "desc", "k": [1, 2]}), "与排序不符"),
    ("cursor=" + _cursor({"s": "title", "d": "asc", "k": [5, 1]}) + "&sort=title",
     "与排序不符"),
    ("cursor=" + _cursor({"s": "", "d": "desc", "k": [5]}) + "&sort=title", "sort、dir"),
    ("cursor=" + _cursor({"s": "title", "d": "desc", "k": ["x", 5]}) + "&sort=title&dir=asc",
     "sort、dir"),
    ("cursor=" + _cursor({"s": "submitted", "d": "desc", "k": [None, 5]})
     + "&sort=submitted", "不支持"),
    ("cursor=" + "A" * 1300, "过长"),
])
def test_a_bad_cursor_is_refused_with_a_reason(app, client, world, query, message):
    resp = client.get(f"/api/v1/applications?{query}", headers=bearer(client, "officer"))
    assert resp.status_code == 422, resp.get_data(as_text=True)[:300]
    assert message in resp.get_json()["error"]["details"]["cursor"]


def test_a_sort_that_may_be_null_pages_by_number_only(app, client, world):
    body = client.get("/api/v1/applications?sort=submitted&per_page=1",
                      headers=bearer(client, "officer")).get_json()
    assert body["next"] is None and body["page"] == 1 and body["total"] > 1


def test_the_cursor_is_documented(app, client):
    spec = client.get("/api/openapi.json").get_json()
    op = spec["paths"]["/api/v1/applications"]["get"]
    assert "cursor" in {p["name"] for p in op["parameters"]}
    answer = op["responses"]["200"]["content"]["application/json"]["schema"]
    assert "next" in answer["properties"]


# ---- the organisation filter --------------------------------------------------------------

def test_the_organisation_filter_never_lists_the_organisations(app, world):
    officer = client_for(app, "officer", PASSWORD)
    for _ in range(30):
        OrganizationFactory()
    db.session.commit()
    seen = statements_of(officer, "/applications")
    assert not any("FROM organization" in s and "WHERE" not in s.split("FROM organization")[1]
                   for s in seen.sql), seen.report()
    page = officer.get("/applications").get_data(as_text=True)
    assert 'list="list-applications-organization-choices"' in page
    assert page.count("<option") < 60  # the states, calls and years; no organisation


@pytest.mark.parametrize("how", ["id", "name", "uscc"])
def test_the_organisation_filter_takes_an_id_a_name_or_a_code(app, world, how):
    uni = world["uni"]
    value = {"id": str(uni.id), "name": uni.name, "uscc": uni.uscc.lower()}[how]
    officer = client_for(app, "officer", PASSWORD)
    ApplicationFactory(title="别家的课题")  # of another organisation
    db.session.commit()
    page = officer.get("/applications", query_string={"organization": value,
                                                      "per_page": 50}).get_data(as_text=True)
    assert "别家的课题" not in page and page.count("<tr>") == 1 + len(STATES)  # and header
    assert f'value="{uni.name}"' in page  # the name shown, never the id
    api = officer.get("/api/v1/applications", query_string={"organization": value},
                      headers=bearer(officer, "officer")).get_json()
    assert api["total"] == len(STATES)
    assert {i["organization"]["id"] for i in api["items"]} == {uni.id}


def test_an_unknown_organisation_is_ignored_by_the_page_and_refused_by_the_api(app, world):
    officer = client_for(app, "officer", PASSWORD)
    every = officer.get("/applications").get_data(as_text=True).count("<tr>")
    page = officer.get("/applications?organization=没有这个单位").get_data(as_text=True)
    assert page.count("<tr>") == every > 1 + len(STATES)
    resp = officer.get("/api/v1/applications?organization=没有这个单位",
                       headers=bearer(officer, "officer"))
    assert resp.status_code == 422
    assert resp.get_json()["error"]["details"] == {"organization": "没有这个单位"}


def test_the_suggestions_are_a_few_organisations_the_person_may_filter_by(app, world):
    for n in range(15):
        OrganizationFactory(name=f"赣州稀土研究院{n:02d}")
    db.session.commit()
    officer = client_for(app, "officer", PASSWORD)
    html = officer.get("/applications/organizations?organization=稀土").get_data(as_text=True)
    assert html.count("<option") == 10 and 'value="赣州稀土研究院00"' in html
    by_code = officer.get("/applications/organizations",
                          query_string={"organization": world["uni"].uscc[:12]})
    assert f'value="{world["uni"].name}"' in by_code.get_data(as_text=True)
    # A recommending body's recommender: only the organisations under it.
    UserFactory(username="rec", roles=("recommender",), organization=world["body"])
    db.session.commit()
    rec = client_for(app, "rec", PASSWORD)
    assert rec.get("/applications/organizations?organization=稀土").get_data(
        as_text=True).count("<option") == 0
    assert 'value="赣南科技大学"' in rec.get(
        "/applications/organizations?organization=赣南").get_data(as_text=True)
    # A researcher has no such filter, and pays nothing for it.
    researcher = client_for(app, "applicant", PASSWORD)
    assert researcher.get("/applications/organizations?organization=稀土").status_code == 403
    seen = statements_of(researcher, "/applications")
    assert not any("organization.name" in s and "ORDER BY organization.name" in s
                   for s in seen.sql)
    assert 'name="organization"' not in researcher.get("/applications").get_data(as_text=True)


def test_the_pages_next_link_goes_by_the_keyset_to_the_same_rows(app, world):
    officer = client_for(app, "officer", PASSWORD)
    more(world, 3)
    for sort in ("", "&sort=title&dir=asc", "&sort=submitted"):  # the last by number
        first = officer.get(f"/applications?per_page=10{sort}").get_data(as_text=True)
        link = re.search(r'<a class="page-link" href="([^"]+)"[^>]*>下一页</a>', first)
        assert link, first[-3000:]
        url = html.unescape(link[1])
        assert ("cursor=" in url) == (sort != "&sort=submitted") and "page=2" in url
        by_next = re.findall(r'/applications/(\d+)"', officer.get(url).get_data(as_text=True))
        by_number = re.findall(r'/applications/(\d+)"', officer.get(
            f"/applications?per_page=10&page=2{sort}").get_data(as_text=True))
        assert by_next == by_number and by_next
    # A cursor that is not one the list gave: the page by its number, never an error.
    page = officer.get("/applications?per_page=10&page=2&cursor=nonsense")
    assert page.status_code == 200


# ---- deep pages read from the end -----------------------------------------------------------

@pytest.mark.parametrize("sort", ["", "&sort=title", "&sort=title&dir=desc",
                                  "&sort=submitted", "&sort=submitted&dir=asc",
                                  "&sort=state&dir=desc", "&state=draft"])
def test_pages_in_the_back_half_hold_the_rows_counted_from_the_start(app, client, world, sort):
    """A page past the middle is read from the end in the opposite order: page by page,
    the list is the same rows in the same order as one page holding them all (drafts
    have no submission time: NULLs sort where they did)."""
    more(world, 3)
    headers = bearer(client, "officer")
    whole = client.get(f"/api/v1/applications?per_page=100{sort}", headers=headers).get_json()
    expected = [item["id"] for item in whole["items"]]
    assert len(expected) == whole["total"] >= 4
    got, page = [], 1
    while True:
        body = client.get(f"/api/v1/applications?per_page=3&page={page}{sort}",
                          headers=headers).get_json()
        if not body["items"]:
            break
        got += [item["id"] for item in body["items"]]
        if body["next"]:  # a back-half page's next link still follows on
            following = client.get(body["next"], headers=headers).get_json()
            assert [i["id"] for i in following["items"]] == expected[len(got):len(got) + 3]
        page += 1
    assert got == expected
    # The page's own numbered pages: the last one shows the list's last rows.
    login_page = client_for(app, "officer", PASSWORD)
    last = login_page.get(f"/applications?per_page=10&page=999{sort}").get_data(as_text=True)
    tail = whole["items"][-(whole["total"] % 10 or 10):]
    for item in tail:
        assert html.escape(item["title"]) in last


# ---- input the review found answered with a 500 -------------------------------------------

def _cursor(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def test_a_cursor_with_a_number_beyond_any_id_is_refused_not_a_500(app, client, world):
    headers = bearer(client, "officer")
    for sort, d in (("", "desc"), ("title", "asc")):
        keys = [10**30] if not sort else ["x", 10**30]
        raw = _cursor({"s": sort, "d": d, "k": keys})
        resp = client.get(f"/api/v1/applications?cursor={raw}"
                          + (f"&sort={sort}&dir={d}" if sort else ""), headers=headers)
        assert resp.status_code == 422, resp.get_json()
        assert "cursor" in resp.get_json()["error"]["details"]
    page = client_for(app, "officer", PASSWORD)
    # The page falls back to the page number.
    raw = _cursor({"s": "", "d": "desc", "k": [10**30]})
    assert page.get(f"/applications?page=2&cursor={raw}").status_code == 200


@pytest.mark.parametrize("url", [
    "/api/v1/applications?page=²", "/api/v1/applications?per_page=²",
    "/api/v1/finance/reconciliation?page=²", "/api/v1/finance/reconciliation?per_page=²",
    "/api/v1/finance/reconciliation?year=²⁰²⁶",
])
def test_digits_other_than_0_to_9_are_refused_not_a_500(app, client, world, url):
    headers = bearer(client, "officer")
    resp = client.get(url, headers=headers)
    assert resp.status_code == 422, (url, resp.status_code)


def test_the_next_link_goes_on_past_the_last_page_number(app, client, world, monkeypatch):
    from workflow.core import listing as core_listing
    from workflow.web import listing as web_listing
    monkeypatch.setattr(core_listing, "MAX_PAGE", 2)
    monkeypatch.setattr(web_listing, "MAX_PAGE", 2)
    headers = bearer(client, "officer")
    whole = client.get("/api/v1/applications?per_page=100", headers=headers).get_json()
    ids, url = [], "/api/v1/applications?per_page=2"
    while url:
        resp = client.get(url, headers=headers)
        assert resp.status_code == 200, resp.get_json()
        ids += [i["id"] for i in resp.get_json()["items"]]
        url = resp.get_json()["next"]
    assert ids == [i["id"] for i in whole["items"]] and len(ids) > 4


def test_the_next_link_of_a_row_with_the_longest_title_is_followed(app, client, world):
    """A cursor carries the last row's sort values: a 200-character Chinese title too."""
    ApplicationFactory(title="稀" * 200, state=A.formal_review)
    ApplicationFactory(title="稀" * 199 + "土", state=A.formal_review)
    db.session.commit()
    headers = bearer(client, "officer")
    ids, pages, total = walk(client, headers, "/api/v1/applications?per_page=1&sort=title"
                                              "&dir=desc")
    whole = client.get("/api/v1/applications?per_page=100&sort=title&dir=desc",
                       headers=headers).get_json()
    assert ids == [i["id"] for i in whole["items"]] and pages == total


def test_the_officers_application_page_reads_no_other_application_of_the_year(app, world):
    """The page shows the eligibility check (一题多报 among them): it looks up the year's
    same titles and the researcher's own applications, never reads the year's other
    applications (a province's year holds a hundred thousand)."""
    import sqlalchemy as sa

    from workflow.applying.models import Application

    call = CallFactory()
    mine = ApplicationFactory(call=call, state=A.formal_review, title="稀土永磁电机关键技术")
    twin = ApplicationFactory(call=call, state=A.expert_review, title="稀土 永磁电机（关键技术）")
    loaded: list[int] = []

    def seen(target, _context):
        loaded.append(target.id)

    def others(n: int) -> None:
        for _ in range(n):
            ApplicationFactory(call=call, state=A.expert_review)

    others(5)
    db.session.commit()
    client = client_for(app, "officer", PASSWORD)
    sa.event.listen(Application, "load", seen)
    try:
        page = client.get(f"/applications/{mine.id}").get_data(as_text=True)
        first = set(loaded)
        others(20)
        db.session.commit()
        db.session.expire_all()
        loaded.clear()
        client.get(f"/applications/{mine.id}")
    finally:
        sa.event.remove(Application, "load", seen)
    assert "题目相同（一题多报）" in page and "稀土 永磁电机（关键技术）" in html.unescape(page)
    assert set(loaded) == first
    assert first <= {mine.id, twin.id} | {a.id for a in db.session.scalars(
        sa.select(Application).where(Application.applicant_id == mine.applicant_id))}
