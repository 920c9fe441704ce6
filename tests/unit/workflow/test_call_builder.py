"""The call builder's services: copy last year's guide, export and import a call as a
file, the structured settings checked all at once, and the checklist's required items."""

import json
from datetime import timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from states import ApplicationState, CallState
from tests.factories import ApplicationFactory, CallFactory, OrganizationFactory, UserFactory
from workflow.calls import operations as calls
from workflow.calls.models import AggregationRule, Call, CallFormVersion
from workflow.calls.rules import call_complete
from workflow.core import engine
from workflow.core.errors import Forbidden, GuardFailed, Invalid
from workflow.core.models import AuditEvent, db, utcnow
from workflow.core.rules import GuardContext

FORM = [
    {"name": "summary", "label": "项目摘要", "type": "longtext", "required": True, "max": 2000},
    {"name": "field", "label": "所属领域", "type": "choice",
     "options": [{"value": "材料", "label": "新材料"}, {"value": "农业", "label": "现代农业"}]},
]
RUBRIC = [{"name": "innovation", "label": "创新性", "weight": 60, "max": 100},
          {"name": "feasibility", "label": "可行性", "weight": 40, "max": 50}]
TRANCHES = [{"label": "首笔", "condition": "contract", "percent": 70},
            {"label": "尾款", "condition": "acceptance", "percent": 30}]
CHECKLIST = ["申报单位具有独立法人资格", "附件齐全"]


@pytest.fixture
def officer(app):
    user = UserFactory(username="officer", organization=None, roles=("officer",))
    db.session.commit()
    return user


@pytest.fixture
def last_year(officer):
    """Last year's guide, archived, its form edited twice and its 立项文件 numbered."""
    year = calls.this_year() - 1
    call = CallFactory(
        state=CallState.archived, year=year, title=f"{year}年度市自然科学基金项目（包干制）",
        guide="支持基础研究。", budget=Decimal("6000000.00"), form_schema=[], rubric=RUBRIC,
        tranche_plan=TRANCHES, checklist=CHECKLIST, checklist_required=CHECKLIST[:1],
        steps=["defence", "unit_review"], notice_days=7, notice_working_days=False,
        collective_threshold=Decimal("1234500.00"), max_running_projects=3,
        hide_applicant=True, aggregation=AggregationRule.mean, reviewers_per_application=4,
        doc_number=f"赣市科字〔{year}〕3号")
    db.session.flush()
    calls.set_form(call, FORM[:1])
    calls.set_form(call, FORM)
    db.session.commit()
    return call


def settings(call: Call) -> dict:
    """What a copy carries over (``call_template`` without the title and year)."""
    out = calls.call_template(call)
    del out["title"], out["year"]
    return out


# ---- copy ----------------------------------------------------------------------------------

def test_a_copy_of_last_years_guide_is_a_new_draft_with_everything_but_dates_state_numbers(
        officer, last_year):
    copy = calls.copy_call(officer, last_year)
    db.session.commit()

    assert copy.id != last_year.id and copy.state is CallState.draft
    assert copy.year == calls.this_year()
    assert copy.title == f"{calls.this_year()}年度市自然科学基金项目（包干制）"
    assert (copy.opens_at, copy.closes_at, copy.doc_number) == (None, None, None)
    assert copy.form_version == 1 and copy.form_schema == FORM
    assert [v.version for v in db.session.scalars(sa.select(CallFormVersion).where(
        CallFormVersion.call_id == copy.id))] == [1]
    assert settings(copy) == settings(last_year)
    assert (copy.checklist, copy.checklist_required) == (CHECKLIST, CHECKLIST[:1])
    assert copy.budget == Decimal("6000000.00")
    assert copy.collective_threshold == Decimal("1234500.00")
    assert copy.steps == ["defence", "unit_review"] and copy.hide_applicant is True
    event = db.session.scalar(sa.select(AuditEvent).where(
        AuditEvent.entity_type == "call", AuditEvent.entity_id == copy.id))
    assert event.trigger == "copy" and event.data["from_call"] == last_year.id
    # The source is as it was.
    db.session.refresh(last_year)
    assert last_year.state is CallState.archived and last_year.form_version == 2


def test_a_copy_waits_for_its_dates_and_says_so_before_it_is_published(officer, last_year):
    copy = calls.copy_call(officer, last_year)
    db.session.commit()
    ctx = GuardContext(row=copy, actor=officer, role="officer", comment="", data={},
                       now=utcnow())
    assert [r.code for r in call_complete(ctx)] == ["opens_missing", "closes_missing"]
    with pytest.raises(GuardFailed) as refused:
        engine.fire(copy, "publish", officer)
    assert [r["message"] for r in refused.value.details] == ["请填写开始时间", "请填写截止时间"]

    calls.update_call(officer, copy, {"opens_at": utcnow().isoformat(),
                                      "closes_at": (utcnow() + timedelta(days=30)).isoformat()})
    engine.fire(copy, "publish", officer)
    db.session.commit()
    assert copy.state is CallState.published


def test_only_a_draft_may_lack_its_dates(officer, last_year):
    copy = calls.copy_call(officer, last_year)
    db.session.commit()
    copy.state = CallState.published
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()


def test_a_copy_within_the_same_year_says_it_is_a_copy(officer):
    source = CallFactory(title="本年度第一批指南", year=calls.this_year())
    db.session.commit()
    assert calls.copy_call(officer, source).title == "本年度第一批指南（副本）"


def test_a_copy_may_be_given_its_title_year_and_dates_and_nothing_else(officer, last_year):
    opens, closes = "2031-03-01T09:00", "2031-04-30T17:00"
    copy = calls.copy_call(officer, last_year, {"title": "2031年度基金项目", "year": 2031,
                                                "opens_at": opens, "closes_at": closes})
    assert (copy.title, copy.year) == ("2031年度基金项目", 2031)
    assert copy.closes_at - copy.opens_at == timedelta(days=60, hours=8)
    with pytest.raises(Invalid) as wrong:
        calls.copy_call(officer, last_year, {"budget": "1", "opens_at": "2031-03-01T09:00"})
    assert wrong.value.details == {"budget": "不接受该字段"}
    with pytest.raises(Invalid) as wrong:
        calls.copy_call(officer, last_year, {"opens_at": closes, "closes_at": opens})
    assert wrong.value.details == {"closes_at": "截止时间必须晚于开始时间"}


def test_only_a_call_keeper_copies_exports_or_imports(app, last_year):
    researcher = UserFactory(roles=("applicant",), organization=OrganizationFactory())
    db.session.commit()
    with pytest.raises(Forbidden):
        calls.copy_call(researcher, last_year)
    with pytest.raises(Forbidden):
        calls.import_call(researcher, calls.export_call(last_year))


# ---- export and import ---------------------------------------------------------------------

def test_an_exported_call_imports_as_the_same_call_without_dates_state_or_numbers(
        officer, last_year):
    exported = json.loads(json.dumps(calls.export_call(last_year), ensure_ascii=False))
    assert exported["format"] == "kjflow-call" and exported["version"] == 1
    assert exported["exported_from"] == {"title": last_year.title, "year": last_year.year}
    for absent in ("opens_at", "closes_at", "state", "doc_number", "id", "form_version"):
        assert absent not in exported["call"]
    assert exported["call"]["checklist"] == [
        {"label": CHECKLIST[0], "required": True}, CHECKLIST[1]]
    # Money in 万元, exactly.
    assert (exported["call"]["budget"], exported["call"]["collective_threshold"]) == (
        "600", "123.45")

    imported = calls.import_call(officer, exported)
    db.session.commit()
    assert imported.state is CallState.draft and imported.opens_at is None
    assert calls.call_template(imported) == calls.call_template(last_year)
    assert imported.doc_number is None and imported.form_version == 1


def test_an_import_names_everything_wrong_with_the_file(officer, last_year):
    good = calls.export_call(last_year)
    with pytest.raises(Invalid, match="不是本系统导出的申报指南文件"):
        calls.import_call(officer, {"call": good["call"]})
    with pytest.raises(Invalid, match="格式版本不受支持"):
        calls.import_call(officer, {**good, "version": 2})
    with pytest.raises(Invalid) as unknown:
        calls.import_call(officer, {**good, "extra": 1, "call": {**good["call"], "state": "x"}})
    assert unknown.value.details == {"extra": "不接受该字段", "call.state": "不接受该字段"}
    bad = {**good["call"], "budget": "很多", "rubric": [{**RUBRIC[0], "weight": 10}, RUBRIC[1]],
           "checklist": ["附件齐全", "附件齐全"], "title": ""}
    with pytest.raises(Invalid) as wrong:
        calls.import_call(officer, {**good, "call": bad})
    assert set(wrong.value.details) == {"budget", "rubric", "checklist", "title"}
    assert wrong.value.details["rubric"] == "各项权重之和应为100（当前为50）"
    assert wrong.value.details["checklist"] == "第2项形式审查要点“附件齐全”重复"
    assert db.session.scalar(sa.select(sa.func.count(Call.id))) == 1


# ---- the structured settings, each wrong row named at once ---------------------------------

def test_every_bad_row_of_a_rubric_or_a_tranche_plan_is_named_at_once():
    with pytest.raises(Invalid) as wrong:
        calls.parse_call({
            "rubric": [{"name": "a", "label": "", "weight": 50, "max": 100},
                       {"name": "b", "label": "乙", "weight": "五十", "max": 100},
                       {"name": "c", "label": "丙", "weight": 0, "max": 100}],
            "tranche_plan": [{"label": "首笔", "condition": "signed", "percent": 50},
                             {"label": "尾款", "condition": "acceptance", "percent": 500}],
        }, partial=True)
    assert wrong.value.details["rubric"].split("；") == [
        "第1项评分标准：请填写评分项名称",
        "第2项评分标准的权重或满分有误（权重为数字，满分为整数）",
        "第3项评分标准的权重和满分应大于零"]
    assert wrong.value.details["tranche_plan"].split("；") == [
        "第1笔拨付请选择拨付条件：contract（任务书签订后）、milestone（里程碑验收通过后）、"
        "acceptance（结题验收通过后）",
        "第2笔拨付比例应在1至100之间"]


def test_a_checklist_item_may_be_marked_required():
    values = calls.parse_call({"checklist": [
        "附件齐全", {"label": " 申报单位具有独立法人资格 ", "required": True}, "",
        {"label": "签章完整", "required": False}]}, partial=True)
    assert values["checklist"] == ["附件齐全", "申报单位具有独立法人资格", "签章完整"]
    assert values["checklist_required"] == ["申报单位具有独立法人资格"]
    with pytest.raises(Invalid) as wrong:
        calls.parse_call({"checklist": [{"label": "甲", "required": "是"},
                                        {"label": "乙", "must": True}, 3]}, partial=True)
    assert wrong.value.details["checklist"].split("；") == [
        "第1项形式审查要点的“必须勾选”应为是或否", "第2项形式审查要点不支持设置项“must”",
        "第3项形式审查要点应为文字"]


def test_a_draft_may_wait_for_its_rubric_a_published_call_may_not(officer):
    draft = CallFactory(state=CallState.draft)
    published = CallFactory(state=CallState.published)
    db.session.commit()
    calls.update_call(officer, draft, {"rubric": []})
    assert draft.rubric == []
    with pytest.raises(Invalid) as wrong:
        calls.update_call(officer, published, {"rubric": []})
    assert wrong.value.details == {"rubric": "已发布的指南须有评分标准"}


def test_a_published_call_names_what_it_cannot_change_by_label(officer):
    published = CallFactory(state=CallState.published)
    db.session.commit()
    with pytest.raises(Exception, match="已发布的指南不能修改：总预算、可选环节"):
        calls.update_call(officer, published, {"budget": "1", "steps": ["defence"]})


# ---- the checklist's required items at formal review ----------------------------------------

@pytest.fixture
def in_formal_review(officer):
    call = CallFactory(checklist=CHECKLIST, checklist_required=CHECKLIST[:1])
    app = ApplicationFactory(call=call, state=ApplicationState.formal_review, signed=True)
    db.session.commit()
    return app


def test_formal_review_passes_only_with_every_required_item_ticked(officer, in_formal_review):
    app = in_formal_review
    for ticked in (None, {CHECKLIST[0]: False, CHECKLIST[1]: True}):
        with pytest.raises(GuardFailed) as refused:
            engine.fire(app, "pass_formal_review", officer,
                        data={} if ticked is None else {"checklist": ticked})
        assert [r["code"] for r in refused.value.details] == ["checks_unticked"]
        assert refused.value.details[0]["message"] == (
            "以下形式审查要点必须勾选后才能通过：申报单位具有独立法人资格")
        db.session.rollback()
    # An item that is not required may stay unticked.
    engine.fire(app, "pass_formal_review", officer,
                data={"checklist": {CHECKLIST[0]: True, CHECKLIST[1]: False}})
    db.session.commit()
    assert app.state is ApplicationState.expert_review


def test_an_application_is_returned_without_the_required_items_ticked(officer,
                                                                      in_formal_review):
    app = in_formal_review
    engine.fire(app, "return_for_revision", officer, comment="请补充法人资格证明",
                data={"checklist": {CHECKLIST[0]: False}})
    db.session.commit()
    assert app.state is ApplicationState.returned
