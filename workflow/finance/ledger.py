"""Each call's budget as an append-only ledger.

An entry is appended under the call's row lock: it reads the balances after the last
entry, applies its own kind, and stores the balances after it, which the database
checks (never below zero) and the reconciliation report recomputes from the entries
alone. A tranche's disbursement (and its release of commitment) can be entered once.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import IO, Any

import sqlalchemy as sa

from forms import format_wan
from workflow.accounts.models import User
from workflow.calls.models import Call
from workflow.core import engine
from workflow.core.errors import Conflict
from workflow.core.models import db
from workflow.finance.models import EntryKind, LedgerEntry

ZERO = Decimal("0.00")
K = EntryKind
# What each kind does to (available, committed, disbursed).
EFFECT: dict[EntryKind, tuple[int, int, int]] = {
    K.allocation: (1, 0, 0),
    K.commitment: (-1, 1, 0),
    K.disbursement: (0, -1, 1),
    K.decommitment: (1, -1, 0),
    K.recovery: (1, 0, -1),
    K.surplus: (0, 0, 0),  # the project keeps it: recorded, the budget is unchanged
}
SHORT = {0: "可用余额", 1: "已承诺金额", 2: "已拨付金额"}


@dataclass(frozen=True)
class Balances:
    available: Decimal = ZERO
    committed: Decimal = ZERO
    disbursed: Decimal = ZERO

    def after(self, kind: EntryKind, amount: Decimal) -> Balances:
        da, dc, dd = EFFECT[kind]
        return Balances(self.available + da * amount, self.committed + dc * amount,
                        self.disbursed + dd * amount)

    def as_tuple(self) -> tuple[Decimal, Decimal, Decimal]:
        return self.available, self.committed, self.disbursed


def last_entry(call_id: int) -> LedgerEntry | None:
    return db.session.scalar(sa.select(LedgerEntry).where(LedgerEntry.call_id == call_id)
                             .order_by(LedgerEntry.seq.desc()).limit(1))


def balances(call_id: int) -> Balances:
    last = last_entry(call_id)
    if last is None:
        return Balances()
    return Balances(last.available_after, last.committed_after, last.disbursed_after)


def post(call_id: int, kind: EntryKind, amount: Decimal, *, application_id: int | None = None,
         tranche_id: int | None = None, actor: User | None = None, ref: str = "",
         memo: str = "", recovery_id: int | None = None) -> LedgerEntry:
    """Append an entry to the call's ledger (allocating the budget first if this is the
    call's first entry). Refuses what would take a balance below zero."""
    call: Call = engine.load("call", call_id, lock=True)
    last = last_entry(call.id)
    if last is None and kind is not K.allocation and call.budget > 0:
        last = _append(call.id, None, K.allocation, call.budget, None, None, actor, "",
                       "指南预算下达")
    if amount <= 0:
        raise Conflict("金额应大于零", code="amount_not_positive")
    entry = _append(call.id, last, kind, amount, application_id, tranche_id, actor, ref, memo)
    if recovery_id is not None:
        entry.recovery_id = recovery_id
        db.session.flush()
    return entry


def _append(call_id: int, last: LedgerEntry | None, kind: EntryKind, amount: Decimal,
            application_id: int | None, tranche_id: int | None, actor: User | None,
            ref: str, memo: str) -> LedgerEntry:
    before = Balances() if last is None else Balances(
        last.available_after, last.committed_after, last.disbursed_after)
    after = before.after(kind, amount)
    for i, value in enumerate(after.as_tuple()):
        if value < 0:
            raise Conflict(f"{kind.label} {format_wan(amount)} 万元后{SHORT[i]}将为负数"
                           f"（当前{SHORT[i]} {format_wan(before.as_tuple()[i])} 万元），"
                           "操作未执行", code="ledger_negative")
    entry = LedgerEntry(call_id=call_id, seq=(last.seq if last else 0) + 1, kind=kind,
                        amount=amount, application_id=application_id, tranche_id=tranche_id,
                        actor_id=actor.id if actor else None, ref=ref[:100], memo=memo[:300],
                        available_after=after.available, committed_after=after.committed,
                        disbursed_after=after.disbursed)
    db.session.add(entry)
    db.session.flush()
    return entry


def entries(call_id: int, limit: int | None = None) -> list[LedgerEntry]:
    query = sa.select(LedgerEntry).where(LedgerEntry.call_id == call_id).order_by(
        LedgerEntry.seq)
    if limit is not None:
        query = query.limit(limit)
    return list(db.session.scalars(query))


@dataclass
class LedgerPage:
    """A page of a call's ledger read by its sequence (a keyset: as fast at the ten
    thousandth page as at the first), with the balances around it."""

    entries: list[LedgerEntry]
    total: int         # entries in the whole ledger
    more: bool         # a next page follows
    opening: Balances  # before the page's lowest entry
    closing: Balances  # after the page's highest entry


def _stored(e: LedgerEntry | None) -> Balances:
    return Balances() if e is None else Balances(e.available_after, e.committed_after,
                                                 e.disbursed_after)


def _at(call_id: int, seq: int) -> Balances:
    """The balances after entry ``seq`` (zero before the first): the entry's own record,
    one indexed read, never a sum of what came before."""
    if seq <= 0:
        return Balances()
    return _stored(db.session.scalar(sa.select(LedgerEntry).where(
        LedgerEntry.call_id == call_id, LedgerEntry.seq <= seq)
        .order_by(LedgerEntry.seq.desc()).limit(1)))


def page(call_id: int, per_page: int, *, after: int | None = None, before: int | None = None,
         desc: bool = False) -> LedgerPage:
    """``per_page`` entries of the call's ledger: after the entry ``after`` (ascending),
    or before the entry ``before`` (descending, the newest first when neither is given
    and ``desc``)."""
    query = sa.select(LedgerEntry).where(LedgerEntry.call_id == call_id)
    if after is not None:
        query = query.where(LedgerEntry.seq > after)
    if before is not None:
        query = query.where(LedgerEntry.seq < before)
    order = LedgerEntry.seq.desc() if desc else LedgerEntry.seq.asc()
    rows = list(db.session.scalars(query.order_by(order).limit(per_page + 1)))
    more, rows = len(rows) > per_page, rows[:per_page]
    total = db.session.scalar(sa.select(sa.func.count(LedgerEntry.id)).where(
        LedgerEntry.call_id == call_id)) or 0
    if rows:
        low, high = (rows[-1], rows[0]) if desc else (rows[0], rows[-1])
        return LedgerPage(rows, total, more, _at(call_id, low.seq - 1), _stored(high))
    # An empty page: the balances where it would start.
    if before is not None:
        edge = _at(call_id, before - 1)
    elif after is not None:
        edge = _at(call_id, after)
    else:
        edge = Balances()
    return LedgerPage([], total, False, edge, edge)


# ---- reconciliation ----------------------------------------------------------------------

@dataclass
class CallReconciliation:
    call_id: int
    title: str
    year: int
    budget: Decimal
    totals: dict[EntryKind, Decimal]
    entries: int
    derived: Balances
    recorded: Balances
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class Reconciliation:
    calls: list[CallReconciliation]
    year: int | None

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.calls)

    def total(self, kind: EntryKind) -> Decimal:
        return sum((c.totals.get(kind, ZERO) for c in self.calls), ZERO)


def reconcile(year: int | None = None, call_id: int | None = None,
              call_ids: list[int] | None = None) -> Reconciliation:
    """Balances derived from the entries alone (one aggregate query), compared with the
    balances each call's last entry recorded, and with the call's budget: of the calls of
    ``year``, of ``call_id``, or of ``call_ids`` (a page of the reconciliation: each
    query is then bounded by the page, whatever the size of the ledger)."""
    calls = sa.select(Call.id, Call.title, Call.year, Call.budget)
    if year is not None:
        calls = calls.where(Call.year == year)
    if call_id is not None:
        calls = calls.where(Call.id == call_id)
    if call_ids is not None:
        calls = calls.where(Call.id.in_(call_ids))
    rows = {r.id: r for r in db.session.execute(calls)}
    restricted = year is not None or call_id is not None or call_ids is not None
    if restricted and not rows:
        return Reconciliation([], year)
    totals: dict[int, dict[EntryKind, Decimal]] = defaultdict(dict)
    counts: dict[int, int] = defaultdict(int)
    sums = sa.select(LedgerEntry.call_id, LedgerEntry.kind,
                     sa.func.sum(LedgerEntry.amount), sa.func.count()).group_by(
        LedgerEntry.call_id, LedgerEntry.kind)
    last_seq = sa.select(LedgerEntry.call_id, sa.func.max(LedgerEntry.seq).label("seq")) \
        .group_by(LedgerEntry.call_id)
    if restricted:
        sums = sums.where(LedgerEntry.call_id.in_(list(rows)))
        # Each call's last entry by the (call_id, seq) index: one probe per call.
        last_seq = sa.select(Call.id.label("call_id"), sa.select(sa.func.max(LedgerEntry.seq))
                             .where(LedgerEntry.call_id == Call.id).scalar_subquery()
                             .label("seq")).where(Call.id.in_(list(rows)))
    for cid, kind, total, n in db.session.execute(sums):
        if cid in rows:
            totals[cid][kind] = Decimal(total)
            counts[cid] += n
    last = last_seq.subquery()
    recorded = {e.call_id: e for e in db.session.scalars(sa.select(LedgerEntry).join(
        last, sa.and_(LedgerEntry.call_id == last.c.call_id, LedgerEntry.seq == last.c.seq)))}
    out: list[CallReconciliation] = []
    for cid, row in sorted(rows.items()):
        t = totals.get(cid, {})
        derived = Balances()
        for kind, amount in t.items():
            derived = derived.after(kind, amount)
        entry = recorded.get(cid)
        stored = Balances() if entry is None else Balances(
            entry.available_after, entry.committed_after, entry.disbursed_after)
        rec = CallReconciliation(cid, row.title, row.year, row.budget, t, counts.get(cid, 0),
                                 derived, stored)
        if derived != stored:
            rec.problems.append("分录汇总的余额与账面余额不一致")
        if entry is not None and entry.seq != counts[cid]:
            rec.problems.append(f"分录序号不连续（{counts[cid]} 条，末条序号 {entry.seq}）")
        if t and t.get(K.allocation, ZERO) != row.budget:
            rec.problems.append("预算下达金额与指南预算不一致")
        out.append(rec)
    return Reconciliation(out, year)


@dataclass
class Summary:
    """The reconciliation of many calls at once, aggregated in the database: how many
    calls, their budgets, their entries, each kind's total, and how many calls do not
    reconcile (the same three checks as ``reconcile``, made per call in SQL)."""

    calls: int
    budget: Decimal
    entries: int
    totals: dict[EntryKind, Decimal]
    problems: int

    @property
    def ok(self) -> bool:
        return self.problems == 0

    def total(self, kind: EntryKind) -> Decimal:
        return self.totals.get(kind, ZERO)


def summary_of(rec: Reconciliation) -> Summary:
    """The ``Summary`` of calls already reconciled (a page that holds every call)."""
    return Summary(len(rec.calls), sum((c.budget for c in rec.calls), ZERO),
                   sum(c.entries for c in rec.calls),
                   {k: rec.total(k) for k in EntryKind if rec.total(k)},
                   sum(1 for c in rec.calls if not c.ok))


def summary(calls: sa.Select[Any] | None = None) -> Summary:
    """The ``Summary`` of the calls whose ids ``calls`` selects (every call: None), in
    two statements whatever the number of calls and entries."""
    call_ids = calls if calls is not None else sa.select(Call.id)
    n, budget = db.session.execute(sa.select(
        sa.func.count(Call.id), sa.func.coalesce(sa.func.sum(Call.budget), 0)).where(
        Call.id.in_(call_ids))).one()
    # Each call's entries summed by kind first (in the order of the (call_id, kind, amount)
    # index, read alone), then the kinds turned into columns over those few rows, rather
    # than a CASE of every kind on every entry; every call's unless some are chosen.
    by_kind = sa.select(LedgerEntry.call_id, LedgerEntry.kind,
                        sa.func.sum(LedgerEntry.amount).label("amount"),
                        sa.func.count().label("n")) \
        .group_by(LedgerEntry.call_id, LedgerEntry.kind)
    if calls is not None:
        by_kind = by_kind.where(LedgerEntry.call_id.in_(calls))
    sums = by_kind.subquery()
    per_kind = {kind: sa.func.coalesce(sa.func.sum(sa.case(
        (sums.c.kind == kind, sums.c.amount), else_=0)), 0).label(kind.value)
        for kind in EntryKind}
    agg = sa.select(sums.c.call_id, sa.func.sum(sums.c.n).label("n"), *per_kind.values()) \
        .group_by(sums.c.call_id).subquery()
    # Each call's last entry, by the (call_id, seq) index: one probe per call.
    last = sa.orm.aliased(LedgerEntry)
    last_seq = sa.select(sa.func.max(LedgerEntry.seq)).where(
        LedgerEntry.call_id == agg.c.call_id).scalar_subquery()

    def derived(i: int) -> Any:
        return sa.func.round(sum((EFFECT[k][i] * agg.c[k.value] for k in EntryKind
                                  if EFFECT[k][i]), sa.literal(0)), 2)

    problem = sa.or_(
        derived(0) != last.available_after, derived(1) != last.committed_after,
        derived(2) != last.disbursed_after, agg.c.n != last.seq,
        agg.c[K.allocation.value] != Call.budget)
    row = db.session.execute(sa.select(
        sa.func.coalesce(sa.func.sum(sa.case((problem, 1), else_=0)), 0),
        sa.func.coalesce(sa.func.sum(agg.c.n), 0),
        *(sa.func.coalesce(sa.func.sum(agg.c[k.value]), 0) for k in EntryKind))
        .select_from(agg.join(Call, Call.id == agg.c.call_id).join(last, sa.and_(
            last.call_id == agg.c.call_id, last.seq == last_seq)))).one()
    totals = {k: Decimal(str(v)).quantize(Decimal("0.01"))
              for k, v in zip(EntryKind, row[2:], strict=True) if v}
    return Summary(n, Decimal(str(budget)).quantize(Decimal("0.01")), int(row[1]), totals,
                   int(row[0]))


# 万元 with two decimals, and more when an amount has yuan below 100 (as the lists' exports).
MONEY_FORMAT = "#,##0.00####"


def _wan(yuan: Decimal) -> Decimal:
    """Yuan as an exact number of 万元 (the sheets show it with two decimals or more)."""
    return Decimal(yuan) / 10000


def reconciliation_sheet(book: Any, rec: CallReconciliation) -> None:
    """A call's reconciliation as a sheet of ``book`` (a write-only workbook): the budget,
    each kind's total and the balance in 万元, and the verdict."""
    sheet = book.create_sheet("对账")
    sheet.column_dimensions["A"].width = 16
    sheet.column_dimensions["B"].width = 40
    from openpyxl.cell import WriteOnlyCell

    def money(yuan: Decimal) -> Any:
        c = WriteOnlyCell(sheet, value=_wan(yuan))
        c.number_format = MONEY_FORMAT
        return c

    sheet.append(["项目", "金额（万元）"])
    sheet.append(["指南预算", money(rec.budget)])
    for kind in EntryKind:
        sheet.append([kind.label, money(rec.totals.get(kind, ZERO))])
    sheet.append(["可用余额", money(rec.derived.available)])
    sheet.append(["已承诺", money(rec.derived.committed)])
    sheet.append(["已拨付", money(rec.derived.disbursed)])
    sheet.append(["对账结果", "一致" if rec.ok else "；".join(rec.problems)])


def reconciliation_xlsx(rec: Reconciliation) -> IO[bytes]:
    """The reconciliation report as the page shows it, one row per call and a total
    row, amounts in 万元; an open temporary file at its start."""
    import tempfile

    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    book = Workbook(write_only=True)
    sheet = book.create_sheet("预算对账")
    kinds = list(EntryKind)
    header = ["指南", "年度", "预算（万元）", *(f"{k.label}（万元）" for k in kinds),
              "可用余额（万元）", "已承诺（万元）", "已拨付（万元）", "分录数", "对账结果"]
    for i, width in enumerate([40, 8] + [14] * (len(header) - 4) + [8, 30]):
        sheet.column_dimensions[get_column_letter(i + 1)].width = width
    sheet.freeze_panes = "A2"
    bold = Font(bold=True)

    def cell(value: Any, fmt: str | None = None, strong: bool = False) -> Any:
        c = WriteOnlyCell(sheet, value=value)
        if fmt:
            c.number_format = fmt
        if strong:
            c.font = bold
        if isinstance(value, str):
            c.data_type = "s"
        return c

    money = MONEY_FORMAT
    sheet.append([cell(h, strong=True) for h in header])
    for c in rec.calls:
        sheet.append([cell(c.title), c.year, cell(_wan(c.budget), money),
                      *(cell(_wan(c.totals.get(k, ZERO)), money) for k in kinds),
                      cell(_wan(c.derived.available), money),
                      cell(_wan(c.derived.committed), money),
                      cell(_wan(c.derived.disbursed), money), c.entries,
                      "一致" if c.ok else "；".join(c.problems)])
    sheet.append([cell("合计", strong=True), None,
                  cell(_wan(sum((c.budget for c in rec.calls), ZERO)), money, True),
                  *(cell(_wan(rec.total(k)), money, True) for k in kinds),
                  None, None, None, sum(c.entries for c in rec.calls),
                  "全部一致" if rec.ok else "存在不一致"])
    out = tempfile.TemporaryFile()  # noqa: SIM115 (the caller sends and closes it)
    book.save(out)
    out.seek(0)
    return out


def reconciliation_json(rec: Reconciliation) -> dict[str, Any]:
    return {"year": rec.year, "ok": rec.ok, "calls": [{
        "call_id": c.call_id, "title": c.title, "year": c.year,
        "budget_wan": format_wan(c.budget), "entries": c.entries,
        "totals_wan": {k.value: format_wan(v) for k, v in c.totals.items()},
        "available_wan": format_wan(c.derived.available),
        "committed_wan": format_wan(c.derived.committed),
        "disbursed_wan": format_wan(c.derived.disbursed), "ok": c.ok,
        "problems": c.problems} for c in rec.calls]}
