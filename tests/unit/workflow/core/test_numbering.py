"""The office's 发文字号 (workflow/core/numbering.py): sequences per kind and year of issue,
heads shared by kinds, numbers never given twice, a next number never below one given."""

from __future__ import annotations

from datetime import datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from tests.factories import UserFactory
from workflow.core import numbering
from workflow.core.errors import Conflict, Invalid, NotFound
from workflow.core.models import AuditEvent, IssuedNumber, NumberingMode, OutboxEvent, db
from workflow.timeutil import SHANGHAI

# Issued in Beijing time: 2026-12-31 23:30 is still 2026, 2027-01-01 00:10 is 2027.
LAST_OF_2026 = datetime(2026, 12, 31, 23, 30, tzinfo=SHANGHAI)
FIRST_OF_2027 = datetime(2027, 1, 1, 0, 10, tzinfo=SHANGHAI)


@pytest.fixture
def officer(app):
    return UserFactory(roles=("officer",), organization=None, name="办公室王")


def issue(kind, entity_id, at=LAST_OF_2026, topic="call.approval_file"):
    entity_type = {"approval_file": "call", "notice": "application"}.get(kind, "tranche")
    return numbering.issue(kind, entity_type, entity_id, at, topic=topic,
                           subject=f"文件{entity_id}")


def test_each_kind_numbers_from_its_sequence_per_year_of_issue_in_beijing_time(app):
    assert [issue("approval_file", i).number for i in (1, 2)] == [
        "赣市科字〔2026〕1号", "赣市科字〔2026〕2号"]
    # The default heads are the same: the kinds share the office's one register.
    assert issue("notice", 1).number == "赣市科字〔2026〕3号"
    # A new year of issue (Asia/Shanghai) starts again from 1.
    assert issue("approval_file", 3, FIRST_OF_2027).number == "赣市科字〔2027〕1号"
    db.session.commit()
    assert numbering.sequence_of("approval_file", LAST_OF_2026).next == 4


def test_a_kind_with_its_own_head_has_its_own_sequence(app, officer):
    numbering.configure("payment_notice", "sequence", "赣市科财字〔{year}〕", None, officer,
                        "officer")
    assert issue("payment_notice", 1).number == "赣市科财字〔2026〕1号"
    assert issue("approval_file", 1).number == "赣市科字〔2026〕1号"
    assert issue("payment_notice", 2).number == "赣市科财字〔2026〕2号"


def test_a_document_issued_twice_keeps_its_one_number(app):
    first = issue("approval_file", 7)
    db.session.commit()
    again = issue("approval_file", 7)
    assert again.id == first.id and again.number == first.number
    db.session.commit()
    assert numbering.sequence_of("approval_file", LAST_OF_2026).next == 2
    assert db.session.scalar(sa.select(sa.func.count(OutboxEvent.id))) == 1


def test_an_entered_kind_waits_for_the_office(app, officer):
    numbering.configure("approval_file", "entered", None, None, officer, "officer")
    row = issue("approval_file", 1)
    db.session.commit()
    assert row.number is None and row.mode is NumberingMode.entered
    assert db.session.scalar(sa.select(sa.func.count(OutboxEvent.id))) == 0
    numbering.enter(row, " 赣市科字[2026] 15号 ", officer, "officer")
    db.session.commit()
    assert (row.number, row.prefix, row.seq) == ("赣市科字〔2026〕15号", "赣市科字〔2026〕", 15)
    (event,) = db.session.scalars(sa.select(OutboxEvent)).all()
    assert (event.topic, event.entity_id, event.payload["number"]) == (
        "call.approval_file", 1, "赣市科字〔2026〕15号")
    trail = db.session.scalars(sa.select(AuditEvent).where(
        AuditEvent.entity_type == "issued_number")).all()
    assert [(a.trigger, a.actor_id, a.data["number"]) for a in trail] == [
        ("enter_number", officer.id, "赣市科字〔2026〕15号")]
    with pytest.raises(Conflict, match="已编号"):
        numbering.enter(row, "赣市科字〔2026〕16号", officer, "officer")


def test_a_number_is_never_given_twice_across_kinds(app, officer):
    given = issue("approval_file", 1)  # 赣市科字〔2026〕1号, from the sequence
    numbering.configure("notice", "entered", None, None, officer, "officer")
    waiting = issue("notice", 1, topic="application.notice")
    db.session.commit()
    for same in ("赣市科字〔2026〕1号", "赣市科字（2026）01号"):
        with pytest.raises(Conflict, match="已用于立项文件“文件1”") as refused:
            numbering.enter(waiting, same, officer, "officer")
        assert refused.value.status == 409 and refused.value.code == "number_taken"
    db.session.rollback()
    assert db.session.get(IssuedNumber, waiting.id).number is None
    # The database holds to it too, whatever the code does.
    db.session.add(IssuedNumber(kind="payment_notice", entity_type="tranche", entity_id=9,
                                mode=NumberingMode.entered, topic="x", number=given.number,
                                numbered_at=given.numbered_at))
    with pytest.raises(IntegrityError):
        db.session.flush()
    db.session.rollback()


def test_a_sequence_passes_over_numbers_the_office_entered_ahead_of_it(app, officer):
    assert issue("approval_file", 1).number == "赣市科字〔2026〕1号"
    numbering.configure("notice", "entered", None, None, officer, "officer")
    waiting = issue("notice", 1, topic="application.notice")
    numbering.enter(waiting, "赣市科字〔2026〕9号", officer, "officer")
    db.session.commit()
    assert issue("approval_file", 2).number == "赣市科字〔2026〕10号"


def test_the_office_sets_the_next_number_never_at_or_below_one_given(app, officer):
    year = numbering.year_of(numbering.utcnow())
    now = numbering.utcnow()
    for i in (1, 2, 3):
        issue("approval_file", i, now)
    db.session.commit()
    with pytest.raises(Invalid) as refused:
        numbering.configure("notice", "sequence", None, 3, officer, "officer")
    assert refused.value.details["next_number"] == (
        f"赣市科字〔{year}〕3号已经使用，下一个号不能小于或等于3")
    assert "已发至3号" in refused.value.message
    db.session.rollback()
    # Continuing from the office's own register (it issued up to 40 on paper).
    numbering.configure("notice", "sequence", None, 41, officer, "officer")
    db.session.commit()
    assert issue("approval_file", 4, now).number == f"赣市科字〔{year}〕41号"
    (trail,) = db.session.scalars(sa.select(AuditEvent).where(
        AuditEvent.entity_type == "doc_number_setting")).all()
    assert trail.actor_id == officer.id and trail.data["changes"]["next_number"] == [
        f"赣市科字〔{year}〕4号", f"赣市科字〔{year}〕41号"]


@pytest.mark.parametrize("raw,message", [
    ("", "请填写发文字号"),
    ("赣市科字〔2026〕\n15号", "不能换行"),
    ("赣市科字〔2026〕\x0015号", "无法保存的字符"),
    ("赣" * 35 + "〔2026〕1号", "不能超过40字"),
    ("赣市科字2026第15号", "年份"),
    ("赣市科字〔26〕15号", "年份"),
    ("〔2026〕15号", "机关代字"),
    ("赣市科字〔2026〕", "机关代字"),
])
def test_an_entered_number_is_checked(app, raw, message):
    with pytest.raises(Invalid, match=message):
        numbering.check_entered(raw)


@pytest.mark.parametrize("raw,message", [
    ("赣市科字", "〔{year}〕"), ("赣市科字〔2026〕", "〔{year}〕"),
    ("〔{year}〕", "〔{year}〕"), ("赣{x}〔{year}〕", "〔{year}〕"),
    ("赣市科字\n〔{year}〕", "换行"), ("赣" * 30 + "〔{year}〕", "30字"),
])
def test_a_head_is_checked(app, officer, raw, message):
    with pytest.raises(Invalid, match=message.replace("{", r"\{").replace("}", r"\}")):
        numbering.configure("notice", "sequence", raw, None, officer, "officer")


def test_a_setting_is_refused_as_a_whole_and_an_unknown_kind_is_not_found(app, officer):
    with pytest.raises(Invalid) as refused:
        numbering.configure("notice", "manual", "赣市科字〔{year}〕", 0, officer, "officer")
    assert set(refused.value.details) == {"mode", "next_number"}
    db.session.rollback()
    assert numbering.setting("notice").mode is NumberingMode.sequence
    with pytest.raises(NotFound):
        numbering.configure("task_book", "sequence", None, None, officer, "officer")
    assert numbering.check_prefix("赣市科字[{year}]") == "赣市科字〔{year}〕"
