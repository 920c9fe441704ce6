"""Two-step verification in the browser: a demo expert enrols from 设置 → 账户安全 (the QR
code and the secret on the page, the code typed from what the app would show, computed
here with pyotp), keeps the recovery codes, logs in again with a code; the administrator
resets it from 用户管理. Each page on the way passes axe-core."""

from __future__ import annotations

import re
import time

import pyotp
import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect

from tests.browser.conftest import Server, open_menu
from tests.browser.test_login import expect_home, login
from workflow.demo import DEMO_PASSWORD

pytestmark = pytest.mark.browser
axe = Axe()
# Used by no other browser test after test_login's (which runs before this file).
WHO, NAME = "expert6", "何高工"


def axe_clean(page: Page) -> None:
    found = [f"{v['id']} ({v['impact']}) {v['help']} {[n['target'] for n in v['nodes'][:3]]}"
             for v in axe.run(page).response["violations"]
             if v["impact"] in ("serious", "critical")]
    assert not found, f"{page.url}:\n" + "\n".join(found)


def open_menu_item(page: Page, name: str) -> None:
    open_menu(page, page.locator("[data-testid=current-user]"))
    page.get_by_role("link", name=name, exact=True).click()


def test_enrol_then_log_in_with_a_code(page: Page, kjflow_server: Server) -> None:
    login(page, WHO, DEMO_PASSWORD)
    expect_home(page, kjflow_server, NAME, ["expert"])
    open_menu_item(page, "账户安全")
    expect(page.get_by_role("heading", level=1)).to_have_text("账户安全")
    expect(page.get_by_test_id("second-factor-state")).to_have_text("未启用")
    page.get_by_role("link", name="启用两步验证").click()

    expect(page.get_by_test_id("totp-qr")).to_be_visible()
    secret = page.get_by_test_id("totp-secret").inner_text().replace(" ", "")
    assert re.fullmatch(r"[A-Z2-7]{32}", secret), secret
    axe_clean(page)
    page.wait_for_load_state("load")
    page.locator("#code").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="启用两步验证").click()
    expect(page.get_by_role("status")).to_have_text("两步验证已启用。")
    expect(page.get_by_test_id("recovery-codes").locator("li")).to_have_count(10)
    axe_clean(page)

    open_menu(page, page.locator("[data-testid=current-user]"))
    page.get_by_role("button", name="退出", exact=True).click()
    expect(page).to_have_url(kjflow_server.url + "/login")

    login(page, WHO, DEMO_PASSWORD)
    expect(page).to_have_url(kjflow_server.url + "/login/code")
    expect(page.get_by_role("heading", level=1)).to_have_text("两步验证")
    axe_clean(page)
    page.wait_for_load_state("load")
    page.locator("#code").fill("000000")
    page.get_by_role("button", name="验证", exact=True).click()
    expect(page.get_by_role("alert")).to_have_text("验证码不正确")
    page.wait_for_load_state("load")
    # The code after the one used to enrol (a code is good once).
    page.locator("#code").fill(pyotp.TOTP(secret).at(time.time() + 30))
    page.get_by_role("button", name="验证", exact=True).click()
    expect_home(page, kjflow_server, NAME, ["expert"])
    open_menu_item(page, "账户安全")
    expect(page.get_by_test_id("second-factor-state")).to_have_text("已启用")
    expect(page.get_by_test_id("recovery-left")).to_have_text("10")


def test_the_administrator_resets_it(page: Page, kjflow_server: Server) -> None:
    login(page, "admin", DEMO_PASSWORD)
    page.get_by_role("link", name="用户管理").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("用户管理")
    page.wait_for_load_state("load")
    page.get_by_label("搜索", exact=True).fill(WHO)
    page.get_by_role("button", name="筛选").click()
    page.get_by_role("link", name=WHO, exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"{NAME}（{WHO}）")
    expect(page.get_by_test_id("second-factor-state")).to_have_text("已启用")
    axe_clean(page)
    page.get_by_role("button", name="重置两步验证").click()
    page.locator("#confirm-go").click()  # the confirmation names the consequence
    expect(page.get_by_role("status").first).to_contain_text(f"已重置 {NAME} 的两步验证")
    expect(page.get_by_test_id("second-factor-state")).to_have_text("未启用")
    # The trail says who did it.
    expect(page.get_by_test_id("events-section")).to_contain_text("管理员重置两步验证（陈管理员")


def test_forgot_password_says_the_same_for_anyone(page: Page, kjflow_server: Server) -> None:
    page.goto("/login")
    page.get_by_role("link", name="忘记密码？").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("忘记密码")
    axe_clean(page)
    page.wait_for_load_state("load")
    page.locator("#identifier").fill("nobody-at-all")
    page.get_by_role("button", name="发送重置链接").click()
    expect(page.get_by_test_id("reset-sent")).to_contain_text("如果该账户存在并登记了电子邮箱")
    axe_clean(page)
