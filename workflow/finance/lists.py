"""The money lists, as ``workflow.web.listing`` shows and exports them: the finance queue
(tranches, a tab per state with its count), a call's budget ledger and the
reconciliation's calls (a page of calls, each reconciled; ``ledger.summary`` totals them
all). Both are read by
the money readers only; the queue shows the payee's bank account, as the page does: the
account on the voucher from preparation on (a released tranche: the account it was paid
to, whatever the organisation's record says later)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import joinedload

from states import CallState, TrancheState
from workflow.accounts.models import Organization
from workflow.applying.models import Application
from workflow.calls.lists import year_filter
from workflow.calls.models import Call
from workflow.core.listing import Column, Field, Filter, Grams, ListSpec, Via, labelled
from workflow.core.models import db
from workflow.finance import ledger
from workflow.finance import operations as finance
from workflow.finance.models import EntryKind, LedgerEntry, Tranche
from workflow.permissions import money_reader

T = TrancheState
# The queue's tabs, in the order the money moves.
TABS = (T.due, T.prepared, T.approved, T.on_hold, T.released, T.planned, T.cancelled)


def money_rows(model: Any) -> Any:
    def visible(user: Any) -> sa.Select[Any]:
        query = sa.select(model)
        return query if money_reader(user) else query.where(sa.false())

    return visible


def tranche_calls(_user: Any) -> list[tuple[str, str]]:
    """The calls that may have tranches (every call but the drafts), newest first: read
    from the calls alone (finding the calls that have tranches would join every tranche
    to its application on each view of the queue)."""
    rows = db.session.execute(sa.select(Call.id, Call.title).where(
        Call.state != CallState.draft).order_by(Call.closes_at.desc(), Call.id.desc()))
    return [(str(i), title) for i, title in rows]


TRANCHE_JOINS = {
    "app": lambda q: q.join(Application, Application.id == Tranche.application_id),
    "org": lambda q: q.join(Organization, Organization.id == Application.organization_id),
    "call": lambda q: q.join(Call, Call.id == Application.call_id),
}


def _payee_state(t: Tranche) -> str:
    if finance.payee_changed(t):
        return "制单后单位账户已变更，须重新制单"
    if finance.voucher_payee(t) is not None:
        return "已拨付至该账户" if t.state is T.released else "制单时核对"
    return "单位现登记账户"


# Whom a row is paid to, as the list sorts it: the voucher's payee, else the organisation.
PAYEE_NAME = sa.func.coalesce(Tranche.payee_name, Organization.name)


TRANCHES = ListSpec(
    name="tranches", title="经费拨付", model=Tranche, visible=money_rows(Tranche),
    joins=TRANCHE_JOINS,
    columns=(
        Column("project", "项目", (Tranche.project_number, Tranche.seq)),
        Column("label", "拨付批次", (Tranche.label,)),
        Column("payee", "收款单位及账户", (PAYEE_NAME,), joins=("app", "org")),
        Column("amount", "金额（万元）", (Tranche.amount,), num=True, desc_first=True),
        Column("capital", "大写"),
        Column("condition", "条件", (Tranche.condition,)),
        Column("state", "状态"),
    ),
    # The tranche's own copy of its project's number and title (``ix_tranche_search_grams``,
    # in its order), and its organisation's current name.
    search=(Grams((Tranche.project_number, Tranche.title, Tranche.payee_name, Tranche.label,
                   Tranche.payment_ref)),
            Via(Tranche.organization_id, Organization.id, Organization.name)),
    search_hint="项目编号或名称、收款单位、凭证号",
    filters=(
        Filter("state", "状态", labelled(TABS), lambda v: Tranche.state == v,
               tabs=True, group=Tranche.state, default=T.due.value),
        Filter("call", "指南", tranche_calls, lambda v: Application.call_id == int(v),
               joins=("app",)),
        year_filter(Call.year, joins=("app", "call")),
    ),
    default_sort="project", default_desc=False,
    load=finance.TRANCHE_LOADS,
    export=(
        Field("项目编号", lambda t: t.application.project_number or "", width=22),
        Field("项目名称", lambda t: t.application.title, width=40),
        Field("指南", lambda t: t.application.call.title, width=36),
        Field("拨付批次", lambda t: t.label, width=24),
        Field("收款单位", lambda t: finance.payee_of(t).organization, width=28),
        Field("开户银行", lambda t: finance.payee_of(t).bank_name, width=22),
        Field("银行账号", lambda t: finance.payee_of(t).bank_account, width=24),
        Field("收款账户依据", _payee_state, width=22),
        Field("金额（万元）", lambda t: t.amount, "wan"),
        Field("金额大写", lambda t: finance.capital(t.amount), width=24),
        Field("拨付条件", lambda t: finance.CONDITION_LABELS.get(t.condition, t.condition),
              width=16),
        Field("状态", lambda t: t.state.label, width=10),
        Field("集体决策纪要文号", lambda t: t.decision_ref or "", width=20),
        Field("支付凭证号", lambda t: t.payment_ref or "", width=18),
        Field("拨付时间", lambda t: t.released_at, "datetime", width=18),
    ),
)


# ---- a call's ledger ----------------------------------------------------------------------

def _entry_project(e: LedgerEntry) -> str:
    return (e.application.project_number or "") if e.application is not None else ""


LEDGER = ListSpec(
    name="ledger", title="预算台账", model=LedgerEntry, visible=money_rows(LedgerEntry),
    joins={"app": lambda q: q.outerjoin(Application,
                                        Application.id == LedgerEntry.application_id)},
    columns=(
        Column("seq", "序号", (LedgerEntry.seq,), num=True),
        Column("at", "时间", (LedgerEntry.at,), desc_first=True),
        Column("kind", "类型", (LedgerEntry.kind,)),
        Column("amount", "金额（万元）", (LedgerEntry.amount,), num=True, desc_first=True),
        Column("project", "项目", (Application.project_number,), joins=("app",)),
        Column("ref", "凭证/文号", (LedgerEntry.ref,)),
        Column("memo", "说明"),
        Column("available", "可用余额", num=True),
        Column("committed", "已承诺", num=True),
        Column("disbursed", "已拨付", num=True),
    ),
    search=(LedgerEntry.ref, LedgerEntry.memo, Application.project_number, Application.title),
    search_joins=("app",),
    search_hint="凭证号、说明、项目编号或名称",
    filters=(Filter("kind", "类型", labelled(list(EntryKind)),
                    lambda v: LedgerEntry.kind == EntryKind(v)),),
    default_sort="seq", default_desc=False,
    load=(joinedload(LedgerEntry.application), joinedload(LedgerEntry.tranche)),
    export=(
        Field("序号", lambda e: e.seq, "int", width=8),
        Field("时间", lambda e: e.at, "datetime", width=18),
        Field("类型", lambda e: e.kind.label, width=10),
        Field("金额（万元）", lambda e: e.amount, "wan"),
        Field("项目编号", _entry_project, width=22),
        Field("项目名称", lambda e: e.application.title if e.application else "", width=36),
        Field("拨付批次", lambda e: e.tranche.label if e.tranche else "", width=22),
        Field("凭证/文号", lambda e: e.ref, width=20),
        Field("说明", lambda e: e.memo, width=30),
        Field("可用余额（万元）", lambda e: e.available_after, "wan"),
        Field("已承诺（万元）", lambda e: e.committed_after, "wan"),
        Field("已拨付（万元）", lambda e: e.disbursed_after, "wan"),
    ),
)


def ledger_of(call: Call) -> tuple[ListSpec, sa.Select[Any]]:
    """The ledger list of ``call`` (its page, its API, their Excel export); the export
    ends with the call's reconciliation."""
    def reconciliation(book: Any, _page: Any) -> None:
        ledger.reconciliation_sheet(book, ledger.reconcile(call_id=call.id).calls[0])

    spec = replace(LEDGER, title=f"预算台账-{call.year}-{call.id}", extra_sheets=reconciliation)
    return spec, sa.select(LedgerEntry).where(LedgerEntry.call_id == call.id)


# ---- the reconciliation, a page of calls ------------------------------------------------

RECONCILE = ListSpec(
    name="reconcile", title="预算对账", model=Call, visible=money_rows(Call),
    columns=(
        Column("title", "指南", (Call.title,)),
        Column("year", "年度", (Call.year,), desc_first=True),
        Column("budget", "预算", (Call.budget,), num=True, desc_first=True),
        *(Column(k.value, k.label, num=True) for k in EntryKind),
        Column("available", "可用余额", num=True),
        Column("entries", "分录数", num=True),
        Column("result", "结果"),
    ),
    search=(Call.title,), search_hint="指南名称",
    filters=(year_filter(),),
    default_sort="", default_desc=False,
    # The export is the report's own workbook (/finance/reconcile.xlsx).
    export=(),
)
