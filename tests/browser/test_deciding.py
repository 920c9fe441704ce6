"""立项决策 and 公示 in a real browser, on the demo call whose experts have scored.

The officer opens the call's decision page, sees the applications ranked with the
funding line ticked, leaves out the third, lowers the second's amount and sends the list
to the leader. The leader is refused a return without a reason, then refused the
approval because the total reaches the 三重一大 threshold; records the meeting with its
minutes and approves. The officer publishes the notice. A visitor without an account
reads the public notice, objects anonymously (recorded, not accepted) and then with a
name (accepted: the project is under investigation); the officer dismisses the objection
with the finding and the project is back on notice.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from tests.browser.conftest import Server
from tests.browser.test_applying import PDF, flash, login, session_of, state_of
from tests.browser.test_reviewing import error_flash
from workflow.demo import DEMO_PASSWORD, REVIEWED, REVIEWING_TITLE
from workflow.holidays.calendar import count_period
from workflow.holidays.operations import package_schedule
from workflow.timeutil import SHANGHAI, cn_date

pytestmark = pytest.mark.browser

FIRST, SECOND, THIRD, FOURTH = (title for title, *_ in REVIEWED)
PROPOSAL_NOTE = "按评审排名择优资助；第三名项目与企业在研项目内容相近，本批次暂不列入。"
ATTENDEES = "孙局长、钱处长、张科长（列席）"
OBJECTION = "该项目示范园所在地块此前已由其他单位承担过同类示范任务，存在重复申报的嫌疑。"
OBJECTOR, OBJECTOR_PHONE = "周文华", "13907971234"
FINDING = "经核查，示范园地块与以往项目不重叠，研究内容不同，不存在重复申报，异议不成立。"
APP_URL = re.compile(r"/applications/(\d+)$")


# ---- helpers ----------------------------------------------------------------------------

def confirm(page: Page) -> None:
    """Answer the dialog an irreversible action asks first."""
    dialog = page.get_by_role("dialog", name="请确认")
    dialog.get_by_role("button", name=re.compile("^确定")).click()


def decision_page(page: Page, server: Server) -> str:
    """From the call list, as either officer or leader would go; the call's title."""
    page.get_by_role("navigation", name="主导航").get_by_role("link", name="申报指南").click()
    row = page.locator("[data-testid=calls] tbody tr", has_text=REVIEWING_TITLE)
    expect(row).to_have_count(1)
    expect(row).to_contain_text("评审中")
    link = row.get_by_role("link", name=re.compile(re.escape(REVIEWING_TITLE)))
    call_title = link.inner_text().strip()
    link.click()
    expect(page.get_by_role("heading", level=1)).to_have_text(call_title)
    page.get_by_role("link", name="立项决策").click()
    expect(page).to_have_url(re.compile(rf"^{re.escape(server.url)}/calls/\d+/decision$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(f"立项决策：{call_title}")
    return call_title


def call_line(page: Page) -> Locator:
    """The summary under the heading: budget, threshold and the call's state."""
    return page.locator("main > p.muted").first


def item_rows(section: Locator) -> Locator:
    return section.locator("[data-testid=decision-items] tbody tr")


def notice_rows(page: Page, call_title: str) -> Locator:
    section = page.locator("[data-testid=notice-call]", has_text=call_title)
    return section.locator("[data-testid=notice-table] tbody tr")


class DemoCalendar:
    """The demo's holiday calendar as its seed writes it (the pinned chinese-calendar),
    with the years this test enters itself."""

    def __init__(self) -> None:
        self.days = {e.day: e.is_working_day for entries in package_schedule().values()
                     for e in entries}
        self.years = set(package_schedule())

    def is_working_day(self, day: date) -> bool:
        assert day.year in self.years, f"{day.year} is not in the demo's calendar"
        return self.days.get(day, day.weekday() < 5)


CALENDAR = DemoCalendar()


def years_ahead_known(browser: Browser, server: Server, days: int = 60) -> None:
    """Publishing now must not depend on the date the test runs on: a year the next
    ``days`` reach and the demo's calendar lacks is entered, as the administrator enters
    one, with its New Year's Day only (the test is not about the calendar)."""
    today = datetime.now(SHANGHAI).date()
    missing = [y for y in range(today.year, (today + timedelta(days=days)).year + 1)
               if y not in CALENDAR.years]
    if not missing:
        return
    context = browser.new_context(base_url=server.url)
    try:
        api = context.request
        token = api.post("/api/v1/auth/token", data={
            "username": "admin", "password": DEMO_PASSWORD}).json()["token"]
        for year in missing:
            resp = api.put(f"/api/v1/calendar/{year}",
                           headers={"Authorization": f"Bearer {token}"},
                           data={"days": [{"date": f"{year}-01-01", "is_working_day": False,
                                           "name": "元旦"}]})
            assert resp.status == 200, resp.text()
            CALENDAR.days[date(year, 1, 1)] = False
            CALENDAR.years.add(year)
    finally:
        context.close()


def notice_period(moments: list[datetime]) -> re.Pattern[str]:
    """The period the public page shows for a notice opened at one of ``moments`` (the
    times just before and after publishing: they differ only across midnight): its first
    and last day, the opening day not counted (the demo's setting)."""
    periods = [count_period(m, 5, True, opening_day_counts=False, calendar=CALENDAR)
               for m in moments]
    shown = {f"{cn_date(p.first_day)}至{cn_date(p.last_day)}" for p in periods}
    return re.compile("^(" + "|".join(re.escape(s) for s in sorted(shown)) + ")$")


# ---- the scenario -----------------------------------------------------------------------

def officer_proposes(page: Page, server: Server) -> str:
    call_title = decision_page(page, server)
    expect(call_line(page)).to_contain_text("总预算 150.00 万元")
    expect(call_line(page)).to_contain_text("“三重一大”集体决策标准 100.00 万元")
    expect(call_line(page)).to_contain_text("指南状态：评审中")

    # The draft: ranked by the experts' scores, the funding line (150 万元) ticked.
    rows = page.locator("[data-testid=draft] tbody tr")
    expect(rows).to_have_count(4)
    # 列入, 排名, 申报书, 单位, 得分, 申请（万元）, 资助（万元）
    expect(rows.nth(0).locator("td")).to_have_text(
        ["", "1", FIRST, "赣南科技大学", "88.47", "60.00", ""])
    expect(rows.nth(1).locator("td")).to_have_text(
        ["", "2", SECOND, "赣州市农业科学研究院", "83.77", "50.00", ""])
    expect(rows.nth(2).locator("td")).to_have_text(
        ["", "3", THIRD, "赣州稀土新材料有限公司", "79.27", "40.00", ""])
    expect(rows.nth(3).locator("td")).to_have_text(
        ["", "4", FOURTH, "赣州市农业科学研究院", "74.67", "45.00", ""])
    for title, ticked in ((FIRST, True), (SECOND, True), (THIRD, True), (FOURTH, False)):
        expect(page.get_by_label(f"列入 {title}")).to_be_checked(checked=ticked)
    expect(page.get_by_label(f"{SECOND} 资助金额（万元）")).to_have_value("50.00")

    # The officer leaves out the third and gives the second 45 万元 instead of 50.
    page.get_by_label(f"列入 {THIRD}").uncheck()
    page.get_by_label(f"{SECOND} 资助金额（万元）").fill("45")
    page.get_by_label("说明").fill(PROPOSAL_NOTE)
    page.get_by_role("button", name="提交领导审定").click()
    expect(flash(page)).to_have_text("立项建议名单已提交领导审定")

    pending = page.locator("[data-testid=pending-decision]")
    expect(page.locator("[data-testid=pending-total]")).to_have_text("105.00")
    expect(pending).to_contain_text(PROPOSAL_NOTE)
    expect(item_rows(pending)).to_have_count(2)
    # Only the leader approves or returns the list.
    expect(page.get_by_role("button", name="审定通过")).to_have_count(0)
    expect(page.get_by_role("button", name="退回重拟")).to_have_count(0)
    return call_title


def leader_decides(page: Page, server: Server, call_title: str, tmp_path: Path) -> None:
    leader_todo = page.locator("section[data-role=leader]")
    expect(leader_todo).to_contain_text(f"待决策：{call_title}")
    assert decision_page(page, server) == call_title

    pending = page.locator("[data-testid=pending-decision]")
    expect(pending).to_contain_text("张科长")
    expect(page.locator("[data-testid=pending-total]")).to_have_text("105.00")
    rows = item_rows(pending)
    expect(rows).to_have_count(2)
    # 序号, 项目, 单位, 负责人, 资助（万元）, 状态
    expect(rows.nth(0).locator("td")).to_have_text(
        ["1", FIRST, "赣南科技大学", "李明", "60.00", "评审完成"])
    expect(rows.nth(1).locator("td")).to_have_text(
        ["2", SECOND, "赣州市农业科学研究院", "王芳", "45.00", "评审完成"])
    status = page.locator("[data-testid=meeting-status]")
    expect(status).to_have_text("拟资助总额达到“三重一大”集体决策标准：须先登记集体决策会议"
                                "并上传会议纪要，领导方可审定")
    expect(status).to_have_class(re.compile(r"\berror\b"))

    # Returning the list needs a reason: refused, and the list still awaits the leader.
    # (The page shows only the detail "必填" today; "请填写退回理由" is what it should say.)
    page.get_by_role("button", name="退回重拟").click()
    expect(page.get_by_role("dialog", name="请确认")).to_contain_text("须由项目主管重新拟定")
    confirm(page)
    expect(error_flash(page)).to_have_count(1)
    expect(error_flash(page)).to_have_text(re.compile(r"^(请填写退回理由|必填)$"))
    expect(page.locator("[data-testid=pending-total]")).to_have_text("105.00")
    expect(page.get_by_role("button", name="审定通过")).to_be_visible()

    # 三重一大: no approval before the meeting is recorded.
    page.get_by_label("审定意见").fill("同意。")
    page.get_by_role("button", name="审定通过").click()
    confirm(page)
    expect(error_flash(page)).to_have_text(
        "拟资助总额 105.00 万元达到“三重一大”集体决策标准（100.00 万元），须先登记会议名称、"
        "日期、参会人员、纪要文号并上传会议纪要")
    expect(call_line(page)).to_contain_text("指南状态：评审中")
    expect(item_rows(pending).nth(0)).to_contain_text("评审完成")

    # The meeting, with its minutes as a file.
    today = datetime.now(SHANGHAI).date()
    meeting = f"局党组会议（{today.year}年第12次）"
    minutes_ref = f"局党组会议纪要〔{today.year}〕12号"
    minutes = tmp_path / "党组会议纪要.pdf"
    minutes.write_bytes(PDF)
    form = page.locator("[data-testid=meeting-form]")
    form.get_by_label("会议名称").fill(meeting)
    form.get_by_label("会议日期").fill(today.isoformat())
    form.get_by_label("参会人员").fill(ATTENDEES)
    form.get_by_label("会议纪要文号").fill(minutes_ref)
    form.get_by_label("会议纪要（PDF、DOCX）").set_input_files(str(minutes))
    form.get_by_role("button", name="登记会议").click()
    expect(flash(page)).to_have_text("集体决策会议已登记")
    expect(status).to_have_text("拟资助总额达到“三重一大”集体决策标准：已登记集体决策会议")
    expect(page.locator("[data-testid=meeting]")).to_have_text(
        f"集体决策：{meeting}（{today.isoformat()}）· 纪要 {minutes_ref} · 参会：{ATTENDEES}")

    page.get_by_label("审定意见").fill("同意，按集体决策意见办理。")
    # The page's scripts (the confirmation among them) run once it has loaded: the
    # registered meeting's page can show before they do on a busy machine.
    page.wait_for_load_state("load")
    page.get_by_role("button", name="审定通过").click()
    expect(page.get_by_role("dialog", name="请确认")).to_contain_text("此操作不可撤销")
    confirm(page)
    expect(flash(page)).to_have_text("立项名单已审定：名单内项目拟立项，其余项目不予立项")
    expect(call_line(page)).to_contain_text("指南状态：已决策")
    approved = page.locator("[data-testid=approved-decision]")
    expect(approved).to_contain_text("孙局长")
    expect(approved).to_contain_text("资助总额 105.00 万元")
    expect(item_rows(approved).locator("td:nth-child(6)")).to_have_text(["拟立项", "拟立项"])
    expect(page.locator("[data-testid=pending-decision]")).to_have_count(0)
    # Publishing the notice is the officer's.
    expect(page.locator("[data-testid=open-notices]")).to_have_count(0)


def officer_publishes(page: Page) -> list[datetime]:
    page.reload()
    approved = page.locator("[data-testid=approved-decision]")
    expect(approved).to_contain_text("孙局长")
    publish = page.locator("[data-testid=open-notices]")
    expect(publish).to_have_text("发布立项公示（2 项）")
    before = datetime.now(SHANGHAI)
    publish.click()
    expect(flash(page)).to_have_text("已发布公示：2 项")
    after = datetime.now(SHANGHAI)
    expect(item_rows(approved).locator("td:nth-child(6)")).to_have_text(["公示", "公示"])
    expect(page.locator("[data-testid=open-notices]")).to_have_count(0)
    return [before, after]


def visitor_reads_and_objects(page: Page, call_title: str, opened: list[datetime]) -> None:
    page.goto("/")
    page.get_by_role("link", name="立项公示").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("科技计划项目立项公示")
    expect(page.locator("[data-testid=current-user]")).to_have_count(0)
    rows = notice_rows(page, call_title)
    expect(rows).to_have_count(2)
    period = notice_period(opened)
    # 序号, 项目名称, 承担单位, 项目负责人, 资助金额（万元）, 公示期, (objection link)
    for row, (n, title, org, leader, amount) in zip(
            (rows.nth(0), rows.nth(1)),
            (("1", FIRST, "赣南科技大学", "李明", "60.00"),
             ("2", SECOND, "赣州市农业科学研究院", "王芳", "45.00")), strict=True):
        cells = row.locator("td")
        expect(cells.nth(0)).to_have_text(n)
        expect(cells.nth(1)).to_have_text(title)
        expect(cells.nth(2)).to_have_text(org)
        expect(cells.nth(3)).to_have_text(leader)
        expect(cells.nth(4)).to_have_text(amount)
        expect(cells.nth(5)).to_have_text(period)
    for absent in (THIRD, FOURTH):
        expect(page.locator("main")).not_to_contain_text(absent)

    # Without a name and a contact: recorded, not accepted.
    rows.nth(1).get_by_role("link", name="提出异议").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("对公示项目提出异议")
    expect(page.locator("main")).to_contain_text(SECOND)
    page.get_by_label("异议内容（事实和理由）").fill(OBJECTION)
    page.get_by_role("button", name="提交异议").click()
    refused = page.locator("[data-testid=objection-not-accepted]")
    expect(refused).to_contain_text("您的异议已记录")
    expect(refused).to_contain_text("属匿名异议，按规定不予受理")
    expect(page.locator("[data-testid=objection-accepted]")).to_have_count(0)

    # With a real name and a phone number: accepted, the project is under investigation.
    page.get_by_role("link", name="返回公示列表").click()
    rows.nth(1).get_by_role("link", name="提出异议").click()
    page.get_by_label("姓名").fill(OBJECTOR)
    page.get_by_label("联系方式").fill(OBJECTOR_PHONE)
    page.get_by_label("异议内容（事实和理由）").fill(OBJECTION)
    page.get_by_role("button", name="提交异议").click()
    accepted = page.locator("[data-testid=objection-accepted]")
    expect(accepted).to_contain_text(f"您对“{SECOND}”提出的异议已受理")
    page.get_by_role("link", name="返回公示列表").click()
    expect(rows).to_have_count(2)
    expect(rows.nth(1).locator("td").nth(5)).to_contain_text("异议核查中")
    expect(rows.nth(0).locator("td").nth(5)).not_to_contain_text("异议核查中")


def officer_dismisses(page: Page, server: Server) -> None:
    page.reload()
    approved = page.locator("[data-testid=approved-decision]")
    expect(item_rows(approved).locator("td:nth-child(6)")).to_have_text(["公示", "异议处理"])
    item_rows(approved).nth(1).get_by_role("link", name=SECOND).click()
    expect(page).to_have_url(APP_URL)
    expect(state_of(page)).to_have_text("异议处理")
    objections = page.locator("[data-testid=objections] tbody tr")
    expect(objections).to_have_count(2)
    # 收到时间, 异议人, 联系方式, 内容, 状态, 处理意见
    anonymous, named = objections.nth(0).locator("td"), objections.nth(1).locator("td")
    expect(anonymous.nth(1)).to_have_text("（匿名）")
    expect(anonymous.nth(4)).to_have_text("匿名异议，不予受理")
    expect(named.nth(1)).to_have_text(OBJECTOR)
    expect(named.nth(2)).to_have_text(OBJECTOR_PHONE)
    expect(named.nth(3)).to_have_text(OBJECTION)
    expect(named.nth(4)).to_have_text("调查中")

    page.get_by_label("意见或理由").fill(FINDING)
    page.get_by_role("button", name=re.compile("^异议不成立")).click()
    # The message names the project that moved (its receipt number and title).
    expect(flash(page)).to_have_text(re.compile(rf"^公示：(\S+ )?{re.escape(SECOND)}$"))
    expect(state_of(page)).to_have_text("公示")
    expect(named.nth(4)).to_have_text("异议不成立")
    expect(named.nth(5)).to_have_text(FINDING)
    expect(anonymous.nth(4)).to_have_text("匿名异议，不予受理")
    history = page.locator("[data-testid=history] tr", has_text=FINDING)
    expect(history).to_contain_text("张科长")
    expect(history).to_contain_text("异议处理 → 公示")


def test_leader_approves_the_list_after_the_meeting_and_an_objection_is_dismissed(
        page: Page, browser: Browser, kjflow_server: Server, tmp_path: Path) -> None:
    server = kjflow_server
    login(page, "officer", "张科长")
    call_title = officer_proposes(page, server)

    with session_of(browser, server, "leader", "孙局长") as leader:
        leader_decides(leader, server, call_title, tmp_path)

    years_ahead_known(browser, server)
    opened = officer_publishes(page)

    visitor = browser.new_context(base_url=server.url, locale="zh-CN")
    visitor.set_default_timeout(15_000)
    try:
        public = visitor.new_page()
        visitor_reads_and_objects(public, call_title, opened)
        officer_dismisses(page, server)
        # Back on notice: listed without the investigation mark.
        public.reload()
        rows = notice_rows(public, call_title)
        expect(rows).to_have_count(2)
        expect(rows.nth(1).locator("td").nth(1)).to_have_text(SECOND)
        expect(rows.nth(1).locator("td").nth(5)).to_have_text(notice_period(opened))
    finally:
        visitor.close()
    assert server.worker_alive(), server.output()
