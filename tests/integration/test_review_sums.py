"""Five experts submit their scores of one application at the same moment, on PostgreSQL:
the application's kept sums count all five (each submission locks the application first,
so the next reads the sums after it)."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
import sqlalchemy as sa
from flask import Flask

from states import ApplicationState, CallState, ReviewState
from tests.factories import ApplicationFactory, CallFactory, ReviewFactory, UserFactory
from workflow.accounts.models import User
from workflow.applying.models import Application
from workflow.core.models import db
from workflow.review import operations as reviews
from workflow.review import ranking
from workflow.review.models import ReviewAssignment

pytestmark = pytest.mark.integration

RUBRIC = [{"name": "innovation", "label": "创新性", "weight": 50, "max": 100},
          {"name": "feasibility", "label": "可行性", "weight": 50, "max": 100}]
COMMENT = "创新性较强，技术路线清晰，团队基础扎实，建议予以支持。"
SCORES = [91, 77, 85, 60, 88]


def test_scores_submitted_at_once_all_count_in_the_kept_sums(app: Flask) -> None:
    app.extensions["kjflow.outbox_sender"] = lambda name, kwargs: None
    call = CallFactory(state=CallState.reviewing, rubric=RUBRIC, reviewers_per_application=5)
    row = ApplicationFactory(call=call, state=ApplicationState.expert_review)
    for _ in SCORES:
        ReviewFactory(application=row, expert=UserFactory(roles=("expert",)),
                      state=ReviewState.accepted)
    db.session.commit()
    app_id = row.id
    pairs = list(db.session.execute(sa.select(ReviewAssignment.id, ReviewAssignment.expert_id)
                                    .where(ReviewAssignment.application_id == app_id)))
    db.session.remove()
    barrier = threading.Barrier(len(pairs))
    outcome: list[str] = []

    def submit(review_id: int, expert_id: int, value: int) -> None:
        with app.app_context():
            try:
                expert = db.session.get_one(User, expert_id)
                review = db.session.get_one(ReviewAssignment, review_id)
                barrier.wait()
                reviews.save_scores(expert, review, {"innovation": value, "feasibility": value},
                                    COMMENT, submit=True)
                db.session.commit()
                outcome.append("ok")
            except Exception as err:  # reported in the assertion, not lost in a thread
                db.session.rollback()
                outcome.append(repr(err))
            finally:
                db.session.remove()

    threads = [threading.Thread(target=submit, args=(*pair, value))
               for pair, value in zip(pairs, SCORES, strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert outcome == ["ok"] * len(SCORES)
    saved = db.session.get_one(Application, app_id)
    assert saved.state is ApplicationState.reviewed  # the last one in moved it on
    assert saved.review_count == 5 and saved.review_kept == 3  # trimmed: 5 less 2
    assert ranking.from_cents(saved.review_cents, saved.review_kept) == ranking.aggregate(
        [Decimal(v) for v in SCORES], "trimmed") == Decimal("83.33")
