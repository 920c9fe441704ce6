"""绩效评价 in a real browser, at a desk (1366 px) and on a phone (390 px): the officer
opens the list from the 执行与监督 menu, the demo's 优秀 evaluation with its facts and
scores, and the 科研失信 list page with the 绩效评价不合格 records; nothing scrolls
sideways."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, expect

from tests.browser.conftest import Server, open_menu
from tests.browser.test_applying import login
from tests.browser.test_lists import no_sideways_scroll
from workflow.demo import EXCELLENT_PROJECT

pytestmark = pytest.mark.browser


@pytest.mark.parametrize(("width", "height"), [(1366, 768), (390, 844)])
def test_the_officer_reads_the_evaluations(browser: Browser, kjflow_server: Server,
                                           width: int, height: int) -> None:
    context = browser.new_context(base_url=kjflow_server.url, locale="zh-CN",
                                  viewport={"width": width, "height": height})
    context.set_default_timeout(15_000)
    page = context.new_page()
    try:
        login(page, "officer", "张科长")
        if width < 1200:
            open_menu(page, page.get_by_role("button", name="展开菜单"))
        open_menu(page, page.get_by_test_id("after-award-menu"))
        page.get_by_role("link", name="绩效评价", exact=True).click()
        expect(page.get_by_role("heading", level=1)).to_have_text("绩效评价")
        no_sideways_scroll(page)
        page.get_by_role("link", name=EXCELLENT_PROJECT).click()
        expect(page.get_by_test_id("evaluation-grade")).to_contain_text("优秀")
        expect(page.get_by_test_id("adjust-reason")).to_contain_text("发明专利2项")
        expect(page.get_by_test_id("evaluation-scores")).to_be_visible()
        no_sideways_scroll(page)
        page.goto("/integrity")
        expect(page.get_by_test_id("failing-evaluations")).to_contain_text("绩效评价不合格")
        no_sideways_scroll(page)
    finally:
        context.close()
