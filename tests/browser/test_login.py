"""``make run`` serves the login page and every printed demo login reaches its home page
while the worker process runs; a wrong password shows a clear Chinese message."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import Server, open_menu
from workflow.demo import DEMO_PASSWORD, EXPERTS, USERS

pytestmark = pytest.mark.browser

# username, name, roles: every login that ``seed --demo`` prints.
DEMO_LOGINS: list[tuple[str, str, list[str]]] = [
    (username, name, roles) for username, name, roles, _org, _desc in USERS
] + [(username, name, ["expert"]) for username, name, _org, _disc, _kw in EXPERTS]


def login(page: Page, username: str, password: str) -> None:
    page.goto("/login")
    expect(page).to_have_title(re.compile("^登录"))
    page.locator("#username").fill(username)
    page.locator("#password").fill(password)
    # The form's answer (the 工作台, the second factor, or the form again with an error)
    # before the next step: a step taken earlier aborts the login. Right after the demo is
    # seeded the worker's document jobs may hold SQLite's write lock for seconds.
    with page.expect_navigation(wait_until="domcontentloaded", timeout=60_000):
        page.get_by_role("button", name="登录", exact=True).click()


def expect_home(page: Page, server: Server, name: str, roles: list[str]) -> None:
    expect(page).to_have_url(server.url + "/")
    expect(page.get_by_role("heading", level=1)).to_have_text("工作台")
    expect(page.locator("[data-testid=current-user]")).to_contain_text(name)
    for role in roles:
        expect(page.locator(f"section[data-role={role}]")).to_have_count(1)
    expect(page.locator("section[data-role]")).to_have_count(len(roles))


def test_seed_lists_every_demo_login(kjflow_server: Server) -> None:
    for username, _name, _roles in DEMO_LOGINS:
        assert re.search(rf"^\s+{username}\s", kjflow_server.seed_output, re.M), username


def test_the_first_screen_ends_with_the_address_and_the_logins(kjflow_server: Server) -> None:
    """``make run``'s terminal: the worker's and the web server's logs go to files under
    instance/logs/; once both are ready, the address and the demo logins come last."""
    screen = kjflow_server.output()
    started = screen.index(f"kjflow 已启动：{kjflow_server.url}/")
    table = screen[started:]
    header = re.search(r"^\s+用户名\s+角色\s+先试试$", table, re.M)
    assert header is not None, table
    for username, _name, _roles in DEMO_LOGINS:
        assert re.search(rf"^\s+{username}\s+\S", table, re.M), username
    assert "officer" in table and "工作台：拟定立项建议名单" in table
    # Nothing of the worker's banner or INFO lines on the terminal: they are in its log.
    assert "INFO" not in screen and "celery@" not in screen, screen
    logs = kjflow_server.instance / "logs"
    assert f"日志：网页服务 {logs / 'web.log'}；后台任务 {logs / 'worker.log'}" in screen
    assert " ready." in (logs / "worker.log").read_text(errors="replace")
    assert re.search(r'"GET /healthz HTTP/1\.1" 200', (logs / "web.log").read_text())
    # Short: the whole screen fits a terminal of 50 lines.
    assert screen.count("\n") < 50, screen


def test_login_page_is_served(page: Page, kjflow_server: Server) -> None:
    response = page.goto("/login")
    assert response is not None and response.status == 200
    expect(page.get_by_role("heading", level=1)).to_have_text("用户登录")
    expect(page.locator("#username")).to_be_visible()
    expect(page.locator("#password")).to_have_attribute("type", "password")


@pytest.mark.parametrize(("username", "name", "roles"), DEMO_LOGINS,
                         ids=[u for u, _, _ in DEMO_LOGINS])
def test_demo_login_reaches_home(page: Page, kjflow_server: Server, username: str, name: str,
                                 roles: list[str]) -> None:
    login(page, username, DEMO_PASSWORD)
    expect_home(page, kjflow_server, name, roles)
    assert kjflow_server.worker_alive(), (
        f"celery worker (pid {kjflow_server.worker_pid}) died; devserver output:\n"
        + kjflow_server.output())


def test_wrong_password_shows_chinese_message(page: Page, kjflow_server: Server) -> None:
    # One failure on one username: far below the throttle (5 per account and address).
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        login(page, "researcher2", DEMO_PASSWORD + "-wrong")
    assert posted.value.status == 401, posted.value.status
    expect(page.get_by_role("alert")).to_have_text("用户名或密码错误")
    expect(page.get_by_role("alert")).to_be_visible()
    expect(page).to_have_url(kjflow_server.url + "/login")
    expect(page.get_by_role("heading", level=1)).to_have_text("用户登录")
    expect(page.get_by_text("工作台")).to_have_count(0)
    expect(page.locator("[data-testid=current-user]")).to_have_count(0)
    # The username stays filled in, the password does not.
    expect(page.locator("#username")).to_have_value("researcher2")
    expect(page.locator("#password")).to_have_value("")


def test_logout_returns_to_login(page: Page, kjflow_server: Server) -> None:
    login(page, "officer", DEMO_PASSWORD)
    expect_home(page, kjflow_server, "张科长", ["officer"])
    # 退出 is in the menu under the person's name.
    open_menu(page, page.locator("[data-testid=current-user]"))
    page.get_by_role("button", name="退出", exact=True).click()
    expect(page).to_have_url(kjflow_server.url + "/login")
    expect(page.get_by_role("status")).to_have_text("已退出登录")
    expect(page.locator("[data-testid=current-user]")).to_have_count(0)

    page.goto("/")
    expect(page).to_have_url(re.compile(re.escape(kjflow_server.url) + r"/login(\?.*)?$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("用户登录")
    expect(page.locator("[data-testid=current-user]")).to_have_count(0)


def test_home_page_screenshot(page: Page, kjflow_server: Server, tmp_path: Path) -> None:
    login(page, "researcher1", DEMO_PASSWORD)
    expect_home(page, kjflow_server, "李明", ["applicant"])
    shot = tmp_path / "home-researcher1.png"
    page.screenshot(path=str(shot), full_page=True)
    data = shot.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 1000, len(data)
    print(f"home page screenshot: {shot}")
