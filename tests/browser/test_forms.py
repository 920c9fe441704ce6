"""Forms that help, in a real browser (issue 15, items 4, 5 and 9), on the demo data.

researcher4 drafts an application and sees the autosave say 已保存 and the time, an error
beside the field it is about, then submits it from the 工作台 in at most four clicks and
sees the archival PDF's link appear without reloading. researcher3 submits one with the
keyboard alone. expert5 sees the weighted total follow the typing, both errors of a score
with two bad fields at once, then submits from the 工作台 in at most three clicks; expert2
answers the invitation and submits a score with the keyboard alone. The application page
(applicant, officer) and the score form fit 1366×768 and 390×844 and pass axe-core at both
(their screenshots are docs/take_screenshots.py's).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Locator, Page, expect

from tests.browser.conftest import Server
from tests.browser.test_applying import create_draft, flash, login, open_call, state_of
from workflow.demo import WAITING
from workflow.timeutil import SHANGHAI

pytestmark = pytest.mark.browser

UNDER_REVIEW = WAITING[-1][2]  # the demo application two experts review
AUTOSAVE_TITLE = "油茶籽壳生物炭制备与土壤改良应用研究"
KEYBOARD_TITLE = "稀土抛光粉废渣中铈的回收提纯技术"
SUMMARY = "以油茶籽壳为原料制备生物炭，研究其对红壤酸化改良的效果与机理，形成可推广的技术规程。"
COMMENT = "技术路线清晰，创新性较强，建议在中试阶段补充能耗与成本的对比数据。"
DESKTOP, PHONE = {"width": 1366, "height": 768}, {"width": 390, "height": 844}
# Counts the clicks a person makes on links and buttons (a mouse click: detail > 0), kept
# across the pages of the tab.
COUNT_CLICKS = """
document.addEventListener("click", function (event) {
  if (!event.isTrusted || event.detail === 0 || !event.target.closest("a, button")) { return; }
  sessionStorage.setItem("kjClicks", String(Number(sessionStorage.getItem("kjClicks") || 0) + 1));
}, true);
"""


def at_both_sizes(page: Page, name: str) -> None:
    """The page at 1366×768 and 390×844: no sideways scrolling and no serious axe-core
    violation at either width."""
    for size, suffix in ((DESKTOP, "1366"), (PHONE, "390")):
        page.set_viewport_size(size)
        page.wait_for_timeout(200)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= size["width"], (name, suffix, width)
        found = [f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']][:3]}"
                 for v in Axe().run(page).response["violations"]
                 if v["impact"] in ("serious", "critical")]
        assert not found, (name, suffix, found)
    page.set_viewport_size(DESKTOP)


def clicks(page: Page) -> int:
    return int(page.evaluate("Number(sessionStorage.getItem('kjClicks') || 0)"))


def reset_clicks(page: Page) -> None:
    page.evaluate("sessionStorage.setItem('kjClicks', '0')")


def to_workbench(page: Page) -> None:
    page.goto("/")
    expect(page.get_by_role("heading", level=1)).to_have_text("工作台")


def now_hhmm() -> set[str]:
    """The Beijing time now, as the autosave says it (and a minute either side)."""
    now = datetime.now(SHANGHAI)
    return {(now + timedelta(minutes=d)).strftime("%H:%M") for d in (-1, 0, 1)}


def tab_to(page: Page, name: str | re.Pattern[str], limit: int = 250) -> int:
    """Press Tab until the focused element's accessible text matches ``name``; the number
    of presses."""
    for presses in range(1, limit + 1):
        page.keyboard.press("Tab")
        text = page.evaluate("""() => { const el = document.activeElement;
            return el ? (el.getAttribute('aria-label') || el.innerText || el.value || '').trim()
                      : ''; }""")
        if (name.search(text) if isinstance(name, re.Pattern) else text == name):
            return presses
    raise AssertionError(f"no element named {name!r} within {limit} presses of Tab")


def tab_to_field(page: Page, field_id: str, limit: int = 250) -> None:
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement && document.activeElement.id") == field_id:
            return
    raise AssertionError(f"#{field_id} not reached with Tab")


def smallest_text(diagram: Locator) -> float:
    """The smallest text of the diagram as shown, in px."""
    return float(diagram.evaluate("""box => { const svg = box.querySelector('svg');
        const scale = svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;
        return Math.min(...[...svg.querySelectorAll('text')].map(
            t => parseFloat(t.getAttribute('font-size')) * scale)); }"""))


def documents(page: Page) -> Locator:
    return page.locator("[data-testid=documents]")


# ---- the researcher -----------------------------------------------------------------------

def test_autosave_says_saved_and_when_and_the_pdf_link_comes_by_itself(
        page: Page, browser: Browser, kjflow_server: Server) -> None:
    server = kjflow_server
    page.context.add_init_script(COUNT_CLICKS)
    login(page, "researcher4", "邓丽")
    open_call(page, "包干制试点")
    page.get_by_role("link", name="申报", exact=True).click()
    app_id = create_draft(page, AUTOSAVE_TITLE)
    expect(page.locator("#app-form[data-autosave-ready]")).to_have_count(1)
    status = page.locator("[data-testid=autosave-status]")

    # Typing is saved a moment later, without a button: 已保存 and the time.
    page.get_by_label("项目摘要").fill(SUMMARY)
    expect(status).to_have_text(re.compile(r"^已保存 \d\d:\d\d$"))
    assert status.inner_text().split()[1] in now_hhmm(), status.inner_text()
    # A bad amount is not saved, and said so beside the field.
    page.get_by_label("申请经费（万元）").fill("三十")
    expect(status).to_contain_text("未能自动保存")
    expect(page.locator("#f_amount-error")).to_have_text("申请经费：金额应为数字，单位万元")
    expect(page.locator("#f_amount")).to_have_class(re.compile(r"\bis-invalid\b"))
    page.get_by_label("申请经费（万元）").fill("20")
    expect(status).to_have_text(re.compile(r"^已保存 \d\d:\d\d$"))
    expect(page.locator("#f_amount-error")).to_be_hidden()
    page.reload()
    expect(page.get_by_label("项目摘要")).to_have_value(SUMMARY)
    expect(page.get_by_label("申请经费（万元）")).to_have_value("20")

    # From the 工作台, the filled application is submitted in at most four clicks.
    to_workbench(page)
    reset_clicks(page)
    page.locator("section[data-role=applicant]").get_by_role(
        "link", name=f"继续填写：{AUTOSAVE_TITLE}").click()
    expect(page).to_have_url(f"{server.url}/applications/{app_id}/edit")
    page.get_by_role("button", name=re.compile("^我已阅读并签署")).click()
    expect(flash(page)).to_have_text("已签署")
    page.get_by_role("button", name="提交申报书").click()
    expect(page).to_have_url(f"{server.url}/applications/{app_id}")
    expect(flash(page)).to_contain_text("申报书已提交，受理回执号：")
    used = clicks(page)
    print(f"researcher: 工作台 → submitted in {used} clicks")
    assert used <= 4, used

    # The archival PDF is being made: the page says so, then links it, with no reload.
    page.evaluate("window.kjNoReload = true")
    link = documents(page).get_by_role("link", name=re.compile(r"^申报书（第1次提交），PDF"))
    pending = page.locator("[data-testid=documents-pending]")
    if link.count() == 0:
        expect(pending).to_contain_text("生成中")
    expect(link).to_be_visible(timeout=60_000)
    expect(pending).to_have_count(0)
    assert page.evaluate("window.kjNoReload === true"), "the page was reloaded"

    # The step bar: 申报 done, 形式审查 now, each with its date.
    bar = page.locator("[data-testid=step-bar]")
    expect(bar.locator("li")).to_have_count(8)
    expect(bar.locator("[aria-current=step]")).to_contain_text("形式审查")
    today = datetime.now(SHANGHAI).strftime("%Y-%m-%d")
    expect(bar.locator("li").nth(0).locator("time")).to_have_text(today)
    expect(bar.locator("li").nth(1).locator("time")).to_have_text(today)
    # Nothing of what the officer may do, nor why the researcher may not.
    expect(page.locator("main")).not_to_contain_text("只能由")
    at_both_sizes(page, "application-applicant")

    # The officer's page of the same application: one formal review form, its checklist.
    context = browser.new_context(base_url=server.url, locale="zh-CN", viewport=DESKTOP)
    try:
        officer = context.new_page()
        login(officer, "officer", "张科长")
        officer.goto(f"/applications/{app_id}")
        expect(state_of(officer)).to_have_text("形式审查")
        review = officer.locator("[data-testid=formal-review]")
        expect(review.locator("[data-testid=checklist-item]")).to_have_count(4)
        expect(officer.get_by_role("button", name="形式审查通过")).to_have_count(1)
        at_both_sizes(officer, "application-officer")
        officer.get_by_role("tab", name="完整流程图").click()
        diagram = officer.locator("[data-testid=lifecycle-diagram]")
        expect(officer.locator("#pane-diagram")).to_have_class(re.compile(r"\bshow\b"))
        expect(diagram).to_be_visible()
        officer.wait_for_timeout(400)  # the tab's fade
        smallest = smallest_text(diagram)
        assert smallest >= 11, smallest
        officer.get_by_role("button", name="放大流程图").click()
        expect(officer.locator("[data-zoom-level]")).to_have_text("125%")
        officer.get_by_role("button", name="缩小流程图").click()
        officer.get_by_role("button", name="缩小流程图").click()
        expect(officer.locator("[data-zoom-level]")).to_have_text("83%")
        expect(officer.get_by_role("button", name="缩小流程图")).to_be_disabled()
        smallest = smallest_text(diagram)
        assert smallest >= 11, smallest  # zoomed out as far as it goes
        # Full screen: the diagram alone, as tall as the window, scrolling in its box.
        officer.get_by_role("link", name="全屏查看").click()
        # Measured once the page has loaded (its stylesheet too: a layout forced while
        # the stylesheet is still on its way is the unstyled one, a 3,117 px wide page).
        officer.wait_for_load_state("load")
        expect(officer.get_by_role("heading", level=1)).to_contain_text("申报书流程图")
        expect(officer.locator("[data-testid=lifecycle-diagram] .current")).to_be_visible()
        assert officer.evaluate("document.documentElement.scrollWidth") <= DESKTOP["width"]
    finally:
        context.close()
    assert server.worker_alive(), server.output()


def test_a_researcher_submits_with_the_keyboard_alone(page: Page, kjflow_server: Server
                                                      ) -> None:
    server = kjflow_server
    login(page, "researcher3", "郭伟")
    open_call(page, "包干制试点")
    page.get_by_role("link", name="申报", exact=True).click()
    app_id = create_draft(page, KEYBOARD_TITLE)
    expect(page.locator("#app-form[data-autosave-ready]")).to_have_count(1)
    page.get_by_label("申请经费（万元）").fill("25")
    page.get_by_role("button", name="保存草稿").click()
    expect(flash(page)).to_have_text("已保存")

    # From here on: Tab, Enter, Space and typing only.
    to_workbench(page)
    page.locator("body").focus()
    tab_to(page, f"继续填写：{KEYBOARD_TITLE}")
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{server.url}/applications/{app_id}/edit")
    tab_to_field(page, "f_summary")
    page.keyboard.type("回收稀土抛光粉废渣中的铈，研究酸浸与萃取提纯工艺。")
    tab_to(page, re.compile("^我已阅读并签署"))
    page.keyboard.press("Space")
    expect(flash(page)).to_have_text("已签署")
    expect(page.get_by_label("项目摘要")).to_have_value(re.compile("^回收稀土抛光粉废渣"))
    tab_to(page, "提交申报书")
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{server.url}/applications/{app_id}")
    expect(flash(page)).to_contain_text("申报书已提交，受理回执号：")
    expect(state_of(page)).to_have_text("形式审查")


# ---- the experts --------------------------------------------------------------------------

def open_score_page(page: Page, server: Server, phrase: str) -> None:
    page.locator("section[data-role=expert]").get_by_role(
        "link", name=f"{phrase}：{UNDER_REVIEW}").click()
    expect(page).to_have_url(re.compile(rf"{server.url}/reviews/\d+/score$"))
    # Typing and submitting before the page's scripts ran would skip the running total
    # and the confirmation dialog (seen under load): wait for them.
    page.wait_for_load_state("load")


def test_the_weighted_total_follows_the_typing_and_every_error_comes_at_once(
        page: Page, kjflow_server: Server) -> None:
    server = kjflow_server
    page.context.add_init_script(COUNT_CLICKS)
    login(page, "expert5", "林研究员")
    open_score_page(page, server, "待评分")
    total = page.locator("[data-testid=live-total] [data-total]")
    expect(total).to_have_text("—")
    # Weights 30/30/20/20, out of 100 each.
    page.locator("#s_innovation").fill("80")
    expect(total).to_have_text("24.00")
    expect(page.locator("[data-testid=live-total]")).to_contain_text("尚有3项未评分")
    page.locator("#s_feasibility").press_sequentially("90")
    expect(total).to_have_text("51.00")
    page.locator("#s_team").fill("75")
    page.locator("#s_benefit").fill("85")
    expect(total).to_have_text("83.00")
    expect(page.locator("[data-testid=live-total]")).not_to_contain_text("未评分")
    page.get_by_label("综合评价意见（不少于20字）").fill("同意")
    expect(page.locator("#comment-count")).to_contain_text("已输入 2/5000 字")
    at_both_sizes(page, "score-form")

    # Two bad criteria (and a short comment): every error at once, beside each.
    page.locator("#s_innovation").fill("120")
    page.locator("#s_feasibility").fill("")
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        page.get_by_role("button", name="保存草稿").click()
    assert posted.value.status == 422, posted.value.status
    expect(page.locator("#s_innovation-error")).to_have_text("“创新性”应在0至100分之间")
    expect(page.locator("#s_innovation")).to_have_attribute("aria-invalid", "true")
    page.locator("#s_feasibility").fill("abc")
    page.get_by_role("button", name="提交评分").click()
    page.locator("#confirm-go").click()
    expect(page.locator("#s_innovation-error")).to_have_text("“创新性”应在0至100分之间")
    expect(page.locator("#s_feasibility-error")).to_have_text("“可行性”应为数字")
    expect(page.locator("#comment-error")).to_have_text("综合评价意见不少于20字（当前2字）")
    summary = page.locator("[data-testid=error-summary]")
    expect(summary.locator("li")).to_have_count(3)
    expect(summary).to_be_focused()
    expect(page.locator("#s_team")).to_have_value("75")  # nothing typed is lost

    # From the 工作台, a score is submitted in at most three clicks.
    to_workbench(page)
    reset_clicks(page)
    open_score_page(page, server, "待评分")
    for field, value in (("innovation", "80"), ("feasibility", "90"), ("team", "75"),
                         ("benefit", "85")):
        page.locator(f"#s_{field}").fill(value)
    page.get_by_label("综合评价意见（不少于20字）").fill(COMMENT)
    page.get_by_role("button", name="提交评分").click()
    page.get_by_role("button", name="确定提交评分").click()
    expect(flash(page)).to_have_text("评分已提交，不能再修改")
    expect(page.locator("[data-testid=total]")).to_have_text("总分：83.00")
    used = clicks(page)
    print(f"expert: 工作台 → score submitted in {used} clicks")
    assert used <= 3, used


def test_an_expert_answers_and_scores_with_the_keyboard_alone(page: Page,
                                                              kjflow_server: Server) -> None:
    server = kjflow_server
    login(page, "expert2", "陈研究员")
    page.locator("body").focus()
    tab_to(page, f"请答复评审邀请：{UNDER_REVIEW}")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(rf"{server.url}/reviews/\d+/score$"))
    tab_to(page, "接受")
    page.keyboard.press("Enter")
    expect(flash(page)).to_have_text(f"已接受评审邀请：“{UNDER_REVIEW}”")
    expect(page.locator("[data-testid=step-bar] [aria-current=step]")).to_contain_text("评分")
    page.locator("body").focus()
    for field, value in (("innovation", "70"), ("feasibility", "80"), ("team", "90"),
                         ("benefit", "60")):
        tab_to_field(page, f"s_{field}")
        page.keyboard.type(value)
    expect(page.locator("[data-testid=live-total] [data-total]")).to_have_text("75.00")
    tab_to_field(page, "comment")
    page.keyboard.type(COMMENT)
    tab_to(page, "提交评分")
    page.keyboard.press("Enter")
    expect(page.locator("#confirm-dialog")).to_be_visible()
    tab_to(page, "确定提交评分", limit=10)
    page.keyboard.press("Enter")
    expect(flash(page)).to_have_text("评分已提交，不能再修改")
    expect(page.locator("[data-testid=total]")).to_have_text("总分：75.00")
