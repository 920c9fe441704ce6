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

from tests.browser.conftest import Server
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
            page.get_by_role("button", name="展开菜单").click()
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
