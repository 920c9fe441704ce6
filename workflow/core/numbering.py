"""Numbers: kjflow's own project numbers, and the office's 发文字号.

A number is taken by an UPDATE of its sequence row inside the issuing transaction. The
row lock orders concurrent takers; a rolled-back transaction gives its number back, so
the numbers a sequence hands out are consecutive.

Project numbers (``GZKJ-2026-BG-0001``) are kjflow's: per year and scheme.

发文字号 (``赣市科字〔2026〕15号``) are the office's. Per kind of document that carries one
(``KINDS``) the office chooses (``DocNumberSetting``): a sequence, whose head
(``赣市科字〔{year}〕``) and next number it sets, numbered per year of issue
(Asia/Shanghai) and shared by every kind with the same head; or entered by the office
when it issues the document. Each document to issue is a row of the office's register
(``IssuedNumber``), numbered in the transaction that issues it (a sequence) or waiting
for the office (待编号); the number is unique over every kind, so no number is given
twice. Once a row is numbered its outbox event (``topic``) renders the document: the
render reads the number from the register and never takes one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from forms.validators import has_line_break
from workflow.core import audit, outbox
from workflow.core.errors import Conflict, Invalid, NotFound
from workflow.core.models import (
    DocNumberSetting,
    IssuedNumber,
    NumberingMode,
    NumberSequence,
    db,
    utcnow,
)
from workflow.timeutil import SHANGHAI

# The documents that carry a 发文字号 (the 任务书 is a contract: it has none).
KINDS = {"approval_file": "立项文件", "notice": "立项通知书", "payment_notice": "拨付通知",
         "recovery_notice": "追回通知", "change_approval": "变更批复",
         "acceptance_conclusion": "验收结论书",
         "midterm_conclusion": "中期检查结论通知"}
MAX_PREFIX = 30
MAX_NUMBER = 40
MAX_SEQ = 999_999
YEAR = "{year}"
AWAITING, NUMBERED = "awaiting", "numbered"
STATES = {AWAITING: "待编号", NUMBERED: "已编号"}
# A number's head and sequence: ``赣市科字〔2026〕`` and 15 in ``赣市科字〔2026〕15号``.
_SPLIT = re.compile(r"^(.*〔\d{4}〕)0*(\d{1,9})号$")
# A year in brackets as people type them: 〔2026〕, [2026], (2026), （2026）, 【2026】, ［2026］.
_BRACKETED_YEAR = re.compile(r"[〔\[［(（【]\s*(\d{4})\s*[〕\]］)）】]")
_SPACES = re.compile(r"[ \t\u3000]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def next_number(key: str) -> int:
    """The next number under ``key`` (1 for a new key); the caller's transaction commits."""
    take = (sa.update(NumberSequence).where(NumberSequence.key == key)
            .values(last=NumberSequence.last + 1).returning(NumberSequence.last)
            .execution_options(synchronize_session=False))
    number = db.session.execute(take).scalar()
    if number is None:
        _ensure_sequence(key)
        number = db.session.execute(take).scalar_one()
    return int(number)


def _ensure_sequence(key: str) -> None:
    dialect = postgresql if db.session.get_bind().dialect.name == "postgresql" else sqlite
    db.session.execute(dialect.insert(NumberSequence).values(key=key, last=0)
                       .on_conflict_do_nothing())


def project_number(year: int, code: str) -> str:
    """``GZKJ-2026-BG-0001`` (``code``: the scheme's, e.g. ``BG``)."""
    n = next_number(f"project:{year}:{code}")
    return f"{current_app.config['PROJECT_PREFIX']}-{year}-{code}-{n:04d}"


# ---- the office's settings -----------------------------------------------------------------

def default_prefix() -> str:
    return f"{current_app.config['DOC_PREFIX']}〔{YEAR}〕"


def setting(kind: str) -> DocNumberSetting:
    """How ``kind`` is numbered (the defaults, unsaved, when the office set nothing)."""
    if kind not in KINDS:
        raise NotFound("没有这种公文", details={"kind": "可选：" + "、".join(KINDS)})
    row = db.session.scalar(sa.select(DocNumberSetting).where(DocNumberSetting.kind == kind))
    return row if row is not None else DocNumberSetting(
        kind=kind, mode=NumberingMode.sequence, prefix=default_prefix())


def head(prefix: str, year: int) -> str:
    """The head of a year's numbers: ``赣市科字〔2026〕``."""
    return prefix.replace(YEAR, str(year))


def sequence_key(number_head: str) -> str:
    return f"docno:{number_head}"


def year_of(at: datetime) -> int:
    return at.astimezone(SHANGHAI).year


def split(number: str) -> tuple[str | None, int | None]:
    """``赣市科字〔2026〕15号`` -> (``赣市科字〔2026〕``, 15); (None, None) for another form."""
    found = _SPLIT.match(number)
    return (found.group(1), int(found.group(2))) if found else (None, None)


def last_given(number_head: str) -> int:
    """The highest number the register holds under ``number_head`` (0: none)."""
    return int(db.session.scalar(sa.select(sa.func.max(IssuedNumber.seq)).where(
        IssuedNumber.prefix == number_head)) or 0)


@dataclass
class Sequence:
    """A kind's sequence this year: its head, the last number given under that head (by
    any kind, or entered by the office) and the next one."""

    head: str
    last: int
    next: int


def sequence_of(kind: str, at: datetime | None = None) -> Sequence:
    year = year_of(at or utcnow())
    number_head = head(setting(kind).prefix, year)
    counter = db.session.get(NumberSequence, sequence_key(number_head))
    last = last_given(number_head)
    upcoming = max(counter.last if counter is not None else 0, last) + 1
    return Sequence(number_head, last, upcoming)


def check_prefix(raw: Any) -> str:
    """A sequence's head as the office writes it: one line, ending in the bracketed year
    (``赣市科字〔{year}〕``; ``[{year}]`` and the like are written as 〔{year}〕)."""
    value = _SPACES.sub("", str(raw or ""))
    value = re.sub(r"[\[［(（【]\{year\}[\]］)）】]", "〔{year}〕", value)
    if not value:
        raise Invalid("请填写发文字号的字头",
                      details={"prefix": "请填写字头，如“赣市科字〔{year}〕”"})
    if has_line_break(value):
        raise Invalid("字头不能换行", details={"prefix": "字头不能换行，请写在一行内"})
    if _CONTROL.search(value):
        raise Invalid("字头含有无法保存的字符", details={"prefix": "含有控制字符，请重新输入"})
    if len(value) > MAX_PREFIX:
        raise Invalid(f"字头不能超过{MAX_PREFIX}字",
                      details={"prefix": f"不能超过{MAX_PREFIX}字"})
    if value.count(YEAR) != 1 or not value.endswith("〔{year}〕") \
            or re.search(r"[{}]", value.replace(YEAR, "")) or value == "〔{year}〕":
        raise Invalid("字头应为机关代字加“〔{year}〕”，如“赣市科字〔{year}〕”",
                      details={"prefix": "应以“〔{year}〕”结尾（{year} 代表发文年份），"
                                         "如“赣市科字〔{year}〕”"})
    return value


def check_entered(raw: Any) -> str:
    """A 发文字号 the office typed: one line of at most 40 characters of the form
    ``机关代字〔年份〕序号号`` (spaces dropped, the year's brackets written as 〔〕)."""
    value = _SPACES.sub("", str(raw or ""))
    example = "如“赣市科字〔2026〕15号”"
    if not value:
        raise Invalid("请填写发文字号", details={"number": f"请填写发文字号，{example}"})
    if has_line_break(value):
        raise Invalid("发文字号不能换行", details={"number": "发文字号不能换行，请写在一行内"})
    if _CONTROL.search(value):
        raise Invalid("发文字号含有无法保存的字符",
                      details={"number": "含有控制字符，请重新输入"})
    if len(value) > MAX_NUMBER:
        raise Invalid(f"发文字号不能超过{MAX_NUMBER}字",
                      details={"number": f"不能超过{MAX_NUMBER}字"})
    year = _BRACKETED_YEAR.search(value)
    if year is None or not 2000 <= int(year.group(1)) <= 2099:
        raise Invalid("发文字号应含用六角括号括起的年份",
                      details={"number": f"应含用六角括号括起的发文年份，{example}"})
    value = f"{value[:year.start()]}〔{year.group(1)}〕{value[year.end():]}"
    if split(value)[0] is None or year.start() == 0:
        raise Invalid("发文字号应为“机关代字〔年份〕序号号”",
                      details={"number": f"应为“机关代字〔年份〕序号号”，{example}"})
    return value


def configure(kind: str, mode: Any, prefix: Any, next_no: Any, actor: Any, role: str,
              ip: str | None = None) -> DocNumberSetting:
    """The office's setting of ``kind``: ``mode`` (sequence or entered), the head of its
    numbers and, optionally, the next number of this year's sequence (to continue the
    office's own register). A next number at or below one already given under the head
    is refused with that number. Audited; refused as a whole."""
    current = setting(kind)
    errors: dict[str, str] = {}
    try:
        chosen = NumberingMode(mode) if mode not in (None, "") else current.mode
    except ValueError:
        chosen = current.mode
        errors["mode"] = "可选：sequence（按流水号自动编号）、entered（办公室逐件录入）"
    try:
        template = check_prefix(prefix) if prefix not in (None, "") else current.prefix
    except Invalid as err:
        template = current.prefix
        errors.update(err.details)
    wanted: int | None = None
    if next_no not in (None, ""):
        text = str(next_no).strip()
        if isinstance(next_no, bool) or not (text.isascii() and text.isdigit()) \
                or not 1 <= int(text) <= MAX_SEQ:
            errors["next_number"] = f"下一个号应为 1 至 {MAX_SEQ} 的整数"
        else:
            wanted = int(text)
    if errors:
        raise Invalid("编号设置未保存：" + "；".join(errors.values()), details=errors)

    row = db.session.scalar(sa.select(DocNumberSetting).where(
        DocNumberSetting.kind == kind).with_for_update())
    if row is None:
        row = DocNumberSetting(kind=kind, mode=current.mode, prefix=current.prefix)
        db.session.add(row)
        db.session.flush()
    changes: dict[str, list[Any]] = {}
    if row.mode is not chosen:
        changes["mode"] = [row.mode.value, chosen.value]
        row.mode = chosen
    if row.prefix != template:
        changes["prefix"] = [row.prefix, template]
        row.prefix = template
    if wanted is not None:
        number_head = head(template, year_of(utcnow()))
        key = sequence_key(number_head)
        _ensure_sequence(key)
        counter = db.session.scalars(
            sa.select(NumberSequence).where(NumberSequence.key == key).with_for_update()
            .execution_options(populate_existing=True)).one()
        given = last_given(number_head)
        if wanted <= given:
            raise Invalid(
                f"{number_head}已发至{given}号，下一个号应大于{given}",
                details={"next_number": f"{number_head}{given}号已经使用，"
                                        f"下一个号不能小于或等于{given}"})
        if counter.last != wanted - 1:
            changes["next_number"] = [f"{number_head}{counter.last + 1}号",
                                      f"{number_head}{wanted}号"]
            counter.last = wanted - 1
    if changes:
        row.updated_by_id, row.updated_at = getattr(actor, "id", None), utcnow()
        audit.record(row, "doc_number_setting", "set_numbering", actor, role, None, None,
                     "", {"changes": changes}, ip)
        db.session.flush()
    return row


# ---- the register --------------------------------------------------------------------------

def issued(kind: str, entity_type: str, entity_id: int) -> IssuedNumber | None:
    """The register's row of a document (numbered or waiting), if it is due (also one
    added in this transaction and not yet written: a transition writes at its end)."""
    for row in db.session.new:
        if isinstance(row, IssuedNumber) and (row.kind, row.entity_type, row.entity_id) == (
                kind, entity_type, entity_id):
            return row
    return db.session.scalar(sa.select(IssuedNumber).where(
        IssuedNumber.kind == kind, IssuedNumber.entity_type == entity_type,
        IssuedNumber.entity_id == entity_id))


def number_of(kind: str, entity_type: str, entity_id: int) -> str | None:
    row = issued(kind, entity_type, entity_id)
    return row.number if row is not None else None


def issue(kind: str, entity_type: str, entity_id: int, at: datetime, *, topic: str,
          subject: str) -> IssuedNumber:
    """``kind``'s document of the entity is due at ``at``: numbered now from its sequence
    (and its ``topic`` sent once this transaction commits) or, when the office enters
    its numbers, waiting for one. Issuing a document again returns its row: a
    document never takes a second number. (The issuing transaction's own audit records
    it: the call's ``issue_approval_file``, the tranche's ``release``.)"""
    found = issued(kind, entity_type, entity_id)
    if found is not None:
        return found
    how = setting(kind)
    row = IssuedNumber(kind=kind, entity_type=entity_type, entity_id=entity_id,
                       mode=how.mode, topic=topic, subject=subject[:300], due_at=at)
    db.session.add(row)
    if how.mode is NumberingMode.sequence:
        number_head = head(how.prefix, year_of(at))
        n = next_number(sequence_key(number_head))
        given = last_given(number_head)
        if n <= given:  # the office entered numbers of this head beyond the sequence
            db.session.execute(sa.update(NumberSequence).where(
                NumberSequence.key == sequence_key(number_head)).values(last=given + 1))
            n = given + 1
        row.number, row.prefix, row.seq, row.numbered_at = f"{number_head}{n}号", \
            number_head, n, at
    # No flush here: issued inside a transition's effect, the row is written with the
    # transition's one flush (workflow/core/engine.py), never half-made before it.
    if row.number is not None:
        outbox.emit(topic, entity_type, entity_id, {"kind": kind, "number": row.number})
    return row


def holder_of(number: str) -> IssuedNumber | None:
    """The register's row that holds ``number`` (or the same head and sequence written
    otherwise, ``…〔2026〕015号``)."""
    number_head, seq = split(number)
    query = sa.select(IssuedNumber).where(IssuedNumber.number == number)
    if number_head is not None:
        query = sa.select(IssuedNumber).where(sa.or_(
            IssuedNumber.number == number,
            sa.and_(IssuedNumber.prefix == number_head, IssuedNumber.seq == seq)))
    return db.session.scalars(query.limit(1)).first()


def _taken(number: str, holder: IssuedNumber) -> Conflict:
    return Conflict(f"发文字号“{number}”已用于{KINDS.get(holder.kind, holder.kind)}"
                    f"“{holder.subject}”，同一文号不能使用两次",
                    details={"number": "该文号已经使用"}, code="number_taken")


def enter(row: IssuedNumber, raw: Any, actor: Any, role: str,
          ip: str | None = None) -> IssuedNumber:
    """The office's 发文字号 for a document waiting for one (``row``, locked by the
    caller). A number already in the register is refused (409); so is a row already
    numbered. Audited; its ``topic`` renders the document after commit."""
    number = check_entered(raw)
    if row.number is not None:
        raise Conflict(f"该文件已编号（{row.number}），不能再编号",
                       details={"number": "已编号"}, code="already_numbered")
    number_head, seq = split(number)
    if number_head is not None:
        # A sequence of the same head takes its numbers under this row's lock: the two
        # never hand out the same number at once.
        db.session.execute(sa.select(NumberSequence.key).where(
            NumberSequence.key == sequence_key(number_head)).with_for_update())
    holder = holder_of(number)
    if holder is not None:
        raise _taken(number, holder)
    now, actor_id = utcnow(), getattr(actor, "id", None)
    try:
        with db.session.begin_nested(), db.session.no_autoflush:
            row.number, row.prefix, row.seq = number, number_head, seq
            row.numbered_at, row.numbered_by_id = now, actor_id
            db.session.flush()
    except IntegrityError as err:  # entered at the same moment by someone else
        db.session.refresh(row)
        holder = holder_of(number)
        raise (_taken(number, holder) if holder is not None else Conflict(
            f"发文字号“{number}”已经使用", code="number_taken")) from err
    audit.record(row, "issued_number", "enter_number", actor, role, AWAITING, NUMBERED, "",
                 {"kind": row.kind, "number": number}, ip)
    outbox.emit(row.topic, row.entity_type, row.entity_id, {"kind": row.kind, "number": number})
    return row
