"""Scores, aggregation, spread, ranking, the funding line and the Excel score sheet."""

from __future__ import annotations

import ast
import bisect
import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from io import BytesIO
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook

from workflow.calls.models import AggregationRule
from workflow.review import ranking
from workflow.review.ranking import (
    AGGREGATION_RULES,
    STATUS_LABELS,
    Entry,
    ReviewerScore,
    ScoreError,
    SheetRow,
    aggregate,
    funding_line,
    rank,
    score_sheet_xlsx,
    spread,
    weighted_total,
)

D = Decimal
T0 = datetime(2022, 5, 1, 2, 0, tzinfo=UTC)
RUBRIC = [
    {"name": "innovation", "label": "创新性", "weight": 40, "max": 100},
    {"name": "feasibility", "label": "可行性", "weight": 35, "max": 50},
    {"name": "team", "label": "团队基础", "weight": 25, "max": 10},
]


# ---- purity -------------------------------------------------------------------------------

def test_module_is_pure():
    tree = ast.parse(Path(ranking.__file__).read_text(encoding="utf-8"))
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            roots.add((node.module or "").split(".")[0])
    allowed = {"__future__", "collections", "dataclasses", "datetime", "decimal", "enum",
               "fractions", "io", "math", "operator", "re", "statistics", "typing", "openpyxl",
               "forms"}
    assert roots <= allowed, roots - allowed
    assert "float(" not in Path(ranking.__file__).read_text(encoding="utf-8")


# ---- 1. weighted total --------------------------------------------------------------------

def test_weighted_total_full_and_partial_marks():
    full = {"innovation": 100, "feasibility": 50, "team": 10}
    assert weighted_total(RUBRIC, full) == D("100.00")
    assert weighted_total(RUBRIC, dict.fromkeys(full, 0)) == D("0.00")
    # 85/100*40 + 40/50*35 + 7/10*25 = 34 + 28 + 17.5
    assert weighted_total(RUBRIC, {"innovation": "85", "feasibility": D(40), "team": 7}) \
        == D("79.50")


def test_weighted_total_is_exact_and_rounds_half_up():
    one = [{"name": "a", "label": "甲", "weight": 100, "max": 200}]
    assert weighted_total(one, {"a": "0.01"}) == D("0.01")  # 0.005 → 0.01, not 0.00
    thirds = [{"name": "a", "label": "甲", "weight": 100, "max": 3}]
    assert weighted_total(thirds, {"a": 1}) == D("33.33")
    assert weighted_total(thirds, {"a": 2}) == D("66.67")
    # a float from JSON goes through str: 85.1 is 85.1, not 85.0999…
    assert weighted_total([{"name": "a", "label": "甲", "weight": 100, "max": 100}],
                          {"a": 85.1}) == D("85.10")  # type: ignore[dict-item]
    # a fractional weight, as the call form stores it
    halves = [{"name": "a", "label": "甲", "weight": 62.5, "max": 100},
              {"name": "b", "label": "乙", "weight": 37.5, "max": 100}]
    assert weighted_total(halves, {"a": 80, "b": 60}) == D("72.50")


@pytest.mark.parametrize(("scores", "messages"), [
    ({"feasibility": 40, "team": 7}, ["“创新性”尚未评分"]),
    ({"innovation": "", "feasibility": 40, "team": 7}, ["“创新性”尚未评分"]),
    ({"innovation": 101, "feasibility": 40, "team": 7}, ["“创新性”应在0至100分之间"]),
    ({"innovation": -1, "feasibility": 40, "team": 7}, ["“创新性”应在0至100分之间"]),
    ({"innovation": 80, "feasibility": "五十", "team": 7}, ["“可行性”的分数应为数字"]),
    ({"innovation": 80, "feasibility": "NaN", "team": 7}, ["“可行性”的分数应为数字"]),
    ({"innovation": 80, "feasibility": 40, "team": True}, ["“团队基础”的分数应为数字"]),
    ({"innovation": 80, "feasibility": 51}, ["“可行性”应在0至50分之间", "“团队基础”尚未评分"]),
])
def test_weighted_total_explains_every_bad_score(scores, messages):
    with pytest.raises(ValueError, match=r"应|未") as info:
        weighted_total(RUBRIC, scores)
    assert isinstance(info.value, ScoreError)
    assert info.value.messages == messages
    assert str(info.value) == "；".join(messages)


def test_weighted_total_refuses_a_bad_rubric():
    with pytest.raises(ValueError, match=r"权重之和应为100（当前为90）"):
        light = {"name": "team", "label": "团队基础", "weight": 15, "max": 10}
        weighted_total([*RUBRIC[:2], light], {"innovation": 1, "feasibility": 1, "team": 1})
    with pytest.raises(ValueError, match="至少需要一项"):
        weighted_total([], {})
    with pytest.raises(ValueError, match="“甲”的权重或满分有误"):
        weighted_total([{"name": "a", "label": "甲", "weight": 100}], {"a": 1})
    with pytest.raises(ValueError, match="应大于零"):
        weighted_total([{"name": "a", "label": "甲", "weight": 100, "max": 0}], {"a": 0})


# ---- 2. aggregation -----------------------------------------------------------------------

@pytest.mark.parametrize(("totals", "rule", "expected"), [
    (["90", "80", "70", "60", "50"], "trimmed", "70.00"),  # drop 90 and 50
    (["90", "80", "70", "60"], "trimmed", "75.00"),  # fewer than 5: plain mean
    (["90", "80", "70", "60", "50"], "mean", "70.00"),
    (["100", "100", "0", "0", "50"], "trimmed", "50.00"),  # drops ONE highest and ONE lowest
    (["90", "90", "90", "90", "10"], "trimmed", "90.00"),
    (["95", "10", "80", "82", "78", "99"], "trimmed", "83.75"),  # 6 scores: mean of middle 4
    (["1", "2", "3", "4", "5", "6"], "trimmed", "3.50"),
    (["80"], "trimmed", "80.00"),  # single score
    (["80"], "mean", "80.00"),
    (["80"], "median", "80.00"),
    (["50", "99", "70"], "median", "70.00"),  # odd count
    (["60", "70", "80", "90"], "median", "75.00"),  # even count: mean of the middle two
    (["70.00", "70.01"], "median", "70.01"),  # 70.005 rounds half up
    (["70.00", "70.01"], "mean", "70.01"),
    (["0.00", "0.01"], "mean", "0.01"),  # 0.005: half up, not half even (0.00)
    (["85.33", "85.33", "85.34"], "mean", "85.33"),  # 85.3333…
    (["66.67", "66.67", "66.66"], "mean", "66.67"),  # 66.6666…
    (["90.02", "80.01", "70.00", "60.00", "50.00"], "trimmed", "70.00"),  # 210.01 / 3
    (["90", "80.01", "70", "60.02", "50"], "trimmed", "70.01"),  # 210.03 / 3 = 70.01
    (["100", "100", "100", "100", "100"], "trimmed", "100.00"),
])
def test_aggregate(totals, rule, expected):
    result = aggregate([D(t) for t in totals], rule)
    assert result == D(expected)
    assert str(result) == expected  # always two decimals


def test_aggregate_edges():
    assert aggregate([]) is None
    assert aggregate([], "median") is None
    assert aggregate([90, "80", D(70), 60, 50]) == D("70.00")  # the default rule is trimmed
    assert aggregate([D(80), D(60)], AggregationRule.median) == D("70.00")
    assert set(AGGREGATION_RULES) == {r.value for r in AggregationRule}
    with pytest.raises(ValueError, match="未知的汇总规则：max"):
        aggregate([D(1)], "max")


# ---- 3. spread ----------------------------------------------------------------------------

RANGE = "最高分与最低分相差超过30分"


@pytest.mark.parametrize(("totals", "limit", "reasons"), [
    (["90", "60"], None, []),  # exactly 30 is not "more than 30"
    (["90.01", "60"], None, [RANGE]),
    (["95", "64", "80"], None, [RANGE]),
    (["80", "80", "80"], "5", []),
    (["70", "80", "90"], "10", []),  # sample stdev is exactly 10.00: not above
    (["70", "80", "90"], "9.99", ["标准差超过本批次上限9.99"]),
    (["70", "80", "90"], "8.50", ["标准差超过本批次上限8.5"]),
    (["100", "50", "60"], "15.00", [RANGE, "标准差超过本批次上限15"]),
    (["75"], "0", []),  # one score: no stdev, nothing to flag
    ([], "0", []),
])
def test_spread_flags(totals, limit, reasons):
    result = spread([D(t) for t in totals], None if limit is None else D(limit))
    assert result.reasons == reasons
    assert result.flagged is bool(reasons)


def test_spread_values():
    s = spread([D(70), D(80), D(90)], D(15))
    assert (s.count, s.highest, s.lowest) == (3, D(90), D(70))
    assert s.max_minus_min == D("20.00")
    assert s.stdev == D("10.00")  # sample (n - 1); the population stdev would be 8.16
    assert spread([D("85.5"), D("60")]).stdev == D("18.03")  # 25.5/√2 = 18.031…
    one = spread([D(75)], D(1))
    assert (one.max_minus_min, one.stdev, one.flagged) == (D("0.00"), None, False)
    empty = spread([])
    assert (empty.count, empty.max_minus_min, empty.stdev, empty.flagged) == (0, None, None,
                                                                            False)


# ---- 4. ranking ---------------------------------------------------------------------------

def entry(id_, score, requested="100000", group=None, minutes=None):
    return Entry(id=id_, group=group, score=None if score is None else D(score),
                 requested=D(requested),
                 submitted_at=None if minutes is None else T0 + timedelta(minutes=minutes))


def test_rank_ties_share_a_rank_and_follow_the_tie_break():
    ranked = rank([
        entry(1, "80.00", minutes=30),
        entry(2, "90"),
        entry(3, "80", minutes=10),  # same score as 1 (80 == 80.00), submitted earlier
        entry(4, None),
        entry(5, "70"),
        entry(6, "80", minutes=None),  # no time: after the timed ones
        entry(7, "80", minutes=10),  # same time as 3: lower id first
        entry(8, "60"),
    ])
    assert [(r.id, r.rank, r.position, r.tied) for r in ranked] == [
        (2, 1, 1, False),
        (3, 2, 2, True), (7, 2, 3, True), (1, 2, 4, True), (6, 2, 5, True),
        (5, 6, 6, False),
        (8, 7, 7, False),
        (4, None, 8, False),  # unscored: last, unranked
    ]


def test_rank_within_groups():
    ranked = rank([
        entry(1, "88", group="12"), entry(2, "95", group="7"), entry(3, "91", group="12"),
        entry(4, "70"), entry(5, None, group="7"), entry(6, "95", group="7"),
        entry(7, "75"),
    ])
    assert [(r.group, r.id, r.rank) for r in ranked] == [
        (None, 7, 1), (None, 4, 2),
        ("12", 3, 1), ("12", 1, 2),
        ("7", 2, 1), ("7", 6, 1), ("7", 5, None),
    ]
    assert rank([]) == []


def test_rank_refuses_duplicate_ids_and_bad_money():
    with pytest.raises(ValueError, match="重复"):
        rank([entry(1, "80"), entry(1, "70")])
    with pytest.raises(ValueError, match="不能为负数"):
        rank([entry(1, "80", requested="-1")])
    with pytest.raises(ValueError, match="精确到分"):
        rank([entry(1, "80", requested="0.001")])


def test_rank_ten_thousand_entries():
    rnd = random.Random(20220501)
    groups = [None, "1", "2", "3"]
    entries = [
        Entry(id=i, group=rnd.choice(groups),
              score=None if rnd.random() < 0.02 else D(rnd.randrange(0, 10001)) / 100,
              requested=D(rnd.randrange(1, 500)) * 10000,
              submitted_at=T0 + timedelta(seconds=rnd.randrange(0, 3600)))
        for i in range(10_000)
    ]
    rnd.shuffle(entries)
    ranked = rank(entries)
    assert sorted(r.id for r in ranked) == list(range(10_000))
    tie = {e.id: e.tie_key for e in entries}

    by_group = defaultdict(list)
    for r in ranked:
        by_group[r.group].append(r)
    for group, members in by_group.items():
        assert [m.position for m in members] == list(range(1, len(members) + 1))
        # rank = 1 + how many in the group score strictly higher
        scores = sorted(-m.score for m in members if m.score is not None)
        for m in members:
            if m.score is None:
                assert m.rank is None
            else:
                assert m.rank == 1 + bisect.bisect_left(scores, -m.score), group
        keys = [(m.score is None, -(m.score or 0), tie[m.id]) for m in members]
        assert keys == sorted(keys)

    line = funding_line(ranked, D("50000000.00"))
    assert line.total_funded <= D("50000000.00")
    assert sum((r.requested for r in ranked if line.is_funded(r.id)), D(0)) \
        == line.total_funded


# ---- 5. funding line ----------------------------------------------------------------------

def test_strict_line_against_skipping():
    # A 60万 then B 50万 then C 40万 with 100万: strict stops at B; skipping funds C.
    ranked = rank([entry(1, "90", "600000"), entry(2, "80", "500000"),
                   entry(3, "70", "400000"), entry(4, None, "1")])
    strict = funding_line(ranked, D("1000000"))
    assert strict.funded == (1,)
    assert (strict.stopped_at, strict.line_position) == (2, 1)
    assert strict.total_funded == D("600000.00")
    assert strict.remaining == D("400000.00")
    assert strict.status == {1: "funded", 2: "over_budget", 3: "below_line", 4: "unranked"}
    assert not strict.skip_unaffordable

    skipping = funding_line(ranked, D("1000000"), skip_unaffordable=True)
    assert skipping.funded == (1, 3)
    assert (skipping.stopped_at, skipping.line_position) == (2, 1)
    assert skipping.total_funded == D("1000000.00")
    assert skipping.remaining == D("0.00")
    assert skipping.status == {1: "funded", 2: "over_budget", 3: "funded", 4: "unranked"}
    assert set(STATUS_LABELS) >= set(strict.status.values()) | set(skipping.status.values())

    # Skipping is not monotone: with 110万, B fits and C no longer does.
    more = funding_line(ranked, D("1100000"), skip_unaffordable=True)
    assert more.funded == (1, 2)


def test_line_edges():
    ranked = rank([entry(1, "90", "300000"), entry(2, "80", "700000")])
    exact = funding_line(ranked, "1000000.00")
    assert exact.funded == (1, 2)
    assert (exact.stopped_at, exact.line_position, exact.remaining) == (None, 2, D("0.00"))
    nothing = funding_line(ranked, 0)
    assert (nothing.funded, nothing.stopped_at, nothing.line_position) == ((), 1, 0)
    assert nothing.total_funded == D("0.00")
    free = funding_line(rank([entry(1, "90", "0")]), 0)
    assert free.funded == (1,)
    assert funding_line([], D(100)).funded == ()
    with pytest.raises(ValueError, match="预算不能为负数"):
        funding_line(ranked, D(-1))
    with pytest.raises(ValueError, match="预算最多精确到分"):
        funding_line(ranked, D("100.001"))
    with pytest.raises(ValueError, match="名额不能为负数"):
        funding_line(ranked, D(100), per_group_limit={None: -1})


def test_tie_at_the_line_is_reported():
    # 2 and 3 tie; 2 was submitted first, asks too much and stops the strict line.
    ranked = rank([entry(1, "90", "500000"), entry(2, "80", "600000", minutes=1),
                   entry(3, "80", "400000", minutes=2)])
    line = funding_line(ranked, D("1000000"))
    assert (line.funded, line.stopped_at, line.tie_at_line) == ((1,), 2, True)
    assert not funding_line(ranked, D("2000000")).tie_at_line


def test_challenge_groups_take_winners_first_and_respect_team_limits():
    ranked = rank([
        entry(1, "95", "1000000", group="A"), entry(2, "90", "1000000", group="A"),
        entry(3, "85", "1000000", group="B"), entry(4, "80", "1000000", group="B"),
        entry(5, "75", "1000000", group="B"), entry(6, "99", "1000000"),
    ])
    # Every group's rank 1 before any rank 2: A's runner-up (90) waits for B's winner (85).
    line = funding_line(ranked, D("3000000"))
    assert line.order == (6, 1, 3, 2, 4, 5)
    assert line.funded == (6, 1, 3)
    assert line.stopped_at == 2
    # 赛马: A takes 1 team, B takes 2; the unnamed group has no limit.
    capped = funding_line(ranked, D("10000000"), per_group_limit={"A": 1, "B": 2})
    assert capped.funded == (6, 1, 3, 4)
    assert capped.status[2] == capped.status[5] == "group_full"
    assert capped.stopped_at is None
    assert capped.remaining == D("6000000.00")
    # A full group does not stop the strict line.
    tight = funding_line(ranked, D("4000000"), per_group_limit={"A": 1})
    assert tight.funded == (6, 1, 3, 4)
    assert tight.status[2] == "group_full"
    assert tight.stopped_at == 5


def test_what_if_is_calling_again():
    ranked = rank([entry(i, str(100 - i), "250000") for i in range(1, 9)])
    before = list(ranked)
    lines = [funding_line(ranked, D(budget)) for budget in ("0", "500000", "1000000",
                                                             "1100000", "9999999")]
    assert [len(line.funded) for line in lines] == [0, 2, 4, 4, 8]
    assert [line.line_position for line in lines] == [0, 2, 4, 4, 8]
    assert ranked == before  # nothing was changed in place


AMOUNT = st.integers(min_value=0, max_value=2_000_000).map(lambda c: D(c).scaleb(-2))
SCORE = st.one_of(st.none(), st.integers(min_value=0, max_value=20).map(lambda s: D(s * 5)))
ENTRIES = st.lists(
    st.tuples(SCORE, AMOUNT, st.sampled_from([None, "1", "2"]),
              st.one_of(st.none(), st.integers(min_value=0, max_value=5))),
    max_size=25,
).map(lambda rows: [
    Entry(id=i, group=g, score=s, requested=r,
          submitted_at=None if m is None else T0 + timedelta(minutes=m))
    for i, (s, r, g, m) in enumerate(rows)
])
LIMITS = st.one_of(st.none(), st.fixed_dictionaries({
    "1": st.integers(min_value=0, max_value=3), "2": st.integers(min_value=0, max_value=3),
}))


@settings(max_examples=300, deadline=None)
@given(entries=ENTRIES, low=AMOUNT, extra=AMOUNT, limits=LIMITS)
def test_raising_the_budget_never_unfunds_under_the_strict_line(entries, low, extra, limits):
    ranked = rank(entries)
    small = funding_line(ranked, low, per_group_limit=limits)
    large = funding_line(ranked, low + extra, per_group_limit=limits)
    assert set(small.funded) <= set(large.funded)
    assert large.line_position >= small.line_position
    assert large.total_funded >= small.total_funded

    for line in (small, large):
        requested = {r.id: r.requested for r in ranked}
        assert line.total_funded == sum((requested[i] for i in line.funded), D(0))
        assert line.total_funded + line.remaining == line.budget
        assert line.remaining >= 0
        # strict: everything funded lies above the line, nothing below it
        assert set(line.funded) <= set(line.order[:line.line_position])
        if line.stopped_at is not None:
            assert requested[line.stopped_at] > line.remaining
        per_group: dict[str | None, int] = defaultdict(int)
        for r in ranked:
            per_group[r.group] += line.is_funded(r.id)
            assert r.rank is not None or not line.is_funded(r.id)
        for group, cap in (limits or {}).items():
            assert per_group[group] <= cap

    # skipping funds everything the strict line funds, and maybe more
    skipping = funding_line(ranked, low, per_group_limit=limits, skip_unaffordable=True)
    assert set(small.funded) <= set(skipping.funded)
    assert skipping.total_funded <= low


# ---- 6. the Excel score sheet -------------------------------------------------------------

def sheet_rows():
    crit: dict[str, Decimal | int | str] = {"innovation": 90, "feasibility": "45.5", "team": 8}
    totals = [D(t) for t in ("90", "80", "70", "60", "50")]
    five = [ReviewerScore(f"专家{n}", t, crit) for n, t in enumerate(totals, 1)]
    three = [ReviewerScore("专家2", D("95.00"), crit), ReviewerScore("专家1", D("55.00"), crit),
             ReviewerScore("专家3", None)]
    return [
        SheetRow(number="GZKJ-2022-BG-0001", title="=HYPERLINK(\"http://x\",\"点我\")",
                 reviews=five, aggregate=aggregate(totals),
                 spread=spread(totals, D(10)), rank=1, funded=True,
                 requested=D("1234567.89"), group="工业机器人减速器"),
        SheetRow(number="GZKJ-2022-BG-0002", title="新型储能材料\x07研究",
                 reviews=three, aggregate=D("75.00"),
                 spread=spread([D(95), D(55)]), rank=2, funded=False,
                 requested=D("500000.00")),
    ]


def read_back(data):
    wb = load_workbook(BytesIO(data))
    return wb, wb["评审汇总"]


def test_score_sheet_reads_back():
    data = score_sheet_xlsx(sheet_rows(), RUBRIC, title="2022年度包干制项目评审结果")
    assert data[:2] == b"PK"
    wb, ws = read_back(data)
    assert wb.sheetnames == ["评审汇总", "评分明细", "评分标准"]
    assert wb.properties.title == "2022年度包干制项目评审结果"
    header = [c.value for c in ws[1]]
    assert header == ["序号", "申报编号", "项目名称", "榜单", "专家1", "专家2", "专家3",
                      "专家4", "专家5", "评分人数", "综合得分", "最高分与最低分之差", "标准差",
                      "分歧标记", "分歧原因", "排名", "申请经费（万元）", "是否拟资助",
                      "拟资助金额（万元）"]
    assert ws.freeze_panes == "A2"
    first = dict(zip(header, (c.value for c in ws[2]), strict=True))
    second = dict(zip(header, (c.value for c in ws[3]), strict=True))
    assert first["专家1"] == 90 and first["专家5"] == 50
    assert first["评分人数"] == 5
    assert first["综合得分"] == 70
    assert first["最高分与最低分之差"] == 40
    assert D(str(first["标准差"])) == D("15.81")
    assert first["分歧标记"] == "需讨论"
    assert first["分歧原因"] == "最高分与最低分相差超过30分；标准差超过本批次上限10"
    assert (first["排名"], first["是否拟资助"]) == (1, "是")
    assert D(str(first["申请经费（万元）"])) == D("123.46")  # 1234567.89 yuan
    assert D(str(first["拟资助金额（万元）"])) == D("123.46")
    assert first["榜单"] == "工业机器人减速器"
    # 专家3 did not submit; 专家4 and 专家5 did not review this one
    assert (second["专家1"], second["专家2"], second["专家3"], second["专家4"]) \
        == (55, 95, None, None)
    assert second["评分人数"] == 2
    assert (second["是否拟资助"], second["拟资助金额（万元）"]) == ("否", None)
    assert D(str(second["申请经费（万元）"])) == D("50.00")
    assert second["项目名称"] == "新型储能材料研究"  # a control character is dropped

    # numbers are numbers, formatted with two decimals
    for name in ("专家1", "综合得分", "标准差", "申请经费（万元）"):
        cell = ws.cell(row=2, column=header.index(name) + 1)
        assert cell.data_type == "n", name
        assert isinstance(cell.value, int | float), name
        assert "0.00" in cell.number_format, name
    # a title that looks like a formula stays text
    title = ws.cell(row=2, column=3)
    assert title.data_type == "s"
    assert title.value == "=HYPERLINK(\"http://x\",\"点我\")"


def test_score_sheet_detail_and_rubric():
    wb, _ = read_back(score_sheet_xlsx(sheet_rows(), RUBRIC))
    detail = wb["评分明细"]
    assert detail.freeze_panes == "A2"
    assert [c.value for c in detail[1]] == [
        "申报编号", "项目名称", "评审专家", "创新性（权重40，满分100）",
        "可行性（权重35，满分50）", "团队基础（权重25，满分10）", "合计"]
    rows = [[c.value for c in row] for row in detail.iter_rows(min_row=2)]
    assert len(rows) == 8
    assert [r[2] for r in rows] == ["专家1", "专家2", "专家3", "专家4", "专家5",
                                    "专家1", "专家2", "专家3"]
    assert rows[0][3:] == [90, 45.5, 8, 90]
    assert rows[-1][3:] == [None, None, None, None]
    standard = wb["评分标准"]
    assert [[c.value for c in row] for row in standard.iter_rows()] == [
        ["评分项", "权重", "满分"], ["创新性", 40, 100], ["可行性", 35, 50],
        ["团队基础", 25, 10]]


def test_score_sheet_never_shows_a_reviewer_name():
    rows = sheet_rows()
    data = score_sheet_xlsx(rows, RUBRIC)
    wb, _ = read_back(data)
    texts = {c.value for ws in wb for row in ws.iter_rows() for c in row
             if isinstance(c.value, str)}
    experts = {t for t in texts if "专家" in t} - {"评审专家"}  # the detail sheet's header
    assert experts == {"专家1", "专家2", "专家3", "专家4", "专家5"}
    assert wb.properties.creator == "kjflow"
    assert not hasattr(ReviewerScore("专家1", D(1)), "name")  # nowhere to put a name
    named = [ReviewerScore("王建国", D(80))]
    with pytest.raises(ValueError, match="匿名编号"):
        score_sheet_xlsx([SheetRow("GZKJ-2022-BG-0003", "题目", named, D(80), None, 1, False,
                                   D(0))], RUBRIC)
    with pytest.raises(ValueError, match="匿名编号"):
        score_sheet_xlsx([SheetRow("GZKJ-2022-BG-0003", "题目",
                                   [ReviewerScore("专家 王建国", D(80))], D(80), None, 1,
                                   False, D(0))], RUBRIC)


def test_score_sheet_refuses_a_label_used_twice_in_a_row():
    twice = [ReviewerScore("专家1", D(80)), ReviewerScore("专家1", D(60))]
    with pytest.raises(ValueError, match="编号重复"):
        score_sheet_xlsx([SheetRow("GZKJ-2022-BG-0004", "题目", twice, D(70), None, 1, False,
                                   D(0))], RUBRIC)


def test_score_sheet_without_groups_or_rows():
    rows = [r for r in sheet_rows() if r.group is None]
    _, ws = read_back(score_sheet_xlsx(rows, RUBRIC))
    header = [c.value for c in ws[1]]
    assert "榜单" not in header
    assert header[3:6] == ["专家1", "专家2", "专家3"]
    _, empty = read_back(score_sheet_xlsx([], RUBRIC))
    assert [c.value for c in empty[1]][:3] == ["序号", "申报编号", "项目名称"]
    assert empty.max_row == 1


def _by_definition(entries):
    """rank and the fill order as the module's docstring defines them, written plainly
    (one sort per group by an explicit key): what the fast sorts must give."""
    groups = defaultdict(list)
    for e in entries:
        groups[e.group].append(e)
    rows = []
    for group in sorted(groups, key=lambda g: (g is not None, g or "")):
        members = sorted(groups[group],
                         key=lambda e: (e.score is None, -(e.score or 0), e.tie_key))
        scores = [e.score for e in members if e.score is not None]
        for i, e in enumerate(members, 1):
            place = None if e.score is None else scores.index(e.score) + 1
            rows.append((e.id, group, place, i, place is not None and scores.count(e.score) > 1))
    return rows


@settings(max_examples=300, deadline=None)
@given(entries=ENTRIES, rnd=st.randoms(use_true_random=False), budget=AMOUNT, limits=LIMITS)
def test_rank_and_the_fill_order_are_the_definitions(entries, rnd, budget, limits):
    ids = rnd.sample(range(1, 10_000), len(entries))  # ids in no order, times repeating
    entries = [Entry(i, e.group, e.score, e.requested, e.submitted_at)
               for i, e in zip(ids, entries, strict=True)]
    rnd.shuffle(entries)
    ranked = rank(entries)
    assert [(r.id, r.group, r.rank, r.position, r.tied) for r in ranked] == \
        _by_definition(entries)
    line = funding_line(ranked, budget, per_group_limit=limits)
    tie = {e.id: e.tie_key for e in entries}
    order = [r.id for r in sorted((r for r in ranked if r.rank is not None),
                                  key=lambda r: (r.rank, -(r.score or 0), tie[r.id]))]
    assert list(line.order) == order
    assert [r.id for r in sorted((r for r in ranked if r.line_at), key=lambda r: r.line_at)] \
        == order
