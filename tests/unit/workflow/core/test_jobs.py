"""The job facility: a job starts with its outbox event, runs once in the worker, reports
its progress as it goes, and keeps its result or the reason it failed."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa

from tests.conftest import api_token, client_for, run_jobs
from tests.factories import PASSWORD, UserFactory
from workflow import SQLITE_WRITER
from workflow.core import jobs, outbox
from workflow.core.errors import Invalid
from workflow.core.models import Job, JobState, OutboxEvent, db, utcnow

SEEN: list[tuple[int, int | None]] = []


def count_to_three(job, progress):
    """Writes as it goes (on SQLite its transaction holds the write lock throughout) and
    notes after each step the figures a poller would read."""
    for step in range(1, 4):
        db.session.add(OutboxEvent(topic="test.step", entity_type="job", entity_id=job.id))
        db.session.flush()
        progress(step, 3)
        SEEN.append(jobs.read_progress(job.id))
    return {"summary": f"数到了 {job.params['upto']}"}


def refuse(job, progress):
    progress(1, 2)
    db.session.add(OutboxEvent(topic="test.half_done", entity_type="job", entity_id=job.id))
    db.session.flush()
    raise Invalid("参数有误", details={"mode": "分配方式应为 optimal 或 random"})


def crash(job, progress):
    raise KeyError("a bug")


def peek(job, progress):
    """What a poller reads of it before it reports anything."""
    SEEN.append(jobs.figures(job))
    return {"summary": "看了一眼"}


REPORTED, RELEASED = threading.Event(), threading.Event()


def report_then_wait(job, progress):
    """Two of five done and written (on SQLite its transaction now holds the write lock),
    then it waits until the test has looked."""
    db.session.add(OutboxEvent(topic="test.step", entity_type="job", entity_id=job.id))
    db.session.flush()
    progress(2, 5)
    REPORTED.set()
    if not RELEASED.wait(30):
        raise RuntimeError("the test never let the job finish")
    progress(5)
    return {"summary": "五件都处理了"}


@pytest.fixture
def kinds(app, monkeypatch):
    monkeypatch.setattr(jobs, "PROGRESS_EVERY", 0)  # write every step
    jobs.install({"test_count": count_to_three, "test_refuse": refuse, "test_crash": crash,
                  "test_wait": report_then_wait, "test_peek": peek})
    SEEN.clear()
    REPORTED.clear()
    RELEASED.clear()
    yield
    for kind in ("test_count", "test_refuse", "test_crash", "test_wait", "test_peek"):
        jobs.KINDS.pop(kind)


def test_a_job_starts_queued_with_its_outbox_event_in_the_same_transaction(kinds, sent):
    user = UserFactory()
    job = jobs.start("test_count", user.id, {"upto": 3})
    event = db.session.scalars(sa.select(OutboxEvent).where(
        OutboxEvent.topic == jobs.TOPIC)).one()
    assert (event.entity_type, event.entity_id) == ("job", job.id)
    assert sent == []  # nothing leaves before the commit
    db.session.commit()
    assert sent == [(outbox.RELAY_TASK, {"event_ids": [event.id]})]
    assert db.session.get(Job, job.id).state is JobState.queued


def test_a_rolled_back_start_leaves_neither_job_nor_event(kinds, sent):
    user = UserFactory()
    db.session.commit()
    jobs.start("test_count", user.id, {"upto": 3})
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Job)) == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboxEvent)) == 0
    assert sent == []


def test_the_worker_runs_a_job_reporting_progress_and_keeping_its_result(kinds):
    job_id = jobs.start("test_count", UserFactory().id, {"upto": 3}).id
    assert run_jobs() == [job_id]
    assert SEEN == [(1, 3), (2, 3), (3, 3)]  # each step seen while the job ran
    job = db.session.get(Job, job_id)
    assert (job.state, job.done, job.total) == (JobState.done, 3, 3)
    assert job.result == {"summary": "数到了 3"} and job.error is None
    assert job.started_at <= job.finished_at


def test_a_job_done_or_running_is_not_run_again(kinds):
    job_id = jobs.start("test_count", UserFactory().id, {"upto": 3}).id
    db.session.commit()
    assert jobs.run(job_id) is True
    finished = db.session.get(Job, job_id).finished_at
    assert jobs.run(job_id) is False  # a second delivery of the event
    assert db.session.get(Job, job_id).finished_at == finished
    assert len(SEEN) == 3
    other = jobs.start("test_count", UserFactory().id, {"upto": 3})
    other.state, other.updated_at = JobState.running, utcnow()  # in another worker's hands
    db.session.commit()
    assert jobs.run(other.id) is False
    db.session.expire_all()
    assert db.session.get(Job, other.id).state is JobState.running and len(SEEN) == 3


def test_a_job_whose_worker_died_is_failed_when_it_comes_round_again(kinds):
    job = jobs.start("test_count", UserFactory().id, {"upto": 3})
    job.state, job.updated_at = JobState.running, utcnow() - jobs.STALE - timedelta(seconds=1)
    db.session.commit()
    assert jobs.run(job.id) is False
    db.session.expire_all()
    job = db.session.get(Job, job.id)
    assert job.state is JobState.failed and job.error == jobs.INTERRUPTED
    assert SEEN == []


def test_a_refusal_fails_the_job_with_its_reasons_and_undoes_its_work(kinds):
    job_id = jobs.start("test_refuse", UserFactory().id).id
    run_jobs()
    job = db.session.get(Job, job_id)
    assert job.state is JobState.failed
    assert job.error == "参数有误：分配方式应为 optimal 或 random"
    assert job.result is None and job.finished_at is not None
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboxEvent).where(
        OutboxEvent.topic == "test.half_done")) == 0


def test_an_unexpected_error_fails_the_job_without_showing_the_error(kinds, caplog):
    job_id = jobs.start("test_crash", UserFactory().id).id
    run_jobs()
    job = db.session.get(Job, job_id)
    assert job.state is JobState.failed and job.error == jobs.INTERNAL
    assert "a bug" not in job.error and "a bug" in caplog.text  # logged for the admin


def test_only_the_starter_and_the_bureau_see_a_job(kinds, app):
    starter = UserFactory(username="li", roles=("applicant",))
    UserFactory(username="wang", roles=("applicant",))
    UserFactory(username="audit", organization=None, roles=("auditor",))
    db.session.commit()
    job_id = jobs.start("test_count", starter.id, {"upto": 3}).id
    db.session.commit()
    mine, theirs, auditor = (client_for(app, u, PASSWORD) for u in ("li", "wang", "audit"))
    box = mine.get(f"/jobs/{job_id}")
    assert box.status_code == 200
    html = box.get_data(as_text=True)
    assert "排队中" in html and "已处理 0 / —" in html and 'hx-trigger="every 1s"' in html
    assert auditor.get(f"/jobs/{job_id}").status_code == 200
    assert theirs.get(f"/jobs/{job_id}").status_code == 404
    assert theirs.get("/jobs/999999").status_code == 404
    run_jobs()
    done = mine.get(f"/jobs/{job_id}").get_data(as_text=True)
    assert "已完成" in done and "已处理 3 / 3" in done and "数到了 3" in done
    assert 'aria-valuenow="3"' in done and "hx-trigger" not in done  # polling stops


def test_the_api_twin_answers_the_same_to_the_same_people(kinds, client):
    starter = UserFactory(username="li", roles=("applicant",))
    UserFactory(username="wang", roles=("applicant",))
    db.session.commit()
    job_id = jobs.start("test_count", starter.id, {"upto": 3}).id
    run_jobs()
    mine = {"Authorization": f"Bearer {api_token(client, 'li', PASSWORD)}"}
    theirs = {"Authorization": f"Bearer {api_token(client, 'wang', PASSWORD)}"}
    body = client.get(f"/api/v1/jobs/{job_id}", headers=mine).get_json()
    assert body["state"] == "done" and body["state_label"] == "已完成"
    assert (body["done"], body["total"]) == (3, 3)
    assert body["result"] == {"summary": "数到了 3"} and body["error"] is None
    refused = client.get(f"/api/v1/jobs/{job_id}", headers=theirs)
    assert refused.status_code == 404 and refused.get_json()["error"]["code"] == "not_found"
    assert client.get(f"/api/v1/jobs/{job_id}").status_code == 401


def run_in_a_worker_thread(app, job_id) -> threading.Thread:
    """``jobs.run`` as the worker's task runs it (a writer: ``BEGIN IMMEDIATE``), in a
    thread of its own with its own app context and connection."""
    def work() -> None:
        token = SQLITE_WRITER.set(True)
        try:
            with app.app_context():
                jobs.run(job_id)
                db.session.remove()
        finally:
            SQLITE_WRITER.reset(token)

    thread = threading.Thread(target=work, name=f"job-{job_id}")
    thread.start()
    return thread


def test_on_sqlite_a_running_job_shows_its_figures_while_it_holds_the_write_lock(kinds, app):
    assert db.engine.dialect.name == "sqlite"
    starter = UserFactory(username="li", roles=("applicant",)).id
    db.session.commit()
    page = client_for(app, "li", PASSWORD)
    auth = {"Authorization": f"Bearer {api_token(page, 'li', PASSWORD)}"}
    job_id = jobs.start("test_wait", starter, total=5).id
    db.session.commit()
    worker = run_in_a_worker_thread(app, job_id)
    try:
        assert REPORTED.wait(30), "the job never reported"
        body = page.get(f"/api/v1/jobs/{job_id}", headers=auth).get_json()
        assert (body["state"], body["done"], body["total"]) == ("running", 2, 5)
        box = page.get(f"/jobs/{job_id}").get_data(as_text=True)
        assert "处理中" in box and "已处理 2 / 5" in box and 'aria-valuenow="2"' in box
        assert 'style="width: 40%"' in box and 'hx-trigger="every 1s"' in box
        # Nothing of its work is visible yet: it is all in the worker's transaction.
        assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboxEvent).where(
            OutboxEvent.topic == "test.step")) == 0
    finally:
        RELEASED.set()
        worker.join(30)
    assert not worker.is_alive()
    body = page.get(f"/api/v1/jobs/{job_id}", headers=auth).get_json()
    assert (body["state"], body["done"], body["total"]) == ("done", 5, 5)
    assert body["result"] == {"summary": "五件都处理了"}
    db.session.expire_all()
    job = db.session.get(Job, job_id)
    assert (job.done, job.total) == (5, 5)  # the row keeps the final figures


def test_progress_files_of_jobs_long_finished_are_removed_after_a_run(kinds):
    import os
    import time

    old, recent = jobs.progress_path(900001), jobs.progress_path(900002)
    for path in (old, recent):
        jobs.write_progress(int(path.stem), 1, 2)
    long_ago = time.time() - jobs.STALE.total_seconds() - 60
    os.utime(old, (long_ago, long_ago))
    job_id = jobs.start("test_count", UserFactory().id, {"upto": 3}).id
    run_jobs()
    assert not old.exists() and recent.exists()
    assert jobs.read_progress(job_id) == (3, 3)  # its own: left a while for late pollers
    recent.unlink()


def test_a_job_never_shows_the_figures_another_job_of_its_id_left(kinds):
    job_id = jobs.start("test_peek", UserFactory().id, total=4).id
    jobs.write_progress(job_id, 9, 9)  # of a job of the same id, in a database emptied since
    run_jobs()
    assert SEEN == [(0, 4)]
    assert db.session.get(Job, job_id).state is JobState.done
