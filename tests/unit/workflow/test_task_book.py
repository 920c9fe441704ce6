"""What the contract and the notices say, read back from the rendered PDFs: the 任务书 as a
contract (cover, parties, indicators, the schedule the tranches pay, every party's
signature), the meeting phrase only with a recorded meeting, the 拨付通知's payee and
payment reference."""

import io
import re
from datetime import timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from pypdf import PdfReader

from forms import format_wan
from states import ApplicationState, CallState
from tests.factories import (
    ApplicationFactory,
    CallFactory,
    ChallengeFactory,
    OrganizationFactory,
    UserFactory,
)
from workflow.applying.models import SignedDocument, SigningParty
from workflow.core import engine, files, outbox
from workflow.core.models import OutboxEvent, db, utcnow
from workflow.decisions import operations as decisions
from workflow.documents import official
from workflow.documents.models import Document
from workflow.finance import operations as finance
from workflow.notify import scheduler

A = ApplicationState
PLAN = [{"label": "合同签订后拨付", "percent": 70, "condition": "contract"},
        {"label": "验收通过后拨付", "percent": 30, "condition": "acceptance"}]
MINUTES = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def flat_text(doc: Document) -> tuple[str, list[str]]:
    """The document's text without the line breaks the layout put in, and each page's."""
    with files.store().open(doc.sha256) as fh:
        pages = [p.extract_text() for p in PdfReader(io.BytesIO(fh.read())).pages]
    return re.sub(r"\s+", "", "".join(pages)), pages


def deliver(topic):
    for event in db.session.scalars(sa.select(OutboxEvent).where(OutboxEvent.topic == topic)):
        for name in outbox.consumers_for(topic):
            outbox.consume(event.id, name)


def between(text: str, start: str, end: str) -> str:
    return text[text.index(start) + len(start):text.index(end, text.index(start))]


@pytest.fixture
def officer(app):
    return UserFactory(roles=("officer",), organization=None, name="张科长")


def contract(row, officer):
    """Approve ``row`` (in public notice, its period over) and sign its contract, then
    render the 任务书 as the worker does."""
    db.session.commit()
    engine.fire(row, "approve", None)
    engine.fire(row, "sign_contract", officer)
    db.session.commit()
    deliver("application.sign_contract")
    return db.session.scalars(sa.select(Document).where(
        Document.application_id == row.id, Document.kind == "task_book")).one()


def test_a_baogan_task_book_is_a_contract_with_indicators_and_a_schedule_summing_to_the_grant(
        app, officer, monkeypatch):
    monkeypatch.setitem(app.config, "BUREAU_USCC", "11360700MB1234567X")
    org = OrganizationFactory(name="赣南䶮堃科技有限公司", bank_account="6216600000000001")
    leader = UserFactory(name="欧阳喆", organization=org, phone="13907970001")
    call = CallFactory(title="2026年度稀土专项", tranche_plan=PLAN,
                       budget=Decimal("5000000.00"))
    row = ApplicationFactory(
        call=call, applicant=leader, title="稀土永磁项目", state=A.public_notice,
        project_number=None, granted_amount=Decimal("800000.00"),  # asked for 100 万元
        notice_ends_at=utcnow() - timedelta(minutes=1), signed=True,
        data={"summary": "研究低重稀土永磁材料的制备工艺", "amount": "1000000.00"},
        task_book_signed_by=("team",))
    doc = contract(row, officer)
    text, pages = flat_text(doc)

    # The cover: a contract, numbered by the project, not a 公文 with a 发文字号.
    cover = re.sub(r"\s+", "", pages[0])
    for expected in (f"合同编号：{row.project_number}", "科技计划项目任务书", "（包干制）",
                     "计划类别2026年度稀土专项", "项目名称稀土永磁项目",
                     f"项目编号{row.project_number}", "承担单位赣南䶮堃科技有限公司",
                     "项目负责人欧阳喆", "起止年限", "甲方（委托方）赣州市科学技术局",
                     "乙方（承担单位）赣南䶮堃科技有限公司", "签订日期"):
        assert expected in cover, expected
    assert "需求方" not in cover
    assert doc.doc_number is None and "赣市科字" not in text
    assert text.count("编号：GZKJ") == text.count("合同编号：GZKJ") == 1
    assert re.search(r"第1页共\d+页", text)
    # The parties with their details; the account grants are paid to is not the contract's.
    parties = between(text, "合同各方", "一、项目基本情况")
    assert f"统一社会信用代码：{org.uscc}" in parties
    assert "赣州市科学技术局统一社会信用代码：11360700MB1234567X" in parties
    assert "项目负责人：欧阳喆" in parties and "13907970001" in parties
    assert org.bank_account not in text

    # 考核指标: what the form states, and the spending as committed; never empty.
    indicators = between(text, "二、考核指标", "三、进度安排与经费拨付")
    assert "研究低重稀土永磁材料的制备工艺" in indicators
    assert "负面清单" in indicators and "结题验收" in indicators
    assert "科研诚信与经费使用承诺书" in indicators and "欧阳喆" in indicators
    # The schedule is the tranches finance will pay, adding up to the grant (80 万元).
    schedule = between(text, "三、进度安排与经费拨付", "四、各方责任")
    first, last = finance.tranches_of(row)
    assert (first.amount, last.amount) == (Decimal("560000.00"), Decimal("240000.00"))
    assert "合同签订后拨付任务书签订后56.00本任务书经各方签署生效" in schedule
    assert "验收通过后拨付结题验收通过后24.00项目通过结题验收" in schedule
    assert "合计80.00资助经费80.00万元" in schedule
    assert "100.00" not in schedule and "0.00合计" not in schedule
    assert "五、经费使用负面清单" in text and "以虚假票据、虚假合同套取资金" in text

    # Every party's block: who signed, when, and room for the seal.
    signing = text[text.index("六、签署"):]
    bureau = row.signature(SignedDocument.task_book, SigningParty.bureau)
    assert "甲方（委托方）：赣州市科学技术局" in signing
    assert "授权代表（签字）：张科长" in signing
    assert "乙方（承担单位）：赣南䶮堃科技有限公司" in signing
    assert "项目负责人（签字）：欧阳喆" in signing
    local = bureau.signed_at.astimezone(official.SHANGHAI)
    assert f"签署时间：{official.cn_date(local.date())}{local:%H:%M}" in signing
    assert signing.count("（盖章）") == 2 and "（未签署）" not in signing


def jiebang_row(officer, grant="1500000.00"):
    demand = UserFactory(roles=("demand",), name="发榜联系人",
                         organization=OrganizationFactory(name="赣州稀土集团"))
    challenge = ChallengeFactory(
        demand_org=demand.organization, ceiling=Decimal(3_000_000), duration_months=30,
        call__budget=Decimal(10**7), call__title="2026年度揭榜挂帅",
        # The call's plan says 70/30: a 揭榜挂帅 project is paid by its milestones anyway.
        call__tranche_plan=PLAN,
        indicators=[{"name": "最大磁能积", "target": "≥ 50 MGOe"},
                    {"name": "重稀土用量降低", "target": "≥ 50%"}],
        milestone_template=[{"label": "中试样品", "percent": 40},
                            {"label": "小批量生产", "percent": 60}])
    team = UserFactory(name="项目负责人甲")
    row = ApplicationFactory(
        call=challenge.call, challenge=challenge, applicant=team, state=A.public_notice,
        granted_amount=Decimal(grant), notice_ends_at=utcnow() - timedelta(minutes=1),
        signed=True,
        data={"milestones": [{"label": "样机完成", "amount": "800000.00", "months": 12},
                             {"label": "中试验证", "amount": "1200000.00", "months": 24}],
              "indicators": {"最大磁能积": "≥ 52 MGOe", "重稀土用量降低": "≥ 55%"}})
    row.sign(SignedDocument.task_book, SigningParty.demand, demand.id, "发榜联系人", utcnow())
    row.sign(SignedDocument.task_book, SigningParty.team, team.id, "项目负责人甲", utcnow())
    return row, challenge


def test_a_jiebang_task_book_schedules_the_tranches_actually_created_summing_to_the_grant(
        officer):
    row, challenge = jiebang_row(officer)  # 200 万元 asked, 150 万元 granted
    doc = contract(row, officer)
    text, pages = flat_text(doc)
    tranches = finance.tranches_of(row)
    assert [(t.label, t.amount, t.condition) for t in tranches] == [
        ("里程碑1：样机完成", Decimal("600000.00"), "milestone"),
        ("里程碑2：中试验证", Decimal("900000.00"), "milestone")]
    milestones = finance.milestones_of(row)

    schedule = between(text, "三、进度安排与经费拨付", "四、各方责任")
    rows = re.findall(r"(\d)(里程碑\d：[^\d]+?)(\d{4}年\d+月\d+日)里程碑验收通过后([\d.]+)"
                      r"(.+?)(?=\d里程碑|合计)", schedule)
    assert [(label, due, amount) for _, label, due, amount, _ in rows] == [
        (t.label, official.cn_date(m.due_on), format_wan(t.amount))
        for t, m in zip(tranches, milestones, strict=True)]
    # 考核要求 of every row: what must be accepted, and by whom; the last one the targets.
    for _, _, _, _, criteria in rows:
        assert "经需求方（赣州稀土集团）和甲方验收通过" in criteria
    assert "全部攻关指标达到榜单要求：最大磁能积≥50MGOe" in rows[-1][4]
    assert "对应榜单里程碑“中试样品”" in rows[0][4]
    assert "合计150.00资助经费150.00万元" in schedule
    assert "80.00" not in schedule and "120.00" not in schedule  # not the request

    cover = re.sub(r"\s+", "", pages[0])
    assert "需求方（发榜方）赣州稀土集团" in cover and "揭榜任务" in cover
    start = row.approved_at.astimezone(official.SHANGHAI).date()
    assert f"起止年限{official.cn_date(start)}至" in cover
    # 考核指标: the challenge's indicators, its targets and the team's answers.
    indicators = between(text, "二、考核指标", "三、进度安排与经费拨付")
    assert "1最大磁能积≥50MGOe≥52MGOe" in indicators
    assert "2重稀土用量降低≥50%≥55%" in indicators
    assert "揭榜挂帅军令状" in indicators
    assert "负面清单" not in text

    signing = text[text.index("五、签署"):]
    for expected in ("甲方（委托方）：赣州市科学技术局", "授权代表（签字）：张科长",
                     f"需求方（发榜方）：{challenge.demand_org.name}",
                     "授权代表（签字）：发榜联系人", f"乙方（承担单位）：{row.organization.name}",
                     "项目负责人（签字）：项目负责人甲"):
        assert expected in signing, expected
    assert signing.count("（盖章）") == 3 and "（未签署）" not in signing


def test_the_schedule_before_the_tranches_are_stored_is_the_one_later_stored(officer):
    row, _ = jiebang_row(officer, grant="1000000.01")
    db.session.commit()
    engine.fire(row, "approve", None)
    db.session.commit()
    planned = finance.tranche_schedule(row)
    assert sum(p.amount for p in planned) == row.granted_amount
    stored = finance.plan_tranches(row)
    assert [(p.seq, p.label, p.amount, p.condition) for p in planned] == [
        (t.seq, t.label, t.amount, t.condition) for t in stored]
    assert [(p.milestone_label, p.due_on) for p in planned] == [
        (m.label, m.due_on) for m in finance.milestones_of(row)]


# ---- the meeting phrase ------------------------------------------------------------------

def decided_call(leader, officer, meeting: bool):
    """A call whose funded list a leader approved (with its meeting recorded, or not),
    its projects then approved after public notice."""
    call = CallFactory(state=CallState.reviewing, budget=Decimal("1000000.00"),
                       collective_threshold=Decimal("500000.00") if meeting else None)
    rows = [ApplicationFactory(call=call, state=A.reviewed, data={"amount": "300000.00"})
            for _ in range(2)]
    db.session.commit()
    d = decisions.propose(call, officer, [{"application_id": r.id, "amount_wan": "30"}
                                          for r in rows])
    if meeting:
        decisions.record_meeting(d, officer, {
            "meeting_name": "局党组会议", "meeting_date": "2026-11-20",
            "meeting_attendees": "李局长、王副局长、张科长",
            "minutes_ref": "党组纪要〔2026〕12号"}, ("纪要.pdf", io.BytesIO(MINUTES)))
    decisions.approve(d, leader, "同意")
    for r in rows:
        r.state, r.notice_ends_at = A.public_notice, utcnow() - timedelta(minutes=1)
    db.session.commit()
    assert scheduler.approve_ended_notices() == 2
    return call, rows


@pytest.mark.parametrize("meeting", [True, False])
def test_the_notice_and_the_approval_file_cite_the_meeting_only_when_one_was_recorded(
        officer, meeting):
    leader = UserFactory(roles=("leader",), organization=None, name="李局长")
    call, rows = decided_call(leader, officer, meeting)
    notice, _ = flat_text(official.render_notice(rows[0].id))
    listing, _ = flat_text(official.render_approval_file(call.id))
    if meeting:
        said = "专家评审、2026年11月20日局党组会议研究（会议纪要文号：党组纪要〔2026〕12号）"
        assert f"经{said}并经公示" in notice
        assert f"形式审查、{said}并经公示" in listing
    else:
        assert "经专家评审、局领导审定并经公示" in notice
        assert "专家评审、局领导审定并经公示" in listing
        assert "研究" not in notice and "党组" not in notice and "党组" not in listing


def test_a_project_approved_without_a_funding_list_says_only_what_happened(app):
    row = ApplicationFactory(state=A.public_notice, granted_amount=Decimal("300000.00"),
                             notice_ends_at=utcnow() - timedelta(minutes=1))
    db.session.commit()
    assert scheduler.approve_ended_notices() == 1
    notice, _ = flat_text(official.render_notice(row.id))
    assert "经专家评审并经公示" in notice and "研究" not in notice


# ---- the payment notice ------------------------------------------------------------------

def test_the_payment_notice_names_the_milestone_the_reference_and_the_payee_paid(officer):
    row, _ = jiebang_row(officer)
    contract(row, officer)
    engine.fire(row, "start", None)
    makers = [UserFactory(roles=("finance",), organization=None) for _ in range(2)]
    demand = UserFactory(roles=("demand",), organization=row.challenge.demand_org)
    m1 = finance.milestones_of(row)[0]
    finance.report_milestone(row.applicant, m1.id, "样机已完成并通过第三方测试，指标达标")
    finance.judge_milestone(demand, m1.id, "pass", "样机满足要求")
    finance.judge_milestone(officer, m1.id, "pass", "同意")
    db.session.commit()
    first = finance.tranches_of(row)[0]
    old_account = row.organization.bank_account
    engine.fire(engine.load("tranche", first.id, lock=True), "prepare", makers[0])
    engine.fire(engine.load("tranche", first.id, lock=True), "approve", makers[1])
    engine.fire(engine.load("tranche", first.id, lock=True), "release", makers[1],
                data={"payment_ref": "ZF2026-0042"})
    # The organisation changes its account after the payment, before the worker renders.
    row.organization.bank_account = "6216600000009999"
    db.session.commit()
    text, _ = flat_text(official.render_payment_notice(first.id))
    body = text[text.index("根据项目任务书约定"):]
    assert "（支付凭证号：ZF2026-0042）" in body and "支付凭证号ZF2026-0042" in body
    assert "拨付批次里程碑1：样机完成" in body
    assert "对应里程碑第1个里程碑“样机完成”" in body and "验收通过" in body
    assert "60.00万元（人民币陆拾万元整）" in body
    assert f"银行账号{old_account}" in body and "6216600000009999" not in text
    assert f"收款单位{row.organization.name}" in body


def test_a_milestone_whose_share_rounds_to_nothing_is_no_payment(officer):
    row, _ = jiebang_row(officer, grant="1000.00")
    row.data = {**row.data, "milestones": [
        {"label": "调研", "amount": "1.00", "months": 6},
        {"label": "样机", "amount": "1999999.00", "months": 12}]}
    db.session.commit()
    engine.fire(row, "approve", None)
    stored = finance.plan_tranches(row)  # (was: a 0.00 milestone refused by the database)
    db.session.commit()
    assert [(t.label, t.amount) for t in stored] == [("里程碑2：样机", Decimal("1000.00"))]
    assert [m.label for m in finance.milestones_of(row)] == ["样机"]
