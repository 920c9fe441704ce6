"""经费拨付 in a real browser, on the demo project whose task book is signed.

周会计 (finance1) finds the first tranche due with its payee, bank account and amount in
figures and in words, and prepares it; he is refused the approval of his own voucher.
吴出纳 (finance2) approves it, is refused the release without a payment reference, and
releases it with one. 李明 (researcher1) sees the payment on his project's page, and the
call's budget ledger shows the disbursement and still reconciles.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from tests.browser.conftest import Server
from tests.browser.test_applying import flash, login, session_of
from tests.browser.test_reviewing import error_flash
from workflow.demo import FUNDED_TITLE

pytestmark = pytest.mark.browser

PROJECT = "稀土永磁电机高效驱动控制技术研究"
PAYEE = "赣南科技大学"
# The demo's account of the university (the first organisation of the seed).
BANK = "中国银行赣州分行 621700010104003456"
FIRST_TRANCHE, SECOND_TRANCHE = "合同签订后拨付", "验收通过后拨付"
PAYMENT_REF = "ZF2026-0001"


# ---- helpers ----------------------------------------------------------------------------

def open_tab(page: Page, label: str) -> None:
    """经费拨付, then one of its tabs (by the state it lists, its count beside it)."""
    page.get_by_role("navigation", name="主导航").get_by_role("link", name="经费拨付").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("经费拨付")
    tabs = page.locator("[data-testid=tranches-tabs]")
    tabs.get_by_role("link", name=re.compile(rf"^{label} \d+$")).click()
    expect(tabs.locator("a[aria-current=page]")).to_have_count(1)
    expect(tabs.locator("a[aria-current=page] .tab-label")).to_have_text(label)
    expect(tabs.locator("a[aria-current=page]")).to_have_class(re.compile(r"\bactive\b"))


def tab_count(page: Page, label: str) -> int:
    tab = page.locator("[data-testid=tranches-tabs] a", has_text=label)
    return int(tab.locator("[data-testid=tab-count]").inner_text())


def tranche_row(page: Page, tranche_id: str) -> Locator:
    return page.locator(f"[data-testid=tranches] tbody tr[data-tranche='{tranche_id}']")


def status_of(row: Locator) -> Locator:
    # 项目, 拨付批次, 收款单位及账户, 金额（万元）, 大写, 条件, 状态, 办理
    return row.locator("td").nth(6)


# ---- the scenario -----------------------------------------------------------------------

def todo(page: Page, phrase: str) -> Locator:
    """The 工作台's line for the demo project's first tranche: it opens the tab where it
    is done (no tab hunting)."""
    page.goto("/")
    return page.get_by_role("link", name=f"{phrase}：{FIRST_TRANCHE}（{PROJECT}）")


def tab_to(page: Page, target: Locator, limit: int = 80) -> None:
    """Press Tab until ``target`` has the keyboard's focus, as a person without a mouse."""
    for _ in range(limit):
        if target.evaluate("el => el === document.activeElement"):
            return
        page.keyboard.press("Tab")
    pytest.fail(f"{target} is not reachable with Tab")


def maker_prepares(page: Page) -> str:
    """finance1: the due tranche, as the voucher needs it; 制单. Its data-tranche id.
    From the 工作台: two clicks (the to-do, 制单)."""
    todo(page, "待制单").click()
    expect(page.locator("[data-testid=tranches-tabs] a[aria-current=page] .tab-label")
           ).to_have_text("应付")
    rows = page.locator("[data-testid=tranches] tbody tr", has_text=PROJECT)
    # Only the first tranche is due; the second waits for the acceptance.
    expect(rows).to_have_count(1)
    row = rows.first
    cells = row.locator("td")
    expect(cells.nth(0)).to_contain_text(PROJECT)
    expect(cells.nth(0)).to_contain_text(FUNDED_TITLE)
    expect(cells.nth(1)).to_have_text(FIRST_TRANCHE)
    expect(cells.nth(2)).to_contain_text(PAYEE)
    expect(cells.nth(2)).to_contain_text(BANK)
    expect(cells.nth(2)).not_to_contain_text("未登记收款账户")
    expect(cells.nth(3)).to_have_text("56.00")
    expect(cells.nth(4)).to_have_text("伍拾陆万元整")
    expect(cells.nth(5)).to_have_text("任务书签订后")
    expect(status_of(row)).to_have_text("应付")
    tranche_id = row.get_attribute("data-tranche")
    assert tranche_id and tranche_id.isdigit(), tranche_id

    due, prepared = tab_count(page, "应付"), tab_count(page, "已制单")
    # Money right-aligned, in its own column.
    assert cells.nth(3).evaluate("td => getComputedStyle(td).textAlign") == "right"
    row.get_by_role("button", name="制单", exact=True).click()
    # The row leaves the tab; the message names it, and the counts follow.
    expect(flash(page)).to_have_text(re.compile(
        rf"^已制单：GZKJ-\d{{4}}-BG-\d{{4}} {FIRST_TRANCHE} 56\.00万元$"))
    expect(tranche_row(page, tranche_id)).to_have_count(0)
    expect(page.locator("[data-testid=tranches-tabs] a", has_text="应付")
           .locator("[data-testid=tab-count]")).to_have_text(str(due - 1))
    assert tab_count(page, "已制单") == prepared + 1

    # The maker cannot be the checker: no 审核 for them, and the row says why.
    open_tab(page, "已制单")
    row = tranche_row(page, tranche_id)
    expect(status_of(row)).to_have_text("已制单")
    expect(row.get_by_role("button", name="审核", exact=True)).to_have_count(0)
    expect(row).to_contain_text("审核：制单人不能审核自己制的单，请由另一位财务人员审核")
    return tranche_id


def checker_approves_and_releases(page: Page, tranche_id: str) -> None:
    # From the 工作台: two clicks (the to-do, 审核).
    todo(page, "待审核").click()
    row = tranche_row(page, tranche_id)
    expect(row).to_contain_text(PROJECT)
    row.get_by_role("button", name="审核", exact=True).click()
    expect(flash(page)).to_have_text(re.compile(rf"^已审核：GZKJ-\S+ {FIRST_TRANCHE} 56\.00万元$"))
    expect(tranche_row(page, tranche_id)).to_have_count(0)

    open_tab(page, "已审核")
    row = tranche_row(page, tranche_id)
    expect(status_of(row)).to_have_text("已审核")
    # Money leaves only once asked: the dialog names the project, the batch and the sum.
    row.get_by_role("button", name="拨付", exact=True).click()
    dialog = page.get_by_role("dialog", name="请确认")
    expect(dialog).to_contain_text("GZKJ-")
    expect(dialog).to_contain_text("万元")
    expect(dialog).to_contain_text("此操作不可撤销")
    dialog.get_by_role("button", name="取消").click()
    expect(dialog).to_be_hidden()
    expect(status_of(tranche_row(page, tranche_id))).to_have_text("已审核")
    # No money leaves without the bank's payment reference.
    row.get_by_role("button", name="拨付", exact=True).click()
    dialog.get_by_role("button", name="确定拨付").click()
    expect(error_flash(page)).to_have_text("请填写支付凭证号")
    expect(flash(page)).to_have_count(1)
    row = tranche_row(page, tranche_id)
    expect(status_of(row)).to_have_text("已审核")

    # The release by keyboard alone, from the 工作台: three presses of Enter (the to-do,
    # 拨付, 确定拨付) and the reference typed; no mouse.
    link = todo(page, "待拨付")
    tab_to(page, link)
    page.keyboard.press("Enter")
    row = tranche_row(page, tranche_id)
    reference = row.get_by_placeholder("支付凭证号")
    tab_to(page, reference)
    page.keyboard.type(PAYMENT_REF)
    release = row.get_by_role("button", name="拨付", exact=True)
    tab_to(page, release)
    page.keyboard.press("Enter")
    confirm = page.get_by_role("dialog", name="请确认").get_by_role("button", name="确定拨付")
    expect(confirm).to_be_visible()
    tab_to(page, confirm)
    page.keyboard.press("Enter")
    expect(flash(page)).to_have_text(re.compile(rf"^已拨付：GZKJ-\S+ {FIRST_TRANCHE} 56\.00万元$"))
    expect(tranche_row(page, tranche_id)).to_have_count(0)

    open_tab(page, "已拨付")
    row = tranche_row(page, tranche_id)
    expect(row.locator("td").nth(1)).to_have_text(FIRST_TRANCHE)
    expect(row.locator("td").nth(3)).to_have_text("56.00")
    expect(status_of(row)).to_contain_text("已拨付")
    expect(status_of(row)).to_contain_text(f"凭证 {PAYMENT_REF}")
    # Paid: nothing left to do on it.
    expect(row.get_by_role("button")).to_have_count(0)


def researcher_sees_the_payment(page: Page) -> None:
    page.get_by_role("navigation", name="主导航").get_by_role("link", name="申报书").click()
    page.get_by_role("link", name=PROJECT, exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(PROJECT)
    payments = page.locator("[data-testid=payments] tbody tr")
    expect(payments).to_have_count(2)
    # 批次, 金额（万元）, 大写, 拨付条件, 状态, 拨付时间, 凭证号
    first, second = payments.nth(0).locator("td"), payments.nth(1).locator("td")
    expect(first.nth(0)).to_have_text(FIRST_TRANCHE)
    expect(first.nth(1)).to_have_text("56.00")
    expect(first.nth(2)).to_have_text("伍拾陆万元整")
    expect(first.nth(4)).to_have_text("已拨付")
    expect(first.nth(5)).to_have_text(re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}"))
    expect(first.nth(6)).to_have_text(PAYMENT_REF)
    expect(second.nth(0)).to_have_text(SECOND_TRANCHE)
    expect(second.nth(1)).to_have_text("24.00")
    expect(second.nth(4)).to_have_text("计划")
    expect(second.nth(6)).to_have_text("")
    expect(page.locator("[data-testid=disbursed]")).to_have_text("56.00")
    expect(page.locator("[data-testid=application-details]")).to_contain_text(
        "已拨付合计 56.00 万元（资助 80.00 万元）")


def ledger_shows_the_disbursement(page: Page, server: Server) -> None:
    """finance2, from 经费拨付 through 预算对账 to the call's ledger."""
    open_tab(page, "已拨付")
    page.get_by_role("link", name="预算对账").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("预算对账")
    expect(page.locator("[data-testid=reconcile-result]")).to_have_text("对账结果：全部一致")
    page.locator("[data-testid=reconcile]").get_by_role(
        "link", name=re.compile(re.escape(FUNDED_TITLE))).click()
    expect(page).to_have_url(re.compile(rf"^{re.escape(server.url)}/calls/\d+/ledger$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text(FUNDED_TITLE)
    balances = page.locator("[data-testid=balances]")
    expect(balances).to_contain_text("已承诺 24.00 万元")
    expect(balances).to_contain_text("已拨付 56.00 万元")
    expect(page.locator("[data-testid=reconciled]")).to_have_text("一致")
    paid = page.locator("[data-testid=ledger] tbody tr", has_text=PAYMENT_REF)
    expect(paid).to_have_count(1)
    # 序号, 时间, 类型, 金额（万元）, 项目, 凭证/文号, 说明, 可用余额, 已承诺, 已拨付
    cells = paid.locator("td")
    expect(cells.nth(2)).to_have_text("拨付")
    expect(cells.nth(3)).to_have_text("56.00")
    expect(cells.nth(5)).to_have_text(PAYMENT_REF)
    expect(cells.nth(6)).to_contain_text(FIRST_TRANCHE)
    expect(cells.nth(8)).to_have_text("24.00")
    expect(cells.nth(9)).to_have_text("56.00")


def test_finance_prepares_a_second_approves_and_releases_and_the_researcher_sees_it(
        page: Page, browser: Browser, kjflow_server: Server) -> None:
    server = kjflow_server
    login(page, "finance1", "周会计")
    tranche_id = maker_prepares(page)

    with session_of(browser, server, "finance2", "吴出纳") as checker:
        checker_approves_and_releases(checker, tranche_id)
        with session_of(browser, server, "researcher1", "李明") as researcher:
            researcher_sees_the_payment(researcher)
        ledger_shows_the_disbursement(checker, server)
    assert server.worker_alive(), server.output()
