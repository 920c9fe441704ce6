"""Scores, aggregation, spread, ranking, the funding line and the score sheet.

Pure functions over plain values: no Flask, no database, no clock. A service loads the rows,
calls these, and stores or shows the result; a "what-if" (move the budget and watch the
line) is just calling :func:`funding_line` again.

Every number is a ``Decimal`` (scores 0-100 and money in yuan, both to 0.01); a float is
never used for arithmetic. Values that come from JSON are converted through ``str`` first,
as everywhere else in kjflow, so ``85.5`` becomes ``Decimal("85.5")`` and not its binary
approximation. Rounding is always ROUND_HALF_UP (四舍五入) and is done once, on the exact
value (sums and means are carried as fractions until then).

Decisions, in one place:

* ``weighted_total``: total = Σ score / max × weight, exact, then rounded to 0.01.
* ``aggregate``: "trimmed" (default) drops ONE highest and ONE lowest score when there
  are 5 or more, else averages them all; "mean"; "median" (the mean of the two middle
  scores for an even count).
* ``spread``: the SAMPLE standard deviation (n - 1), defined from 2 scores on; with fewer
  the stdev is ``None`` and never flags. Flags compare the values as shown (to 0.01), so a
  flag never contradicts the number beside it; both limits are strict (> 30, > limit).
* ``rank``: within each group (a challenge id, or ``None`` for the whole call) by score,
  highest first; equal scores share a rank (standard competition ranking 1, 2, 2, 4); tied
  entries are listed by the explicit tie-break: earlier submission first, then lower id.
  Entries without a score come last in their group with no rank.
* ``funding_line``: candidates are taken rank 1 of every group first, then rank 2, …
  (within one rank: higher score, then the tie-break), so one challenge's runner-up never
  goes before another challenge's winner. A group at its team limit is passed over. The
  bureau's default is the STRICT line: the first project whose request does not fit in
  what is left stops the line and nothing below it is funded. ``skip_unaffordable=True``
  instead passes over a project that does not fit and goes on down the list, so a later,
  cheaper project can still be funded. Only the strict line is monotone: raising the
  budget never unfunds a project (with skipping it can — see the tests).
* ``score_sheet_xlsx``: reviewers appear only as 专家1, 专家2, …; a label that is not of
  that form is refused, so a name cannot slip into the sheet.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, Inexact, InvalidOperation, localcontext
from enum import Enum
from fractions import Fraction
from io import BytesIO
from operator import attrgetter
from typing import Any, Final

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from forms.validators import format_wan

__all__ = [
    "AGGREGATION_RULES",
    "SPREAD_RANGE_LIMIT",
    "STATUS_LABELS",
    "TRIM_MIN_COUNT",
    "Entry",
    "FundingLine",
    "Ranked",
    "ReviewerScore",
    "ScoreError",
    "SheetRow",
    "Spread",
    "aggregate",
    "funding_line",
    "rank",
    "score_sheet_xlsx",
    "spread",
    "to_the_fen",
    "weighted_total",
]

CENT: Final = Decimal("0.01")
HUNDRED: Final = Decimal(100)
TRIM_MIN_COUNT: Final = 5  # with this many scores or more, "trimmed" drops the extremes
SPREAD_RANGE_LIMIT: Final = Decimal(30)  # max - min above this is flagged
AGGREGATION_RULES: Final = ("trimmed", "mean", "median")

Number = Decimal | int | str


# ---- numbers ----------------------------------------------------------------------------

def _to_decimal(value: object) -> Decimal:
    """Decimal from a Decimal, int or numeric string (a float goes through ``str``)."""
    if isinstance(value, bool):
        raise TypeError("布尔值不是分数")
    if isinstance(value, Decimal):
        number = value
    else:
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation as err:
            raise ValueError(f"“{value}”不是数字") from err
    if not number.is_finite():
        raise ValueError(f"“{value}”不是有效数字")
    return number


def _round(value: Fraction | Decimal) -> Decimal:
    """Round an exact value to 0.01, half up (away from zero)."""
    exact = Fraction(value) * 100
    cents = math.floor(abs(exact) + Fraction(1, 2))
    result = Decimal(cents if exact >= 0 else -cents).scaleb(-2)
    return result + Decimal("0.00")  # never "-0.00"


def _money(value: Number, what: str) -> Decimal:
    """Yuan to the fen: a non-negative Decimal with two decimals."""
    amount = _to_decimal(value)
    if amount < 0:
        raise ValueError(f"{what}不能为负数")
    to_the_fen = amount.quantize(CENT)
    if amount != to_the_fen:
        raise ValueError(f"{what}最多精确到分")
    return to_the_fen


def to_the_fen(value: Number) -> Decimal:
    """An amount asked for, in yuan: a non-negative Decimal to the fen (``ValueError``
    otherwise), as :func:`rank` takes it."""
    return _money(value, "申请经费")


def _plain(value: Decimal) -> str:
    """'15', '12.5' — a Decimal as a person writes it (no exponent, no trailing zeros)."""
    return format(value.normalize(), "f")


# ---- 1. weighted total ------------------------------------------------------------------

class ScoreError(ValueError):
    """A review's scores do not fit the rubric; ``messages`` has one line per problem."""

    def __init__(self, messages: Sequence[str]) -> None:
        self.messages = list(messages)
        super().__init__("；".join(self.messages))


def weighted_total(rubric: Sequence[Mapping[str, Any]], scores: Mapping[str, Number]) -> Decimal:
    """Σ score / max × weight over the rubric, rounded half up to 0.01 (0-100).

    Raises :class:`ScoreError` (a ``ValueError``) listing, in Chinese, every criterion
    that is missing, not a number or outside 0..max, or a rubric whose weights do not
    add up to 100.
    """
    problems: list[str] = []
    if not rubric:
        raise ScoreError(["评分标准至少需要一项"])
    total = Fraction(0)
    weights = Decimal(0)
    for crit in rubric:
        label = str(crit.get("label") or crit.get("name"))
        try:
            weight = _to_decimal(crit["weight"])
            top = _to_decimal(crit["max"])
        except (KeyError, TypeError, ValueError) as err:
            raise ScoreError([f"评分标准“{label}”的权重或满分有误"]) from err
        if weight <= 0 or top <= 0:
            raise ScoreError([f"评分标准“{label}”的权重和满分应大于零"])
        weights += weight
        raw = scores.get(str(crit["name"]))
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            problems.append(f"“{label}”尚未评分")
            continue
        try:
            score = _to_decimal(raw)
        except (TypeError, ValueError):
            problems.append(f"“{label}”的分数应为数字")
            continue
        if not 0 <= score <= top:
            problems.append(f"“{label}”应在0至{_plain(top)}分之间")
            continue
        total += Fraction(score) / Fraction(top) * Fraction(weight)
    if weights != HUNDRED:
        raise ScoreError([f"评分标准各项权重之和应为100（当前为{_plain(weights)}）"])
    if problems:
        raise ScoreError(problems)
    return _round(total)


# ---- 2. aggregation ---------------------------------------------------------------------

def aggregate(totals: Sequence[Number], rule: str | Enum = "trimmed") -> Decimal | None:
    """One score from the reviewers' totals by the call's rule; ``None`` when there are none.

    ``trimmed``: with 5 or more scores drop one highest and one lowest and average the rest,
    else average all. ``mean``: average all. ``median``: the middle score (mean of the two
    middle ones for an even count). Rounded half up to 0.01. An ``AggregationRule`` member
    is accepted as well as its value.
    """
    name = rule.value if isinstance(rule, Enum) else rule
    if name not in AGGREGATION_RULES:
        raise ValueError(f"未知的汇总规则：{name}（可选：{'、'.join(AGGREGATION_RULES)}）")
    values = sorted(_to_decimal(t) for t in totals)
    if not values:
        return None
    if name == "trimmed" and len(values) >= TRIM_MIN_COUNT:
        values = values[1:-1]
    if name == "median":
        mid = len(values) // 2
        values = values[mid - 1:mid + 1] if len(values) % 2 == 0 else values[mid:mid + 1]
    return _mean(values)


def _mean(values: Sequence[Decimal]) -> Decimal:
    """The mean rounded half up to 0.01. Scores to the cent (every stored total) take the
    fast path: their sum is exact and its quotient by a count either ends within 50
    digits (exact) or lies at least 1/(200n) cents from a half cent, so rounding the
    50-digit quotient rounds the exact value. Anything else goes through ``Fraction``."""
    with localcontext() as ctx:
        ctx.prec = 50
        ctx.traps[Inexact] = True
        try:
            # An exact sum keeps the finest exponent of its terms: to the cent or finer.
            total = sum(values, Decimal(0))
        except Inexact:
            total = None
        if total is not None and total.as_tuple().exponent >= -2:  # type: ignore[operator]
            ctx.traps[Inexact] = False
            quotient = total / len(values)
            return quotient.quantize(CENT, rounding=ROUND_HALF_UP) + Decimal("0.00")
    return _round(Fraction(sum(values, Decimal(0))) / len(values))


def from_cents(total: int, count: int) -> Decimal:
    """The mean of ``count`` scores summing to ``total`` cents, rounded half up to 0.01 as
    ``aggregate`` rounds (scores are never negative): what a database's integer sums of
    the kept scores give (``results._scores``)."""
    if count <= 0 or total < 0:
        raise ValueError("分数个数须为正、总分不能为负")
    return Decimal((2 * int(total) + count) // (2 * count)).scaleb(-2)  # 83.33, 0.00


# ---- 3. spread --------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Spread:
    """How far the reviewers disagree; ``flagged`` means: discuss before deciding."""

    count: int
    highest: Decimal | None
    lowest: Decimal | None
    max_minus_min: Decimal | None  # None without scores
    stdev: Decimal | None  # sample stdev (n - 1), None with fewer than 2 scores
    flagged: bool
    reasons: list[str] = field(default_factory=list)


def _sample_stdev(values: Sequence[Decimal]) -> Decimal:
    n = len(values)
    mean = Fraction(sum(values, Decimal(0))) / n
    variance = sum(((Fraction(v) - mean) ** 2 for v in values), Fraction(0)) / (n - 1)
    with localcontext() as ctx:
        ctx.prec = 40
        root = (Decimal(variance.numerator) / Decimal(variance.denominator)).sqrt()
    return _round(root)


def spread(totals: Sequence[Number], stdev_limit: Number | None = None) -> Spread:
    """Range and sample standard deviation of the totals, flagged when either is too wide.

    Flagged when max − min > 30, or when the stdev (to 0.01) > ``stdev_limit`` (the call's
    ``spread_stdev_limit``; ``None`` means no stdev limit). With one score nothing flags.
    """
    values = sorted(_to_decimal(t) for t in totals)
    if not values:
        return Spread(0, None, None, None, None, False, [])
    high, low = values[-1], values[0]
    width = _round(high - low)
    stdev = _sample_stdev(values) if len(values) >= 2 else None
    reasons: list[str] = []
    if width > SPREAD_RANGE_LIMIT:
        reasons.append(f"最高分与最低分相差超过{_plain(SPREAD_RANGE_LIMIT)}分")
    if stdev_limit is not None and stdev is not None:
        limit = _to_decimal(stdev_limit)
        if stdev > limit:
            reasons.append(f"标准差超过本批次上限{_plain(limit)}")
    return Spread(len(values), high, low, width, stdev, bool(reasons), reasons)


# ---- 4. ranking -------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Entry:
    """One application to rank.

    ``group`` is the challenge (榜单) id as a string for ``jiebang``, ``None`` to rank across
    the whole call. ``score`` is the aggregated score (``None``: not scored, ranked last).
    ``requested`` is the amount asked for, in yuan. The tie-break between equal scores is
    explicit: earlier ``submitted_at`` first (``None`` after any time), then lower ``id``.
    Give all ``submitted_at`` in UTC (aware) or all naive — they are compared.
    """

    id: int
    group: str | None
    score: Decimal | None
    requested: Decimal
    submitted_at: datetime | None = None

    @property
    def tie_key(self) -> tuple[bool, datetime | None, int]:
        """Orders entries with equal scores: earlier submission, then lower id.

        A missing time never meets a time in a comparison: the bool before it decides.
        """
        return (self.submitted_at is None, self.submitted_at, self.id)


@dataclass(frozen=True, slots=True)
class Ranked:
    """An entry with its place in its group and in the funding line's order.

    ``rank`` is shared by equal scores (1, 2, 2, 4) and ``None`` without a score;
    ``position`` is the 1-based row in the group's list (unique, follows the tie-break);
    ``tied`` says another entry of the group has the same rank; ``line_at`` is the 1-based
    place in the order :func:`funding_line` considers the scored entries of every group
    (rank 1 of each group first, then rank 2, …; within a rank: higher score, then the
    tie-break), ``None`` without a score. A database ranks the same way in one statement
    (``results._ranking``).
    """

    id: int
    group: str | None
    score: Decimal | None
    requested: Decimal
    rank: int | None
    position: int
    tied: bool
    line_at: int | None


def _group_order(group: str | None) -> tuple[bool, str]:
    return (group is not None, group or "")


_ID = attrgetter("id")
_SUBMITTED = attrgetter("submitted_at")
_SCORE = attrgetter("score")
_LINE_AT = attrgetter("line_at")


def _in_tie_order(items: Sequence[Entry]) -> list[Entry]:
    """``items`` in the tie-break's order (earlier submission, no time after any time,
    then lower id), sorted by C-level keys: what ``tie_key`` orders, without a Python call
    per item."""
    out = sorted(items, key=_ID)
    timed = [i for i in out if i.submitted_at is not None]
    if len(timed) == len(out):
        out.sort(key=_SUBMITTED)  # stable: equal times stay in id order
        return out
    timed.sort(key=_SUBMITTED)
    return timed + [i for i in out if i.submitted_at is None]


def rank(entries: Sequence[Entry]) -> list[Ranked]:
    """Rank within each group: score descending, ties share the rank, unscored last.

    The result lists the group ``None`` first, then the groups by id, each in rank order.
    Ids must be unique. O(n log n).
    """
    times = Counter(entry.id for entry in entries)
    if len(times) != len(entries):
        duplicate = next(i for i, n in times.items() if n > 1)
        raise ValueError(f"重复的申报书编号：{duplicate}")
    requested = {entry.id: _money(entry.requested, f"申报书{entry.id}的申请经费")
                 for entry in entries}
    groups: dict[str | None, list[Entry]] = defaultdict(list)
    in_tie_order = _in_tie_order(entries)
    for entry in in_tie_order:
        groups[entry.group].append(entry)

    # (entry, rank, position, tied) per group, groups in order.
    placed: list[tuple[Entry, int | None, int, bool]] = []
    ranks: dict[int, int] = {}
    for group in sorted(groups, key=_group_order):
        members = groups[group]
        scored = [e for e in members if e.score is not None]
        scored.sort(key=_SCORE, reverse=True)  # stable both ways: ties keep the tie order
        previous: Decimal | None = None
        for i, entry in enumerate(scored):
            ranks[entry.id] = ranks[scored[i - 1].id] if i and entry.score == previous else i + 1
            previous = entry.score
        counts = Counter(ranks[e.id] for e in scored)
        placed.extend((e, ranks[e.id], i, counts[ranks[e.id]] > 1)
                      for i, e in enumerate(scored, 1))
        placed.extend((e, None, i, False)
                      for i, e in enumerate((e for e in members if e.score is None),
                                            len(scored) + 1))
    # The funding line's order: stable sorts by C-level keys, the last one deciding first.
    line = [e for e in in_tie_order if e.score is not None]
    line.sort(key=_SCORE, reverse=True)
    line.sort(key=lambda e: ranks[e.id])
    line_at = {e.id: i for i, e in enumerate(line, 1)}
    return [Ranked(e.id, e.group, e.score, requested[e.id], r, position, tied,
                   line_at.get(e.id))
            for e, r, position, tied in placed]


# ---- 5. funding line --------------------------------------------------------------------

STATUS_LABELS: Final[Mapping[str, str]] = {
    "funded": "拟资助",
    "over_budget": "剩余预算不足",
    "below_line": "资助线以下",
    "group_full": "该榜单名额已满",
    "unranked": "无有效评分",
}


@dataclass(frozen=True, slots=True)
class FundingLine:
    """Where the money runs out.

    ``order``: the ranked ids in the order they were considered. ``funded``: funded ids, in
    that order. ``line_position``: how many of ``order`` lie above the line (the index of
    ``stopped_at`` in ``order``, or ``len(order)`` when everything fit). ``stopped_at``: the
    first project that did not fit (the strict line sits right above it). ``status`` per id
    is a key of :data:`STATUS_LABELS`. ``tie_at_line``: ``stopped_at`` shares its rank with
    another project of its group, so the line runs through equal scores and the tie-break
    (earlier submission, then id) decided which of them is funded — worth a look.
    """

    budget: Decimal
    funded: tuple[int, ...]
    total_funded: Decimal
    remaining: Decimal
    line_position: int
    stopped_at: int | None
    tie_at_line: bool
    order: tuple[int, ...]
    status: Mapping[int, str]
    skip_unaffordable: bool

    def is_funded(self, entry_id: int) -> bool:
        return self.status.get(entry_id) == "funded"


def funding_line(
    ranked: Sequence[Ranked],
    budget: Number,
    *,
    per_group_limit: Mapping[str | None, int] | None = None,
    skip_unaffordable: bool = False,
) -> FundingLine:
    """Fund by rank until the budget is used.

    A project is funded when its request fits in what is left (and its group, if it has a
    limit in ``per_group_limit``, has room: a challenge's max parallel teams; a group not in
    the mapping has no limit). Strict line (default): the first project that does not fit
    stops the line. ``skip_unaffordable=True``: pass over it and keep going, so a cheaper
    project further down can still be funded. Unscored entries are never funded.
    """
    total_budget = _money(budget, "预算")
    limits = dict(per_group_limit or {})
    for group, limit in limits.items():
        if limit < 0:
            raise ValueError(f"榜单{group}的名额不能为负数")

    candidates = sorted((r for r in ranked if r.line_at is not None), key=_LINE_AT)
    # ``rank`` checked each request and keeps it to the fen.
    requested = {c.id: c.requested for c in candidates}
    status: dict[int, str] = {}
    remaining = total_budget
    taken: dict[str | None, int] = defaultdict(int)
    funded: list[int] = []
    stopped_at: Ranked | None = None
    line_position = len(candidates)
    for i, item in enumerate(candidates):
        if stopped_at is not None and not skip_unaffordable:
            status[item.id] = "below_line"
            continue
        cap = limits.get(item.group)
        if cap is not None and taken[item.group] >= cap:
            status[item.id] = "group_full"
            continue
        if requested[item.id] <= remaining:
            remaining -= requested[item.id]
            taken[item.group] += 1
            funded.append(item.id)
            status[item.id] = "funded"
            continue
        status[item.id] = "over_budget"
        if stopped_at is None:
            stopped_at, line_position = item, i

    status.update((r.id, "unranked") for r in ranked if r.rank is None)
    return FundingLine(
        budget=total_budget,
        funded=tuple(funded),
        total_funded=total_budget - remaining,
        remaining=remaining,
        line_position=line_position,
        stopped_at=stopped_at.id if stopped_at else None,
        tie_at_line=stopped_at is not None and stopped_at.tied,
        order=tuple(c.id for c in candidates),
        status=status,
        skip_unaffordable=skip_unaffordable,
    )


# ---- 6. score sheet ---------------------------------------------------------------------

_EXPERT_LABEL = re.compile(r"^专家(\d+)$")
# Characters openpyxl (and Excel) refuse inside a cell.
_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


@dataclass(frozen=True, slots=True)
class ReviewerScore:
    """One reviewer's scores for one application, under an anonymous label (专家1, 专家2…).

    There is deliberately no field for the reviewer's name or id.
    """

    label: str
    total: Decimal | None
    criteria: Mapping[str, Number] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SheetRow:
    """One application on the score sheet; amounts in yuan (shown in 万元)."""

    number: str
    title: str
    reviews: Sequence[ReviewerScore]
    aggregate: Decimal | None
    spread: Spread | None
    rank: int | None
    funded: bool
    requested: Decimal
    granted: Decimal | None = None  # defaults to ``requested`` when funded
    group: str | None = None  # the challenge's title for jiebang


def _expert_number(label: str) -> int:
    match = _EXPERT_LABEL.match(label)
    if not match:
        raise ValueError(f"评分表中的评审专家只能以“专家1”“专家2”等匿名编号出现，不能为“{label}”")
    return int(match.group(1))


def _wan(yuan: Decimal | None) -> Decimal | None:
    return None if yuan is None else Decimal(format_wan(yuan))


def score_sheet_xlsx(
    rows: Sequence[SheetRow],
    rubric: Sequence[Mapping[str, Any]],
    *,
    title: str = "评审结果汇总表",
) -> bytes:
    """An .xlsx with three sheets: 评审汇总 (one row per application), 评分明细 (one row per
    application and reviewer, per criterion) and 评分标准 (the rubric).

    Chinese headers in row 1, frozen; scores and amounts are numbers (0.00), amounts in 万元;
    text that looks like a formula stays text. Reviewers appear only as 专家N.
    """
    experts = sorted({_expert_number(rv.label) for row in rows for rv in row.reviews})
    has_group = any(row.group for row in rows)

    wb = Workbook()
    wb.properties.title = _text(title)
    wb.properties.creator = "kjflow"
    bold = Font(bold=True)
    header_fill = PatternFill("solid", fgColor="DDEBF7")
    flag_fill = PatternFill("solid", fgColor="FCE4D6")

    def put(ws: Any, r: int, c: int, value: object, fmt: str | None = None) -> Any:
        cell = ws.cell(row=r, column=c)
        if isinstance(value, str):
            cell.value = _text(value)
            cell.data_type = "s"  # "=…" stays text, never a formula
        else:
            cell.value = value
            if fmt and value is not None:
                cell.number_format = fmt
        return cell

    def headers(ws: Any, names: Sequence[str], widths: Mapping[str, int]) -> None:
        for c, name in enumerate(names, 1):
            cell = put(ws, 1, c, name)
            cell.font, cell.fill = bold, header_fill
            cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
            ws.column_dimensions[get_column_letter(c)].width = widths.get(name, 12)
        ws.freeze_panes = "A2"
        ws.auto_filter.ref = f"A1:{get_column_letter(len(names))}1"

    # Sheet 1: one row per application.
    summary = wb.active
    summary.title = "评审汇总"
    names = ["序号", "申报编号", "项目名称", *(["榜单"] if has_group else []),
             *(f"专家{n}" for n in experts), "评分人数", "综合得分", "最高分与最低分之差",
             "标准差", "分歧标记", "分歧原因", "排名", "申请经费（万元）", "是否拟资助",
             "拟资助金额（万元）"]
    headers(summary, names, {"申报编号": 20, "项目名称": 40, "榜单": 24, "分歧原因": 36,
                             "最高分与最低分之差": 14, "申请经费（万元）": 16,
                             "拟资助金额（万元）": 16})
    score_fmt, money_fmt = "0.00", "#,##0.00"
    for r, row in enumerate(rows, 2):
        by_expert = {_expert_number(rv.label): rv for rv in row.reviews}
        if len(by_expert) != len(row.reviews):
            raise ValueError(f"申报书{row.number}的评审专家编号重复")
        granted = (row.granted if row.granted is not None else row.requested) if row.funded \
            else None
        sp = row.spread
        values: list[tuple[object, str | None]] = [
            (r - 1, None), (row.number, None), (row.title, None),
            *([(row.group or "", None)] if has_group else []),
            *((by_expert[n].total if n in by_expert else None, score_fmt) for n in experts),
            (sum(1 for rv in row.reviews if rv.total is not None), None),
            (row.aggregate, score_fmt),
            (sp.max_minus_min if sp else None, score_fmt),
            (sp.stdev if sp else None, score_fmt),
            ("需讨论" if sp and sp.flagged else "", None),
            ("；".join(sp.reasons) if sp else "", None),
            (row.rank, None),
            (_wan(row.requested), money_fmt),
            ("是" if row.funded else "否", None),
            (_wan(granted), money_fmt),
        ]
        for c, (value, fmt) in enumerate(values, 1):
            cell = put(summary, r, c, value, fmt)
            if sp and sp.flagged and names[c - 1] in ("分歧标记", "分歧原因"):
                cell.fill = flag_fill

    # Sheet 2: one row per application and reviewer, the rubric's criteria.
    detail = wb.create_sheet("评分明细")
    crit_headers = [f"{c.get('label') or c['name']}（权重{_plain(_to_decimal(c['weight']))}，"
                    f"满分{_plain(_to_decimal(c['max']))}）" for c in rubric]
    headers(detail, ["申报编号", "项目名称", "评审专家", *crit_headers, "合计"],
            {"申报编号": 20, "项目名称": 40, **dict.fromkeys(crit_headers, 18)})
    r = 2
    for row in rows:
        for rv in sorted(row.reviews, key=lambda rv: _expert_number(rv.label)):
            crits = [rv.criteria.get(str(c["name"])) for c in rubric]
            cells: list[tuple[object, str | None]] = [
                (row.number, None), (row.title, None), (rv.label, None),
                *((None if v is None else _to_decimal(v), score_fmt) for v in crits),
                (rv.total, score_fmt),
            ]
            for c, (value, fmt) in enumerate(cells, 1):
                put(detail, r, c, value, fmt)
            r += 1

    # Sheet 3: the rubric.
    standard = wb.create_sheet("评分标准")
    headers(standard, ["评分项", "权重", "满分"], {"评分项": 30})
    for r, crit in enumerate(rubric, 2):
        put(standard, r, 1, str(crit.get("label") or crit["name"]))
        put(standard, r, 2, _to_decimal(crit["weight"]))
        put(standard, r, 3, _to_decimal(crit["max"]))

    buffer = BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def _text(value: str) -> str:
    return _ILLEGAL.sub("", value)
