"""结题验收 in a real browser, on the demo project whose package its unit has endorsed.

张科长 (officer) draws the panel from the 工作台: the experts of the project's own
organisation are shown as conflicted and cannot be ticked. 刘教授, 杨高工 and 黄教授 each
score the indicators and give their conclusion (two 通过, one 结题); 周会计 (finance1)
records 财务验收. The officer concludes with the panel's majority, proposed to him, after a
confirmation. 邓丽 (researcher4), whose project it is, sees 专家1–专家3 and never a name,
the conclusion, and the 验收结论书 once the worker has issued it; the page fits a phone.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import Server
from tests.browser.test_applying import flash, login, session_of
from workflow.demo import ACCEPTANCE_PROJECTS

pytestmark = pytest.mark.browser

PROJECT = ACCEPTANCE_PROJECTS[0][0]
PANEL = [("expert1", "刘教授", "pass"), ("expert3", "杨高工", "pass"),
         ("expert4", "黄教授", "concluded")]
CONFLICTED = ["陈研究员", "林研究员"]  # of 市农科院, the project's organisation
GRADE_LABELS = {"pass": "通过", "concluded": "结题", "fail": "不通过"}


def confirm(page: Page) -> None:
    dialog = page.get_by_role("dialog", name="请确认")
    dialog.get_by_role("button", name=re.compile("^确定")).click()


def from_workbench(page: Page, phrase: str) -> None:
    page.goto("/")
    page.get_by_role("link", name=f"{phrase}：{PROJECT}").click()
    expect(page).to_have_url(re.compile(r"/acceptances/\d+$"))


def officer_draws_the_panel(page: Page) -> str:
    from_workbench(page, "待组织验收专家组")
    form = page.locator("[data-testid=panel-form]")
    for name in CONFLICTED:
        box = form.get_by_label(re.compile(f"^{name}"))
        expect(box).to_be_disabled()
        expect(form).to_contain_text(f"{name} （须回避：")
    for _username, name, _grade in PANEL:
        form.get_by_label(name, exact=True).check()
    form.get_by_role("button", name="组成验收专家组").click()
    expect(flash(page)).to_contain_text("验收专家组已组成")
    members = page.locator("[data-testid=panel-members]")
    for i, (_username, name, _grade) in enumerate(PANEL, start=1):
        expect(members).to_contain_text(f"专家{i}（{name}）")  # the bureau sees names
    return page.url


def expert_scores(page: Page, grade: str) -> None:
    from_workbench(page, "待提交验收意见")
    form = page.locator("[data-testid=score-form]")
    radios = form.locator("input[type=radio][id$='-yes'][name^=score-]")
    for i in range(radios.count()):
        form.locator(f"#score-{i}-yes").check()
    form.get_by_label(GRADE_LABELS[grade], exact=True).check()
    form.get_by_label("验收意见").fill("研究内容已按任务书完成，材料齐全，同意该结论。")
    form.get_by_role("button", name="提交验收意见").click()
    confirm(page)
    expect(flash(page)).to_contain_text("验收意见已提交")
    expect(page.locator("[data-testid=score-form]")).to_have_count(0)


def test_the_panel_scores_the_officer_concludes_and_the_team_reads_it(
        page: Page, browser: Browser, kjflow_server: Server) -> None:
    login(page, "officer", "张科长")
    url = officer_draws_the_panel(page)
    acc_path = url.removeprefix(kjflow_server.url)

    for username, name, grade in PANEL:
        with session_of(browser, kjflow_server, username, name) as expert:
            expert_scores(expert, grade)

    with session_of(browser, kjflow_server, "finance1", "周会计") as clerk:
        from_workbench(clerk, "待财务验收")
        form = clerk.locator("[data-testid=acceptance-finance]")
        form.get_by_label("通过", exact=True).check()
        form.get_by_label("财务验收意见").fill("决算与拨付台账一致，结余申报属实。")
        form.get_by_role("button", name="录入财务验收意见").click()
        expect(flash(clerk)).to_contain_text("财务验收意见已录入")

    # The officer: the panel's majority is proposed; the conclusion is confirmed first.
    page.goto(acc_path)
    expect(page.locator("[data-testid=panel-majority]")).to_have_text("专家组多数意见：通过")
    form = page.locator("[data-testid=conclude-form]")
    expect(form.get_by_label("通过", exact=True)).to_be_checked()
    form.get_by_label(re.compile("^结论意见")).fill("同意专家组意见，项目通过结题验收。")
    form.get_by_role("button", name="作出验收结论").click()
    confirm(page)
    expect(flash(page)).to_contain_text("验收结论已作出：通过")
    expect(page.locator("[data-testid=acceptance-conclusion]")).to_contain_text(
        "验收结论：验收通过")

    # The team: 专家1–专家3, never a name; the conclusion and its 验收结论书.
    with session_of(browser, kjflow_server, "researcher4", "邓丽") as team:
        team.goto(acc_path)
        members = team.locator("[data-testid=panel-members]")
        for i, (_username, _name, grade) in enumerate(PANEL, start=1):
            row = members.locator("tbody tr").nth(i - 1)
            expect(row).to_contain_text(f"专家{i}")
            expect(row).to_contain_text(GRADE_LABELS[grade])
        body = team.locator("main")
        for _username, name, _grade in PANEL:
            expect(body).not_to_contain_text(name)
        history = team.locator("[data-testid=history]")
        expect(history).to_contain_text("专家1")
        expect(history).not_to_contain_text("刘教授")
        expect(team.locator("[data-testid=acceptance-conclusion]")).to_contain_text(
            "同意专家组意见，项目通过结题验收。")
        link = team.locator("[data-testid=conclusion-document]")
        for _ in range(60):  # the worker numbers, renders and signs it
            if link.count():
                break
            team.wait_for_timeout(2000)
            team.reload()
        expect(link).to_contain_text("结题验收的结论")
        # From the project's page, its acceptance is one link away.
        team.get_by_role("link", name=PROJECT).first.click()
        expect(team.locator("[data-testid=project-acceptance]")).to_contain_text("验收通过")
        # At 390 px the acceptance page needs no sideways scrolling.
        team.set_viewport_size({"width": 390, "height": 844})
        team.goto(acc_path)
        width = team.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, width
