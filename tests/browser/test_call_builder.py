"""The call builder in a real browser: from the 工作台 the officer copies last year's guide,
adds a form field and a rubric criterion with the builder's controls (no JSON typed), sees
what publishing still needs named, fixes it and publishes — in at most six clicks besides
typing. The researcher then finds the new field on the published call. The builder fits
a 390 px screen without sideways scrolling (its screenshots are docs/take_screenshots.py's)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from tests.browser.conftest import Server
from tests.browser.test_applying import flash, login, session_of, state_of
from workflow.demo import LAST_YEAR_TITLE
from workflow.timeutil import SHANGHAI

pytestmark = pytest.mark.browser

MAX_CLICKS = 6
EDIT_URL = re.compile(r"/calls/(\d+)/edit$")
CALL_URL = re.compile(r"/calls/(\d+)$")
NEW_FIELD = "预期成果及考核指标"
NEW_CRITERION = "成果转化前景"


class Clicks:
    """Every click the officer makes (typing is not a click), counted."""

    def __init__(self) -> None:
        self.made: list[str] = []

    def __call__(self, target: Locator, what: str) -> None:
        target.click()
        self.made.append(what)


def local_input(moment: datetime) -> str:
    return moment.astimezone(SHANGHAI).strftime("%Y-%m-%dT%H:%M")


def no_sideways_scroll(page: Page) -> None:
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page is {overflow}px wider than the screen"


def test_officer_copies_last_years_guide_builds_and_publishes_in_six_clicks(
        page: Page, browser: Browser, kjflow_server: Server) -> None:
    year = datetime.now(SHANGHAI).year
    click = Clicks()
    login(page, "officer", "张科长")

    # 工作台 → 复制上年指南 → last year's guide, copied into a draft of this year.
    click(page.get_by_role("link", name="复制上年指南"), "复制上年指南")
    source = page.locator("[data-testid=copy-sources] li",
                          has_text=f"{year - 1}年度{LAST_YEAR_TITLE}")
    expect(source).to_contain_text("上年")
    click(source.get_by_role("button", name=re.compile("^复制为新草稿")), "复制为新草稿")
    expect(page).to_have_url(EDIT_URL)
    expect(flash(page)).to_contain_text("复制为新草稿")
    title = f"{year}年度{LAST_YEAR_TITLE}"
    expect(page.get_by_role("heading", level=1)).to_have_text(f"修改指南：{title}")
    expect(page.get_by_label("指南名称")).to_have_value(title)
    # Everything but the dates came along: the form, the rubric, the checklist marks.
    form = page.locator("[data-builder=form_schema]")
    rubric = page.locator("[data-builder=rubric]")
    expect(form.locator(".kb-row")).to_have_count(6)
    expect(form.locator(".kb-row").nth(1)).to_contain_text("关键词")
    expect(rubric.locator(".kb-row")).to_have_count(4)
    expect(page.locator("[data-builder=checklist] input[type=checkbox]:checked")).to_have_count(2)
    expect(page.get_by_label("开始时间（北京时间）")).to_have_value("")

    # What publishing needs is named, each linking to its field.
    missing = page.locator("[data-testid=publish-missing]")
    expect(missing.get_by_role("link")).to_have_text(["开始时间", "截止时间"])
    expect(missing).to_contain_text("请填写开始时间")
    expect(missing.get_by_role("link", name="截止时间")).to_have_attribute(
        "href", "#field-closes_at")

    # A new field of the application form, with the builder; the preview shows it.
    click(form.get_by_role("button", name="添加字段"), "添加字段")
    field = form.locator(".kb-row").last
    expect(field.get_by_label("字段标题")).to_be_focused()
    field.get_by_label("字段标题").fill(NEW_FIELD)
    expect(field).to_contain_text("单行文本")
    expect(page.locator("[data-testid=form-preview]")).to_contain_text(NEW_FIELD)

    # A new criterion: the live sum says it is over, until another weight gives way.
    click(rubric.get_by_role("button", name="添加评分项"), "添加评分项")
    criterion = rubric.locator(".kb-row").last
    criterion.get_by_label("评分项").fill(NEW_CRITERION)
    criterion.get_by_label("权重").fill("10")
    expect(rubric.locator(".kb-sum")).to_contain_text("权重合计 110 / 100")
    expect(rubric.locator(".kb-sum")).to_contain_text("超出 10")
    rubric.locator(".kb-row").first.get_by_label("权重").fill("20")
    expect(rubric.locator(".kb-sum")).to_contain_text("已达到100")

    # The dates, then save: the call's page has nothing left to ask.
    now = datetime.now(SHANGHAI)
    page.get_by_label("开始时间（北京时间）").fill(local_input(now - timedelta(hours=1)))
    page.get_by_label("截止时间（北京时间）").fill(local_input(now + timedelta(days=30)))
    click(page.get_by_role("button", name="保存", exact=True), "保存")
    expect(page).to_have_url(CALL_URL)
    expect(flash(page)).to_have_text("指南已更新")
    expect(page.locator("[data-testid=publish-missing]")).to_have_count(0)
    expect(state_of(page)).to_have_text("草稿")

    click(page.get_by_role("button", name="发布", exact=True), "发布")
    # The message names what moved: the new call, this year's.
    expect(flash(page)).to_have_text(re.compile(rf"^已发布：\d{{4}}年度{re.escape(LAST_YEAR_TITLE)}$"))
    expect(state_of(page)).to_have_text("已发布")
    assert len(click.made) <= MAX_CLICKS, click.made
    print(f"clicks besides typing: {len(click.made)} ({'、'.join(click.made)})")

    # The researcher applies on the new form: the new field is there, as the preview said.
    with session_of(browser, kjflow_server, "researcher1", "李明") as researcher:
        researcher.goto(page.url.removeprefix(kjflow_server.url))
        researcher.get_by_role("link", name="申报", exact=True).click()
        researcher.get_by_label("项目名称").fill("稀土发光材料基础研究")
        researcher.get_by_role("button", name="创建并填写").click()
        expect(researcher.get_by_label(NEW_FIELD)).to_be_visible()
        expect(researcher.get_by_label("关键词")).to_be_visible()


def test_the_builder_by_keyboard_and_without_sideways_scrolling(
        page: Page, kjflow_server: Server) -> None:
    """The builder at a desktop's and a phone's size: keyboard reordering, a field's
    settings in view beside the settled preview, nothing wider than the screen."""
    login(page, "officer", "张科长")
    page.goto("/calls/new")
    last_year = f"{datetime.now(SHANGHAI).year - 1}年度{LAST_YEAR_TITLE}"
    page.locator("[data-testid=copy-sources] li", has_text=last_year).get_by_role(
        "button", name=re.compile("^复制为新草稿")).click()
    expect(page).to_have_url(EDIT_URL)
    form = page.locator("[data-builder=form_schema]")
    rows = form.locator(".kb-row")
    expect(rows).to_have_count(6)

    # Reordering by keyboard: focus "下移" on the first field, press Enter; focus stays on it.
    rows.first.get_by_role("button", name="下移：项目摘要").focus()
    page.keyboard.press("Enter")
    expect(rows.nth(0)).to_contain_text("关键词")
    expect(rows.nth(1)).to_contain_text("项目摘要")
    expect(rows.nth(1).get_by_role("button", name="下移：项目摘要")).to_be_focused()
    expect(page.locator("#builder-status")).to_have_text("已将“项目摘要”移到第2项")
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Enter")  # 上移 back to the top
    expect(rows.nth(0)).to_contain_text("项目摘要")

    # A field's settings open on demand; the preview beside it follows.
    rows.nth(2).locator(".fb-toggle").click()
    settings = rows.nth(2).locator(".fb-settings")
    expect(settings).to_be_visible()
    expect(settings.get_by_label("字段类型")).to_have_value("choice")
    expect(settings.get_by_role("textbox", name="选项1", exact=True)).to_have_value("新材料")

    for width, height in ((1366, 768), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        no_sideways_scroll(page)
        page.locator("#field-form_schema").evaluate(
            "el => window.scrollTo(0, el.getBoundingClientRect().top + window.scrollY - 8)")
        expect(settings).to_be_in_viewport()
        expect(page.locator("#form-preview.htmx-request")).to_have_count(0)
        expect(page.locator("#form-preview")).to_contain_text("所属领域")
    # The new-call page too fits a phone.
    page.goto("/calls/new")
    no_sideways_scroll(page)
