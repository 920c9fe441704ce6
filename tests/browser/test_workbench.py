"""Every demo login's 工作台, on the demo data as seeded (these run before the tests that
work through it): the section lists what that role must do next, and its link leads to
the page where it is done, with the action there. It fits a desktop's and a phone's width
(its screenshots are docs/take_screenshots.py's).
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import Server
from tests.browser.test_login import login
from workflow.demo import (
    ANNUAL_PROJECTS,
    CHALLENGE_PROJECT,
    DEMO_PASSWORD,
    EXPERTS,
    HELD_PROJECT,
    MIDTERM_WAITING,
    REVIEWING_TITLE,
    USERS,
    WAITING,
)

pytestmark = [pytest.mark.browser, pytest.mark.demo_as_seeded]

FUNDED_PROJECT = "稀土永磁电机高效驱动控制技术研究"
UNIT_REVIEW, RECOMMENDED, UNDER_REVIEW = (title for _call, _pi, title, _state in WAITING)
FILED_REPORT, LATE_REPORT = (title for title, _grant in ANNUAL_PROJECTS)
ROLE_OF = {username: roles[0] for username, _name, roles, _org, _desc in USERS}
ROLE_OF.update({username: "expert" for username, *_ in EXPERTS})
NAME_OF = {username: name for username, name, *_ in USERS}
NAME_OF.update({username: name for username, name, *_ in EXPERTS})


def button(name: str) -> Callable[[Page], None]:
    def check(page: Page) -> None:
        expect(page.get_by_role("button", name=name, exact=True).first).to_be_visible()
    return check


def link(name: str) -> Callable[[Page], None]:
    def check(page: Page) -> None:
        expect(page.get_by_role("link", name=name, exact=True).first).to_be_visible()
    return check


def heading(text: str) -> Callable[[Page], None]:
    def check(page: Page) -> None:
        expect(page.get_by_role("heading", level=1)).to_contain_text(text)
    return check


def shown(testid: str) -> Callable[[Page], None]:
    def check(page: Page) -> None:
        expect(page.locator(f"[data-testid={testid}]").first).to_be_visible()
    return check


# username -> [(the link's text, pattern of the page it opens, what that page offers)]
EXPECTED: dict[str, list[tuple[str, str, Callable[[Page], None]]]] = {
    "officer": [
        (f"评审完成，待拟定立项建议名单：\\d+年度{REVIEWING_TITLE}", r"/calls/\d+/decision",
         button("提交领导审定")),
        (f"任务书已签订，待开始执行：{FUNDED_PROJECT}", r"/applications/\d+",
         button("开始执行")),
        (f"待验收里程碑：中试线建成（{CHALLENGE_PROJECT}）", r"/applications/\d+",
         shown("milestone-verdict")),
    ],
    "researcher1": [("可申报：\\d+年度市科技计划项目（包干制试点）（包干制）", r"/calls/\d+",
                     link("申报"))],
    # Its tranche held (a team member on the 科研失信 list); the project still runs.
    "researcher3": [(f"执行中：提交里程碑或结题材料：{HELD_PROJECT}", r"/applications/\d+",
                     heading(HELD_PROJECT))],
    "unitadmin2": [("变更申请待单位审核：变更申请\\d+：研究内容或考核指标调整"
                    f"（{CHALLENGE_PROJECT}）", r"/changes/\d+", button("单位审核同意"))],
    "researcher2": [(f"执行中：提交里程碑或结题材料：{CHALLENGE_PROJECT}", r"/applications/\d+",
                     shown("milestone-report"))],
    "unitadmin": [(f"待单位审核：{UNIT_REVIEW}", r"/applications/\d+", button("单位审核通过")),
                  (f"年度报告待单位审核：{FILED_REPORT}（\\d+年度报告）", r"/annual-reports/\d+",
                   button("单位审核通过"))],
    # researcher5's overdue annual report (the other one is filed): the form on its page.
    "researcher5": [(f"待填写并提交年度报告：{LATE_REPORT}（\\d+年度报告）", r"/annual-reports/\d+",
                     shown("annual-form"))],
    "recommender": [(f"待推荐：{RECOMMENDED}", r"/applications/\d+", button("推荐"))],
    "finance1": [(f"待制单：合同签订后拨付（{FUNDED_PROJECT}）", r"/finance\?state=due",
                  button("制单"))],
    "finance2": [(f"待制单：合同签订后拨付（{FUNDED_PROJECT}）", r"/finance\?state=due",
                  button("制单"))],
    "demand": [(f"待验收里程碑：中试线建成（{CHALLENGE_PROJECT}）", r"/applications/\d+",
                shown("milestone-verdict"))],
    "expert2": [(f"请答复评审邀请：{UNDER_REVIEW}", r"/reviews/\d+/score", button("接受"))],
    "expert5": [(f"待评分：{UNDER_REVIEW}", r"/reviews/\d+/score", button("提交评分"))],
    # The midterm panel's last score (the other two experts have scored).
    "expert3": [(f"待中期检查评议：{MIDTERM_WAITING}", r"/midterms/\d+", shown("score-form"))],
}
# What a section with nothing to do says (besides the notes of the readers).
EMPTY = {"leader": "暂无待决策事项", "expert": "暂无评审邀请", "auditor": "审计记录已编至第",
         "admin": "用户共"}
LOGINS = [u for u, *_ in USERS] + [u for u, *_ in EXPERTS]


@pytest.mark.parametrize("username", LOGINS)
def test_each_demo_login_sees_what_to_do_next(page: Page, kjflow_server: Server,
                                              username: str) -> None:
    role = ROLE_OF[username]
    login(page, username, DEMO_PASSWORD)
    expect(page.get_by_role("heading", level=1)).to_have_text("工作台")
    expect(page.locator("[data-testid=current-user]")).to_contain_text(NAME_OF[username])
    section = page.locator(f"section[data-role={role}]")
    expect(section).to_have_count(1)
    expected = EXPECTED.get(username, [])
    if not expected:
        expect(section.locator("[data-testid=todo-group]")).to_have_count(
            0 if role != "applicant" else 1)  # an applicant may always apply
        if role in EMPTY:
            expect(section).to_contain_text(EMPTY[role])
    for text, url, offers in expected:
        name = re.compile(f"^{text}$")
        link = section.get_by_role("link", name=name)
        expect(link).to_have_count(1)
        # Each group says how many it holds.
        expect(section.locator("[data-testid=todo-group]").filter(
            has=page.get_by_role("link", name=name))).to_contain_text(re.compile(r"共 \d+ 项"))
        link.click()
        expect(page).to_have_url(re.compile(f"{re.escape(kjflow_server.url)}{url}$"))
        offers(page)
        page.go_back()
    if username == "leader":
        # A call under review without a proposed list is not the leader's to decide yet.
        expect(section).not_to_contain_text(REVIEWING_TITLE)


@pytest.mark.parametrize("width", [1366, 390])
def test_the_workbench_fits_the_screen(page: Page, kjflow_server: Server, width: int) -> None:
    page.set_viewport_size({"width": width, "height": 900})
    login(page, "officer", DEMO_PASSWORD)
    section = page.locator("section[data-role=officer]")
    expect(section.locator("[data-testid=todo-group]").first).to_be_visible()
    # Nothing wider than the screen at phone width.
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, overflow
