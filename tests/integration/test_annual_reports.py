"""Annual reports on PostgreSQL: two beats opening a year at once open each project's
report once; a report past due is marked overdue once however many beats run."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
import sqlalchemy as sa
from flask import Flask

from states import AnnualReportState, ApplicationState
from tests.factories import ApplicationFactory, UserFactory
from workflow.annual import operations as annual
from workflow.annual.models import AnnualReport
from workflow.core import audit
from workflow.core.models import db
from workflow.timeutil import shanghai

pytestmark = pytest.mark.integration

BEATS = 6


def at_once(app: Flask, job: str, now: object) -> list[object]:
    barrier = threading.Barrier(BEATS)
    results: list[object] = [None] * BEATS

    def run(i: int) -> None:
        with app.app_context():
            barrier.wait()
            try:
                results[i] = getattr(annual, job)(now)
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
    return results


def test_beats_at_once_open_each_report_once_and_mark_it_overdue_once(app: Flask) -> None:
    pi = UserFactory(roles=("applicant",))
    projects = [ApplicationFactory(applicant=pi, state=ApplicationState.in_progress,
                                   granted_amount=Decimal("100000.00")) for _ in range(5)]
    db.session.commit()
    opened = at_once(app, "open_due_reports", shanghai(2025, 12, 1, 9))
    assert all(isinstance(n, int) for n in opened), opened
    assert sum(n for n in opened if isinstance(n, int)) == len(projects)
    rows = db.session.scalars(sa.select(AnnualReport)).all()
    assert sorted(r.application_id for r in rows) == sorted(p.id for p in projects)
    marked = at_once(app, "mark_overdue", shanghai(2026, 2, 3, 9))
    assert sum(n for n in marked if isinstance(n, int)) == len(projects), marked
    db.session.expire_all()
    for row in db.session.scalars(sa.select(AnnualReport)):
        assert row.state is AnnualReportState.overdue
        assert [e.trigger for e in audit.history("annual_report", row.id)] == [
            "open_annual_report", "mark_overdue"]
    assert audit.verify() == []
