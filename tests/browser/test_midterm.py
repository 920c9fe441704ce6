"""中期检查 on the demo as seeded, read only: the officer's list and the check waiting for
its last score, the expert's score form, the team's form of the check in 整改; each at
1366×768 and 390×844 without sideways scrolling or a serious axe-core violation, and the
team reads the panel as 专家1, 专家2, never by name."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import Server
from tests.browser.test_forms import at_both_sizes
from tests.browser.test_login import login
from workflow.demo import DEMO_PASSWORD, EXPERTS, MIDTERM_RECTIFY, MIDTERM_WAITING

pytestmark = [pytest.mark.browser, pytest.mark.demo_as_seeded]


def test_the_officer_lists_checks_and_sees_the_panel_waiting(page: Page,
                                                            kjflow_server: Server) -> None:
    login(page, "officer", DEMO_PASSWORD)
    page.goto("/midterms")
    expect(page.get_by_role("heading", level=1)).to_have_text("中期检查")
    expect(page.locator("[data-testid=open-midterm]")).to_be_visible()
    at_both_sizes(page, "midterm list")
    page.get_by_role("link", name=MIDTERM_WAITING).click()
    expect(page).to_have_url(re.compile(r"/midterms/\d+$"))
    expect(page.locator("[data-testid=midterm-scores]")).to_contain_text("未评")
    expect(page.locator("[data-testid=midterm-decide]")).to_be_visible()
    at_both_sizes(page, "midterm page (officer)")


def test_the_expert_scores_on_the_checks_page(page: Page, kjflow_server: Server) -> None:
    login(page, "expert3", DEMO_PASSWORD)
    page.get_by_role("link", name=f"待中期检查评议：{MIDTERM_WAITING}").click()
    expect(page.locator("[data-testid=score-form]")).to_be_visible()
    at_both_sizes(page, "midterm page (expert)")


def test_the_team_reports_again_and_reads_the_panel_by_number(page: Page,
                                                             kjflow_server: Server) -> None:
    login(page, "researcher5", DEMO_PASSWORD)
    page.get_by_role("link", name=f"待提交中期报告：中期检查（{MIDTERM_RECTIFY}）").click()
    expect(page.locator("[data-testid=rectify-items]")).to_contain_text("补充连续三批中试数据")
    expect(page.locator("[data-testid=midterm-form]")).to_be_visible()
    scores = page.locator("[data-testid=midterm-scores]")
    expect(scores).to_contain_text("专家1")
    for _username, name, *_ in EXPERTS:
        expect(page.locator("main")).not_to_contain_text(name)
    at_both_sizes(page, "midterm page (team)")
