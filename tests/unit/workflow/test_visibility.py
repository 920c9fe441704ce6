"""Who reads an application, one rule for the pages, the API and the exports (issue 16):

1. an expert reads it only through a live review of theirs: the summary while invited,
   all of it once accepted (or scored), nothing once the invitation is declined, expired
   or withdrawn, or the review recused;
6. a colleague of the same organisation sees that it exists (its row in the list, the
   heading of its page), not what is in it (the answers with the team's 身份证号, the
   attachments, the archival PDF, the rounds, the trail); the principal investigator,
   the team and the unit's research office (单位管理员) read it;
7. a recommending body (主管部门) sees, exports and recommends only the applications of the
   organisations under it.
"""

from __future__ import annotations

import io
import json
import re
from typing import Any

import pytest
from openpyxl import load_workbook

from states import ApplicationState, CallState, ReviewState
from tests.conftest import api_token, client_for, csrf_of
from tests.factories import (
    PASSWORD,
    ApplicationFactory,
    CallFactory,
    OrganizationFactory,
    ReviewFactory,
    UserFactory,
)
from workflow.accounts import operations as accounts
from workflow.accounts.models import OrgKind, User
from workflow.applying.models import Application, ApplicationRound
from workflow.core import engine
from workflow.core.errors import Invalid
from workflow.core.files import store
from workflow.core.models import Attachment, db, utcnow
from workflow.documents.models import Document
from workflow.review.models import ReviewAssignment

TITLE = "离子型稀土绿色萃取分离新工艺"
SUMMARY = "以无氨皂化萃取体系降低稀土分离能耗的研究摘要"
PLAN = "第一年建成中试线第二年完成百吨级示范线的技术路线"
MEMBER = "周成员"
MEMBER_ID = "36210119900101001X"
FILENAME = "技术路线图保密版.pdf"
ORG_NAME = "赣南稀土冶金研究院"
PI_NAME = "欧阳研究员"
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
FORM = [
    {"name": "summary", "label": "项目摘要", "type": "longtext", "required": True},
    {"name": "keywords", "label": "关键词", "type": "text"},
    {"name": "plan", "label": "研究计划", "type": "longtext"},
    {"name": "team", "label": "项目团队", "type": "persons"},
    {"name": "proposal", "label": "申报书正文", "type": "file"},
]
# What is in the application (beside its heading: title, organisation, PI).
CONTENT = (SUMMARY, PLAN, MEMBER, MEMBER_ID, FILENAME)


def text_of(resp: Any) -> str:
    """What a person reads in a response (JSON with its Chinese unescaped)."""
    if resp.is_json:
        return json.dumps(resp.get_json(), ensure_ascii=False)
    return resp.get_data().decode("utf-8", errors="replace")


def bearer(client: Any, user: Any) -> dict[str, str]:
    return {"Authorization": "Bearer " + api_token(client, user.username, PASSWORD)}


def proposal(pi: Any, state: ApplicationState = ApplicationState.expert_review,
             **extra: Any) -> dict[str, Any]:
    """An application with a team (one of them with a 身份证号), an attachment and its
    archival PDF; the ids its routes take."""
    call = extra.pop("call", None) or CallFactory(form_schema=FORM,
                                                  state=CallState.reviewing)
    app = ApplicationFactory(
        call=call, applicant=pi, title=TITLE, state=state, submitted_at=utcnow(),
        receipt_no=f"SB2026BG{pi.id:06d}", round=1, **extra,
        data={"summary": SUMMARY, "keywords": "稀土，萃取", "plan": PLAN,
              "team": [{"name": MEMBER, "id_number": MEMBER_ID, "org": ORG_NAME,
                        "role": "工艺研究"}]})
    sha = store().store(PDF)
    db.session.add(Attachment(application_id=app.id, field="proposal", sha256=sha,
                              size=len(PDF), kind="pdf", mime="application/pdf",
                              filename=FILENAME, uploaded_by_id=pi.id))
    db.session.add(ApplicationRound(application_id=app.id, round=1, title=TITLE,
                                    data=dict(app.data), submitted_at=utcnow()))
    doc = Document(application_id=app.id, kind="application", round=1, sha256=sha,
                   size=len(PDF), pages=1)
    db.session.add(doc)
    db.session.flush()
    return {"app": app.id, "sha": sha, "doc": doc.id}


# ---- 1. an expert, through their review ----------------------------------------------------

@pytest.fixture
def reviewing(app):
    unit = OrganizationFactory(name=ORG_NAME)
    pi = UserFactory(name=PI_NAME, organization=unit)
    expert = UserFactory(username="expert", roles=("expert",))
    officer = UserFactory(username="officer", roles=("officer",), organization=None)
    ids = proposal(pi)
    db.session.commit()
    return {"expert": expert, "officer": officer, **ids}


def review_in(state: str, world: dict[str, Any]) -> int:
    """The expert's review of the application, in ``state`` (withdrawn: the officer
    withdrew the invitation; recused: the expert recused after accepting)."""
    app = db.session.get(Application, world["app"])
    if state == "withdrawn":
        review = ReviewFactory(application=app, expert=world["expert"])
        db.session.commit()
        engine.fire(review, "cancel_invitation", world["officer"], comment="专家临时出差")
    elif state == "recused":
        review = ReviewFactory(application=app, expert=world["expert"],
                               state=ReviewState.accepted)
        db.session.commit()
        engine.fire(review, "recuse", world["expert"], comment="发现与申报人近三年合作")
    else:
        review = ReviewFactory(application=app, expert=world["expert"],
                               state=ReviewState(state),
                               submitted_at=utcnow() if state == "submitted" else None,
                               scores={"innovation": 80, "feasibility": 80},
                               comment="创新性突出，技术路线可行，团队基础扎实。")
    db.session.commit()
    return review.id


OVER = ("declined", "expired", "withdrawn", "recused")
# The routes through which an expert reads an application, and what each state gives:
# (status, what the body holds): "summary", "full", "heading" (its title at most),
# "file" (the attachment), None (refused, nothing of the proposal).
THROUGH_THE_REVIEW = {
    "/reviews/{review}/score": {"invited": (200, "summary"), "accepted": (200, "full"),
                                "submitted": (200, "full")},
    "/api/v1/applications/{app}": {"invited": (200, "summary"), "accepted": (200, "full"),
                                   "submitted": (200, "full")},
    "/reviews/{review}/attachments/{sha}": {"invited": (404, None), "accepted": (200, "file"),
                                            "submitted": (200, "file")},
    "/reviews/{review}": {s: (200, "heading") for s in ("invited", "accepted", "submitted")},
    "/api/v1/reviews/{review}/transitions": {s: (200, "heading")
                                             for s in ("invited", "accepted", "submitted")},
    "/api/v1/reviews/{review}/history": {s: (200, "heading")
                                         for s in ("invited", "accepted", "submitted")},
}
# The application's own routes: an expert never reads it through them.
NEVER = ("/applications/{app}", "/applications/{app}/edit",
         "/applications/{app}/attachments/{sha}", "/applications/{app}/documents",
         "/documents/{doc}", "/api/v1/applications/{app}/attachments/{sha}",
         "/api/v1/applications/{app}/documents", "/api/v1/applications/{app}/rounds",
         "/api/v1/applications/{app}/history", "/api/v1/documents/{doc}")
# What one may still try on a review that is over: refused, nothing of the proposal.
WRITES = (("POST", "/reviews/{review}/score", {"action": "save", "comment": "x"}),
          ("POST", "/reviews/{review}/respond", {"answer": "accept"}),
          ("PUT", "/api/v1/reviews/{review}/scores", {"scores": {}}),
          ("POST", "/api/v1/reviews/{review}/decline", {"reason": "有事"}))


def check_body(resp: Any, expected: str | None, where: str) -> None:
    body = text_of(resp)
    if expected is None:
        leaked = [t for t in (TITLE, ORG_NAME, PI_NAME, *CONTENT) if t in body]
        assert resp.status_code in (403, 404) and not leaked, (where, resp.status_code, leaked)
    elif expected == "file":
        assert resp.data == PDF, where
    elif expected == "heading":
        leaked = [t for t in CONTENT if t in body]
        assert not leaked, (where, leaked)
    elif expected == "summary":
        assert TITLE in body and SUMMARY in body and "稀土，萃取" in body, where
        leaked = [t for t in (PLAN, MEMBER, MEMBER_ID, FILENAME) if t in body]
        assert not leaked, (where, leaked)
    else:  # the whole application, without anyone's 身份证号
        assert all(t in body for t in (TITLE, SUMMARY, PLAN, MEMBER)), where
        assert MEMBER_ID not in body, where
        if where.endswith("/score"):
            assert FILENAME in body, where


@pytest.mark.parametrize("state", ["invited", "accepted", "submitted", *OVER])
def test_an_expert_reads_the_application_only_through_a_live_review(app, reviewing, state):
    ids = {**reviewing, "review": review_in(state, reviewing)}
    page = client_for(app, "expert", PASSWORD)
    api = app.test_client()
    auth = bearer(api, reviewing["expert"])
    for route, by_state in THROUGH_THE_REVIEW.items():
        status, expected = by_state.get(state, (404, None))
        url = route.format(**ids)
        resp = api.get(url, headers=auth) if url.startswith("/api/") else page.get(url)
        assert resp.status_code == status, (state, url, resp.status_code)
        check_body(resp, expected, f"{state} {url}")
    for route in NEVER:
        url = route.format(**ids)
        resp = api.get(url, headers=auth) if url.startswith("/api/") else page.get(url)
        check_body(resp, None, f"{state} {url}")


@pytest.mark.parametrize("state", OVER)
def test_a_review_that_is_over_takes_nothing_more(app, reviewing, state):
    ids = {**reviewing, "review": review_in(state, reviewing)}
    review = db.session.get(ReviewAssignment, ids["review"])
    before = (review.state, dict(review.scores or {}), review.comment, review.version)
    page = client_for(app, "expert", PASSWORD)
    token = csrf_of(page.get("/reviews").get_data(as_text=True))
    auth = bearer(app.test_client(), reviewing["expert"])
    for method, route, body in WRITES:
        url = route.format(**ids)
        if url.startswith("/api/"):
            resp = page.open(url, method=method, headers=auth, json=body)
        else:
            resp = page.open(url, method=method, data={**body, "csrf_token": token})
        assert resp.status_code == 404, (state, method, url, resp.status_code)
        check_body(resp, None, f"{state} {method} {url}")
    db.session.expire_all()
    review = db.session.get(ReviewAssignment, ids["review"])
    assert (review.state, dict(review.scores or {}), review.comment, review.version) == before


@pytest.mark.parametrize("state", OVER)
def test_the_queue_keeps_the_title_of_a_review_that_is_over_and_nothing_else(
        app, reviewing, state):
    review_in(state, reviewing)
    page = client_for(app, "expert", PASSWORD)
    api = app.test_client()
    for resp in (page.get("/reviews"), api.get("/api/v1/reviews",
                                               headers=bearer(api, reviewing["expert"]))):
        body = text_of(resp)
        assert resp.status_code == 200 and TITLE in body
        leaked = [t for t in (ORG_NAME, PI_NAME, *CONTENT) if t in body]
        assert not leaked, (state, leaked)
    export = load_workbook(io.BytesIO(page.get("/reviews?export=xlsx").data)).active
    cells = {str(c.value) for row in export.iter_rows() for c in row}
    assert TITLE in cells and ORG_NAME not in cells and PI_NAME not in cells


def test_an_invited_expert_sees_who_applied_to_answer_on_conflicts(app, reviewing):
    review_in("invited", reviewing)
    body = client_for(app, "expert", PASSWORD).get("/reviews").get_data(as_text=True)
    assert ORG_NAME in body and PI_NAME in body


def test_declining_on_the_scoring_page_leads_back_to_the_queue(app, reviewing):
    review = review_in("invited", reviewing)
    page = client_for(app, "expert", PASSWORD)
    score = page.get(f"/reviews/{review}/score").get_data(as_text=True)
    resp = page.post(f"/reviews/{review}/respond", data={
        "csrf_token": csrf_of(score), "answer": "decline", "reason": "与申报人存在合作关系",
        "conflict_kind": "joint_work", "next": f"/reviews/{review}/score"})
    assert resp.status_code == 302 and resp.headers["Location"] == "/reviews"
    assert page.get(f"/reviews/{review}/score").status_code == 404


# ---- 6. colleagues of the same organisation ------------------------------------------------

@pytest.fixture
def unit(app):
    org = OrganizationFactory(name=ORG_NAME)
    people = {
        "pi": UserFactory(username="pi", name=PI_NAME, organization=org),
        "colleague": UserFactory(username="colleague", organization=org),
        "member": UserFactory(username="member", name=MEMBER, organization=org,
                              id_number=MEMBER_ID.lower()),
        "office": UserFactory(username="office", organization=org, roles=("org_admin",)),
        "stranger": UserFactory(username="stranger"),
        "officer": UserFactory(username="officer", organization=None, roles=("officer",)),
    }
    ids = proposal(people["pi"], ApplicationState.formal_review,
                   call=CallFactory(form_schema=FORM, state=CallState.closed))
    db.session.commit()
    return people, ids


# What each may read of a colleague's application: 200 with its content, 200 with its
# heading only (the colleague), 403 (sees it, may not read this), 404 (may not see it).
READERS = ("pi", "member", "office", "officer")
CONTENT_ROUTES = {  # route -> the colleague's answer
    "/applications/{app}": 200,
    "/applications/{app}/edit": 403,
    "/applications/{app}/attachments/{sha}": 403,
    "/applications/{app}/documents": 403,
    "/documents/{doc}": 404,
    "/api/v1/applications/{app}": 200,
    "/api/v1/applications/{app}/attachments/{sha}": 403,
    "/api/v1/applications/{app}/documents": 403,
    "/api/v1/applications/{app}/rounds": 403,
    "/api/v1/applications/{app}/history": 403,
    "/api/v1/applications/{app}/milestones": 403,
    "/api/v1/documents/{doc}": 404,
}


def test_a_colleague_sees_the_heading_and_reads_nothing_of_what_is_in_it(app, unit):
    people, ids = unit
    api = app.test_client()
    for who in (*READERS, "colleague", "stranger"):
        page = client_for(app, who, PASSWORD)
        auth = bearer(api, people[who])
        for route, colleague_status in CONTENT_ROUTES.items():
            url = route.format(**ids)
            resp = api.get(url, headers=auth) if url.startswith("/api/") else page.get(url)
            body = text_of(resp)
            if who in READERS:
                assert resp.status_code in (200, 286), (who, url, resp.status_code)
            elif who == "stranger":
                assert resp.status_code == 404 and TITLE not in body, (who, url)
            else:
                assert resp.status_code == colleague_status, (who, url, resp.status_code)
                leaked = [t for t in CONTENT if t in body]
                assert not leaked, (url, leaked)
                if colleague_status == 200:
                    assert TITLE in body and PI_NAME in body, url


def test_what_readers_read_is_the_whole_application(app, unit):
    people, ids = unit
    api = app.test_client()
    for who in READERS:
        detail = api.get(f"/api/v1/applications/{ids['app']}", headers=bearer(api, people[who]))
        body = detail.get_json()
        assert body["data"]["team"][0]["id_number"] == MEMBER_ID, who
        assert [a["filename"] for a in body["attachments"]] == [FILENAME], who
        page = client_for(app, who, PASSWORD).get(f"/applications/{ids['app']}/edit")
        assert PLAN in page.get_data(as_text=True), who


def test_the_list_and_its_export_show_a_colleague_headings_only(app, unit):
    people, _ids = unit
    api = app.test_client()
    colleague = bearer(api, people["colleague"])
    listed = api.get("/api/v1/applications", headers=colleague)
    [row] = listed.get_json()["items"]
    assert row["title"] == TITLE and "data" not in row and "attachments" not in row
    assert not [t for t in CONTENT if t in text_of(listed)]
    page = client_for(app, "colleague", PASSWORD)
    assert TITLE in page.get("/applications").get_data(as_text=True)
    book = load_workbook(io.BytesIO(page.get("/applications?export=xlsx").data)).active
    cells = " ".join(str(c.value) for row in book.iter_rows() for c in row)
    assert TITLE in cells and not [t for t in CONTENT if t in cells]
    # The principal investigator's own list holds the answers.
    own = api.get("/api/v1/applications", headers=bearer(api, people["pi"])).get_json()
    assert own["items"][0]["data"]["summary"] == SUMMARY


def test_a_colleagues_application_page_has_no_trail_and_no_link_to_the_form(app, unit):
    _people, ids = unit
    page = client_for(app, "colleague", PASSWORD).get(
        f"/applications/{ids['app']}").get_data(as_text=True)
    assert 'data-testid="heading-only"' in page and 'data-testid="history"' not in page
    assert f"/applications/{ids['app']}/edit" not in page
    own = client_for(app, "pi", PASSWORD).get(
        f"/applications/{ids['app']}").get_data(as_text=True)
    assert 'data-testid="history"' in own and f"/applications/{ids['app']}/edit" in own


# ---- 7. jurisdiction of a recommending body ------------------------------------------------

@pytest.fixture
def counties(app):
    county_a = OrganizationFactory(name="甲县科技局", kind=OrgKind.government)
    county_b = OrganizationFactory(name="乙县科技局", kind=OrgKind.government)
    org_a = OrganizationFactory(name="甲县企业", parent=county_a)
    org_b = OrganizationFactory(name="乙县企业", parent=county_b)
    org_free = OrganizationFactory(name="市直单位")
    call = CallFactory(steps=["recommendation"], state=CallState.published)
    apps = {}
    for key, org, title in (("a", org_a, "甲县的申报书"), ("b", org_b, "乙县的申报书"),
                            ("free", org_free, "市直单位的申报书")):
        pi = UserFactory(organization=org)
        apps[key] = ApplicationFactory(call=call, applicant=pi, title=title,
                                       organization=org, state=ApplicationState.recommended,
                                       submitted_at=utcnow())
    people = {"ra": UserFactory(username="ra", organization=county_a, roles=("recommender",)),
              "rb": UserFactory(username="rb", organization=county_b, roles=("recommender",)),
              "officer": UserFactory(username="officer", organization=None,
                                     roles=("officer",))}
    db.session.commit()
    return people, {k: a.id for k, a in apps.items()}, {"a": org_a.id, "b": org_b.id}


def test_a_recommender_lists_and_exports_only_the_applications_under_its_body(app, counties):
    people, apps, orgs = counties
    page = client_for(app, "ra", PASSWORD)
    api = app.test_client()
    auth = bearer(api, people["ra"])
    listed = page.get("/applications").get_data(as_text=True)
    assert "甲县的申报书" in listed and "乙县的申报书" not in listed
    assert "市直单位的申报书" not in listed
    items = api.get("/api/v1/applications", headers=auth).get_json()["items"]
    assert [i["id"] for i in items] == [apps["a"]]
    for resp in (page.get("/applications?export=xlsx"),
                 api.get("/api/v1/applications?export=xlsx", headers=auth)):
        sheet = load_workbook(io.BytesIO(resp.data)).active
        titles = [row[2].value for row in sheet.iter_rows(min_row=2)]
        assert titles == ["甲县的申报书"]
    # The organisations to filter by are those under the body: suggested as one types
    # (the list never lists them), and another body's not taken.
    assert 'name="organization"' in listed
    suggested = page.get("/applications/organizations?organization=县企业")
    assert re.findall(r'<option value="([^"]+)"', suggested.get_data(as_text=True)) == [
        "甲县企业"]
    assert "甲县的申报书" in page.get(f"/applications?organization={orgs['a']}").get_data(
        as_text=True)
    refused = api.get(f"/api/v1/applications?organization={orgs['b']}", headers=auth)
    assert refused.status_code == 422
    # The 工作台 counts what it may recommend, and only that.
    home = page.get("/").get_data(as_text=True)
    assert "待推荐：甲县的申报书" in home and "乙县的申报书" not in home


def test_a_recommender_neither_reads_nor_recommends_another_bodys_application(app, counties):
    people, apps, _ = counties
    page = client_for(app, "ra", PASSWORD)
    api = app.test_client()
    auth = bearer(api, people["ra"])
    other = apps["b"]
    for url in (f"/applications/{other}", f"/applications/{other}/edit"):
        assert page.get(url).status_code == 404, url
    for url in (f"/api/v1/applications/{other}", f"/api/v1/applications/{other}/transitions",
                f"/api/v1/applications/{other}/history"):
        assert api.get(url, headers=auth).status_code == 404, url
    token = csrf_of(page.get("/applications").get_data(as_text=True))
    assert page.post(f"/applications/{other}/fire", data={
        "csrf_token": token, "trigger": "recommend"}).status_code == 404
    assert api.post(f"/api/v1/applications/{other}/transitions", headers=auth,
                    json={"trigger": "recommend"}).status_code == 404
    db.session.expire_all()
    assert db.session.get(Application, other).state is ApplicationState.recommended
    # Its own body's: read in full and recommended.
    assert "data" in api.get(f"/api/v1/applications/{apps['a']}", headers=auth).get_json()
    resp = api.post(f"/api/v1/applications/{apps['a']}/transitions", headers=auth,
                    json={"trigger": "recommend"})
    assert resp.status_code == 200 and resp.get_json()["state"] == "formal_review"
    # The other body recommends its own.
    rb = bearer(api, people["rb"])
    assert api.post(f"/api/v1/applications/{other}/transitions", headers=rb,
                    json={"trigger": "recommend"}).get_json()["state"] == "formal_review"


def test_the_bureau_places_an_organisation_under_a_recommending_body(app, counties):
    people, apps, orgs = counties
    api = app.test_client()
    officer = bearer(api, people["officer"])
    county_b = db.session.get(Application, apps["b"]).organization.parent_id
    resp = api.patch(f"/api/v1/organizations/{orgs['a']}", headers=officer,
                     json={"parent_id": county_b})
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["parent"] == {"id": county_b, "name": "乙县科技局"}
    # Moved: the other body now sees it, the first no longer.
    ra, rb = bearer(api, people["ra"]), bearer(api, people["rb"])
    assert api.get(f"/api/v1/applications/{apps['a']}", headers=ra).status_code == 404
    assert api.get(f"/api/v1/applications/{apps['a']}", headers=rb).status_code == 200
    # A recommender reads the organisations under its body.
    listed = api.get("/api/v1/organizations", headers=rb).get_json()["items"]
    assert {o["name"] for o in listed} == {"乙县科技局", "甲县企业", "乙县企业"}
    # And under none again.
    resp = api.patch(f"/api/v1/organizations/{orgs['a']}", headers=officer,
                     json={"parent_id": None})
    assert resp.status_code == 200 and resp.get_json()["parent"] is None
    assert api.get(f"/api/v1/applications/{apps['a']}", headers=rb).status_code == 404


def test_a_recommending_body_is_a_government_department_and_no_circle(app, counties):
    people, _apps, orgs = counties
    api = app.test_client()
    officer = bearer(api, people["officer"])
    county_a = people["ra"].organization_id
    for target, parent, why in ((orgs["a"], orgs["b"], "政府部门"),
                                (county_a, county_a, "不能隶属于本单位"),
                                (orgs["a"], 999999, "没有这个单位")):
        resp = api.patch(f"/api/v1/organizations/{target}", headers=officer,
                         json={"parent_id": parent})
        assert resp.status_code == 422 and why in resp.get_json()["error"]["details"][
            "parent_id"], resp.get_json()
    county_b = people["rb"].organization_id
    assert api.patch(f"/api/v1/organizations/{county_a}", headers=officer,
                     json={"parent_id": county_b}).status_code == 200
    resp = api.patch(f"/api/v1/organizations/{county_b}", headers=officer,
                     json={"parent_id": county_a})
    assert resp.status_code == 422  # a circle
    # A body with organisations under it stays a government department.
    resp = api.patch(f"/api/v1/organizations/{county_b}", headers=officer,
                     json={"kind": "enterprise"})
    assert resp.status_code == 422 and "kind" in resp.get_json()["error"]["details"]
    # Only the bureau places organisations.
    assert api.patch(f"/api/v1/organizations/{orgs['a']}", headers=bearer(api, people["ra"]),
                     json={"parent_id": None}).status_code in (403, 404)


def test_a_recommender_belongs_to_a_recommending_body(app):
    university = OrganizationFactory()
    with pytest.raises(Invalid) as refused:
        accounts.create_user("dept", PASSWORD, ["recommender"], organization=university)
    assert "政府部门" in refused.value.details["org"]
    with pytest.raises(Invalid):
        accounts.create_user("dept", PASSWORD, ["recommender"])


def test_the_demo_recommenders_each_see_their_bodys_organisations(app):
    from workflow import demo
    from workflow.applying.visibility import applications_query

    demo.seed()
    for username, body in (("recommender", demo.AGRICULTURE), ("recommender2", demo.DISTRICT)):
        user = db.session.scalar(db.select(User).where(User.username == username))
        under = {code for code, parent in demo.PARENTS.items() if parent == body}
        seen = list(db.session.scalars(applications_query(user)))
        assert seen and {a.organization.uscc for a in seen} <= under, username
    recommended = db.session.scalar(db.select(Application).where(
        Application.state == ApplicationState.recommended))
    assert recommended.organization.uscc == demo.INSTITUTE


def test_the_officer_places_an_organisation_on_its_page(app, counties):
    people, apps, orgs = counties
    officer = client_for(app, "officer", PASSWORD)
    home = officer.get("/").get_data(as_text=True)
    assert 'href="/organizations">单位与主管部门</a>' in home
    listed = officer.get("/organizations?q=企业").get_data(as_text=True)
    assert re.search(r"甲县企业</a></td>\s*<td[^>]*>[^<]*</td>\s*<td[^>]*>高等院校</td>\s*"
                     r"<td>甲县科技局</td>", listed), listed
    url = f"/organizations/{orgs['a']}/edit"
    form = officer.get(url).get_data(as_text=True)
    county_b = people["rb"].organization_id
    # The choices are the recommending bodies (政府部门), never an enterprise.
    choices = re.findall(r'<option value="(\d+)"',
                         form.split('id="parent_id"')[1].split("</select>")[0])
    assert sorted(choices) == sorted([str(people["ra"].organization_id), str(county_b)])
    fields = {"csrf_token": csrf_of(form), "name": "甲县企业", "uscc": db.session.get(
        Application, apps["a"]).organization.uscc, "kind": "university"}
    refused = officer.post(url, data={**fields, "parent_id": str(orgs["b"])})
    assert refused.status_code == 422
    assert "主管部门应为“政府部门”类单位" in refused.get_data(as_text=True)
    resp = officer.post(url, data={**fields, "parent_id": str(county_b)})
    assert resp.status_code == 302 and resp.headers["Location"] == "/organizations"
    rb = client_for(app, "rb", PASSWORD)
    assert "甲县的申报书" in rb.get("/applications").get_data(as_text=True)
    assert "甲县企业" in rb.get("/organizations").get_data(as_text=True)
    # Under none again: the select's empty choice.
    officer.post(url, data={**fields, "parent_id": ""})
    assert "甲县的申报书" not in rb.get("/applications").get_data(as_text=True)


def test_only_the_bureau_edits_an_organisation(app, counties):
    _people, _apps, orgs = counties
    ra = client_for(app, "ra", PASSWORD)
    assert ra.get(f"/organizations/{orgs['a']}/edit").status_code == 403  # seen, not kept
    assert ra.get(f"/organizations/{orgs['b']}/edit").status_code == 404  # not seen
    listed = ra.get("/organizations").get_data(as_text=True)
    assert "甲县企业" in listed and "乙县企业" not in listed
    assert f"/organizations/{orgs['a']}/edit" not in listed
