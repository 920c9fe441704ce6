"""The office's 发文字号 in a real browser, at a desk (1366 px) and on a phone (390 px): the
officer reads each kind's numbering, is refused a next number already given (the reason
beside the field), gives the 拨付通知 a head and next number of its own, and reads the
发文登记 with the numbers the demo's approvals took; axe-core finds no serious violation
and nothing scrolls sideways."""

from __future__ import annotations

import re
from datetime import datetime

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import Server, open_menu
from tests.browser.test_applying import login
from workflow.timeutil import SHANGHAI

pytestmark = pytest.mark.browser
axe = Axe()


def accessible_and_narrow(page: Page, width: int) -> None:
    serious = [v["id"] for v in axe.run(page).response["violations"]
               if v["impact"] in ("serious", "critical")]
    assert not serious, serious
    assert page.evaluate("document.documentElement.scrollWidth") <= width


@pytest.mark.parametrize(("width", "height", "next_number"),
                         [(1366, 768, 101), (390, 844, 201)])
def test_the_officer_keeps_the_offices_numbers(browser: Browser, kjflow_server: Server,
                                               width: int, height: int,
                                               next_number: int) -> None:
    year = datetime.now(SHANGHAI).year
    context = browser.new_context(base_url=kjflow_server.url, locale="zh-CN",
                                  viewport={"width": width, "height": height})
    page = context.new_page()
    try:
        login(page, "officer", "张科长")
        page.goto("/")
        if width < 1200:
            open_menu(page, page.get_by_role("button", name="展开菜单"))
        # Under 设置 in the person's menu (the officer's main menu has no room left).
        open_menu(page, page.locator("[data-testid=current-user]"))
        page.get_by_role("link", name="发文字号", exact=True).click()
        expect(page.get_by_role("heading", level=1)).to_have_text("发文字号")
        accessible_and_narrow(page, width)

        notice = page.locator("[data-testid=numbering-notice]")
        # The demo's approval issued 赣市科字〔year〕1号 (its 立项文件) and 2号 (the notice).
        expect(notice.locator("[data-testid=numbering-state]")).to_contain_text("已发至")
        notice.get_by_label("今年下一个号（留空不变）").fill("1")
        notice.get_by_role("button", name="保存立项通知书的编号方式").click()
        field = page.locator("[data-testid=numbering-notice]").get_by_label(
            "今年下一个号（留空不变）")
        expect(field).to_have_attribute("aria-invalid", "true")
        expect(page.locator("#next-notice-error")).to_contain_text("不能小于或等于")
        accessible_and_narrow(page, width)

        payment = page.locator("[data-testid=numbering-payment_notice]")
        payment.get_by_label("字头（{year} 代表发文年份）").fill("赣市科财字〔{year}〕")
        payment.get_by_label("今年下一个号（留空不变）").fill(str(next_number))
        payment.get_by_role("button", name="保存拨付通知的编号方式").click()
        expect(page.locator("[data-testid=numbering-payment_notice] "
                            "[data-testid=numbering-state]")).to_contain_text(
            f"赣市科财字〔{year}〕{next_number}号")

        page.goto("/admin/numbering/documents?state=numbered")
        expect(page.get_by_role("heading", level=1)).to_have_text("发文登记")
        rows = page.locator("[data-testid=register-row]")
        expect(rows.first).to_contain_text(re.compile(rf"赣市科字〔{year}〕\d+号"))
        accessible_and_narrow(page, width)
    finally:
        context.close()
