"""axe-core over the pages of every demo role, on a desktop and on a phone.

Each role logs in and visits its 工作台, every page of its menu, and from each of those the
first link to a page of another kind (an application, a call, a review, a tranche...):
the pages that role actually reaches. On each page, axe-core (axe-playwright-python)
must find no serious or critical violation, and at 390 px nothing may scroll sideways
(a wide table scrolls inside its own box).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import Server
from workflow.demo import DEMO_PASSWORD

# One login per kind of person of the demo (the researchers, finance staff and experts
# share their pages).
ROLES = ["officer", "researcher1", "unitadmin", "recommender", "leader", "finance2", "demand",
         "auditor", "admin", "expert1"]
SIZES = {"desktop": (1366, 768), "phone": (390, 844)}
PAGES_PER_ROLE = 16
# Downloads, not pages (``/documents/<id>`` answers the PDF itself).
SKIP = re.compile(r"/(logout|api)/|\.(xlsx|pdf|csv|json)$|/download|/attachments/|/files/"
                  r"|^/documents/\d+$")
axe = Axe()


def _pattern(href: str) -> str:
    """A page's kind: its path with the ids taken out (one application stands for all)."""
    return re.sub(r"\d+", "N", href.split("?")[0].split("#")[0])


def _links(page: Page, where: str) -> list[str]:
    hrefs: list[str] = page.eval_on_selector_all(
        f"{where} a[href^='/']", "els => els.map(e => e.getAttribute('href'))")
    return [h for h in hrefs if not SKIP.search(h)]


def _pages_of(page: Page) -> Iterator[str]:
    """The 工作台, the menu's pages, then from each the first link to a new kind of page."""
    seen: set[str] = set()
    queue: list[str] = []
    for href in ["/", *_links(page, "header"), *_links(page, "main")]:
        if _pattern(href) not in seen:
            seen.add(_pattern(href))
            queue.append(href)
    visited = 0
    while queue and visited < PAGES_PER_ROLE:
        href = queue.pop(0)
        page.goto(href)
        visited += 1
        yield href
        for link in _links(page, "main"):
            if _pattern(link) not in seen:
                seen.add(_pattern(link))
                queue.append(link)
                break


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("username", ROLES)
def test_every_page_of_each_role_passes_axe_and_fits_a_phone(
        browser: Browser, kjflow_server: Server, username: str, size: str) -> None:
    width, height = SIZES[size]
    context = browser.new_context(base_url=kjflow_server.url, locale="zh-CN",
                                  viewport={"width": width, "height": height})
    page = context.new_page()
    try:
        page.goto("/login")
        page.locator("#username").fill(username)
        page.locator("#password").fill(DEMO_PASSWORD)
        page.get_by_role("button", name="登录", exact=True).click()
        expect(page.get_by_role("heading", level=1)).to_have_text("工作台")
        problems: list[str] = []
        visited = []
        for href in _pages_of(page):
            visited.append(href)
            results = axe.run(page)
            for v in results.response["violations"]:
                if v["impact"] in ("serious", "critical"):
                    targets = [n["target"] for n in v["nodes"][:3]]
                    problems.append(f"{href}: {v['id']} ({v['impact']}) {v['help']} {targets}")
            wide = page.evaluate("document.documentElement.scrollWidth")
            if wide > width:
                problems.append(f"{href}: the page is {wide} px wide at {width} px")
        assert len(visited) >= 4, visited  # the 工作台 and the menu at least
        assert not problems, "\n".join(problems)
    finally:
        context.close()
