"""The list pages (workflow/web/listing.py), list by list: keyword search (Chinese titles,
names, organisations, numbers), filters, sorting both ways, the second page, the Excel
export of exactly the filtered rows, and each list's visibility rule in page and export."""

from __future__ import annotations

import io
import re
from datetime import date, timedelta
from decimal import Decimal
from html import unescape

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from states import ApplicationState as A
from states import CallState, ObjectionState, ReviewState, TrancheState
from tests.conftest import api_token, client_for, csrf_of
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
from workflow.accounts.models import Sanction, User
from workflow.calls.models import Scheme
from workflow.core.models import db, utcnow
from workflow.decisions.models import Objection
from workflow.finance.models import Tranche
from workflow.notify.models import DeliveryState, Notification
from workflow.timeutil import SHANGHAI
from workflow.web import listing as web_listing
from workflow.web.listing import XLSX

# ---- reading a list page and its export ---------------------------------------------------


def body_of(html: str, testid: str) -> str:
    """The <tbody> of the table ``testid``."""
    after = html.split(f'data-testid="{testid}"', 1)[1]
    return after.split("<tbody>", 1)[1].split("</tbody>", 1)[0]


def listed(html: str, testid: str, collection: str) -> list[int]:
    """The ids of the rows a list shows, in order (each row links its row once)."""
    return [int(i) for i in re.findall(rf'href="/{collection}/(\d+)"', body_of(html, testid))]


def page_of(client, url: str) -> str:
    resp = client.get(url)
    assert resp.status_code == 200, (url, resp.status_code)
    return resp.get_data(as_text=True)


def workbook(resp):
    assert resp.status_code == 200, resp.status_code
    assert resp.mimetype == XLSX
    assert ".xlsx" in resp.headers["Content-Disposition"]
    return load_workbook(io.BytesIO(resp.data))


def exported(resp, sheet: str | None = None) -> tuple[list[str], list[dict[str, object]]]:
    """The export's header and its rows as {header: value}."""
    book = workbook(resp)
    ws = book[sheet] if sheet else book.worksheets[0]
    rows = list(ws.iter_rows(values_only=True))
    header = [str(h) for h in rows[0]]
    return header, [dict(zip(header, row, strict=True)) for row in rows[1:]]


def cell_format(resp, header: str) -> str:
    ws = workbook(resp).worksheets[0]
    column = [c.value for c in ws[1]].index(header)
    return str(ws.cell(row=2, column=column + 1).number_format)


# ---- applications -----------------------------------------------------------------------

@pytest.fixture
def world(app):
    uni = OrganizationFactory(name="赣南科技大学")
    farm = OrganizationFactory(name="赣州市农业科学研究院")
    UserFactory(username="officer", name="张科长", roles=("officer",), organization=None)
    li = UserFactory(username="li", name="李明", organization=uni)
    wang = UserFactory(username="wang", name="王芳", organization=farm)
    old = CallFactory(title="2025年度包干制试点", year=2025, scheme=Scheme.baogan)
    new = CallFactory(title="2026年度揭榜挂帅榜单", year=2026, scheme=Scheme.jiebang)
    now = utcnow()
    rare = ApplicationFactory(call=old, applicant=li, title="稀土永磁废料短流程再生利用",
                              state=A.formal_review, receipt_no="SB2025BG000001",
                              submitted_at=now - timedelta(days=2))
    orange = ApplicationFactory(call=new, applicant=wang, title="脐橙黄龙病绿色防控",
                                state=A.expert_review, receipt_no="SB2026JB000002",
                                submitted_at=now - timedelta(days=1))
    more = [ApplicationFactory(call=old if i % 2 else new, applicant=li if i % 2 else wang,
                               title=f"批量项目{i:02d}") for i in range(23)]
    db.session.commit()
    return {"uni": uni, "farm": farm, "old": old, "new": new, "rare": rare, "orange": orange,
            "all": [rare, orange, *more]}


@pytest.fixture
def officer(app, world):
    return client_for(app, "officer", PASSWORD)


def apps_listed(client, query: str = "") -> list[int]:
    return listed(page_of(client, f"/applications?{query}"), "applications", "applications")


def test_application_search_finds_by_chinese_title_organisation_person_and_number(
        officer, world):
    rare, orange = world["rare"].id, world["orange"].id
    page = page_of(officer, "/applications?q=稀土")
    assert listed(page, "applications", "applications") == [rare]
    assert "共 <strong>1</strong> 条" in page
    farm = {a.id for a in world["all"] if a.organization_id == world["farm"].id}
    assert set(apps_listed(officer, "q=农业科学&per_page=50")) == farm
    assert set(apps_listed(officer, "q=李明&per_page=50")) == {
        a.id for a in world["all"] if a.applicant.name == "李明"}
    assert apps_listed(officer, "q=SB2026JB") == [orange]
    assert apps_listed(officer, "q=揭榜挂帅 脐橙") == [orange]  # every word must match
    assert apps_listed(officer, "q=稀土 脐橙") == []
    # LIKE's own characters are taken literally.
    for literal in ("%", "_", "\\", "稀土%"):
        assert apps_listed(officer, f"q={literal}") == [], literal


def test_no_two_elements_of_a_list_page_share_an_id(officer, world):
    """htmx swaps by id: the filter named "state" and the hidden inputs that carry the sort
    once shared one, and the swap replaced the filter (the next 筛选 lost the state)."""
    for query in ("", "state=formal_review", "partial"):
        headers = ({"HX-Request": "true", "HX-Target": "list-applications"}
                   if query == "partial" else {})
        page = officer.get(f"/applications?{query}", headers=headers).get_data(as_text=True)
        ids = re.findall(r'\sid="([^"]+)"', page)
        assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)
    full = officer.get("/applications").get_data(as_text=True)
    partial = officer.get("/applications?state=formal_review", headers={
        "HX-Request": "true", "HX-Target": "list-applications"}).get_data(as_text=True)
    swapped = set(re.findall(r'\sid="([^"]+)"[^>]*hx-swap-oob', partial))
    assert swapped and not swapped & set(re.findall(r'<select[^>]*\sid="([^"]+)"', full))


def test_application_filters(officer, world):
    old, new = world["old"], world["new"]
    assert apps_listed(officer, "state=formal_review") == [world["rare"].id]
    of_call = {a.id for a in world["all"] if a.call_id == new.id}
    assert set(apps_listed(officer, f"call={new.id}&per_page=50")) == of_call
    assert set(apps_listed(officer, "scheme=jiebang&per_page=50")) == of_call
    assert set(apps_listed(officer, "year=2025&per_page=50")) == {
        a.id for a in world["all"] if a.call_id == old.id}
    assert set(apps_listed(officer, f"organization={world['uni'].id}&per_page=50")) == {
        a.id for a in world["all"] if a.organization_id == world["uni"].id}
    # Filters combine with the search and with each other.
    assert apps_listed(officer, f"q=稀土&call={new.id}") == []
    # A value that is not a choice is ignored, never an error.
    page = page_of(officer, "/applications?state=nope&call=abc&year=1&organization=-1")
    assert "共 <strong>25</strong> 条" in page


def test_application_sort_both_ways_and_the_second_page(officer, world):
    by_title = [a.id for a in sorted(world["all"], key=lambda a: (a.title, a.id))]
    page = page_of(officer, "/applications?sort=title&dir=asc&per_page=10")
    assert listed(page, "applications", "applications") == by_title[:10]
    header = page.split('data-column="title"', 1)[0].rsplit("<th", 1)[1]
    assert 'aria-sort="ascending"' in header
    # The header's link turns the order round and keeps the other parameters.
    assert 'href="/applications?sort=title&amp;dir=desc&amp;per_page=10"' in page
    assert "共 <strong>25</strong> 条，第 1–10 条" in page
    assert apps_listed(officer, "sort=title&dir=asc&per_page=10&page=2") == by_title[10:20]
    assert apps_listed(officer, "sort=title&dir=asc&per_page=10&page=3") == by_title[20:]
    assert apps_listed(officer, "sort=title&dir=desc&per_page=10") == by_title[::-1][:10]
    # Past the last page: the last page.
    assert apps_listed(officer, "sort=title&dir=asc&per_page=10&page=99") == by_title[20:]
    # A page link keeps the search, filters and sort.
    page = page_of(officer, "/applications?q=批量&sort=title&dir=asc&per_page=10")
    assert 'href="/applications?q=%E6%89%B9%E9%87%8F&amp;sort=title&amp;dir=asc&amp;' \
           'per_page=10&amp;page=2"' in page
    # By organisation, each way (the row id breaks ties in the same direction).
    by_org = sorted(world["all"], key=lambda a: (a.organization.name, a.id))
    assert apps_listed(officer, "sort=org&dir=asc&per_page=50") == [a.id for a in by_org]
    assert apps_listed(officer, "sort=org&dir=desc&per_page=50") == [a.id for a in by_org][::-1]


def next_link(html: str) -> str | None:
    """The list's 下一页 link, or None when it is greyed out."""
    found = re.search(r'<a class="page-link" href="([^"]+)"[^>]*>下一页</a>', html)
    return unescape(found.group(1)) if found else None


def count_of(html: str, name: str) -> str:
    found = re.search(rf'data-testid="{name}-count">(.*?)</p>', html, re.S)
    assert found, name
    return re.sub(r"<[^>]+>", "", found.group(1)).strip()


def test_a_search_matching_more_than_the_cap_says_so_and_pages_on_to_its_end(
        officer, world, monkeypatch):
    """A search's count stops at COUNT_CAP (a frequent word at a million rows): the page
    says "超过 N 条", its next links go on to the last row, and the bulk review offers the
    rows of the state awaiting it as "N 余份"; a list without a search is counted
    exactly."""
    monkeypatch.setattr(web_listing, "COUNT_CAP", 12)
    waiting = [ApplicationFactory(call=world["old"], applicant=world["rare"].applicant,
                                  title=f"批量待审{i:02d}", state=A.formal_review,
                                  submitted_at=utcnow()) for i in range(14)]
    db.session.commit()
    batch = sorted((a for a in world["all"] + waiting if "批量" in a.title),
                   key=lambda a: a.title)
    url: str | None = "/applications?q=批量&sort=title&dir=asc&per_page=10"
    seen, counts = [], []
    while url:
        page = page_of(officer, url)
        seen += listed(page, "applications", "applications")
        counts.append(count_of(page, "applications"))
        url = next_link(page)
    assert seen == [a.id for a in batch]  # 37 rows, in order, none twice
    assert counts == [f"超过 12 条，第 {first}–{last} 条（搜索“批量”）"
                      for first, last in ((1, 10), (11, 20), (21, 30), (31, 37))]
    # Past the cap, the rows awaiting review among them are not counted: the page asks
    # for the state that awaits it, where every matching row does.
    first = page_of(officer, "/applications?q=批量&per_page=10")
    assert "按状态“形式审查”筛选后" in first and 'id="bulk-all"' not in first
    waiting = page_of(officer, "/applications?q=批量&state=formal_review&per_page=10")
    assert "选择全部符合条件的 12 余份（含其他页）" in waiting
    assert "确切份数在处理时统计" in waiting and "另有" not in waiting
    # Fewer rows than the cap: counted exactly, with the others not awaiting review.
    few = page_of(officer, "/applications?q=批量待审0&per_page=10")
    assert count_of(few, "applications").startswith("共 10 条")
    assert "选择全部符合条件的 10 份" in few
    assert count_of(page_of(officer, "/applications"), "applications").startswith("共 39 条")
    # The API says the same: the total it counted to, and that more follow.
    token = {"Authorization": "Bearer " + api_token(officer, "officer", PASSWORD)}
    api = officer.get("/api/v1/applications?q=批量&per_page=20", headers=token).get_json()
    assert (api["total"], api["total_capped"], api["pages"], len(api["items"])) == (
        12, True, None, 20)
    rest = officer.get(api["next"], headers=token).get_json()
    assert len(rest["items"]) == 17 and rest["next"] is None
    # Its last page full: no next link to an empty page.
    full = officer.get("/api/v1/applications?q=批量待审&per_page=7", headers=token).get_json()
    assert (full["total_capped"], len(full["items"])) == (True, 7) and full["next"]
    end = officer.get(full["next"], headers=token).get_json()
    assert len(end["items"]) == 7 and end["next"] is None
    exact = officer.get("/api/v1/applications?q=批量待审0", headers=token).get_json()
    assert (exact["total"], exact["total_capped"], exact["pages"]) == (10, False, 1)


def test_application_export_is_exactly_the_filtered_rows_in_their_order(officer, world):
    query = "q=批量&sort=title&dir=desc&scheme=baogan"
    shown = apps_listed(officer, query + "&per_page=100")
    header, rows = exported(officer.get(f"/applications?{query}&export=xlsx&page=2"))
    assert header[:4] == ["受理回执号", "项目编号", "项目名称", "指南"]
    titles = {a.id: a.title for a in world["all"]}
    assert [r["项目名称"] for r in rows] == [titles[i] for i in shown]
    assert len(rows) == 11 and {r["资助方式"] for r in rows} == {"包干制"}
    _, everything = exported(officer.get("/applications?export=xlsx"))
    assert len(everything) == 25


def test_a_researchers_list_and_export_hold_only_their_organisations_applications(
        app, world):
    li = client_for(app, "li", PASSWORD)
    own = {a.id for a in world["all"] if a.organization_id == world["uni"].id}
    assert set(apps_listed(li, "per_page=100")) == own
    assert apps_listed(li, "q=脐橙") == []
    # Another organisation is no filter of theirs (the choice is not even offered).
    assert 'name="organization"' not in page_of(li, "/applications")
    _, rows = exported(li.get(f"/applications?export=xlsx&organization={world['farm'].id}"))
    assert len(rows) == len(own)
    assert {r["申报单位"] for r in rows} == {"赣南科技大学"}
    assert "脐橙黄龙病绿色防控" not in {r["项目名称"] for r in rows}


def test_htmx_gets_the_list_region_alone_and_a_history_restore_the_page(officer, world):
    hx = {"HX-Request": "true", "HX-Target": "list-applications"}
    resp = officer.get("/applications?q=稀土&sort=title&dir=desc", headers=hx)
    region = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "HX-Request" in resp.headers["Vary"]
    assert "<html" not in region and region.lstrip().startswith('<div id="list-applications"')
    assert world["rare"].title in region
    # The sort the form carries is refreshed out of band.
    assert re.search(r'<div id="list-applications-kept" hx-swap-oob="true">'
                     r'<input type="hidden" name="sort" value="title">', region)
    restore = officer.get("/applications?q=稀土", headers={**hx, "HX-History-Restore-Request":
                                                          "true"})
    assert "<html" in restore.get_data(as_text=True)
    # Without htmx: the whole page, its search form a plain GET.
    page = page_of(officer, "/applications?q=稀土")
    assert '<form method="get" action="/applications"' in page and 'value="稀土"' in page


@pytest.mark.parametrize("query", [
    "page=abc", "page=-1", "page=99999999999", "per_page=7", "per_page=1000", "sort=evil",
    "sort=title&dir=sideways", "q=" + "稀" * 500, "q=%00", "state=formal_review&state=x",
    "export=xlsx&sort=evil&per_page=x",
])
def test_bad_list_parameters_never_fail(officer, world, query):
    assert officer.get(f"/applications?{query}").status_code == 200


# ---- calls --------------------------------------------------------------------------------

def test_calls_search_filter_sort_and_export_hide_drafts_from_researchers(app, world):
    CallFactory(title="2026年度油茶专项（草稿）", year=2026, state=CallState.draft,
                budget=Decimal("9000000.00"))
    db.session.commit()
    officer = client_for(app, "officer", PASSWORD)
    li = client_for(app, "li", PASSWORD)
    assert len(listed(page_of(officer, "/calls"), "calls", "calls")) == 3
    assert len(listed(page_of(li, "/calls"), "calls", "calls")) == 2
    assert listed(page_of(li, "/calls?q=油茶"), "calls", "calls") == []
    assert listed(page_of(li, "/calls?q=揭榜"), "calls", "calls") == [world["new"].id]
    assert listed(page_of(li, "/calls?year=2025"), "calls", "calls") == [world["old"].id]
    world["new"].budget = Decimal("2500000.00")
    db.session.commit()
    up = listed(page_of(officer, "/calls?sort=budget&dir=asc"), "calls", "calls")
    down = listed(page_of(officer, "/calls?sort=budget&dir=desc"), "calls", "calls")
    assert up == down[::-1] and down[0] != world["old"].id
    resp = li.get("/calls?export=xlsx&sort=budget&dir=asc")
    _, rows = exported(resp)
    assert [r["指南名称"] for r in rows] == ["2025年度包干制试点", "2026年度揭榜挂帅榜单"]
    assert [r["总预算（万元）"] for r in rows] == [100, 250]  # numbers, in 万元
    assert cell_format(resp, "总预算（万元）") == "#,##0.00####"


# ---- the expert pool ----------------------------------------------------------------------

@pytest.fixture
def pool(app, world):
    chem = OrganizationFactory(name="江西理工大学")
    ExpertProfileFactory(user=UserFactory(username="liu", name="刘教授", organization=chem,
                                          roles=("expert",)),
                         disciplines=["TF"], keywords=["稀土分离", "萃取"], title="教授")
    ExpertProfileFactory(user=UserFactory(username="chen", name="陈研究员",
                                          organization=world["farm"], roles=("expert",)),
                         disciplines=["S1"], keywords=["脐橙", "病虫害"], available=False)
    ExpertProfileFactory(user=UserFactory(username="he", name="何高工", organization=None,
                                          roles=("expert",)),
                         disciplines=["TM", "TF"], keywords=["电机"])
    db.session.commit()
    return chem


def pool_names(client, query: str = "") -> list[str]:
    body = body_of(page_of(client, f"/experts?{query}"), "experts")
    return re.findall(r'<tr data-expert="\d+">\s*<td class="text-nowrap">([^<]+)<br>', body)


def test_expert_pool_search_filters_and_sort(officer, pool):
    assert pool_names(officer) == sorted(["刘教授", "陈研究员", "何高工"])
    assert pool_names(officer, "q=萃取") == ["刘教授"]       # a keyword
    assert pool_names(officer, "q=理工大学") == ["刘教授"]   # the organisation
    assert pool_names(officer, "q=陈研") == ["陈研究员"]     # the name
    assert pool_names(officer, "q=chen") == ["陈研究员"]     # the username
    assert sorted(pool_names(officer, "discipline=TF")) == ["何高工", "刘教授"]
    assert pool_names(officer, "available=false") == ["陈研究员"]
    assert pool_names(officer, f"organization={pool.id}") == ["刘教授"]
    assert pool_names(officer, "sort=name&dir=desc") == sorted(
        ["刘教授", "陈研究员", "何高工"], reverse=True)


def test_expert_pool_rows_link_an_edit_page_that_saves_and_returns(officer, pool):
    page = page_of(officer, "/experts?q=刘")
    body = body_of(page, "experts")
    assert "<input" not in body and "<form" not in body  # no edit box in every row
    link = re.search(r'href="(/experts/(\d+)/edit\?next=[^"]+)"', body)
    assert link
    edit_url = link.group(1).replace("&amp;", "&")
    form = page_of(officer, edit_url)
    assert 'value="稀土分离,萃取"' in form and 'name="load_cap"' in form
    bad = officer.post(edit_url, data={"csrf_token": csrf_of(form), "disciplines": "TF",
                                       "load_cap": "abc"})
    assert bad.status_code == 422 and "最大评审数应为0至500的整数" in bad.get_data(as_text=True)
    ok = officer.post(edit_url, data={"csrf_token": csrf_of(form), "disciplines": "TF, TG",
                                      "keywords": "稀土分离，萃取，冶金", "load_cap": "8",
                                      "title": "教授", "next": "/experts?q=%E5%88%98"})
    assert ok.status_code == 302 and ok.headers["Location"] == "/experts?q=%E5%88%98"
    page = page_of(officer, "/experts?q=冶金")
    assert "已更新：刘教授" in page and "0/8" in page
    assert officer.get("/experts/999999/edit").status_code == 404


def test_expert_pool_export_and_who_may_see_it(app, officer, pool):
    header, rows = exported(officer.get("/experts?export=xlsx&discipline=TF"))
    assert header[:3] == ["用户名", "姓名", "单位"]
    assert [r["姓名"] for r in rows] == ["何高工", "刘教授"]
    assert rows[1]["关键词"] == "稀土分离、萃取" and rows[1]["最大评审数"] == 10
    li = client_for(app, "li", PASSWORD)
    assert li.get("/experts").status_code == 403
    assert li.get("/experts?export=xlsx").status_code == 403


# ---- reviews ------------------------------------------------------------------------------

@pytest.fixture
def queue(app, world):
    expert = UserFactory(username="liu", name="刘教授", roles=("expert",))
    other = UserFactory(username="huang", name="黄教授", roles=("expert",))
    UserFactory(username="leader", name="孙局长", roles=("leader",), organization=None)
    hidden = CallFactory(title="2026年度匿名评审专项", hide_applicant=True)
    now = utcnow()
    done = [ReviewFactory(expert=expert, state=ReviewState.submitted,
                          total=Decimal(f"8{i}.00"), submitted_at=now - timedelta(days=i),
                          application=ApplicationFactory(
                              call=world["old"], applicant=world["rare"].applicant,
                              title=f"已评项目{i}", state=A.reviewed))
            for i in range(3)]
    pending = ReviewFactory(expert=expert, respond_by=now + timedelta(days=2),
                            application=ApplicationFactory(
                                call=hidden, applicant=world["orange"].applicant,
                                title="待答复的项目", state=A.expert_review))
    ReviewFactory(expert=other, application=world["orange"])
    db.session.commit()
    return {"done": done, "pending": pending}


def test_the_experts_queue_lists_the_pending_invitation_first_with_its_deadline(app, queue):
    liu = client_for(app, "liu", PASSWORD)
    page = page_of(liu, "/reviews")
    rows = re.findall(r'<tr data-review="(\d+)">', body_of(page, "review-queue"))
    assert [int(r) for r in rows] == [queue["pending"].id, *(r.id for r in queue["done"])]
    first = body_of(page, "review-queue").split("</tr>")[0]
    respond_by = queue["pending"].respond_by
    assert "待答复的项目" in first and "已邀请" in first
    assert f"<strong>{respond_by.astimezone(SHANGHAI):%Y-%m-%d %H:%M}</strong> 前" in first
    assert 'data-testid="review-counts">待处理 <strong>1</strong> · 评审中 <strong>0</strong>' \
           ' · 已完成 <strong>3</strong>' in page
    # Sorted by total, each way; searched by title; another expert's review never shown.
    by_total = [r.id for r in sorted(queue["done"], key=lambda r: r.total)]
    assert [int(r) for r in re.findall(r'<tr data-review="(\d+)">', body_of(
        page_of(liu, "/reviews?sort=total&dir=asc&state=submitted"), "review-queue"))] == by_total
    assert "黄龙病" not in page
    assert re.findall(r'<tr data-review="(\d+)">', body_of(
        page_of(liu, "/reviews?q=已评项目1"), "review-queue")) == [str(queue["done"][1].id)]


def test_the_queues_export_keeps_the_order_and_hides_a_hidden_applicant(app, queue, world):
    _, rows = exported(client_for(app, "liu", PASSWORD).get("/reviews?export=xlsx"))
    assert [r["申报书"] for r in rows] == ["待答复的项目", "已评项目0", "已评项目1", "已评项目2"]
    assert rows[0]["申报单位"] == "（本批次不公开）" and rows[0]["项目负责人"] == "（本批次不公开）"
    assert rows[1]["申报单位"] == "赣南科技大学" and rows[1]["总分"] == 80
    assert "王芳" not in str(rows) and "赣州市农业科学研究院" not in str(rows)


def test_the_bureaus_review_list_names_experts_only_to_those_who_may_know(app, queue):
    officer = client_for(app, "officer", PASSWORD)
    page = page_of(officer, "/reviews/all?q=刘教授")
    assert len(listed(page, "review-overview", "reviews")) == 4
    assert "<th" in page and ">评审专家" in page
    _, rows = exported(officer.get("/reviews/all?export=xlsx&state=submitted"))
    assert {r["评审专家"] for r in rows} == {"刘教授"} and len(rows) == 3

    leader = client_for(app, "leader", PASSWORD)
    page = page_of(leader, "/reviews/all")
    assert len(listed(page, "review-overview", "reviews")) == 5
    assert "刘教授" not in page and "黄教授" not in page and ">评审专家" not in page
    # Searching by a name one may not see finds nothing by it.
    assert listed(page_of(leader, "/reviews/all?q=刘教授"), "review-overview", "reviews") == []
    header, rows = exported(leader.get("/reviews/all?export=xlsx"))
    assert "评审专家" not in header and len(rows) == 5
    assert "刘教授" not in str(rows)
    assert client_for(app, "liu", PASSWORD).get("/reviews/all").status_code == 403


# ---- the finance queue and the ledger -----------------------------------------------------

@pytest.fixture
def money(app, world):
    UserFactory(username="kuaiji", name="周会计", roles=("finance",), organization=None)
    projects = {}
    for n, (title, state) in enumerate([("稀土永磁电机驱动", TrancheState.due),
                                        ("油茶良种栽培", TrancheState.due),
                                        ("脐橙黄龙病防控示范", TrancheState.prepared),
                                        ("钕铁硼废料回收", TrancheState.released)], 1):
        project = ApplicationFactory(
            call=world["old"], applicant=world["rare"].applicant if n % 2 else
            world["orange"].applicant, title=title, state=A.in_progress,
            project_number=f"GZKJ-2025-BG-{n:04d}", granted_amount=Decimal("800000.00"),
            disbursed=Decimal("560000.00") if state is TrancheState.released else Decimal(0))
        extra = {"payment_ref": "ZF-1", "released_at": utcnow()} \
            if state is TrancheState.released else {}
        projects[title] = TrancheFactory(application=project, seq=1, label="合同签订后拨付",
                                         amount=Decimal("560000.00") + n, state=state, **extra)
    db.session.commit()
    return projects


def test_the_finance_queue_has_tabs_with_counts_and_right_aligned_money(app, money):
    kuaiji = client_for(app, "kuaiji", PASSWORD)
    page = page_of(kuaiji, "/finance")
    tabs = page.split('data-testid="tranches-tabs"', 1)[1].split("</ul>", 1)[0]
    current = re.findall(r'<a class="nav-link active" href="([^"]*)" aria-current="page"', tabs)
    assert current == ["/finance"]
    counts = dict(re.findall(r'<span class="tab-label">([^<]+)</span> <span class="badge[^"]*" '
                             r'data-testid="tab-count">(\d+)</span>', tabs))
    assert counts == {"应付": "2", "已制单": "1", "已审核": "0", "暂停": "0", "已拨付": "1",
                      "计划": "0", "已取消": "0"}
    assert len(listed(page, "tranches", "tranches")) == 2
    assert '<td class="num">56.00</td>' in page and '<th scope="col" class="num"' in page
    # The counts follow the search; the tab is kept by the search form.
    page = page_of(kuaiji, "/finance?state=released&q=GZKJ-2025-BG-0004")
    assert 'name="state" value="released"' in page
    assert listed(page, "tranches", "tranches") == [money["钕铁硼废料回收"].id]
    tabs = page.split('data-testid="tranches-tabs"', 1)[1].split("</ul>", 1)[0]
    assert re.findall(r'data-testid="tab-count">(\d+)<', tabs) == ["0", "0", "0", "0", "1",
                                                                    "0", "0"]
    assert listed(page_of(kuaiji, "/finance?q=油茶"), "tranches", "tranches") == [
        money["油茶良种栽培"].id]
    up = listed(page_of(kuaiji, "/finance?sort=amount&dir=asc"), "tranches", "tranches")
    assert up == [money["稀土永磁电机驱动"].id, money["油茶良种栽培"].id]
    assert listed(page_of(kuaiji, "/finance?sort=amount&dir=desc"), "tranches",
                  "tranches") == up[::-1]


def test_the_finance_tabs_are_not_counted_past_the_cap_and_the_chosen_tab_is(
        app, money, monkeypatch):
    monkeypatch.setattr(web_listing, "COUNT_CAP", 1)
    kuaiji = client_for(app, "kuaiji", PASSWORD)
    page = page_of(kuaiji, "/finance?q=GZKJ-2025")  # all four tranches match
    tabs = page.split('data-testid="tranches-tabs"', 1)[1].split("</ul>", 1)[0]
    assert "tab-count" not in tabs and "应付" in tabs
    # The chosen tab (应付, the default) is counted to the cap, and its rows all listed.
    assert count_of(page, "tranches").startswith("超过 1 条，第 1–2 条")
    assert sorted(listed(page, "tranches", "tranches")) == sorted(
        [money["稀土永磁电机驱动"].id, money["油茶良种栽培"].id])
    released = page_of(kuaiji, "/finance?q=GZKJ-2025&state=released")
    assert count_of(released, "tranches").startswith("共 1 条")
    assert listed(released, "tranches", "tranches") == [money["钕铁硼废料回收"].id]
    # Under the cap the tabs keep their counts.
    one = page_of(kuaiji, "/finance?q=GZKJ-2025-BG-0004&state=released")
    assert re.findall(r'data-testid="tab-count">(\d+)<', one) == ["0", "0", "0", "0", "1",
                                                                  "0", "0"]


def test_the_finance_export_is_the_tab_in_wan_with_the_payees_account(app, money):
    kuaiji = client_for(app, "kuaiji", PASSWORD)
    resp = kuaiji.get("/finance?export=xlsx&sort=amount&dir=desc")
    _, rows = exported(resp)
    assert [r["项目编号"] for r in rows] == ["GZKJ-2025-BG-0002", "GZKJ-2025-BG-0001"]
    assert rows[0]["金额（万元）"] == 56.0002  # exact: 560,002 元
    assert rows[0]["金额大写"] == "伍拾陆万零贰元整" and rows[0]["状态"] == "应付"
    assert rows[0]["银行账号"] == money["油茶良种栽培"].application.organization.bank_account
    assert cell_format(resp, "金额（万元）") == "#,##0.00####"
    _, released = exported(kuaiji.get("/finance?export=xlsx&state=released"))
    assert released[0]["支付凭证号"] == "ZF-1"
    # Times in Beijing time (a date-time cell, not text).
    paid_at = money["钕铁硼废料回收"].released_at.astimezone(SHANGHAI).replace(tzinfo=None)
    assert abs((released[0]["拨付时间"] - paid_at).total_seconds()) < 1
    li = client_for(app, "li", PASSWORD)
    assert li.get("/finance").status_code == 403
    assert li.get("/finance?export=xlsx").status_code == 403


def test_the_reconciliation_page_links_its_excel(app, money, world):
    kuaiji = client_for(app, "kuaiji", PASSWORD)
    page = page_of(kuaiji, "/finance/reconcile?year=2025")
    assert 'href="/finance/reconcile.xlsx?year=2025"' in page
    header, rows = exported(kuaiji.get("/finance/reconcile.xlsx?year=2025"))
    assert header[:3] == ["指南", "年度", "预算（万元）"]
    assert rows[0]["指南"] == world["old"].title and rows[0]["预算（万元）"] == 100
    assert rows[-1]["指南"] == "合计"
    assert client_for(app, "li", PASSWORD).get("/finance/reconcile.xlsx").status_code == 403


# ---- the inbox and the delivery log -------------------------------------------------------

def note(user, n: int, **kw) -> Notification:
    row = Notification(key=f"test:{user.id}:{n}:{kw.get('channel', 'inapp')}", user_id=user.id,
                       topic="test", title=kw.pop("title", f"消息{n}"),
                       body=kw.pop("body", "正文"), **kw)
    db.session.add(row)
    return row


def test_the_inbox_lists_only_ones_own_messages_searched_and_filtered(app, world):
    li, wang = world["rare"].applicant, world["orange"].applicant
    note(li, 1, title="申报书已退回修改", body="请补充中试规模")
    note(li, 2, title="评审结果", read_at=utcnow())
    note(wang, 3, title="王芳的消息")
    db.session.commit()
    client = client_for(app, "li", PASSWORD)
    page = page_of(client, "/inbox")
    body = body_of(page, "messages")
    assert "申报书已退回修改" in body and "评审结果" in body and "王芳的消息" not in body
    assert "中试规模" in body_of(page_of(client, "/inbox?q=中试"), "messages")
    assert "评审结果" not in body_of(page_of(client, "/inbox?q=中试"), "messages")
    unread = body_of(page_of(client, "/inbox?read=unread"), "messages")
    assert "申报书已退回修改" in unread and "评审结果" not in unread
    _, rows = exported(client.get("/inbox?export=xlsx"))
    assert [(r["标题"], r["状态"]) for r in rows] == [("评审结果", "已读"),
                                                     ("申报书已退回修改", "未读")]


def test_the_delivery_log_filters_by_channel_and_state(app, world):
    li = world["rare"].applicant
    note(li, 1, channel="email", address="li@example.cn", title="退回通知")
    note(li, 2, channel="sms", address="13800000000", title="立项通知",
         state=DeliveryState.dead, last_error="网关拒绝")
    note(li, 3, title="站内消息不在此列")
    db.session.commit()
    officer = client_for(app, "officer", PASSWORD)
    body = body_of(page_of(officer, "/notifications"), "recent")
    assert "退回通知" in body and "立项通知" in body and "站内消息不在此列" not in body
    body = body_of(page_of(officer, "/notifications?channel=email"), "recent")
    assert "退回通知" in body and "立项通知" not in body
    body = body_of(page_of(officer, "/notifications?state=dead"), "recent")
    assert "立项通知" in body and "重新发送" in body and "退回通知" not in body
    assert "li@example.cn" in body_of(page_of(officer, "/notifications?q=example"), "recent")
    _, rows = exported(officer.get("/notifications?export=xlsx&state=dead"))
    assert [(r["渠道"], r["最后错误"]) for r in rows] == [("短信", "网关拒绝")]
    assert client_for(app, "li", PASSWORD).get("/notifications").status_code == 403


# ---- objections and the integrity list ----------------------------------------------------

def test_objections_are_listed_searched_and_exported_for_the_bureau_only(app, world):
    db.session.add_all([
        Objection(application_id=world["rare"].id, name="赵六", contact="13900000000",
                  organization="某研究所", text="申报材料中的中试数据与实际不符"),
        Objection(application_id=world["orange"].id, name="", text="匿名反映",
                  state=ObjectionState.not_accepted)])
    db.session.commit()
    officer = client_for(app, "officer", PASSWORD)
    page = page_of(officer, "/objections")
    assert len(listed(page, "objections", "objections")) == 2
    page = page_of(officer, "/objections?q=中试数据")
    assert world["rare"].title in body_of(page, "objections")
    assert world["orange"].title not in body_of(page, "objections")
    body = body_of(page_of(officer, "/objections?state=not_accepted"), "objections")
    assert "（匿名）" in body and "赵六" not in body
    _, rows = exported(officer.get("/objections?export=xlsx&q=赵六"))
    assert [(r["异议人"], r["项目名称"]) for r in rows] == [("赵六", world["rare"].title)]
    li = client_for(app, "li", PASSWORD)
    assert li.get("/objections").status_code == 403
    assert li.get("/objections?export=xlsx").status_code == 403


def test_the_integrity_list_searches_filters_by_period_and_exports_dates(app, world):
    today = utcnow().astimezone(SHANGHAI).date()
    db.session.add_all([
        Sanction(subject="person", name="钱某", id_number="362101198001010019",
                 reason="论文造假", starts_on=today - timedelta(days=30),
                 ends_on=today + timedelta(days=300)),
        Sanction(subject="org", name="某科技公司", uscc=world["farm"].uscc, reason="虚报冒领",
                 starts_on=date(2019, 1, 1), ends_on=date(2021, 1, 1))])
    db.session.commit()
    officer = client_for(app, "officer", PASSWORD)
    body = body_of(page_of(officer, "/integrity?q=造假"), "sanctions")
    assert "钱某" in body and "某科技公司" not in body
    body = body_of(page_of(officer, "/integrity?period=ended"), "sanctions")
    assert "某科技公司" in body and "钱某" not in body and "已期满" in body
    body = body_of(page_of(officer, "/integrity?subject=person"), "sanctions")
    assert "钱某" in body and "某科技公司" not in body
    _, rows = exported(officer.get("/integrity?export=xlsx&sort=starts&dir=asc"))
    assert [r["姓名或单位名称"] for r in rows] == ["某科技公司", "钱某"]
    assert rows[0]["开始日期"].date() == date(2019, 1, 1) and rows[1]["状态"] == "处理期内"
    assert client_for(app, "li", PASSWORD).get("/integrity?export=xlsx").status_code == 403



# ---- the second page, list by list --------------------------------------------------------

def test_the_second_pages_of_the_pool_the_inbox_the_integrity_list_and_the_queue(app, world):
    """Thirteen rows each, ten a page, sorted by name or time: page 2 holds the last three
    in the same order, and the count says so."""
    li = world["rare"].applicant
    names = [f"专家{n:02d}" for n in range(13)]
    for n, name in enumerate(names):
        ExpertProfileFactory(user=UserFactory(username=f"e{n:02d}", name=name,
                                              roles=("expert",)))
        note(li, n, title=f"第{n:02d}条消息")
        db.session.add(Sanction(subject="person", name=f"失信人员{n:02d}",
                                id_number=f"3621011980010100{n:02d}", reason="抄袭",
                                starts_on=date(2020, 1, 1 + n), ends_on=date(2030, 1, 1)))
        TrancheFactory(application=world["rare"], seq=n + 1, label=f"第{n + 1:02d}笔",
                       amount=Decimal(100000 + n))
    db.session.commit()
    officer = client_for(app, "officer", PASSWORD)
    page = page_of(officer, "/experts?sort=name&dir=asc&per_page=10&page=2")
    assert pool_names(officer, "sort=name&dir=asc&per_page=10&page=2") == names[10:]
    assert "共 <strong>13</strong> 条，第 11–13 条" in page
    assert pool_names(officer, "sort=name&dir=desc&per_page=10&page=2") == names[::-1][10:]

    body = body_of(page_of(officer, "/integrity?sort=starts&dir=asc&per_page=10&page=2"),
                   "sanctions")
    assert re.findall(r"<td>(失信人员\d\d)</td>", body) == [f"失信人员{n:02d}" for n in
                                                          (10, 11, 12)]

    inbox = client_for(app, "li", PASSWORD)
    body = body_of(page_of(inbox, "/inbox?sort=title&dir=desc&per_page=10&page=2"), "messages")
    assert re.findall(r"<strong>(第\d\d条消息)</strong>", body) == [
        "第02条消息", "第01条消息", "第00条消息"]

    UserFactory(username="kuaiji", name="周会计", roles=("finance",), organization=None)
    db.session.commit()
    finance = client_for(app, "kuaiji", PASSWORD)
    page = page_of(finance, "/finance?sort=amount&dir=asc&per_page=10&page=2")
    assert re.findall(r'/tranches/\d+">(第\d\d笔)</a>', body_of(page, "tranches")) == [
        "第11笔", "第12笔", "第13笔"]


def test_a_list_with_tabs_takes_its_total_from_the_tabs_counts(app, money):
    """The total is the chosen tab's count, or with none chosen the sum of all (the
    list's own count is not run again): each equals the rows counted here."""
    from workflow.core.listing import Params
    from workflow.finance.lists import TRANCHES
    from workflow.web.listing import run

    finance = db.session.scalar(sa.select(User).where(User.username == "kuaiji"))
    everything = db.session.scalar(sa.select(sa.func.count()).select_from(Tranche))
    for state in ["", *(s.value for s in TrancheState)]:
        p = Params(q="", terms=[], filters={"state": state} if state else {}, sort="",
                   desc=True, page=1, per_page=1)
        listing = run(TRANCHES, finance, p)
        expected = everything if not state else db.session.scalar(
            sa.select(sa.func.count()).select_from(Tranche).where(Tranche.state == state))
        assert listing.total == expected, state
        assert listing.pages == max(1, expected)
        assert sum(tab.count for tab in listing.tabs) == everything
