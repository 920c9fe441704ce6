"""Expert review in a real browser, from a new call to the ranking and its funding line.

The officer creates and publishes a 包干制 call of its own (so nothing here depends on what
other tests did with the demo calls), researcher1 applies, the officer closes the call early
with a written reason, starts the review, passes formal review and assigns two experts by
optimal matching. Each expert accepts, is refused an out-of-range score, saves a draft and
submits; the application is then 评审完成 and the officer tries the funding line on the
ranking page. Experts never see each other's scores; researcher1 never sees an expert name.
"""

from __future__ import annotations

import io
import re
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from openpyxl import load_workbook
from playwright.sync_api import Browser, Locator, Page, expect

from forms.schema import FIELD_ROLES
from tests.browser.conftest import Server
from tests.browser.test_applying import (
    EXPERT_NAMES,
    create_draft,
    expect_no_expert_names,
    flash,
    login,
    open_call,
    session_of,
    state_of,
    submit_and_expect_receipt,
)
from workflow.demo import EXPERTS, UNIV
from workflow.timeutil import SHANGHAI

pytestmark = pytest.mark.browser

CALL_TITLE = "稀土功能材料专项（专家评审演练）"
APP_TITLE = "废旧稀土永磁电机磁钢高值化回收技术"
SUMMARY = "研究废旧稀土永磁电机磁钢的拆解、氢破碎与再生烧结工艺，形成短流程回收方案。"
KEYWORDS = "稀土永磁，电机，回收"
CLOSE_REASON = "申报数量已满足评审需要，提前截止受理"
# The call's rubric and application form, as the officer builds them (no JSON typed):
# (评分项, 权重) and (字段标题, 字段类型, 最高金额（万元） or None, 系统用途): the ranking
# reads the requested amount, and the expert matching the keywords, by their use.
RUBRIC = [("创新性", "50"), ("可行性", "50")]
FORM = [("项目摘要", "多行文本", None, "summary"), ("关键词", "单行文本", None, "keywords"),
        ("申请经费（万元）", "金额", "100", "amount")]
# Each expert: (创新性, 可行性, comment) and the weighted total shown after submitting.
SCORES = [
    ("85", "80", "技术路线清晰，创新性较强，建议在中试阶段补充能耗与成本的对比数据。", "82.50"),
    ("90", "70", "团队基础扎实，但回收磁钢的一致性控制方案仍需进一步细化和验证。", "80.00"),
]
AGGREGATE = "81.25"  # the mean of the two totals
USERNAME_OF = {name: username for username, name, _org, _disc, _kw in EXPERTS}
# Experts of researcher1's own organisation: never drawn for researcher1's application.
SAME_ORG = {name for _u, name, org, _d, _k in EXPERTS if org == UNIV}
# The only other expert sharing a keyword (电机) with the application.
KEYWORD_MATCH = "何高工"
CALL_URL = re.compile(r"/calls/(\d+)$")
SCORE_URL = re.compile(r"/reviews/(\d+)/score$")


# ---- helpers ----------------------------------------------------------------------------

def error_flash(page: Page) -> Locator:
    return page.locator("main > .flash.error")


def fire(page: Page, button: str, state: str, reason: str = "") -> None:
    """Press one of the entity page's action buttons (with the reason, if any)."""
    if reason:
        page.get_by_label("意见或理由").fill(reason)
    page.get_by_role("button", name=button, exact=True).click()
    # The message names what moved: the call, by its title.
    expect(flash(page)).to_have_text(f"{state}：{CALL_TITLE}")
    expect(state_of(page)).to_have_text(state)


def local_input(moment: datetime) -> str:
    """The value a datetime-local input takes, in Beijing time."""
    return moment.astimezone(SHANGHAI).strftime("%Y-%m-%dT%H:%M")


def fill_call_form(page: Page, title: str, optional_numbers: bool) -> None:
    now = datetime.now(SHANGHAI)
    page.get_by_label("指南名称").fill(title)
    page.get_by_label("资助方式").select_option(label="包干制")
    page.get_by_label("年度", exact=True).fill(str(now.year))
    page.get_by_label("指南正文").fill("面向稀土功能材料的回收与再利用，经费实行包干制。")
    page.get_by_label("开始时间（北京时间）").fill(local_input(now - timedelta(days=1)))
    page.get_by_label("截止时间（北京时间）").fill(local_input(now + timedelta(days=30)))
    page.get_by_label("总预算（万元）").fill("200")
    page.get_by_label("每项评审专家数").fill("2")
    if optional_numbers:
        page.get_by_label("公示期（天）").fill("5")
        page.get_by_label("负责人在研项目上限（限项）").fill("2")
    build_rubric(page, RUBRIC)
    build_form(page, FORM)


def build_rubric(page: Page, criteria: list[tuple[str, str]]) -> None:
    """The rubric with the builder: a row per criterion, the live sum reaching 100."""
    rubric = page.locator("[data-builder=rubric]")
    for label, weight in criteria:
        rubric.get_by_role("button", name="添加评分项").click()
        row = rubric.locator(".kb-row").last
        row.get_by_label("评分项").fill(label)
        row.get_by_label("权重").fill(weight)
    expect(rubric.locator(".kb-sum")).to_contain_text("权重合计 100 / 100")


def build_form(page: Page, fields: list[tuple[str, str, str | None, str]]) -> None:
    """The application form with the builder: each field required, the preview showing it."""
    form = page.locator("[data-builder=form_schema]")
    for label, kind, most, use in fields:
        form.get_by_role("button", name="添加字段").click()
        row = form.locator(".kb-row").last
        row.get_by_label("字段标题").fill(label)
        row.get_by_label("字段类型").select_option(label=kind)
        row.get_by_label("必填（申报人必须填写此项）").check()
        if most:
            row.get_by_label("最高金额").fill(most)
        row.get_by_label("系统用途").select_option(label=FIELD_ROLES[use][1])
        expect(row.locator(".fb-meta")).to_contain_text("用作")
        expect(page.locator("#form-preview")).to_contain_text(label)
    expect(form.locator(".kb-sum")).not_to_contain_text("提示")


def score_box(page: Page, criterion: str) -> Locator:
    """A criterion's score box, labelled by the criterion's name ("创新性")."""
    return page.get_by_label(criterion, exact=True)


def review_counts(page: Page) -> tuple[int, int, int]:
    """待处理, 评审中, 已完成 as the expert's queue shows them."""
    counts = page.locator("[data-testid=review-counts]")
    found = re.fullmatch(r"待处理 (\d+) · 评审中 (\d+) · 已完成 (\d+)", counts.inner_text())
    assert found, counts.inner_text()
    waiting, in_progress, done = (int(n) for n in found.groups())
    return waiting, in_progress, done


def expect_counts(page: Page, waiting: int, in_progress: int, done: int) -> None:
    expect(page.locator("[data-testid=review-counts]")).to_have_text(
        f"待处理 {waiting} · 评审中 {in_progress} · 已完成 {done}")


# ---- the scenario -----------------------------------------------------------------------

def officer_creates_and_publishes(page: Page, server: Server) -> int:
    page.get_by_role("navigation", name="主导航").get_by_role("link", name="申报指南").click()
    page.get_by_role("link", name="新建指南").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("新建申报指南")
    fill_call_form(page, CALL_TITLE, optional_numbers=True)
    page.get_by_role("button", name="保存", exact=True).click()
    expect(page).to_have_url(CALL_URL)
    expect(flash(page)).to_have_text("指南已保存为草稿")
    expect(page.get_by_role("heading", level=1)).to_have_text(CALL_TITLE)
    expect(state_of(page)).to_have_text("草稿")
    expect(page.locator("[data-testid=call-details]")).to_contain_text("总预算 200.00 万元")
    found = CALL_URL.search(page.url)
    assert found, page.url
    fire(page, "发布", "已发布")
    return int(found.group(1))


def researcher_applies(page: Page, server: Server) -> int:
    open_call(page, CALL_TITLE)
    page.get_by_role("link", name="申报", exact=True).click()
    app_id = create_draft(page, APP_TITLE)
    page.get_by_label("项目摘要").fill(SUMMARY)
    page.get_by_label("关键词").fill(KEYWORDS)
    page.get_by_label("申请经费（万元）").fill("30")
    page.get_by_role("button", name="保存草稿").click()
    expect(flash(page)).to_have_text("已保存")
    signature = page.locator("[data-testid=signature]")
    expect(signature).to_contain_text("科研诚信与经费使用承诺书")
    signature.get_by_role("button", name=re.compile("^我已阅读并签署")).click()
    expect(flash(page)).to_have_text("已签署")
    submit_and_expect_receipt(page, server, app_id)
    return app_id


def officer_closes_and_starts_review(page: Page) -> None:
    page.reload()
    expect(state_of(page)).to_have_text("已发布")
    # Before the deadline a reason is required: refused, and nothing changes.
    close = page.get_by_role("button", name="截止受理（需填写理由）")
    close.click()
    expect(error_flash(page)).to_have_text("尚未到截止时间；如需提前截止，请填写理由")
    expect(state_of(page)).to_have_text("已发布")
    fire(page, "截止受理（需填写理由）", "已截止", reason=CLOSE_REASON)
    history = page.locator("[data-testid=history]")
    expect(history.locator("tr", has_text=CLOSE_REASON)).to_contain_text("已发布 → 已截止")
    expect(page.get_by_role("link", name="分配评审专家")).to_be_visible()
    fire(page, "开始评审", "评审中")


def officer_passes_formal_review(page: Page, server: Server, app_id: int) -> None:
    page.get_by_role("navigation", name="主导航").get_by_role("link", name="工作台").click()
    page.locator("section[data-role=officer]").get_by_role(
        "link", name=f"待形式审查：{APP_TITLE}").click()
    expect(page).to_have_url(f"{server.url}/applications/{app_id}")
    expect(state_of(page)).to_have_text("形式审查")
    expect(page.get_by_text("限项、一题多报、科研诚信：均未发现问题")).to_be_visible()
    review = page.locator("[data-testid=formal-review]")
    # Each item of the checklist is answered; the pass is confirmed.
    for item in review.locator("[data-testid=checklist-item]").all():
        item.get_by_label("符合", exact=True).check()
    review.get_by_role("button", name="形式审查通过").click()
    page.get_by_role("button", name="确定形式审查通过").click()
    expect(flash(page)).to_have_text("形式审查意见已保存")
    expect(state_of(page)).to_have_text("专家评审")
    expect(state_of(page)).to_have_attribute("data-state", "expert_review")


def officer_assigns(page: Page, call_id: int) -> list[str]:
    """Optimal matching, two per application; returns the experts' names, as listed."""
    page.get_by_role("navigation", name="主导航").get_by_role("link", name="申报指南").click()
    page.locator("[data-testid=calls]").get_by_role("link", name=CALL_TITLE).click()
    expect(state_of(page)).to_have_text("评审中")
    page.get_by_role("link", name="分配评审专家").click()
    expect(page).to_have_url(re.compile(rf"/calls/{call_id}/assign$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(f"分配评审专家：{CALL_TITLE}")
    row = page.locator("[data-testid=assignments] tbody tr", has_text=APP_TITLE)
    expect(row).to_contain_text("专家评审")
    experts = row.locator("td").nth(2).get_by_role("link")
    expect(experts).to_have_count(0)

    page.get_by_label("分配方式").select_option(label="最优匹配（按学科与关键词，最小费用流）")
    page.get_by_label("每项评审专家数").fill("2")
    page.get_by_role("button", name="分配", exact=True).click()
    # The page comes back at once with the progress box; the worker assigns, and the box
    # shows the result without the page being loaded again.
    expect(page).to_have_url(re.compile(rf"/calls/{call_id}/assign\?job=\d+$"))
    page.evaluate("window.kjflowSamePage = true")
    box = page.locator("[data-testid=job]")
    expect(box.get_by_role("progressbar")).to_have_attribute("aria-valuenow",
                                                             re.compile(r"^\d+$"))
    expect(box).to_have_attribute("data-job-state", "done")
    assert page.evaluate("window.kjflowSamePage === true")  # no reload, no navigation
    expect(box.locator("[data-testid=job-summary]")).to_have_text("已分配 2 项评审任务")
    expect(box.locator("[data-testid=job-count]")).to_have_text("已处理 1 / 1")
    box.get_by_role("link", name="查看分配结果").click()
    expect(page).to_have_url(re.compile(rf"/calls/{call_id}/assign$"))
    draw = page.locator("[data-draw]").first
    expect(draw).to_contain_text("最优匹配")
    expect(draw).to_contain_text("共分配 2 项")
    expect(draw.locator(".error")).to_have_count(0)
    expect(experts).to_have_count(2)
    expect(row.locator("td").nth(2)).to_have_text(re.compile(r"^\S+（已邀请）、\S+（已邀请）$"))
    names = [name.strip() for name in experts.all_inner_texts()]
    assert len(set(names)) == 2 and set(names) <= set(EXPERT_NAMES), names
    # Nobody from researcher1's university; the keyword match (电机) is chosen.
    assert not SAME_ORG & set(names), names
    assert KEYWORD_MATCH in names, names
    return names


def expert_scores(page: Page, server: Server, turn: int, tmp_path: Path,
                  first_review: tuple[int, str] | None) -> int:
    """One expert: accept, a refused score, a draft, submit. Returns the review's id."""
    innovation, feasibility, comment, total = SCORES[turn]
    page.get_by_role("navigation", name="主导航").get_by_role("link", name="评审任务").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("我的评审任务")
    waiting, in_progress, done = review_counts(page)
    assert waiting >= 1, (waiting, in_progress, done)
    card = page.locator("[data-testid=review-queue] tr[data-review]", has_text=APP_TITLE)
    expect(card).to_have_count(1)
    expect(card).to_contain_text(CALL_TITLE)
    expect(card.locator(".state")).to_have_text("已邀请")
    # What waits on the expert comes first: their invitations, then reviews to score.
    pending = page.locator("[data-testid=review-queue] tr[data-review]").filter(
        has=page.get_by_role("button", name="接受"))
    expect(page.locator("[data-testid=review-queue] tr[data-review]").first).to_have_attribute(
        "data-review", pending.first.get_attribute("data-review") or "")
    expect(card.get_by_role("link", name="评分")).to_have_count(0)

    card.get_by_role("button", name="接受").click()
    expect(flash(page)).to_have_text(f"已接受评审邀请：“{APP_TITLE}”")
    expect_counts(page, waiting - 1, in_progress + 1, done)
    expect(card.locator(".state")).to_have_text("已接受")
    card.get_by_role("link", name="评分").click()
    expect(page).to_have_url(SCORE_URL)
    found = SCORE_URL.search(page.url)
    assert found, page.url
    review_id = int(found.group(1))
    expect(page.get_by_role("heading", level=1)).to_have_text(f"评分：{APP_TITLE}")
    expect(page.get_by_role("heading", name="申报内容").locator("..")).to_contain_text(SUMMARY)
    expect(page.locator("[data-testid=total]")).to_have_count(0)

    if first_review is not None:
        # The other expert's comment and total are nowhere, and their task cannot be opened.
        first_id, first_comment = first_review
        body = page.locator("body")
        expect(body).not_to_contain_text(first_comment)
        expect(body).not_to_contain_text(SCORES[0][3])
        for url in (f"/reviews/{first_id}/score", f"/reviews/{first_id}"):
            response = page.goto(url)
            assert response is not None and response.status == 404, (url, response)
        page.goto(f"/reviews/{review_id}/score")

    # Out of range: explained beside the field, nothing typed is lost.
    score_box(page, "创新性").fill("120")
    score_box(page, "可行性").fill(feasibility)
    page.get_by_label("综合评价意见").fill(comment)
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        page.get_by_role("button", name="保存草稿").click()
    assert posted.value.status == 422, posted.value.status
    expect(error_flash(page)).to_have_text("评分有误")
    box = score_box(page, "创新性")
    expect(page.locator(f"#{box.get_attribute('id')}-error")).to_have_text(
        "“创新性”应在0至100分之间")
    expect(page.get_by_role("alert")).to_contain_text("“创新性”应在0至100分之间")
    expect(box).to_have_value("120")
    expect(score_box(page, "可行性")).to_have_value(feasibility)
    expect(page.get_by_label("综合评价意见")).to_have_value(comment)

    # A draft keeps what was typed, still editable.
    score_box(page, "创新性").fill(innovation)
    page.get_by_role("button", name="保存草稿").click()
    expect(flash(page)).to_have_text("评分草稿已保存")
    expect(page.get_by_role("alert")).to_have_count(0)
    page.reload()
    expect(score_box(page, "创新性")).to_have_value(innovation)
    expect(score_box(page, "可行性")).to_have_value(feasibility)
    expect(page.get_by_label("综合评价意见")).to_have_value(comment)
    expect(score_box(page, "创新性")).to_be_editable()
    expect(page.locator("[data-testid=total]")).to_have_count(0)

    if turn == 1:
        # Submitting needs a comment of at least 20 characters.
        page.get_by_label("综合评价意见").fill("同意立项。")
        page.get_by_role("button", name="提交评分").click()
        page.get_by_role("button", name="确定提交评分").click()
        expect(page.locator("#comment-error")).to_have_text("综合评价意见不少于20字（当前5字）")
        expect(error_flash(page)).to_have_text("未能完成，请按提示修改后重试")
        expect(page.get_by_role("button", name="提交评分")).to_be_visible()
        expect(page.locator("[data-testid=total]")).to_have_count(0)
        page.get_by_label("综合评价意见").fill(comment)

    page.get_by_role("button", name="提交评分").click()
    page.get_by_role("button", name="确定提交评分").click()  # it cannot be changed after
    expect(page).to_have_url(f"{server.url}/reviews/{review_id}/score")
    expect(flash(page)).to_have_text("评分已提交，不能再修改")
    expect(page.locator("[data-testid=total]")).to_have_text(f"总分：{total}")
    expect(page.locator("main p.muted").first).to_contain_text("状态：已提交评分")
    for field in (score_box(page, "创新性"), score_box(page, "可行性"),
                  page.get_by_label("综合评价意见")):
        expect(field).to_be_disabled()
    expect(score_box(page, "创新性")).to_have_value(innovation)
    expect(page.get_by_label("综合评价意见")).to_have_value(comment)
    expect(page.get_by_role("button", name="保存草稿")).to_have_count(0)
    expect(page.get_by_role("button", name="提交评分")).to_have_count(0)
    if first_review is not None:
        expect(page.locator("body")).not_to_contain_text(first_review[1])

    if turn == 0:
        shot = tmp_path / "expert-score-submitted.png"
        page.screenshot(path=str(shot), full_page=True)
        data = shot.read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 1000, len(data)
        print(f"expert score page screenshot: {shot}")

    page.get_by_role("navigation", name="主导航").get_by_role("link", name="评审任务").click()
    expect_counts(page, waiting - 1, in_progress, done + 1)
    expect(card.locator(".state")).to_have_text("已提交评分")
    expect(card.get_by_role("link", name="查看评分")).to_be_visible()
    return review_id


def officer_sees_results(page: Page, server: Server, call_id: int, app_id: int,
                         names: list[str]) -> None:
    page.reload()  # the assignment page, as left
    row = page.locator("[data-testid=assignments] tbody tr", has_text=APP_TITLE)
    for name in names:
        expect(row).to_contain_text(f"{name}（已提交评分）")
    expect(row).to_contain_text("评审完成")
    row.get_by_role("link", name=APP_TITLE).click()
    expect(page).to_have_url(f"{server.url}/applications/{app_id}")
    expect(state_of(page)).to_have_text("评审完成")
    expect(state_of(page)).to_have_attribute("data-state", "reviewed")

    page.goto(f"/calls/{call_id}")
    page.get_by_role("link", name="评审排名与资助线").click()
    expect(page).to_have_url(f"{server.url}/calls/{call_id}/ranking")
    expect(page.get_by_role("heading", level=1)).to_have_text(f"评审排名：{CALL_TITLE}")
    table = page.locator("[data-testid=ranking]")
    ranked = table.locator("tbody tr", has_text=APP_TITLE)
    expect(table.locator("tbody tr")).to_have_count(1)
    cells = ranked.locator("td")
    # 排名, 申报书, 单位, 评审数, 得分, 分歧, 申请（万元）, 资助
    expect(cells).to_have_text(["1", APP_TITLE, "赣南科技大学", "2", AGGREGATE, "", "30.00",
                                "是"])
    line = page.locator("[data-testid=line]")
    expect(line).to_have_text("预算 200.00 万元 · 已资助 30.00 万元 · 剩余 170.00 万元")
    # The ranking names no expert either.
    expect_no_expert_names(page)

    # What if only 20 万元 were left: the application no longer fits.
    budget = page.get_by_label(re.compile("^试算预算"))
    budget.fill("20")
    page.get_by_role("button", name="试算资助线").click()
    expect(page).to_have_url(re.compile(r"/ranking\?budget=20\b"))
    expect(line).to_have_text("预算 20.00 万元 · 已资助 0.00 万元 · 剩余 20.00 万元")
    expect(cells.nth(7)).to_have_text("")
    expect(cells.nth(4)).to_have_text(AGGREGATE)
    expect(page.get_by_label(re.compile("^试算预算"))).to_have_value("20")

    # A budget that is not a number is explained, and the call's own budget applies.
    with page.expect_response(lambda r: "/ranking" in r.url) as answered:
        page.get_by_label(re.compile("^试算预算")).fill("二十万")
        page.get_by_role("button", name="试算资助线").click()
    assert answered.value.status == 422, answered.value.status
    expect(page.get_by_role("alert")).to_have_text("金额应为数字，单位万元")
    expect(line).to_contain_text("预算 200.00 万元")

    # The Excel score sheet lists the scores as 专家1, 专家2 and never by name.
    with page.expect_download() as downloading:
        page.get_by_role("link", name="导出评分表（Excel）").click()
    download = downloading.value
    assert download.suggested_filename == f"评审结果-{call_id}.xlsx", download.suggested_filename
    book = load_workbook(io.BytesIO(Path(download.path()).read_bytes()), read_only=True)
    text = " ".join(str(cell) for sheet in book.worksheets
                    for row_values in sheet.iter_rows(values_only=True)
                    for cell in row_values if cell is not None)
    book.close()
    assert APP_TITLE in text and "专家1" in text and "专家2" in text, text[:2000]
    assert not [name for name in EXPERT_NAMES if name in text], text[:2000]


def researcher_sees_no_expert(page: Page, server: Server, call_id: int, app_id: int,
                              review_ids: list[int]) -> None:
    page.get_by_role("navigation", name="主导航").get_by_role("link", name="工作台").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("工作台")
    expect_no_expert_names(page)

    page.get_by_role("navigation", name="主导航").get_by_role("link", name="申报书").click()
    row = page.locator("[data-testid=applications] tbody tr", has_text=APP_TITLE)
    expect(row).to_contain_text("评审完成")
    expect_no_expert_names(page)

    row.get_by_role("link", name=APP_TITLE).click()
    expect(page).to_have_url(f"{server.url}/applications/{app_id}")
    expect(state_of(page)).to_have_text("评审完成")
    expect_no_expert_names(page)
    page.get_by_role("link", name="查看申报内容").click()
    expect(page.get_by_label("项目摘要")).to_have_value(SUMMARY)
    expect_no_expert_names(page)

    # Neither the reviews nor the ranking open for the applicant: the reviews are hidden
    # (404), the ranking of a call they see is refused (403).
    for url, status in [(f"/reviews/{i}/score", 404) for i in review_ids] + [
            (f"/reviews/{i}", 404) for i in review_ids] + [(f"/calls/{call_id}/ranking", 403)]:
        response = page.goto(url)
        assert response is not None and response.status == status, (url, response)
        expect_no_expert_names(page)


def test_experts_score_and_the_officer_ranks(page: Page, browser: Browser,
                                             kjflow_server: Server, tmp_path: Path) -> None:
    server = kjflow_server
    login(page, "officer", "张科长")
    call_id = officer_creates_and_publishes(page, server)

    with session_of(browser, server, "researcher1", "李明") as researcher:
        app_id = researcher_applies(researcher, server)

        officer_closes_and_starts_review(page)
        officer_passes_formal_review(page, server, app_id)
        names = officer_assigns(page, call_id)

        review_ids: list[int] = []
        first_review: tuple[int, str] | None = None
        for turn, name in enumerate(names):
            with session_of(browser, server, USERNAME_OF[name], name) as expert:
                review_ids.append(expert_scores(expert, server, turn, tmp_path, first_review))
            first_review = (review_ids[0], SCORES[0][2])

        officer_sees_results(page, server, call_id, app_id, names)
        researcher_sees_no_expert(researcher, server, call_id, app_id, review_ids)
    assert server.worker_alive(), server.output()


def test_new_call_keeps_defaults_for_blank_optional_numbers(page: Page) -> None:
    login(page, "officer", "张科长")
    page.goto("/calls/new")
    fill_call_form(page, "稀土功能材料专项（默认值核对）", optional_numbers=False)
    page.get_by_role("button", name="保存", exact=True).click()
    expect(flash(page)).to_have_text("指南已保存为草稿", timeout=3_000)
    expect(state_of(page)).to_have_text("草稿")
