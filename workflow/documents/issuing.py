"""The office's 发文字号, as its keeper (``number_keeper``) manages them on the page and
in the API alike: how each kind of document is numbered (a sequence with its head and
next number, or entered by the office), and the numbers of the documents waiting for
one (待编号). Entering a number issues the document: the 立项文件's number issues its
projects' 立项通知书 in the same transaction (``decisions.notices``), and each document is
rendered by the worker once numbered."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from workflow.applying.models import Application
from workflow.core import engine, numbering
from workflow.core.errors import Forbidden, NotFound
from workflow.core.models import DocNumberSetting, IssuedNumber, NumberingMode, db
from workflow.decisions import notices
from workflow.permissions import number_keeper

ROLE = "officer"


def keeper(actor: Any) -> None:
    if not number_keeper(actor):
        raise Forbidden("只有项目主管可以管理发文字号", code="role_not_allowed")


@dataclass
class KindNumbering:
    """A kind of document and how it is numbered now: the next number it would take
    this year (a sequence), and how many of its documents wait for a number."""

    kind: str
    label: str
    setting: DocNumberSetting
    sequence: numbering.Sequence
    awaiting: int

    @property
    def mode(self) -> NumberingMode:
        return self.setting.mode

    @property
    def next_example(self) -> str:
        return f"{self.sequence.head}{self.sequence.next}号"

    def as_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "label": self.label, "mode": self.mode.value,
                "prefix": self.setting.prefix, "head": self.sequence.head,
                "last_number": self.sequence.last, "next_number": self.sequence.next,
                "next_doc_number": self.next_example, "awaiting": self.awaiting,
                "updated_at": self.setting.updated_at.isoformat()
                if self.setting.updated_at else None}


def kind_numbering(kind: str) -> KindNumbering:
    awaiting = db.session.scalar(sa.select(sa.func.count(IssuedNumber.id)).where(
        IssuedNumber.kind == kind, IssuedNumber.number.is_(None))) or 0
    return KindNumbering(kind, numbering.KINDS[kind], numbering.setting(kind),
                         numbering.sequence_of(kind), awaiting)


def overview(actor: Any) -> list[KindNumbering]:
    keeper(actor)
    return [kind_numbering(kind) for kind in numbering.KINDS]


def configure(actor: Any, kind: str, mode: Any, prefix: Any, next_no: Any,
              ip: str | None = None) -> KindNumbering:
    keeper(actor)
    numbering.configure(kind, mode, prefix, next_no, actor, ROLE, ip)
    return kind_numbering(kind)


def register_row(actor: Any, row_id: int) -> IssuedNumber:
    keeper(actor)
    row = db.session.get(IssuedNumber, row_id)
    if row is None:
        raise NotFound("没有这份待编号的文件")
    return row


def enter_number(actor: Any, row_id: int, raw: Any, ip: str | None = None) -> IssuedNumber:
    """The office's number for a waiting document, and what its issue sets going."""
    row = register_row(actor, row_id)
    call = engine.load("call", row.entity_id, lock=True) \
        if row.kind == notices.APPROVAL_FILE_KIND else None  # locked first, as settle_call
    locked = db.session.get(IssuedNumber, row.id, with_for_update=True, populate_existing=True)
    if locked is None:
        raise NotFound("没有这份待编号的文件")
    numbering.enter(locked, raw, actor, ROLE, ip)
    if call is not None:
        notices.approval_file_numbered(call, locked, actor, ROLE, ip)
    elif locked.kind == notices.NOTICE_KIND:
        app = db.session.get(Application, locked.entity_id)
        if app is not None:
            notices.notice_numbered(app, locked)
    return locked
