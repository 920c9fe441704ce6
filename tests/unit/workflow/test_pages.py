"""The pages of an application and a review as people read them (issue 15, items 4, 5
and 9): the step bar with its dates, the refusals a person may read, one set of actions,
errors all at once beside their fields in Chinese, the formal review's checklist, the
archival PDF awaited, and no internal id anywhere."""

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from states import ApplicationState, CallState, ReviewState
from tests.conftest import client_for, csrf_of
from tests.factories import (
    PASSWORD,
    ApplicationFactory,
    CallFactory,
    OrganizationFactory,
    ReviewFactory,
    UserFactory,
)
from workflow.applying.models import ApplicationRound
from workflow.core import engine
from workflow.core.models import Attachment, db, utcnow
from workflow.timeutil import local_time

A = ApplicationState
FORM = [
    {"name": "summary", "label": "项目摘要", "type": "longtext", "required": True, "max": 500},
    {"name": "amount", "label": "申请经费（万元）", "type": "money", "required": True,
     "max": 50},
    {"name": "keywords", "label": "关键词", "type": "text", "required": True, "max": 30},
    {"name": "proposal", "label": "申报书正文", "type": "file"},
]
CHECKLIST = ["申报单位具有独立法人资格", "附件齐全、签章完整"]
COMMENT = "技术路线清晰，创新性较强，建议补充中试阶段的能耗与成本对比数据。"


@pytest.fixture
def people(app):
    org = OrganizationFactory(name="赣南科技大学")
    users = {
        "li": UserFactory(username="li", name="李明", organization=org, roles=("applicant",),
                          id_number="362101198001010019"),
        "officer": UserFactory(username="officer", name="张科长", organization=None,
                               roles=("officer",)),
        "expert": UserFactory(username="expert", name="刘教授", roles=("expert",)),
    }
    users["call"] = CallFactory(form_schema=FORM, checklist=CHECKLIST)
    db.session.commit()
    return users


def draft_of(people, **extra):
    row = ApplicationFactory(call=people["call"], applicant=people["li"], title="稀土永磁再生技术",
                             data=extra.pop("data", {}), **extra)
    db.session.commit()
    return row


def submitted(people):
    """A draft made, filled, signed and submitted through the services (so the trail has
    its moves), waiting for formal review."""
    from workflow.applying import operations as applications

    row = applications.create_draft(people["li"], people["call"].id, "稀土永磁再生技术")
    applications.save_draft(people["li"], row, data={
        "summary": "研究稀土永磁废料的短流程再生工艺。", "amount": "30", "keywords": "稀土"})
    applications.sign(people["li"], row)
    applications.submit(people["li"], row)
    db.session.commit()
    assert row.state is A.formal_review
    return row


# ---- the step bar -----------------------------------------------------------------------

def step_bar(page: str) -> list[tuple[str, str]]:
    """(label, status) of each stage of the page's step bar, in order."""
    bar = page.split('data-testid="step-bar"')[1].split("</ol>")[0]
    return re.findall(r'data-status="(\w+)".*?<span class="kj-step-label">([^<]+)<', bar, re.S)


def test_the_applicant_sees_the_main_path_with_the_current_stage_and_its_dates(app, people):
    row = submitted(people)
    li = client_for(app, "li", PASSWORD)
    page = li.get(f"/applications/{row.id}").get_data(as_text=True)
    assert step_bar(page) == [("done", "申报"), ("current", "形式审查")] + [
        ("upcoming", label) for label in ("专家评审", "立项公示", "立项", "合同", "执行", "验收")]
    # An ordered list, the current stage marked for assistive technology, with dates.
    bar = page.split('data-testid="step-bar"')[1].split("</ol>")[0]
    assert page.count('aria-current="step"') == 1
    current = bar.split('aria-current="step"')[1].split("</li>")[0]
    assert "形式审查" in current and "（当前）" in current
    today = local_time(row.submitted_at, "%Y-%m-%d")
    assert bar.count(f">{today}</time>") == 2  # created and submitted today
    # Only the bureau reads the whole lifecycle diagram.
    assert 'data-testid="lifecycle-diagram"' not in page
    edit = li.get(f"/applications/{row.id}/edit").get_data(as_text=True)
    assert step_bar(edit)[1] == ("current", "形式审查")


def test_the_officer_may_switch_between_the_step_bar_and_the_chinese_diagram(app, people):
    row = submitted(people)
    officer = client_for(app, "officer", PASSWORD)
    page = officer.get(f"/applications/{row.id}").get_data(as_text=True)
    assert 'data-testid="step-bar"' in page and 'data-testid="lifecycle-diagram"' in page
    assert 'role="tab"' in page and "完整流程图" in page and "主流程进度" in page
    svg = page.split('data-testid="lifecycle-diagram"')[1].split("</svg>")[0]
    texts = re.findall(r"<(?:text|title)[^>]*>([^<]*)<", svg)
    assert "形式审查" in texts and "专家评审" in texts
    # Chinese labels only: no state code or step key in anything the diagram shows.
    shown = " ".join(texts)
    assert not re.search(r"[a-z_]{3,}", shown), shown
    sizes = [float(s) for s in re.findall(r'font-size="([\d.]+)"', svg)]
    # At the natural size the page shows it, 1 pt = 4/3 px: nothing under 11 px.
    assert sizes and min(sizes) * 4 / 3 >= 11
    full = officer.get(f"/applications/{row.id}/diagram")
    assert full.status_code == 200 and 'data-testid="lifecycle-diagram"' in full.get_data(
        as_text=True)
    li = client_for(app, "li", PASSWORD)
    assert li.get(f"/applications/{row.id}/diagram").status_code == 403


def test_the_expert_sees_the_steps_of_their_review(app, people):
    review = ReviewFactory(application=submitted(people), expert=people["expert"])
    db.session.commit()
    engine.fire(review, "accept", people["expert"])
    db.session.commit()
    page = client_for(app, "expert", PASSWORD).get(
        f"/reviews/{review.id}/score").get_data(as_text=True)
    assert step_bar(page) == [("done", "收到邀请"), ("current", "评分"), ("upcoming", "提交评分")]


# ---- what a person is told they may not do ------------------------------------------------

def test_the_applicant_never_reads_the_refusals_of_the_officers_actions(app, people):
    row = submitted(people)
    li = client_for(app, "li", PASSWORD)
    page = li.get(f"/applications/{row.id}").get_data(as_text=True)
    assert "只能由" not in page and "项目主管执行" not in page
    assert "退回修改" not in page.split('data-testid="actions"')[1]


def test_a_refusal_of_an_action_the_person_holds_a_role_for_is_explained(app, people):
    row = ApplicationFactory(call=people["call"], applicant=people["li"], state=A.expert_review)
    db.session.commit()
    page = client_for(app, "officer", PASSWORD).get(
        f"/applications/{row.id}").get_data(as_text=True)
    blocked = page.split('data-testid="blocked"')[1].split("</ul>")[0]
    assert "评审完成" in blocked and "至少需要一份专家评分" in blocked


def test_the_officer_has_one_set_of_formal_review_buttons(app, people):
    row = submitted(people)
    page = client_for(app, "officer", PASSWORD).get(
        f"/applications/{row.id}").get_data(as_text=True)
    for label in ("形式审查通过", "退回修改", "不予受理"):
        assert len(re.findall(rf"<button[^>]*>{label}(（需填写理由）)?</button>", page)) == 1, label


def test_the_applicant_withdraws_with_one_button_that_asks_first(app, people):
    row = ApplicationFactory(call=people["call"], applicant=people["li"], state=A.unit_review)
    db.session.commit()
    page = client_for(app, "li", PASSWORD).get(f"/applications/{row.id}").get_data(
        as_text=True)
    buttons = re.findall(r"<button[^>]*>撤回[^<]*</button>", page)
    assert len(buttons) == 1 and "data-confirm=" in buttons[0]


# ---- errors all at once, beside their fields ----------------------------------------------

def test_submitting_an_empty_application_shows_every_error_beside_its_field(app, people):
    row = draft_of(people)
    li = client_for(app, "li", PASSWORD)
    token = csrf_of(li.get(f"/applications/{row.id}/edit").get_data(as_text=True))
    resp = li.post(f"/applications/{row.id}/edit", data={
        "csrf_token": token, "title": "稀土永磁再生技术", "f_summary": "", "f_amount": "",
        "f_keywords": "", "action": "submit"})
    page = resp.get_data(as_text=True)
    assert resp.status_code == 422
    # Each empty required field says 请填写… beside itself, with the unsigned letter, at once.
    for field_id, message in (("f_summary", "请填写项目摘要"), ("f_amount", "请填写申请经费"),
                              ("f_keywords", "请填写关键词"),
                              ("sign-button", "请阅读并签署科研诚信承诺书（含负面清单）")):
        assert re.search(rf'id="{field_id}-error" data-error-for="[^"]+">{re.escape(message)}',
                         page), field_id
    for field_id in ("f_summary", "f_amount", "f_keywords"):
        tag = re.search(rf'<(?:input|textarea)[^>]*id="{field_id}"[^>]*>', page)[0]
        assert "is-invalid" in tag and "aria-invalid=\"true\"" in tag
        assert re.search(rf'aria-describedby="[^"]*{field_id}-error', tag)
    assert "应在" not in page and "不能少于" not in page  # no range message for an empty one
    summary = page.split('data-testid="error-summary"')[1].split("</div>")[0]
    assert summary.count("<li>") == 4 and 'href="#f_summary"' in summary


def test_a_bad_value_and_a_missing_one_are_told_in_one_round(app, people):
    row = draft_of(people, signed=True)
    li = client_for(app, "li", PASSWORD)
    token = csrf_of(li.get(f"/applications/{row.id}/edit").get_data(as_text=True))
    resp = li.post(f"/applications/{row.id}/edit", data={
        "csrf_token": token, "title": "", "f_summary": "摘要", "f_amount": "abc",
        "f_keywords": "", "action": "submit"})
    page = resp.get_data(as_text=True)
    assert resp.status_code == 422
    assert 'id="title-error" data-error-for="title">请填写项目名称<' in page
    assert 'data-error-for="amount">申请经费：金额应为数字，单位万元<' in page
    assert 'value="abc"' in page  # nothing typed is lost


def test_a_field_with_a_maximum_length_counts_its_characters(app, people):
    row = draft_of(people, data={"summary": "研究稀土"})
    page = client_for(app, "li", PASSWORD).get(f"/applications/{row.id}/edit").get_data(
        as_text=True)
    assert re.search(r'id="f_summary-count"[^>]*>已输入 <span data-count>4</span>/500 字', page)
    assert re.search(r'id="title-count"[^>]*>已输入 <span data-count>8</span>/200 字', page)
    assert 'src="/static/js/autosave.js"' in page and 'src="/static/js/forms.js"' in page


def test_the_autosave_says_when_it_saved(app, people):
    row = draft_of(people)
    li = client_for(app, "li", PASSWORD)
    token = csrf_of(li.get(f"/applications/{row.id}/edit").get_data(as_text=True))
    resp = li.post(f"/applications/{row.id}/autosave", data={
        "csrf_token": token, "title": "稀土永磁再生技术", "f_summary": "自动保存的摘要"})
    body = resp.get_json()
    assert resp.status_code == 200 and body["saved"]
    assert re.fullmatch(r"\d\d:\d\d", body["saved_at"])
    bad = li.post(f"/applications/{row.id}/autosave", data={
        "csrf_token": token, "title": "稀土永磁再生技术", "f_amount": "abc",
        "version": str(body["version"])})
    assert bad.status_code == 422 and bad.get_json()["errors"] == {
        "amount": "申请经费：金额应为数字，单位万元"}


@pytest.fixture
def expert_scoring(people):
    review = ReviewFactory(application=submitted(people), expert=people["expert"],
                           state=ReviewState.accepted)
    db.session.commit()
    return review


def test_a_score_with_two_bad_fields_reports_both_beside_their_criteria(app, expert_scoring):
    review = expert_scoring
    expert = client_for(app, "expert", PASSWORD)
    page = expert.get(f"/reviews/{review.id}/score").get_data(as_text=True)
    resp = expert.post(f"/reviews/{review.id}/score", data={
        "csrf_token": csrf_of(page), "s_innovation": "120", "s_feasibility": "",
        "comment": "同意。", "action": "submit"})
    page = resp.get_data(as_text=True)
    assert resp.status_code == 422
    assert 'id="s_innovation-error" data-error-for="innovation">“创新性”应在0至100分之间<' in page
    assert 'id="s_feasibility-error" data-error-for="feasibility">请填写“可行性”的分数<' in page
    assert 'id="comment-error" data-error-for="comment">综合评价意见不少于20字（当前3字）<' in page
    assert page.split('data-testid="error-summary"')[1].split("</div>")[0].count("<li>") == 3
    # The weights and maxima the page's script totals with.
    assert 'data-weight="50" data-max="100"' in page and 'src="/static/js/score.js"' in page
    db.session.expire_all()
    assert review.state is ReviewState.accepted and not review.scores


def test_a_submission_missing_only_scores_names_each_beside_its_criterion(app, expert_scoring):
    review = expert_scoring
    expert = client_for(app, "expert", PASSWORD)
    page = expert.get(f"/reviews/{review.id}/score").get_data(as_text=True)
    resp = expert.post(f"/reviews/{review.id}/score", data={
        "csrf_token": csrf_of(page), "s_innovation": "", "s_feasibility": "",
        "comment": COMMENT, "action": "submit"})
    page = resp.get_data(as_text=True)
    assert resp.status_code == 422
    assert 'data-error-for="innovation">请填写“创新性”的分数<' in page
    assert 'data-error-for="feasibility">请填写“可行性”的分数<' in page


# ---- formal review ------------------------------------------------------------------------

def formal_review(client, row, **form):
    page = client.get(f"/applications/{row.id}").get_data(as_text=True)
    return client.post(f"/applications/{row.id}/formal-review",
                       data={"csrf_token": csrf_of(page), **form})


def test_formal_review_asks_an_answer_for_each_item_and_confirmation_to_pass(app, people):
    row = submitted(people)
    officer = client_for(app, "officer", PASSWORD)
    page = officer.get(f"/applications/{row.id}").get_data(as_text=True)
    form = page.split('data-testid="formal-review"')[1].split("</form>")[0]
    for i, item in enumerate(CHECKLIST):
        assert item in form
        assert f'name="check-{i}" id="check-{i}-yes" value="yes"' in form
        assert f'name="check-{i}" id="check-{i}-no" value="no"' in form
    assert "checked" not in form  # no answer is given for the officer
    passing = re.search(r'<button[^>]*value="pass"[^>]*>', form)[0]
    assert "data-confirm=" in passing

    # Nothing answered: refused, each item told beside itself.
    resp = formal_review(officer, row, decision="pass", comment="")
    page = resp.get_data(as_text=True)
    assert resp.status_code == 422
    for i, _item in enumerate(CHECKLIST):
        assert f'id="check-{i}-error" data-error-for="checklist.' in page
    for item in CHECKLIST:
        # Beside the item, and in the summary at the top (a link to the item).
        assert page.count(f">请确认“{item}”：符合或不符合<") == 2
    db.session.expire_all()
    assert row.state is A.formal_review

    # One answered: the other is still asked for; what was answered stays answered.
    resp = formal_review(officer, row, decision="pass", **{"check-0": "yes"})
    page = resp.get_data(as_text=True)
    assert resp.status_code == 422
    other = CHECKLIST[1]
    assert f'data-error-for="checklist.{other}">请确认“{other}”：符合或不符合<' in page
    assert 'data-error-for="checklist.' + CHECKLIST[0] + '"></div>' in page
    assert re.search(r'id="check-0-yes" value="yes" checked', page)

    resp = formal_review(officer, row, decision="pass", **{"check-0": "yes", "check-1": "yes"})
    assert resp.status_code == 302
    db.session.expire_all()
    assert row.state is A.expert_review
    (first,) = db.session.scalars(sa.select(ApplicationRound)).all()
    assert first.checklist == {CHECKLIST[0]: True, CHECKLIST[1]: True}
    page = officer.get(f"/applications/{row.id}").get_data(as_text=True)
    answers = page.split('data-testid="checklist-answers"')[1].split("</ul>")[0]
    assert f"✓ 符合：{CHECKLIST[0]}" in answers


def test_returning_needs_the_reason_beside_the_comment_not_every_answer(app, people):
    row = submitted(people)
    officer = client_for(app, "officer", PASSWORD)
    resp = formal_review(officer, row, decision="return", comment="")
    page = resp.get_data(as_text=True)
    assert resp.status_code == 422
    assert 'id="fr-comment-error" data-error-for="comment">请填写意见或理由<' in page
    resp = formal_review(officer, row, decision="return", comment="请补充合作协议")
    assert resp.status_code == 302
    db.session.expire_all()
    assert row.state is A.returned


# ---- the archival PDF, awaited ------------------------------------------------------------

def test_the_archival_pdf_is_awaited_then_linked(app, people):
    from workflow.documents import operations as documents

    row = submitted(people)
    li = client_for(app, "li", PASSWORD)
    page = li.get(f"/applications/{row.id}").get_data(as_text=True)
    box = page.split('id="app-documents"')[1].split("</div>")[0]
    assert 'hx-trigger="every 2s"' in box and "生成中" in box
    fragment = li.get(f"/applications/{row.id}/documents")
    assert fragment.status_code == 200 and "生成中" in fragment.get_data(as_text=True)
    doc = documents.render_application(row.id, 1)
    db.session.commit()
    fragment = li.get(f"/applications/{row.id}/documents")
    text = fragment.get_data(as_text=True)
    assert fragment.status_code == 286  # htmx: stop polling
    assert "生成中" not in text and f'href="/documents/{doc.id}"' in text
    page = li.get(f"/applications/{row.id}").get_data(as_text=True)
    assert 'hx-trigger="every 2s"' not in page and "申报书（第1次提交）" in page
    assert client_for(app, "expert", PASSWORD).get(
        f"/applications/{row.id}/documents").status_code == 404


def test_an_old_round_without_its_pdf_is_not_awaited_for_ever(app, people):
    row = submitted(people)
    sent = db.session.scalars(sa.select(ApplicationRound)).one()
    sent.submitted_at = utcnow() - timedelta(hours=1)
    db.session.commit()
    page = client_for(app, "li", PASSWORD).get(f"/applications/{row.id}").get_data(
        as_text=True)
    assert "every 2s" not in page and "生成中" not in page


# ---- no internal ids ----------------------------------------------------------------------

def test_no_page_names_a_row_by_its_id_or_a_field_by_its_key(app, people):
    row = draft_of(people)
    db.session.add(Attachment(application_id=row.id, field="proposal", filename="正文.pdf",
                              sha256="a" * 64, size=42, kind="pdf", mime="application/pdf"))
    review = ReviewFactory(application=ApplicationFactory(
        call=people["call"], applicant=people["li"], state=A.expert_review),
        expert=people["expert"])
    db.session.commit()
    edit = client_for(app, "li", PASSWORD).get(f"/applications/{row.id}/edit").get_data(
        as_text=True)
    attachments = edit.split('data-testid="attachments"')[1].split("</ul>")[0]
    assert "42 字节 · 申报书正文" in attachments
    assert "proposal" not in re.sub(r"<[^>]+>", "", attachments) and "0.0 KB" not in edit
    officer = client_for(app, "officer", PASSWORD)
    page = officer.get(f"/reviews/{review.id}").get_data(as_text=True)
    heading = re.search(r"<h1[^>]*>([^<]*)</h1>", page)[1]
    assert heading == f"评审任务：{review.application.title}"
    assert not re.search(rf"#\s*{review.id}\b", re.sub(r"<[^>]+>", " ", page))


def test_a_stale_form_is_refused_without_naming_a_version(app, people):
    row = ApplicationFactory(call=people["call"], applicant=people["li"], state=A.unit_review)
    db.session.commit()
    li = client_for(app, "li", PASSWORD)
    page = li.get(f"/applications/{row.id}").get_data(as_text=True)
    resp = li.post(f"/applications/{row.id}/fire", data={
        "csrf_token": csrf_of(page), "trigger": "withdraw", "version": str(row.version + 5)})
    page = li.get(resp.headers["Location"]).get_data(as_text=True)
    assert "已被他人修改，请刷新后重试" in page and "版本" not in page


def test_a_call_closed_refuses_with_the_other_reasons_in_the_same_answer(app, people):
    row = draft_of(people)
    people["call"].state = CallState.closed
    db.session.commit()
    li = client_for(app, "li", PASSWORD)
    token = csrf_of(li.get(f"/applications/{row.id}/edit").get_data(as_text=True))
    resp = li.post(f"/applications/{row.id}/edit", data={
        "csrf_token": token, "title": "稀土永磁再生技术", "f_summary": "", "action": "submit"})
    page = resp.get_data(as_text=True)
    assert resp.status_code == 422 and "该指南未在受理期" in page
    assert 'data-error-for="summary">请填写项目摘要<' in page


def test_a_refused_action_of_the_generic_form_says_why_beside_the_comment(app, people):
    row = ApplicationFactory(call=people["call"], applicant=people["li"], state=A.in_progress)
    db.session.commit()
    officer = client_for(app, "officer", PASSWORD)
    page = officer.get(f"/applications/{row.id}").get_data(as_text=True)
    resp = officer.post(f"/applications/{row.id}/fire", data={
        "csrf_token": csrf_of(page), "trigger": "terminate", "comment": "",
        "recovery_wan": "3", "version": str(row.version)})
    page = resp.get_data(as_text=True)
    assert resp.status_code == 422
    assert 'id="comment-error" data-error-for="comment">请填写意见或理由<' in page
    assert re.search(r'<textarea[^>]*id="comment"[^>]*aria-invalid="true"', page)
    assert 'value="3"' in page  # what was typed stays
    db.session.expire_all()
    assert row.state is A.in_progress
