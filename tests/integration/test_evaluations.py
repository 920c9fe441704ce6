"""绩效评价 on PostgreSQL: beats sweeping at once open each closed project's evaluation
once (the unique key on the project backs the check), each with its opening audited."""

from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from flask import Flask

from states import ApplicationState
from tests.factories import ApplicationFactory, UserFactory
from workflow.core import audit
from workflow.core.models import db, utcnow
from workflow.evaluation import operations as evaluations
from workflow.evaluation.models import Evaluation

pytestmark = pytest.mark.integration

BEATS = 6


def test_beats_at_once_open_each_evaluation_once(app: Flask) -> None:
    pi = UserFactory(roles=("applicant",))
    projects = [ApplicationFactory(applicant=pi, state=state,
                                   granted_amount=Decimal("100000.00"),
                                   approved_at=utcnow() - timedelta(days=300))
                for state in (ApplicationState.completed, ApplicationState.failed,
                              ApplicationState.terminated, ApplicationState.completed)]
    ApplicationFactory(applicant=pi, state=ApplicationState.in_progress,
                       approved_at=utcnow())
    db.session.commit()
    barrier = threading.Barrier(BEATS)
    results: list[object] = [None] * BEATS

    def run(i: int) -> None:
        with app.app_context():
            barrier.wait()
            try:
                results[i] = evaluations.open_missing()
            except Exception as err:  # reported in the assertion, not lost in a thread
                db.session.rollback()
                results[i] = repr(err)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(BEATS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert all(isinstance(n, int) for n in results), results
    assert sum(n for n in results if isinstance(n, int)) == len(projects)
    rows = db.session.scalars(sa.select(Evaluation)).all()
    assert sorted(r.application_id for r in rows) == sorted(p.id for p in projects)
    for row in rows:
        assert [e.trigger for e in audit.history("evaluation", row.id)] == ["open_evaluation"]
    assert evaluations.open_missing() == 0
