"""A call's review results: aggregated scores, spread flags, ranking and the funding line."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from states import ApplicationState, ReviewState
from workflow.applying.models import Application
from workflow.calls.models import Call
from workflow.core.models import db
from workflow.review import ranking
from workflow.review.models import ReviewAssignment

AFTER_REVIEW = (ApplicationState.expert_review, ApplicationState.defence,
                ApplicationState.reviewed, ApplicationState.shortlisted,
                ApplicationState.public_notice, ApplicationState.objection,
                ApplicationState.approved, ApplicationState.not_funded)


def requested_amount(app: Application) -> Decimal:
    """What the application asks for, in yuan: the form's amount, or its milestones."""
    data = app.data or {}
    if data.get("amount"):
        return Decimal(str(data["amount"]))
    return sum((Decimal(str(m.get("amount", 0))) for m in data.get("milestones") or []),
               Decimal("0.00"))


@dataclass
class Row:
    app: Application
    totals: list[Decimal]
    # Each submitted review's scores by criterion, in the order of ``totals``.
    criteria: list[dict[str, Any]]
    aggregate: Decimal | None
    spread: ranking.Spread
    ranked: ranking.Ranked
    status: str


@dataclass
class Results:
    call: Call
    rows: list[Row]
    line: ranking.FundingLine


def call_results(call: Call, budget: Decimal | None = None,
                 skip_unaffordable: bool = False) -> Results:
    apps = list(db.session.scalars(sa.select(Application).where(
        Application.call_id == call.id, Application.state.in_(AFTER_REVIEW))))
    totals: dict[int, list[Decimal]] = {a.id: [] for a in apps}
    criteria: dict[int, list[dict[str, Any]]] = {a.id: [] for a in apps}
    for app_id, total, scores in db.session.execute(sa.select(
            ReviewAssignment.application_id, ReviewAssignment.total, ReviewAssignment.scores)
            .where(ReviewAssignment.application_id.in_(list(totals)),
                   ReviewAssignment.state == ReviewState.submitted).order_by(ReviewAssignment.id)):
        if total is not None:
            totals[app_id].append(Decimal(total))
            criteria[app_id].append(dict(scores or {}))
    entries, by_id = [], {a.id: a for a in apps}
    for app in apps:
        entries.append(ranking.Entry(
            id=app.id, group=str(app.challenge_id) if app.challenge_id else None,
            score=ranking.aggregate(totals[app.id], call.aggregation.value),
            requested=requested_amount(app), submitted_at=app.submitted_at))
    ranked = ranking.rank(entries)
    limits: dict[str | None, int] = {str(ch.id): ch.max_teams for ch in call.challenges}
    line = ranking.funding_line(ranked, call.budget if budget is None else budget,
                                per_group_limit=limits or None,
                                skip_unaffordable=skip_unaffordable)
    rows = [Row(by_id[r.id], totals[r.id], criteria[r.id], r.score,
                ranking.spread(totals[r.id], call.spread_stdev_limit), r,
                line.status.get(r.id, "")) for r in ranked]
    return Results(call, rows, line)


def results_json(res: Results) -> dict[str, Any]:
    from forms import format_wan

    return {
        "call_id": res.call.id, "budget_wan": format_wan(res.line.budget),
        "funded_wan": format_wan(res.line.total_funded),
        "remaining_wan": format_wan(res.line.remaining), "tie_at_line": res.line.tie_at_line,
        "items": [{
            "application_id": r.app.id, "title": r.app.title,
            "organization": r.app.organization.name,
            "challenge_id": r.app.challenge_id, "rank": r.ranked.rank,
            "score": str(r.aggregate) if r.aggregate is not None else None,
            "reviews": len(r.totals), "spread_flagged": r.spread.flagged,
            "spread_reasons": r.spread.reasons, "requested_wan": format_wan(r.ranked.requested),
            "funded": res.line.is_funded(r.app.id), "status": r.status,
        } for r in res.rows],
    }


def score_sheet(res: Results) -> bytes:
    """The Excel score sheet; experts appear as 专家1, 专家2… and never by name."""
    rows = []
    for r in res.rows:
        reviews = [ranking.ReviewerScore(label=f"专家{i}", total=t, criteria=c)
                   for i, (t, c) in enumerate(zip(r.totals, r.criteria, strict=True), 1)]
        rows.append(ranking.SheetRow(
            number=r.app.receipt_no or str(r.app.id), title=r.app.title, reviews=reviews,
            aggregate=r.aggregate, spread=r.spread, rank=r.ranked.rank,
            funded=res.line.is_funded(r.app.id), requested=r.ranked.requested,
            group=str(r.app.challenge_id) if r.app.challenge_id else None))
    return ranking.score_sheet_xlsx(rows, res.call.rubric or [], title=f"{res.call.title}评审结果")
