"""An expert assignment run as a job: started with its outbox event, run by the real
worker, its progress read back through the API until it is done."""

from __future__ import annotations

import threading
import time
from decimal import Decimal

import pytest
import sqlalchemy as sa
from flask import Flask

from states import ApplicationState, CallState
from tests.conftest import api_token
from tests.factories import (
    PASSWORD,
    ApplicationFactory,
    CallFactory,
    ExpertProfileFactory,
    OrganizationFactory,
    UserFactory,
)
from tests.integration.conftest import wait_for
from workflow.core import jobs
from workflow.core.models import Job, JobState, OutboxDelivery, OutboxEvent, db
from workflow.review import operations as reviews
from workflow.review.models import ReviewAssignment

pytestmark = pytest.mark.integration

APPLICATIONS = 40


def test_an_assignment_runs_as_a_job_in_the_worker_and_reaches_done(worker_app: Flask
                                                                   ) -> None:
    orgs = [OrganizationFactory(name=f"单位{i}") for i in range(6)]
    officer = UserFactory(username="officer", organization=None, roles=("officer",))
    for i in range(30):
        ExpertProfileFactory(user__username=f"expert{i}", user__organization=orgs[i % 6],
                             disciplines=["TF"], keywords=["稀土", "永磁"], load_cap=5)
    call = CallFactory(state=CallState.closed, reviewers_per_application=3,
                       budget=Decimal("1000000.00"))
    for i in range(APPLICATIONS):
        ApplicationFactory(call=call, organization=orgs[i % 6],
                           applicant=UserFactory(organization=orgs[i % 6],
                                                 roles=("applicant",)),
                           state=ApplicationState.expert_review, title=f"稀土永磁项目{i}",
                           data={"summary": "x", "keywords": ["稀土"], "discipline": "TF"})
    db.session.commit()

    job_id = reviews.start_assign(officer, call, "optimal", 3).id
    assert db.session.get(Job, job_id).state is JobState.queued
    db.session.commit()  # the relay leaves for the worker only now
    clicked = time.monotonic()

    client = worker_app.test_client()
    auth = {"Authorization": f"Bearer {api_token(client, 'officer', PASSWORD)}"}
    seen: list[tuple[str, int, int | None]] = []

    def finished() -> dict | None:
        body = client.get(f"/api/v1/jobs/{job_id}", headers=auth).get_json()
        seen.append((body["state"], body["done"], body["total"]))
        return body if body["state"] in ("done", "failed") else None

    body = wait_for(finished, timeout=60, interval=0.05, what="the assignment job")
    took = time.monotonic() - clicked
    assert body["state"] == "done", body
    assert (body["done"], body["total"]) == (APPLICATIONS, APPLICATIONS)
    assert body["result"]["summary"] == f"已分配 {APPLICATIONS * 3} 项评审任务"
    assert body["link"] == f"/calls/{call.id}/assign"
    # Read while it ran: never backwards, and "done" only with everything written.
    dones = [d for _s, d, _t in seen]
    assert dones == sorted(dones)
    assert all(d == APPLICATIONS for s, d, _t in seen if s == "done")
    db.session.expire_all()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ReviewAssignment)) == \
        APPLICATIONS * 3
    # The job left through the outbox, and its consumer's delivery is recorded (just after
    # the job's own commit).
    event = db.session.scalars(sa.select(OutboxEvent).where(
        OutboxEvent.topic == jobs.TOPIC, OutboxEvent.entity_id == job_id)).one()

    def delivered() -> int:
        db.session.rollback()
        return db.session.scalar(sa.select(sa.func.count()).select_from(OutboxDelivery).where(
            OutboxDelivery.event_id == event.id, OutboxDelivery.consumer == jobs.CONSUMER)) or 0

    assert wait_for(delivered, timeout=10, what="the run_job delivery") == 1
    job = db.session.get(Job, job_id)
    print(f"\nassignment of {APPLICATIONS} applications x 3 among 30 experts as a job: "
          f"{took:.2f} s from commit to done seen by the API; the worker's run "
          f"{(job.finished_at - job.started_at).total_seconds():.2f} s; "
          f"queued {(job.started_at - job.created_at).total_seconds():.2f} s; "
          f"polled: {list(dict.fromkeys(seen))}")

    # Run again (a second delivery of the event): nothing more happens.
    assert jobs.run(job_id) is False
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ReviewAssignment)) == \
        APPLICATIONS * 3


REPORTED, RELEASED = threading.Event(), threading.Event()


def report_then_wait(job, progress):
    """Two of five done, with work of its own uncommitted, then waits for the test."""
    db.session.add(OutboxEvent(topic="test.step", entity_type="job", entity_id=job.id))
    db.session.flush()
    progress(2, 5)
    REPORTED.set()
    if not RELEASED.wait(30):
        raise RuntimeError("the test never let the job finish")
    progress(5)
    return {"summary": "五件都处理了"}


def test_on_postgresql_a_running_job_shows_its_figures_through_the_api(app: Flask, sent
                                                                      ) -> None:
    """The same one path as on SQLite (the unit tier): the figures a running job reports
    are read by its pollers before its work commits. Run here, not by the worker process
    (which knows no test kind): nothing is sent to the broker (``sent``)."""
    assert db.engine.dialect.name == "postgresql"
    jobs.install({"test_wait": report_then_wait})
    REPORTED.clear()
    RELEASED.clear()
    try:
        starter = UserFactory(username="li", roles=("applicant",)).id
        db.session.commit()
        client = app.test_client()
        auth = {"Authorization": f"Bearer {api_token(client, 'li', PASSWORD)}"}
        job_id = jobs.start("test_wait", starter, total=5).id
        db.session.commit()

        def work() -> None:
            with app.app_context():
                jobs.run(job_id)
                db.session.remove()

        worker = threading.Thread(target=work)
        worker.start()
        try:
            assert REPORTED.wait(30), "the job never reported"
            body = client.get(f"/api/v1/jobs/{job_id}", headers=auth).get_json()
            assert (body["state"], body["done"], body["total"]) == ("running", 2, 5)
            db.session.rollback()
            assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboxEvent).where(
                OutboxEvent.topic == "test.step")) == 0  # its work is not committed yet
        finally:
            RELEASED.set()
            worker.join(30)
        assert not worker.is_alive()
        body = client.get(f"/api/v1/jobs/{job_id}", headers=auth).get_json()
        assert (body["state"], body["done"], body["total"]) == ("done", 5, 5)
        db.session.rollback()
        assert (db.session.get(Job, job_id).done, db.session.get(Job, job_id).total) == (5, 5)
    finally:
        jobs.KINDS.pop("test_wait", None)
