"""Applying online in a real browser, from the call to formal review.

researcher1 fills and submits a 包干制 application with a PDF attachment (after seeing a
validation error on the page), researcher2 takes a 揭榜挂帅 challenge; the officer returns
the 包干制 one, researcher1 revises and resubmits it, and the officer passes both to expert
review with the list's bulk formal review. researcher1's pages never name an expert.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Locator, Page, Route, expect

from tests.browser.conftest import Server
from workflow.demo import DEMO_PASSWORD, EXPERTS

pytestmark = pytest.mark.browser

BAOGAN_TITLE = "稀土永磁废料短流程再生利用技术研究"
JIEBANG_TITLE = "晶界扩散低重稀土高矫顽力磁体攻关"
CHALLENGE = "高性能低重稀土永磁材料制备技术"
SUMMARY = "研究稀土永磁废料的短流程再生工艺，降低能耗与排放，形成可推广的技术方案。"
REVISED_SUMMARY = SUMMARY + "（按形式审查意见补充：明确了中试规模与考核指标。）"
RETURN_OPINION = "请在摘要中写明中试规模和考核指标"
ID_NUMBER = "362101198001010019"
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
EXPERT_NAMES = [name for _username, name, _org, _disciplines, _keywords in EXPERTS]
EDIT_URL = re.compile(r"/applications/(\d+)/edit$")


# ---- helpers ----------------------------------------------------------------------------

def login(page: Page, username: str, name: str) -> None:
    page.goto("/login")
    page.locator("#username").fill(username)
    page.locator("#password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="登录", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("工作台")
    expect(page.locator("[data-testid=current-user]")).to_contain_text(name)


@contextmanager
def session_of(browser: Browser, server: Server, username: str, name: str) -> Iterator[Page]:
    """A second person at another computer: own browser context, logged in."""
    context = browser.new_context(base_url=server.url, locale="zh-CN")
    context.set_default_timeout(15_000)
    try:
        page = context.new_page()
        login(page, username, name)
        yield page
    finally:
        context.close()


def flash(page: Page) -> Locator:
    return page.locator("main > .flash")


def state_of(page: Page) -> Locator:
    return page.locator("h1 + .state")


def submit_and_expect_receipt(page: Page, server: Server, app_id: int) -> str:
    page.get_by_role("button", name="提交申报书").click()
    expect(page).to_have_url(f"{server.url}/applications/{app_id}")
    expect(flash(page)).to_contain_text("申报书已提交，受理回执号：")
    expect(page.locator("[data-testid=application-details]")).to_contain_text("受理回执号")
    receipt = page.locator("[data-testid=receipt]")
    expect(receipt).to_have_text(re.compile(r"^SB\d{4}\w+\d{6}$"))
    expect(state_of(page)).to_have_text("形式审查")
    return receipt.inner_text()


def open_call(page: Page, title_part: str) -> None:
    page.get_by_role("navigation", name="主导航").get_by_role("link", name="申报指南").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("申报指南")
    row = page.locator("[data-testid=calls] tbody tr", has_text=title_part)
    expect(row).to_have_count(1)
    expect(row).to_contain_text("已发布")
    row.get_by_role("link", name=re.compile(title_part)).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(title_part)


def create_draft(page: Page, title: str) -> int:
    expect(page.get_by_role("heading", level=1)).to_contain_text("新建申报书")
    page.get_by_label("项目名称").fill(title)
    page.get_by_role("button", name="创建并填写").click()
    expect(page).to_have_url(EDIT_URL)
    expect(page.get_by_role("heading", level=1)).to_have_text(title)
    found = EDIT_URL.search(page.url)
    assert found, page.url
    return int(found.group(1))


def expect_no_expert_names(page: Page) -> None:
    body = page.locator("body")
    for name in EXPERT_NAMES:
        expect(body).not_to_contain_text(name)


# ---- the scenario -----------------------------------------------------------------------

def fill_baogan(page: Page, server: Server, tmp_path: Path) -> tuple[int, str]:
    """researcher1: create, see a validation error, fill, attach, sign, submit."""
    open_call(page, "包干制试点")
    page.get_by_role("link", name="申报", exact=True).click()
    app_id = create_draft(page, BAOGAN_TITLE)
    expect(page.locator("p.muted").first).to_contain_text("状态：草稿")

    # A wrong amount is explained beside the field, and nothing typed is lost.
    summary, amount = page.get_by_label("项目摘要"), page.get_by_label("申请经费（万元）")
    summary.fill(SUMMARY)
    amount.fill("abc")
    with page.expect_response(lambda r: r.request.method == "POST"
                              and r.url.endswith("/edit")) as posted:
        page.get_by_role("button", name="保存草稿").click()
    assert posted.value.status == 422, posted.value.status
    field_error = page.locator("[data-field=amount] .invalid-feedback")
    expect(field_error).to_contain_text("金额应为数字")
    expect(field_error).to_be_visible()
    expect(page.get_by_label("申请经费（万元）")).to_have_attribute("aria-invalid", "true")
    expect(flash(page)).to_contain_text("申报书信息有误")
    expect(page.get_by_label("申请经费（万元）")).to_have_value("abc")
    expect(page.get_by_label("项目摘要")).to_have_value(SUMMARY)
    expect(page.get_by_label("项目名称")).to_have_value(BAOGAN_TITLE)

    # Corrected and with a team member: saved.
    page.get_by_label("申请经费（万元）").fill("30")
    page.locator("[name='f_team-0-name']").fill("李明")
    page.locator("[name='f_team-0-id_number']").fill(ID_NUMBER)
    page.locator("[name='f_team-0-org']").fill("赣南科技大学")
    page.locator("[name='f_team-0-role']").fill("项目负责人")
    page.get_by_role("button", name="保存草稿").click()
    expect(page).to_have_url(f"{server.url}/applications/{app_id}/edit")
    expect(flash(page)).to_have_text("已保存")
    expect(page.locator("[data-field=amount] .invalid-feedback")).to_be_hidden()
    expect(page.get_by_label("申请经费（万元）")).to_have_value("30")
    expect(page.get_by_label("项目摘要")).to_have_value(SUMMARY)
    expect(page.locator("[name='f_team-0-id_number']")).to_have_value(ID_NUMBER)
    expect(page.locator("[name='f_team-0-org']")).to_have_value("赣南科技大学")

    shot = tmp_path / "baogan-edit-filled.png"
    page.screenshot(path=str(shot), full_page=True)
    data = shot.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 1000, len(data)
    print(f"filled edit page screenshot: {shot}")

    # The proposal as a real (tiny) PDF.
    pdf = tmp_path / "申报书正文.pdf"
    pdf.write_bytes(PDF)
    attachments = page.locator("[data-testid=attachments]")
    expect(attachments).to_contain_text("尚未上传附件")
    page.get_by_label("附件栏目").select_option("proposal")
    page.locator("#att-file").set_input_files(str(pdf))
    page.get_by_role("button", name="上传", exact=True).click()
    expect(flash(page)).to_have_text("已上传：申报书正文.pdf")
    expect(attachments.get_by_role("link", name="申报书正文.pdf")).to_be_visible()
    # The field it belongs to by its label, its size in words a person reads.
    expect(attachments).to_contain_text("申报书正文")
    expect(attachments).not_to_contain_text("proposal")
    expect(attachments).to_contain_text("字节")

    # Sign the commitment letter, then submit.
    signature = page.locator("[data-testid=signature]")
    expect(signature).to_contain_text("科研诚信与经费使用承诺书")
    expect(signature).to_contain_text("经费使用负面清单")
    signature.get_by_role("button", name=re.compile("^我已阅读并签署")).click()
    expect(flash(page)).to_have_text("已签署")
    expect(page.locator("[data-testid=signature] .signed")).to_contain_text("已由 李明 于")
    expect(page.get_by_role("button", name=re.compile("^我已阅读并签署"))).to_have_count(0)

    receipt = submit_and_expect_receipt(page, server, app_id)
    expect(page.locator("[data-testid=application-details]")).to_contain_text("负责人：李明")
    return app_id, receipt


def fill_jiebang(page: Page, server: Server) -> int:
    """researcher2: take challenge 1 with indicator answers and milestones, sign, submit."""
    open_call(page, "揭榜挂帅项目榜单")
    row = page.locator("[data-testid=call-details] tr", has_text=CHALLENGE)
    expect(row).to_contain_text("300")
    expect(row).to_contain_text("24个月")
    row.get_by_role("link", name="揭榜", exact=True).click()
    expect(page.get_by_label("揭榜榜单").locator("option:checked")).to_contain_text(CHALLENGE)
    app_id = create_draft(page, JIEBANG_TITLE)

    expect(page.get_by_role("heading", level=2, name=re.compile("^揭榜："))).to_contain_text(
        re.compile(r"榜额 300(\.00)? 万元，24 个月"))
    page.get_by_label("项目摘要").fill("采用晶界扩散与细晶工艺，在保持磁性能的前提下大幅降低重稀土用量。")
    page.get_by_label("最大磁能积").fill("实测 51 MGOe，达到指标要求")
    page.get_by_label("重稀土用量降低").fill("镝铽用量降低 55%")
    expect(page.locator("#ind-1")).to_have_value("镝铽用量降低 55%")
    for i, (label, amount, months) in enumerate([("中试样品", "120", "12"),
                                                 ("小批量生产", "180", "24")]):
        page.locator(f"[name='ms-{i}-label']").fill(label)
        page.locator(f"[name='ms-{i}-amount']").fill(amount)
        page.locator(f"[name='ms-{i}-months']").fill(months)
    page.get_by_role("button", name="保存草稿").click()
    expect(flash(page)).to_have_text("已保存")
    expect(page.locator("[name='ms-1-label']")).to_have_value("小批量生产")
    expect(page.locator("[name='ms-1-months']")).to_have_value("24")
    expect(page.locator("#ind-0")).to_have_value("实测 51 MGOe，达到指标要求")

    signature = page.locator("[data-testid=signature]")
    expect(signature).to_contain_text("揭榜挂帅军令状")
    signature.get_by_role("button", name=re.compile("^我已阅读并签署")).click()
    expect(flash(page)).to_have_text("已签署")
    expect(page.locator("[data-testid=signature] .signed")).to_contain_text("已由 王芳 于")

    submit_and_expect_receipt(page, server, app_id)
    expect(page.locator("[data-testid=application-details]")).to_contain_text(
        f"揭榜：{CHALLENGE}")
    return app_id


def officer_returns(page: Page, server: Server, baogan_id: int) -> None:
    page.get_by_role("navigation", name="主导航").get_by_role("link", name="申报书").click()
    page.get_by_label("状态").select_option(label="形式审查")
    page.get_by_role("button", name="筛选").click()
    expect(page).to_have_url(re.compile(r"/applications\?.*state=formal_review"))
    table = page.locator("[data-testid=applications]")
    for title in (BAOGAN_TITLE, JIEBANG_TITLE):
        expect(table.locator("tbody tr", has_text=title)).to_contain_text("形式审查")
    table.get_by_role("link", name=BAOGAN_TITLE).click()
    expect(page).to_have_url(f"{server.url}/applications/{baogan_id}")
    expect(page.get_by_text("限项、一题多报、科研诚信：均未发现问题")).to_be_visible()

    review = page.locator("[data-testid=formal-review]")
    review.get_by_label("审查意见").fill(RETURN_OPINION)
    review.get_by_role("button", name="退回修改").click()
    expect(flash(page)).to_have_text("形式审查意见已保存")
    expect(state_of(page)).to_have_text("退回修改")
    expect(page.locator("[data-testid=formal-review]")).to_have_count(0)
    history = page.locator("[data-testid=history]")
    expect(history.locator("tr", has_text=RETURN_OPINION)).to_contain_text("张科长")


def researcher_resubmits(page: Page, server: Server, baogan_id: int, receipt: str) -> None:
    page.get_by_role("navigation", name="主导航").get_by_role("link", name="工作台").click()
    mine = page.locator("section[data-role=applicant]")
    # The 工作台 leads to the form, with the opinion above it; the trail is one link away.
    mine.get_by_role("link", name=f"按意见修改后重新提交：{BAOGAN_TITLE}").click()
    expect(page).to_have_url(f"{server.url}/applications/{baogan_id}/edit")
    expect(page.locator("[data-testid=return-opinion]")).to_contain_text(RETURN_OPINION)
    page.get_by_role("link", name="办理记录").click()
    expect(page).to_have_url(f"{server.url}/applications/{baogan_id}")
    expect(state_of(page)).to_have_text("退回修改")
    rounds = page.locator("[data-testid=application-details] table tbody tr")
    expect(rounds).to_have_count(1)
    expect(rounds.first).to_contain_text("退回修改")
    expect(rounds.first).to_contain_text(RETURN_OPINION)
    expect_no_expert_names(page)

    page.get_by_role("link", name="修改并重新提交").click()
    expect(page).to_have_url(f"{server.url}/applications/{baogan_id}/edit")
    expect(page.get_by_label("项目摘要")).to_have_value(SUMMARY)
    # The attachment and the signature stay from the first round.
    expect(page.locator("[data-testid=attachments]")).to_contain_text("申报书正文.pdf")
    expect(page.locator("[data-testid=signature] .signed")).to_contain_text("李明")
    expect_no_expert_names(page)
    page.get_by_label("项目摘要").fill(REVISED_SUMMARY)
    assert submit_and_expect_receipt(page, server, baogan_id) == receipt

    expect(page.get_by_role("heading", name="提交记录")).to_be_visible()
    rounds = page.locator("[data-testid=application-details] table tbody tr")
    expect(rounds).to_have_count(2)
    expect(rounds.nth(0)).to_contain_text("第1次")
    expect(rounds.nth(0)).to_contain_text("退回修改")
    expect(rounds.nth(1)).to_contain_text("第2次")
    expect(rounds.nth(1)).not_to_contain_text("退回修改")
    page.get_by_role("link", name="查看申报内容").click()
    expect(page.get_by_label("项目摘要")).to_have_value(REVISED_SUMMARY)
    expect(page.get_by_label("项目摘要")).to_be_disabled()
    expect(page.get_by_text("申报书已提交，不能再修改。")).to_be_visible()


def officer_passes_both(page: Page, server: Server, ids: list[int]) -> None:
    page.goto("/applications?state=formal_review")
    table = page.locator("[data-testid=applications]")
    for title in (BAOGAN_TITLE, JIEBANG_TITLE):
        table.get_by_role("checkbox", name=f"选择 {title}").check()
    page.get_by_label("审查结论").select_option(label="形式审查通过")
    page.get_by_role("button", name="对所选申报书执行").click()
    # The worker does it; the page shows its progress, then the result, without a reload.
    job = page.locator("[data-testid=job]")
    expect(job).to_have_attribute("data-job-state", "done", timeout=60_000)
    expect(job.locator("[data-testid=job-summary]")).to_have_text("形式审查通过：已处理 2 件")
    expect(job.locator("[data-testid=job-count]")).to_have_text("已处理 2 / 2")
    expect(job.locator("[data-testid=job-errors]")).to_have_count(0)
    # The list again: neither waits for formal review any more.
    page.goto("/applications?state=formal_review")
    for title in (BAOGAN_TITLE, JIEBANG_TITLE):
        expect(table.get_by_text(title)).to_have_count(0)

    page.get_by_label("状态").select_option(label="专家评审")
    page.get_by_role("button", name="筛选").click()
    for title in (BAOGAN_TITLE, JIEBANG_TITLE):
        expect(table.locator("tbody tr", has_text=title)).to_contain_text("专家评审")
    for app_id in ids:
        page.goto(f"/applications/{app_id}")
        expect(state_of(page)).to_have_text("专家评审")
        expect(state_of(page)).to_have_attribute("data-state", "expert_review")


def researcher_sees_no_expert(page: Page, server: Server, baogan_id: int,
                              jiebang_id: int) -> None:
    page.goto(f"/applications/{baogan_id}")
    expect(state_of(page)).to_have_text("专家评审")
    expect_no_expert_names(page)
    page.goto(f"/applications/{baogan_id}/edit")
    expect(page.get_by_role("heading", level=1)).to_have_text(BAOGAN_TITLE)
    expect_no_expert_names(page)
    page.get_by_role("navigation", name="主导航").get_by_role("link", name="申报书").click()
    table = page.locator("[data-testid=applications]")
    expect(table.locator("tbody tr", has_text=BAOGAN_TITLE)).to_contain_text("专家评审")
    # Another organisation's application is not listed, nor can it be opened.
    expect(table.get_by_text(JIEBANG_TITLE)).to_have_count(0)
    expect_no_expert_names(page)
    response = page.goto(f"/applications/{jiebang_id}")
    assert response is not None and response.status == 404, response
    page.goto("/")
    expect_no_expert_names(page)


def test_apply_return_resubmit_and_pass_formal_review(
        page: Page, browser: Browser, kjflow_server: Server, tmp_path: Path) -> None:
    server = kjflow_server
    login(page, "researcher1", "李明")
    baogan_id, receipt = fill_baogan(page, server, tmp_path)

    with session_of(browser, server, "researcher2", "王芳") as researcher2:
        jiebang_id = fill_jiebang(researcher2, server)

    with session_of(browser, server, "officer", "张科长") as officer:
        officer_returns(officer, server, baogan_id)
        researcher_resubmits(page, server, baogan_id, receipt)
        officer_passes_both(officer, server, [baogan_id, jiebang_id])

    researcher_sees_no_expert(page, server, baogan_id, jiebang_id)
    assert server.worker_alive(), server.output()


def test_saving_while_autosave_races_the_form(page: Page, kjflow_server: Server) -> None:
    """Type, then click 保存草稿 at once: the page's own beforeunload autosave must not make
    that click fail. The form's POST is held back a moment on the wire (a slow network) so
    that the autosave, sent first, reaches the server first - every time."""
    login(page, "researcher1", "李明")
    open_call(page, "包干制试点")
    page.get_by_role("link", name="申报", exact=True).click()
    app_id = create_draft(page, "稀土冶炼分离废水资源化利用研究")

    def slow_post(route: Route) -> None:
        if route.request.method == "POST":
            time.sleep(1.0)
        route.continue_()

    page.route(EDIT_URL, slow_post)
    page.get_by_label("项目摘要").fill("稀土冶炼分离废水中氨氮与稀土的协同回收。")
    page.get_by_label("申请经费（万元）").fill("20")
    with page.expect_response(lambda r: r.request.method == "POST"
                              and r.url.endswith("/edit")) as posted:
        page.get_by_role("button", name="保存草稿").click()
    assert posted.value.status == 302, posted.value.status
    expect(page).to_have_url(f"{kjflow_server.url}/applications/{app_id}/edit")
    expect(flash(page)).to_have_text("已保存")
