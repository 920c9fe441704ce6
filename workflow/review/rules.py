"""The rules of review that ``states/`` names: guards and effects."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import sqlalchemy as sa

from states import REVIEW, SYSTEM, ReviewState
from workflow.applying.models import Application
from workflow.core.entities import Entity
from workflow.core.models import db
from workflow.core.registry import Rules
from workflow.core.rules import Changes, GuardContext, Reason, refuse
from workflow.permissions import own_review
from workflow.review import defence, experts, operations
from workflow.review.models import ReviewAssignment
from workflow.review.ranking import weighted_total
from workflow.review.visibility import can_view_review, expert_reading


def _active_reviews(app: Application) -> list[ReviewAssignment]:
    return list(db.session.scalars(sa.select(ReviewAssignment).where(
        ReviewAssignment.application_id == app.id,
        ReviewAssignment.state.in_([ReviewState.invited, ReviewState.accepted,
                                    ReviewState.submitted]))))


def reviews_complete(ctx: GuardContext) -> list[Reason]:
    app: Application = ctx.row
    reviews = _active_reviews(app)
    done = sum(1 for r in reviews if r.state is ReviewState.submitted)
    pending = len(reviews) - done
    needed = app.call.reviewers_per_application
    override = ctx.text("override_reason") or ctx.comment
    if ctx.role == "officer" and override:
        # The officer may move on before every review is in, saying why.
        return [] if done else refuse("no_scores", "至少需要一份专家评分")
    out: list[Reason] = []
    if pending:
        out += refuse("reviews_pending", f"还有{pending}份评审未提交")
    if done < needed:
        out += refuse("too_few_reviews", f"已提交{done}份评审，少于要求的{needed}份"
                      "（如需强制完成，请填写理由）")
    return out


def defence_scored(ctx: GuardContext) -> list[Reason]:
    """The panel has scored the team (see ``defence.panel_score``)."""
    score, why = defence.panel_score(ctx.row)
    return [] if score is not None else refuse("panel_incomplete", why)


def invitation_overdue(ctx: GuardContext) -> list[Reason]:
    review: ReviewAssignment = ctx.row
    if review.respond_by is None or ctx.now < review.respond_by:
        return refuse("invitation_running", "邀请尚未过期")
    return []


def scores_complete(ctx: GuardContext) -> list[Reason]:
    """Each criterion scored within its range and the comment long enough: each reason
    with the input it is about."""
    review: ReviewAssignment = ctx.row
    _, errors = operations.score_errors(review.application.call.rubric or [],
                                        review.scores or {}, review.comment, complete=True)
    out: list[Reason] = []
    for name, message in errors.items():
        code = "comment_too_short" if name == "comment" else "score_missing"
        out += refuse(code, message, {name: message})
    return out


def record_defence_score(ctx: GuardContext, ch: Changes) -> None:
    score, _ = defence.panel_score(ctx.row)
    if score is not None:  # the guard saw to it
        ch.set(ctx.row, "defence_score", score.quantize(Decimal("0.01"), ROUND_HALF_UP))


def record_decline(ctx: GuardContext, ch: Changes) -> None:
    ch.set(ctx.row, "decline_reason", ctx.comment)


def total_scores(ctx: GuardContext, ch: Changes) -> None:
    review = ctx.row
    ch.set(review, "total", weighted_total(review.application.call.rubric or [],
                                           review.scores or {}))
    ch.set(review, "submitted_at", ctx.now)


def review_owner(user: Any, role: str, review: ReviewAssignment) -> bool:
    if role in (SYSTEM, "officer"):
        return True
    return role == "expert" and own_review(user, review)


def review_owned(user: Any, role: str) -> sa.ColumnElement[bool] | None:
    """``review_owner`` as a query."""
    if role == "officer":
        return sa.true()
    return ReviewAssignment.expert_id == user.id if role == "expert" else None


REVIEW_ENTITY = Entity("review", ReviewAssignment, REVIEW, review_owner, can_view_review,
                       "评审任务", "reviews",
                       steps=lambda review: review.application.call.enabled_steps,
                       owned=review_owned,
                       # The application first: a submission's second write of its review
                       # makes PostgreSQL check the review's key (a share lock on the
                       # application) before ``keep_score`` locks the application; two
                       # experts submitting at once would each wait for the other.
                       parent=("application", "application_id"),
                       name=lambda review: f"“{review.application.title}”的评审任务")

RULES = Rules(
    jobs={operations.ASSIGN_JOB: operations.assign_job,
          experts.IMPORT_JOB: experts.import_job},
    follow_ups={"record_conflict": operations.record_conflict,
                "invite_reserve": operations.invite_reserve,
                "keep_score": operations.keep_score,
                "finish_when_all_in": operations.finish_when_all_in},
    entities=(REVIEW_ENTITY,),
    readers={Application: expert_reading},
    guards={
        "reviews_complete": reviews_complete,
        "defence_scored": defence_scored,
        "invitation_overdue": invitation_overdue,
        "scores_complete": scores_complete,
    },
    effects={
        "record_defence_score": record_defence_score,
        "record_decline": record_decline,
        "total_scores": total_scores,
    },
)
