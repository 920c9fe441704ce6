"""The rubric that proposes an evaluation's scores from its facts (pure: no database).

Four dimensions, each 0–25, summed to 0–100:

- 目标完成 (indicators): 25 × met / total, rounded; no record of the indicators: 0.
- 成果产出 (outputs): none 5, one 15, two 20, three or more 25.
- 经费使用 (spending): a recovery still owed: 0. Otherwise the share of the grant used
  for research, (disbursed − recovered − surplus kept) / granted: ≥ 90 % 25, ≥ 70 % 20,
  ≥ 50 % 15, above 0 10, nothing 5; a project without a grant 15.
- 按期完成 (timeliness): 25, less 10 when finished after the planned end (less 15 when
  more than 180 days after), less 5 per overdue annual report and per late milestone, at
  least 0; a terminated project at most 5.

Grade bands on the total: 优秀 ≥ 90, 良好 ≥ 75, 合格 ≥ 60, 不合格 below. A project that
failed its acceptance is 不合格 whatever its total. The officer may adjust any score,
with a reason; the grade then follows the adjusted total by the same bands.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from workflow.evaluation.models import DIMENSIONS, Grade

MAX = 25
BANDS: tuple[tuple[int, Grade], ...] = ((90, Grade.excellent), (75, Grade.good),
                                        (60, Grade.qualified), (0, Grade.unqualified))


def grade_of(total: int) -> Grade:
    for floor, grade in BANDS:
        if total >= floor:
            return grade
    return Grade.unqualified


@dataclass(frozen=True)
class Proposal:
    scores: dict[str, int]
    total: int
    grade: Grade
    notes: dict[str, str]


def _indicators(facts: dict[str, Any]) -> tuple[int, str]:
    met = facts.get("indicators")
    if not met or not met[1]:
        return 0, "无指标完成情况记录"
    done, total = int(met[0]), int(met[1])
    return round(MAX * done / total), f"完成 {done}/{total} 项指标"


def _outputs(facts: dict[str, Any]) -> tuple[int, str]:
    n = len(facts.get("outputs") or [])
    return {0: 5, 1: 15, 2: 20}.get(n, MAX), f"登记成果 {n} 项"


def _spending(facts: dict[str, Any]) -> tuple[int, str]:
    money = {k: Decimal(str(v)) for k, v in (facts.get("spending") or {}).items()}
    if money.get("owed", Decimal(0)) > 0:
        return 0, "尚有应追回经费未归还"
    granted = money.get("granted", Decimal(0))
    if granted <= 0:
        return 15, "未安排财政资助"
    used = (money.get("disbursed", Decimal(0)) - money.get("recovered", Decimal(0))
            - money.get("surplus", Decimal(0)))
    share = used / granted
    pct = f"经费执行率 {share * 100:.0f}%"
    if share >= Decimal("0.9"):
        return MAX, pct
    if share >= Decimal("0.7"):
        return 20, pct
    if share >= Decimal("0.5"):
        return 15, pct
    return (10, pct) if share > 0 else (5, pct)


def _timeliness(facts: dict[str, Any]) -> tuple[int, str]:
    t = facts.get("timeliness") or {}
    score, notes = MAX, []
    late = int(t.get("days_late") or 0)
    if late > 0:
        score -= 15 if late > 180 else 10
        notes.append(f"晚于计划结束日期 {late} 天")
    for key, label in (("overdue_reports", "年度报告逾期"), ("late_milestones", "里程碑逾期")):
        n = int(t.get(key) or 0)
        if n:
            score -= 5 * n
            notes.append(f"{label} {n} 次")
    if facts.get("closure") == "terminated":
        score = min(score, 5)
        notes.append("项目终止")
    return max(0, score), "；".join(notes) or "按期完成"


RULES = {"indicators": _indicators, "outputs": _outputs, "spending": _spending,
         "timeliness": _timeliness}


def propose(facts: dict[str, Any]) -> Proposal:
    scores: dict[str, int] = {}
    notes: dict[str, str] = {}
    for dim in DIMENSIONS:
        scores[dim], notes[dim] = RULES[dim](facts)
    total = sum(scores.values())
    grade = grade_of(total)
    if facts.get("closure") == "failed" or facts.get("acceptance") == "fail":
        grade = Grade.unqualified
    return Proposal(scores, total, grade, notes)
