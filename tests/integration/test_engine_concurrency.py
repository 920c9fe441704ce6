"""Conflicting triggers fired at once on one application, on PostgreSQL."""

from __future__ import annotations

import threading
from collections import Counter
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from states import ApplicationState, ReviewState
from tests.factories import ApplicationFactory, CallFactory, OrganizationFactory, UserFactory
from workflow.applying.models import Application
from workflow.core import audit, engine
from workflow.core.errors import ServiceError
from workflow.core.models import AuditEvent, db
from workflow.review.models import ReviewAssignment

pytestmark = pytest.mark.integration

THREADS = 20


def race(app: Flask, app_id: int, moves: list[tuple[str, int, dict[str, Any]]]) -> list[Any]:
    """Each thread fires one (trigger, actor id, kwargs) at the same moment."""
    barrier = threading.Barrier(len(moves))
    results: list[Any] = [None] * len(moves)

    def run(i: int, trigger: str, actor_id: int, kwargs: dict[str, Any]) -> None:
        with app.app_context():
            barrier.wait()
            try:
                from workflow.accounts.models import User

                actor = db.session.get(User, actor_id)
                row = db.session.get(Application, app_id)
                engine.fire(row, trigger, actor, **kwargs)
                db.session.commit()
                results[i] = "ok"
            except ServiceError as err:
                db.session.rollback()
                results[i] = err.status
            except Exception as err:  # reported in the assertion, not lost in a thread
                db.session.rollback()
                results[i] = repr(err)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(i, *m)) for i, m in enumerate(moves)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


def test_twenty_threads_one_winner_each_step(app: Flask) -> None:
    app.extensions["kjflow.outbox_sender"] = lambda name, kwargs: None
    org = OrganizationFactory()
    applicant = UserFactory(organization=org, roles=("applicant",))
    officer = UserFactory(organization=None, roles=("officer",))
    expert = UserFactory(roles=("expert",))
    row = ApplicationFactory(call=CallFactory(reviewers_per_application=1), applicant=applicant,
                             data={"summary": "摘要"}, signed=True)
    db.session.add(ReviewAssignment(application=row, expert=expert, state=ReviewState.submitted,
                                    scores={"innovation": 80, "feasibility": 80},
                                    total=Decimal(80)))
    db.session.commit()
    app_id, successes = row.id, 0

    # Step 1: twenty tabs press "submit" at once.
    results = race(app, app_id, [("submit", applicant.id, {})] * THREADS)
    assert Counter(results) == {"ok": 1, 409: THREADS - 1}
    successes += 2  # submit, then the automatic forward

    # Step 2: officers decide at once, each differently.
    moves = [("pass_formal_review", officer.id, {}),
             ("return_for_revision", officer.id, {"comment": "请补充"}),
             ("reject", officer.id, {"comment": "不符合条件"})]
    results = race(app, app_id, [moves[i % 3] for i in range(THREADS)])
    assert Counter(results) == {"ok": 1, 409: THREADS - 1}
    successes += 1

    # Step 3: whatever won, everyone tries the next step from there.
    db.session.expire_all()
    state = db.session.get(Application, app_id).state
    follow = {
        ApplicationState.expert_review: ("finish_review", officer.id, {}),
        ApplicationState.returned: ("resubmit", applicant.id, {}),
        ApplicationState.rejected: ("reject", officer.id, {"comment": "再次"}),
    }[state]
    results = race(app, app_id, [follow] * THREADS)
    if state is ApplicationState.rejected:
        assert Counter(results) == {409: THREADS}
    else:
        assert Counter(results) == {"ok": 1, 409: THREADS - 1}
        successes += 2 if state is ApplicationState.returned else 1

    db.session.expire_all()
    trail = db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent).where(
        AuditEvent.entity_type == "application", AuditEvent.entity_id == app_id))
    assert trail == successes
    assert [e.seq for e in audit.history("application", app_id)] == list(range(1, trail + 1))
    assert audit.verify() == []
    assert db.session.get(Application, app_id).version == 1 + successes
