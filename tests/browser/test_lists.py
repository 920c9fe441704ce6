"""The application list in a real browser, at a desk (1366 px) and on a phone (390 px):
the officer searches, sorts by a header both ways, chooses ten a page, goes to page 2
and downloads the Excel of what the list shows, with htmx replacing the list alone
(the page is not reloaded, the address follows), and nothing scrolls sideways.

郭伟 (researcher3) first starts twelve drafts through the API, so that a search finds
more than one page of them.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from openpyxl import load_workbook
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import Server, open_menu
from tests.browser.test_applying import login
from workflow.demo import DEMO_PASSWORD

pytestmark = pytest.mark.browser

WORD = "列表巡检"
TITLES = [f"稀土{WORD}项目{n:02d}" for n in range(12)]


@pytest.fixture(scope="module")
def drafts(browser: Browser, kjflow_server: Server) -> list[str]:
    context = browser.new_context(base_url=kjflow_server.url)
    api = context.request
    token = api.post("/api/v1/auth/token", data={"username": "researcher3",
                                                 "password": DEMO_PASSWORD}).json()["token"]
    auth = {"Authorization": f"Bearer {token}"}
    calls = api.get("/api/v1/calls", headers=auth).json()["items"]
    open_call = next(c for c in calls if c["scheme"] == "baogan" and c["state"] == "published")
    for title in TITLES:
        resp = api.post("/api/v1/applications", headers=auth,
                        data={"call_id": open_call["id"], "title": title})
        assert resp.status == 201, resp.text()
    context.close()
    return TITLES


def titles_shown(page: Page) -> list[str]:
    return [t.strip() for t in page.locator(
        "[data-testid=applications] tbody tr td:nth-child(3) a").all_inner_texts()]


def no_sideways_scroll(page: Page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    inner = page.evaluate("window.innerWidth")
    assert width <= inner, f"the page scrolls sideways: {width} px wide in {inner} px"


@pytest.mark.parametrize(("width", "height"), [(1366, 768), (390, 844)])
def test_search_sort_page_and_download_the_application_list(
        browser: Browser, kjflow_server: Server, drafts: list[str], tmp_path: Path,
        width: int, height: int) -> None:
    context = browser.new_context(base_url=kjflow_server.url, locale="zh-CN",
                                  viewport={"width": width, "height": height},
                                  accept_downloads=True)
    context.set_default_timeout(15_000)
    page = context.new_page()
    try:
        login(page, "officer", "张科长")
        if width < 1200:
            open_menu(page, page.get_by_role("button", name="展开菜单"))
        page.get_by_role("navigation", name="主导航").get_by_role("link", name="申报书").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("申报书")
        # Typing before the page's scripts ran would be a full-page search: wait for them.
        page.wait_for_load_state("load")
        page.wait_for_function("() => window.htmx !== undefined")
        no_sideways_scroll(page)
        # A mark on the window: gone if the page were loaded again.
        page.evaluate("window.kjflowMark = 'still here'")
        count = page.locator("[data-testid=applications-count]")

        # Search as one types: the list alone is replaced, the address follows.
        page.get_by_role("searchbox", name="搜索").fill(WORD)
        expect(count).to_contain_text("共 12 条")
        expect(page).to_have_url(re.compile(r"/applications\?q=%E5%88%97"))
        assert sorted(titles_shown(page)) == sorted(drafts)

        # Sort by 项目名称, one way then the other.
        header = page.locator("[data-testid=applications] th[data-column=title]")
        header.get_by_role("link").click()
        expect(header).to_have_attribute("aria-sort", "ascending")
        expect(page).to_have_url(re.compile(r"sort=title&dir=asc"))
        assert titles_shown(page) == sorted(drafts)
        header.get_by_role("link").click()
        expect(header).to_have_attribute("aria-sort", "descending")
        expect(page.locator("[data-testid=applications] tbody tr").first).to_contain_text(
            drafts[-1])
        newest_first = sorted(drafts, reverse=True)
        assert titles_shown(page) == newest_first

        # Ten a page (the search and the sort stay), then page 2.
        page.get_by_label("每页").select_option("10")
        expect(count).to_contain_text("共 12 条，第 1–10 条")
        assert titles_shown(page) == newest_first[:10]
        pages = page.get_by_role("navigation", name="申报书分页")
        pages.get_by_role("link", name="第 2 页").click()
        expect(count).to_contain_text("第 11–12 条")
        expect(page).to_have_url(re.compile(r"q=.+sort=title&dir=desc&per_page=10&page=2"))
        assert titles_shown(page) == newest_first[10:]
        expect(pages.locator("[aria-current=page]")).to_have_text("2")
        assert page.evaluate("window.kjflowMark") == "still here"
        no_sideways_scroll(page)

        # The Excel: every filtered row (not just this page), in the list's order.
        with page.expect_download() as info:
            page.locator("[data-testid=applications-export]").click()
        download = info.value
        assert re.fullmatch(r"申报书-\d{8}-\d{4}\.xlsx", download.suggested_filename)
        path = tmp_path / f"applications-{width}.xlsx"
        download.save_as(path)
        sheet = load_workbook(path).worksheets[0]
        rows = list(sheet.iter_rows(values_only=True))
        assert rows[0][2] == "项目名称"
        assert [r[2] for r in rows[1:]] == newest_first
        assert {r[7] for r in rows[1:]} == {"赣州稀土新材料有限公司"}

        # Back: the page before, as it was.
        page.go_back()
        expect(count).to_contain_text("共 12 条，第 1–10 条")
        assert titles_shown(page) == newest_first[:10]
        no_sideways_scroll(page)
    finally:
        context.close()


# ---- the bulk formal review over every matching row ----------------------------------------

BULK_WORD = "全选巡检"


@pytest.fixture(scope="module")
def waiting_for_review(browser: Browser, kjflow_server: Server) -> list[str]:
    """Two applications waiting for formal review, in a call of their own that is closed
    again (no other test applies to it): the officer creates and publishes it, 郭伟 and
    邓丽 each submit one through the API."""
    from datetime import UTC, datetime, timedelta

    context = browser.new_context(base_url=kjflow_server.url)
    api = context.request

    def auth(username: str) -> dict[str, str]:
        token = api.post("/api/v1/auth/token", data={
            "username": username, "password": DEMO_PASSWORD}).json()["token"]
        return {"Authorization": f"Bearer {token}"}

    officer = auth("officer")
    now = datetime.now(UTC)
    call = api.post("/api/v1/calls", headers=officer, data={
        "title": f"{now.year}年度{BULK_WORD}专项", "scheme": "baogan", "year": now.year,
        "guide": "批量形式审查的浏览器测试。", "opens_at": (now - timedelta(days=1)).isoformat(),
        "closes_at": (now + timedelta(days=10)).isoformat(), "budget": "100",
        "form_schema": [{"name": "summary", "label": "项目摘要", "type": "longtext",
                         "required": True, "max": 200}],
        "rubric": [{"name": "innovation", "label": "创新性", "weight": 100, "max": 100}],
        "reviewers_per_application": 1})
    assert call.status == 201, call.text()
    call_id = call.json()["id"]
    published = api.post(f"/api/v1/calls/{call_id}/transitions", headers=officer,
                         data={"trigger": "publish"})
    assert published.ok, published.text()
    titles = []
    for username, title in (("researcher3", f"稀土{BULK_WORD}项目甲"),
                            ("researcher4", f"油茶{BULK_WORD}项目乙")):
        team = auth(username)
        app = api.post("/api/v1/applications", headers=team,
                       data={"call_id": call_id, "title": title})
        assert app.status == 201, app.text()
        app_id = app.json()["id"]
        filled = api.patch(f"/api/v1/applications/{app_id}", headers=team,
                           data={"data": {"summary": f"{title}的摘要。"}})
        assert filled.ok, filled.text()
        assert api.post(f"/api/v1/applications/{app_id}/sign", headers=team).ok
        submitted = api.post(f"/api/v1/applications/{app_id}/submit", headers=team)
        assert submitted.ok, submitted.text()
        titles.append(title)
    closed = api.post(f"/api/v1/calls/{call_id}/transitions", headers=officer, data={
        "trigger": "close", "data": {"early_close_reason": "浏览器测试用批次，申报已收齐"}})
    assert closed.ok, closed.text()
    context.close()
    return titles


def test_the_officer_rejects_every_matching_application_after_a_confirmation_naming_them(
        browser: Browser, kjflow_server: Server, waiting_for_review: list[str]) -> None:
    context = browser.new_context(base_url=kjflow_server.url, locale="zh-CN",
                                  viewport={"width": 1366, "height": 768})
    context.set_default_timeout(15_000)
    page = context.new_page()
    try:
        login(page, "officer", "张科长")
        page.goto("/applications")
        page.wait_for_load_state("load")
        page.wait_for_function("() => window.htmx !== undefined")
        count = page.locator("[data-testid=applications-count]")
        every = page.get_by_role("checkbox", name=re.compile("^选择全部符合条件的"))

        # The choice follows the search (the list region alone is replaced).
        page.get_by_role("searchbox", name="搜索").fill(f"稀土{BULK_WORD}")
        expect(count).to_contain_text("共 1 条")
        expect(every).to_have_accessible_name("选择全部符合条件的 1 份")
        page.get_by_role("searchbox", name="搜索").fill(BULK_WORD)
        expect(count).to_contain_text("共 2 条")
        expect(every).to_have_accessible_name("选择全部符合条件的 2 份")
        assert sorted(titles_shown(page)) == sorted(waiting_for_review)

        page.get_by_label("审查结论").select_option(label="不予受理")
        page.get_by_label("意见（退回、不予受理时必填）").fill("浏览器测试：批量不予受理")
        every.check()
        run = page.get_by_role("button", name="对所选申报书执行")
        dialog = page.locator("#confirm-dialog")

        # The dialog names how many and what; 取消 sends nothing.
        run.click()
        expect(dialog).to_be_visible()
        expect(dialog.locator("#confirm-text")).to_have_text(
            "确定对全部符合条件的 2 份申报书执行“不予受理”吗？包括其他页上的申报书；"
            "不能处理的将在结果中列出原因。此操作不可撤销。")
        dialog.get_by_role("button", name="取消").click()
        expect(dialog).to_be_hidden()
        expect(page.locator("[data-testid=job]")).to_have_count(0)

        run.click()
        dialog.get_by_role("button", name="确定，处理 2 份").click()
        job = page.locator("[data-testid=job]")
        expect(job).to_have_attribute("data-job-state", "done", timeout=60_000)
        expect(job.locator("[data-testid=job-summary]")).to_have_text("不予受理：已处理 2 件")
        expect(job.locator("[data-testid=job-count]")).to_have_text("已处理 2 / 2")
        # The list as it was searched; once done, its link shows both 不予受理 and nothing
        # left to choose.
        expect(page).to_have_url(re.compile(r"/applications\?q=%E5%85%A8.*job=\d+"))
        job.locator("[data-testid=job-link]").click()
        expect(page).to_have_url(re.compile(r"/applications\?q=%E5%85%A8[^&]*$"))
        rows = page.locator("[data-testid=applications] tbody tr")
        expect(rows).to_have_count(2)
        for title in waiting_for_review:
            expect(rows.filter(has_text=title)).to_contain_text("不予受理")
        expect(every).to_have_count(0)
    finally:
        context.close()
